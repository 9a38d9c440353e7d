"""kazoe-sim record: dedupe on (node_id, seq), count invalid messages, never crash."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from edge.testing import sample_counts, wait_until
from simulator.brokers.dev import DevBroker, ProbeClient
from simulator.cli import main as sim_main
from simulator.scoring.record import Connection, Recorder, RecordStats, record

ProbeFactory = Callable[..., ProbeClient]
TOPIC_A = "kazoe/v1/node-a/counts"
WHEN = datetime(2026, 1, 1, 9, 1, 2, 345000, tzinfo=UTC)


def lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines()]


def seqs_in(out: io.StringIO) -> list[object]:
    return [line["payload"]["seq"] for line in lines(out.getvalue())]  # type: ignore[index]


def test_valid_window_is_stored_as_one_json_line() -> None:
    out = io.StringIO()
    recorder = Recorder(out)

    outcome = recorder.handle(TOPIC_A, sample_counts("node-a", 4).to_json(), WHEN)

    assert outcome == "stored"
    [line] = lines(out.getvalue())
    assert line["topic"] == TOPIC_A
    assert line["received_at"] == "2026-01-01T09:01:02.345Z"
    assert line["payload"] == json.loads(sample_counts("node-a", 4).to_json())


@pytest.mark.parametrize(
    ("topic", "payload"),
    [
        (TOPIC_A, b"not json"),
        (TOPIC_A, b"\xff\xfe"),
        (TOPIC_A, b"[1, 2]"),
        (TOPIC_A, b'{"schema": "kazoe.counts/1"}'),
        (TOPIC_A, sample_counts("node-a").to_json().replace(b'"k":5', b'"k":5,"face":"x"')),
        ("kazoe/v1/node-b/counts", sample_counts("node-a").to_json()),  # node_id != topic
    ],
    ids=["text", "binary", "array", "incomplete", "extra-field", "wrong-node"],
)
def test_invalid_message_is_counted_and_logged_not_stored(
    topic: str, payload: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    out = io.StringIO()
    recorder = Recorder(out)

    outcome = recorder.handle(topic, payload)

    assert outcome == "invalid"
    assert out.getvalue() == ""
    assert recorder.stats == RecordStats(received=1, stored=0, duplicates=0, invalid=1)
    [logged] = caplog.records
    assert topic in logged.getMessage()


@pytest.mark.parametrize(("keep", "stored"), [(False, 2), (True, 3)])
def test_duplicates_are_dropped_unless_kept(keep: bool, stored: int) -> None:
    out = io.StringIO()
    recorder = Recorder(out, keep_duplicates=keep)

    for node, seq in [("node-a", 1), ("node-a", 1), ("node-b", 1)]:
        recorder.handle(f"kazoe/v1/{node}/counts", sample_counts(node, seq).to_json())

    assert recorder.stats == RecordStats(received=3, stored=stored, duplicates=1, invalid=0)
    assert len(lines(out.getvalue())) == stored


@pytest.mark.integration
def test_recorder_against_the_broker(broker: DevBroker, probe: ProbeFactory) -> None:
    out = io.StringIO()
    recorder = Recorder(out)
    stop = threading.Event()
    conn = Connection(broker.host, broker.port, "watcher", broker.password("watcher"))
    result: list[int] = []
    runner = threading.Thread(target=lambda: result.append(record(recorder, conn, stop=stop)))
    runner.start()
    try:
        node = probe("node-a")
        # The recorder's SUBSCRIBE may still be in flight; send until it sees one.
        wait_until(
            lambda: (
                node.publish(TOPIC_A, sample_counts("node-a", 1).to_json()) is not None
                and recorder.stats.received > 0
            ),
            5,
            "the recorder to subscribe",
        )
        node.publish(TOPIC_A, sample_counts("node-a", 2).to_json())
        node.publish(TOPIC_A, sample_counts("node-a", 2).to_json())  # a redelivery
        node.publish(TOPIC_A, b"{garbage")
        node.publish(TOPIC_A, sample_counts("node-a", 3).to_json())
        wait_until(lambda: recorder.stats.stored == 3, 5, "windows 1-3 to be stored")
    finally:
        stop.set()
        runner.join(5)

    assert result == [0]
    stats = recorder.stats
    assert (stats.stored, stats.invalid) == (3, 1)
    assert stats.duplicates == stats.received - stats.stored - stats.invalid >= 1
    assert [line["payload"]["seq"] for line in lines(out.getvalue())] == [1, 2, 3]  # type: ignore[index]


@pytest.mark.integration
def test_record_cli_writes_file_and_summary(
    broker: DevBroker, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "counts.jsonl"
    argv = ["record", "--host", broker.host, "--port", str(broker.port)]
    argv += ["--password-file", str(broker.password_file("watcher"))]

    code = sim_main([*argv, "--out", str(out), "--seconds", "0.5"])

    assert code == 0
    assert out.read_text() == ""
    assert "received 0, stored 0, duplicates 0, invalid 0" in capsys.readouterr().err


@pytest.mark.integration
def test_record_cli_refused_password_exits_1(
    broker: DevBroker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = tmp_path / "wrong"
    wrong.write_text("nope\n")
    argv = ["record", "--host", broker.host, "--port", str(broker.port)]

    code = sim_main([*argv, "--password-file", str(wrong), "--out", str(tmp_path / "o.jsonl")])

    assert code == 1
    assert "broker refused the password for user 'watcher'; check --password-file" in caplog.text


@pytest.mark.integration
def test_persistent_session_receives_windows_published_while_away(
    broker: DevBroker, probe: ProbeFactory
) -> None:
    password = broker.password("watcher")
    conn = Connection(broker.host, broker.port, "watcher", password, "recorder-1", 300)

    def run(out: io.StringIO, condition: Callable[[Recorder], bool]) -> Recorder:
        recorder = Recorder(out)
        stop = threading.Event()
        runner = threading.Thread(target=lambda: record(recorder, conn, stop=stop))
        runner.start()
        try:
            wait_until(lambda: condition(recorder), 5, "the recorder")
        finally:
            stop.set()
            runner.join(5)
        return recorder

    node = probe("node-a")
    first = io.StringIO()
    # First run: subscribe (the session is created), see window 1.
    run(
        first,
        lambda r: (
            node.publish(TOPIC_A, sample_counts("node-a", 1).to_json()) is not None
            and r.stats.stored > 0
        ),
    )
    node.publish(TOPIC_A, sample_counts("node-a", 2).to_json())  # nobody is listening now
    second = io.StringIO()
    run(second, lambda r: 2 in seqs_in(second))

    # Window 1 may be redelivered too (the first run published it until it was seen).
    assert set(seqs_in(second)) <= {1, 2}


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--session-expiry", "60"], "--session-expiry needs --client-id"),
        (["--client-id", "r", "--session-expiry", "-1"], "--session-expiry must be"),
    ],
)
def test_record_session_flags_are_checked(
    flags: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = sim_main(["record", *flags, "--out", str(tmp_path / "o.jsonl")])

    assert code == 2
    assert message in capsys.readouterr().err
