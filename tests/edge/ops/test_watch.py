"""kazoe watch: the table is a pure function of the state; bad messages never crash it."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from edge.errors import PayloadError
from edge.ops.watch import WatchState, render_table, watch_main
from edge.testing import sample_counts, sample_status, wait_until
from simulator.brokers.dev import DevBroker, ProbeClient

ProbeFactory = Callable[..., ProbeClient]
NOW = 1_767_258_000.0  # 2026-01-01 09:00:00 UTC


def counts(node: str, seq: int, **changes: object) -> tuple[str, bytes]:
    return f"kazoe/v1/{node}/counts", sample_counts(node, seq, **changes).to_json()


def status(node: str, state: str, **changes: object) -> tuple[str, bytes]:
    return f"kazoe/v1/{node}/status", sample_status(node, state, **changes).to_json()  # type: ignore[arg-type]


def test_table_shows_one_row_per_node_with_its_latest_window() -> None:
    state = WatchState()
    state.apply(*status("node-b", "degraded", reason="camera stalled"), now=NOW - 30)
    state.apply(*counts("node-a", 1), now=NOW - 100)
    state.apply(*counts("node-a", 2, people=9), now=NOW - 5)
    state.apply(*status("node-a", "online"), now=NOW - 5)

    table = render_table(state, now=NOW)

    header, row_a, row_b, blank, footer = table.splitlines()
    assert header.split() == [
        "NODE",
        "STATUS",
        "WINDOW",
        "END",
        "PEOPLE",
        "F/M/U",
        "TOP",
        "AGE",
        "BANDS",
        "SEQ",
        "LAST",
        "SEEN",
    ]
    assert row_a.split() == [
        *("node-a", "online", "2026-01-01", "09:02:00Z", "9", "5/7/0"),
        *("20-29:6", "70+:5", "2", "5s", "ago"),
    ]
    assert row_b.split() == [
        "node-b",
        "degraded",
        "(camera",
        "stalled)",
        "-",
        "-",
        "-",
        "-",
        "-",
        "30s",
        "ago",
    ]
    assert blank == ""
    assert footer == "2 node(s)"


def test_withheld_cells_show_as_withheld_not_as_below_k() -> None:
    state = WatchState()
    state.apply(*counts("node-a", 1, gender={"female": None, "male": 6, "unknown": 0}), now=NOW)

    screen = render_table(state, now=NOW).splitlines()

    assert "w/6/0" in screen[1]
    assert "<" not in screen[1]
    assert screen[-1].startswith("w = withheld by small-count suppression")


def test_a_withheld_total_beside_a_large_cell_is_not_shown_as_small() -> None:
    # Complementary suppression can withhold the total to protect a small gender cell;
    # the total may then be large, so "<k" would be wrong (seen in `make run`).
    state = WatchState()
    line = state.apply(
        *counts("node-a", 2, people=None, gender={"female": 5, "male": None, "unknown": None}),
        now=NOW,
    )

    assert "people=w f/m/u=5/w/w" in str(line)


def test_no_legend_when_nothing_is_withheld() -> None:
    state = WatchState()
    state.apply(*counts("node-a", 1, people=12), now=NOW)

    assert "withheld" not in render_table(state, now=NOW)


def test_older_and_duplicate_windows_do_not_replace_the_latest() -> None:
    state = WatchState()
    lines = [
        state.apply(*counts("node-a", 5, people=50), now=NOW),
        state.apply(*counts("node-a", 5, people=50), now=NOW),  # QoS 1 redelivery
        state.apply(*counts("node-a", 4, people=40), now=NOW),  # late, older window
    ]

    assert "seq=5" in str(lines[0])
    assert lines[1:] == [None, None]
    assert state.nodes["node-a"].seq == 5
    assert state.nodes["node-a"].people == 50
    assert state.duplicates == 1
    assert "1 duplicate window(s)" in render_table(state, now=NOW)


@pytest.mark.parametrize(
    ("topic", "payload"),
    [
        ("kazoe/v1/node-a/counts", b"{not json"),
        ("kazoe/v1/node-a/status", b'{"state": "online"}'),
        ("kazoe/v1/node-b/counts", sample_counts("node-a").to_json()),
        ("kazoe/v1/node-a/notice", b"{}"),
        ("elsewhere", b"{}"),
    ],
    ids=["not-json", "bad-status", "wrong-node", "other-leaf", "other-topic"],
)
def test_malformed_messages_are_counted(topic: str, payload: bytes) -> None:
    state = WatchState()

    with pytest.raises(PayloadError):
        state.apply(topic, payload, now=NOW)

    assert state.malformed == 1
    assert state.nodes == {}
    assert "1 malformed message(s) ignored" in render_table(state, now=NOW)


def test_status_lines_only_on_change() -> None:
    state = WatchState()

    first = state.apply(*status("node-a", "online"), now=NOW)
    again = state.apply(*status("node-a", "online"), now=NOW + 60)
    down = state.apply(*status("node-a", "offline", reason="connection lost"), now=NOW + 70)

    assert (first, again, down) == (
        "node-a status online",
        None,
        "node-a status offline (connection lost)",
    )


def test_empty_state_says_it_is_waiting() -> None:
    assert "no nodes yet" in render_table(WatchState(), now=NOW)


@pytest.mark.integration
def test_watch_prints_windows_and_the_final_table(broker: DevBroker, probe: ProbeFactory) -> None:
    node = probe("node-a")
    node.publish("kazoe/v1/node-a/status", sample_status("node-a").to_json(), retain=True)
    out = io.StringIO()
    argv = ["--port", str(broker.port), "--password-file", str(broker.password_file("watcher"))]
    result: list[int] = []
    runner = threading.Thread(
        target=lambda: result.append(watch_main([*argv, "--once-seconds", "2"], out))
    )
    runner.start()
    try:
        # The retained status arrives once watch has subscribed; then send a window.
        wait_until(lambda: "node-a status online" in out.getvalue(), 5, "the retained status")
        node.publish("kazoe/v1/node-a/counts", b"{broken")
        node.publish("kazoe/v1/node-a/counts", sample_counts("node-a", 1).to_json())
    finally:
        runner.join(10)

    assert result == [0]
    text = out.getvalue()
    assert "node-a seq=1 end=2026-01-01 09:01:00Z people=12 f/m/u=5/7/0" in text
    assert "1 malformed message(s) ignored" in text
    assert "\x1b[" not in text, "escape codes written to a pipe"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.integration
def test_watch_redraws_the_table_on_a_terminal(broker: DevBroker, probe: ProbeFactory) -> None:
    probe("node-a").publish(
        "kazoe/v1/node-a/status", sample_status("node-a").to_json(), retain=True
    )
    screen = Terminal()
    argv = ["--port", str(broker.port), "--password-file", str(broker.password_file("watcher"))]

    code = watch_main([*argv, "--once-seconds", "1"], screen)

    assert code == 0
    last = screen.getvalue().split("\x1b[H\x1b[2J")[-1]
    assert last.splitlines()[1].split()[:2] == ["node-a", "online"]


@pytest.mark.integration
def test_watch_with_a_wrong_password_exits_1(
    broker: DevBroker, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = tmp_path / "wrong"
    wrong.write_text("nope\n")

    code = watch_main(["--port", str(broker.port), "--password-file", str(wrong)], io.StringIO())

    assert code == 1
    assert "broker refused the password for user 'watcher'" in capsys.readouterr().err
