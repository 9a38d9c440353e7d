"""edge.ops.service.ServiceNotifier against a fake systemd notify socket."""

from __future__ import annotations

import logging
import os
import secrets
import socket
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.ops.service import MAX_STATUS_CHARS, ServiceNotifier
from edge.testing import FakeClock

WATCHDOG_20S = "20000000"
Env = Callable[..., None]
Notifiers = Callable[..., ServiceNotifier]


class FakeSystemd:
    """A datagram socket where systemd would listen; ``messages()`` drains it."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + address[1:] if address.startswith("@") else address)
        self.sock.settimeout(0.05)

    def messages(self) -> list[str]:
        got = []
        while True:
            try:
                got.append(self.sock.recv(4096).decode("utf-8"))
            except TimeoutError:
                return got

    def close(self) -> None:
        self.sock.close()
        if not self.address.startswith("@"):
            Path(self.address).unlink(missing_ok=True)


@pytest.fixture
def systemd() -> Iterator[FakeSystemd]:
    # A short directory: unix socket paths are limited to 108 bytes.
    directory = tempfile.mkdtemp(prefix="kz-")
    fake = FakeSystemd(os.path.join(directory, "notify"))  # noqa: PTH118 - a socket address
    try:
        yield fake
    finally:
        fake.close()
        os.rmdir(directory)  # noqa: PTH106 - matches mkdtemp


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Env:
    """``env(NOTIFY_SOCKET=..., WATCHDOG_USEC=...)``: exactly these systemd variables."""
    for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
        monkeypatch.delenv(name, raising=False)

    def set_env(**values: str) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, value)

    return set_env


@pytest.fixture
def notifiers() -> Iterator[Notifiers]:
    """``make(**kwargs)``: a ServiceNotifier (reading the environment now), closed afterwards."""
    made: list[ServiceNotifier] = []

    def make(**kwargs: Any) -> ServiceNotifier:
        made.append(ServiceNotifier(**kwargs))
        return made[-1]

    yield make
    for notifier in made:
        notifier.close()


def test_outside_systemd_every_call_is_a_silent_no_op(
    env: Env, notifiers: Notifiers, recwarn: pytest.WarningsRecorder
) -> None:
    env(WATCHDOG_USEC=WATCHDOG_20S)
    notifier = notifiers()

    notifier.ready("up")
    notifier.watchdog()
    notifier.status("fps 15")
    notifier.stopping()

    assert not notifier.enabled
    assert len(recwarn) == 0


def test_ready_watchdog_stopping_and_status_reach_systemd(
    systemd: FakeSystemd, env: Env, notifiers: Notifiers
) -> None:
    env(NOTIFY_SOCKET=systemd.address, WATCHDOG_USEC=WATCHDOG_20S)
    notifier = notifiers()

    notifier.ready()
    notifier.watchdog()
    notifier.status("analysing 14.8 fps, outbox 0, broker connected")
    notifier.stopping()

    assert notifier.enabled
    assert systemd.messages() == [
        "READY=1",
        "WATCHDOG=1",
        "STATUS=analysing 14.8 fps, outbox 0, broker connected",
        "STOPPING=1",
    ]


def test_ready_and_stopping_can_carry_a_status(
    systemd: FakeSystemd, env: Env, notifiers: Notifiers
) -> None:
    env(NOTIFY_SOCKET=systemd.address)
    notifier = notifiers()

    notifier.ready("camera 0 open")
    notifier.stopping("publishing offline status")

    assert systemd.messages() == [
        "READY=1\nSTATUS=camera 0 open",
        "STOPPING=1\nSTATUS=publishing offline status",
    ]


def test_an_abstract_socket_name_works(env: Env, notifiers: Notifiers) -> None:
    fake = FakeSystemd(f"@kazoe-test-{secrets.token_hex(6)}")
    env(NOTIFY_SOCKET=fake.address)
    try:
        notifiers().ready()
        assert fake.messages() == ["READY=1"]
    finally:
        fake.close()


def test_watchdog_pings_are_rate_limited_to_a_quarter_of_the_interval(
    systemd: FakeSystemd, env: Env, notifiers: Notifiers
) -> None:
    clock = FakeClock()
    env(NOTIFY_SOCKET=systemd.address, WATCHDOG_USEC=WATCHDOG_20S)
    notifier = notifiers(clock=clock.monotonic)
    sent = []

    for _ in range(12):  # frames keep coming for 12 s; look once a second
        notifier.watchdog()
        notifier.watchdog()
        sent.append(len(systemd.messages()))
        clock.advance(1.0)

    # A 20 s watchdog: a ping at t=0, 5 and 10 s, never more than one per 5 s.
    assert sent == [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0]
    assert notifier.watchdog_interval_s == 20.0


@pytest.mark.parametrize(
    "extra",
    [
        {},  # WatchdogSec= not set in the unit
        {"WATCHDOG_USEC": WATCHDOG_20S, "WATCHDOG_PID": "1"},  # meant for another process
        {"WATCHDOG_USEC": "0"},
        {"WATCHDOG_USEC": "soon"},
    ],
)
def test_watchdog_stays_silent_when_it_is_not_ours_to_feed(
    systemd: FakeSystemd, env: Env, notifiers: Notifiers, extra: dict[str, str]
) -> None:
    env(NOTIFY_SOCKET=systemd.address, **extra)
    notifier = notifiers()

    notifier.watchdog()

    assert systemd.messages() == []
    assert notifier.watchdog_interval_s is None


def test_watchdog_for_this_process_is_fed(
    systemd: FakeSystemd, env: Env, notifiers: Notifiers
) -> None:
    env(NOTIFY_SOCKET=systemd.address, WATCHDOG_USEC=WATCHDOG_20S, WATCHDOG_PID=str(os.getpid()))

    notifiers().watchdog()

    assert systemd.messages() == ["WATCHDOG=1"]


def test_status_is_one_line_of_utf8(systemd: FakeSystemd, env: Env, notifiers: Notifiers) -> None:
    env(NOTIFY_SOCKET=systemd.address)

    notifiers().status("柏の葉 07:\n  camera\tstalled\x00" + "x" * 500)

    (message,) = systemd.messages()
    assert message.startswith("STATUS=柏の葉 07: camera stalled?xxx")
    assert "\n" not in message
    assert len(message) == len("STATUS=") + MAX_STATUS_CHARS


def test_a_missing_socket_is_logged_not_raised(
    tmp_path: Path,
    env: Env,
    notifiers: Notifiers,
    caplog: pytest.LogCaptureFixture,
    recwarn: pytest.WarningsRecorder,
) -> None:
    caplog.set_level(logging.WARNING, logger="kazoe.service")
    env(NOTIFY_SOCKET=str(tmp_path / "gone"))

    notifier = notifiers()
    notifier.ready()

    assert not notifier.enabled
    assert "cannot reach systemd's notify socket" in caplog.text
    assert len(recwarn) == 0


def test_systemd_going_away_is_logged_once(
    systemd: FakeSystemd, env: Env, notifiers: Notifiers, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="kazoe.service")
    env(NOTIFY_SOCKET=systemd.address)
    notifier = notifiers()
    notifier.ready()
    systemd.close()

    for _ in range(3):
        notifier.status("still here")

    assert not notifier.enabled
    assert caplog.text.count("no more service notifications") == 1


def test_a_malformed_notify_socket_is_ignored(
    env: Env, notifiers: Notifiers, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="kazoe.service")
    env(NOTIFY_SOCKET="relative/path")

    notifier = notifiers()

    assert not notifier.enabled
    assert "not a socket path" in caplog.text


def test_the_node_is_ready_after_its_first_frame_and_pings_only_while_analysing(
    systemd: FakeSystemd, env: Env, tmp_path: Path
) -> None:
    """READY and WATCHDOG come from the node loop, only while frames are analysed."""
    import threading

    from edge.capture.live import LiveSource
    from edge.config import NodeSettings
    from edge.delivery.outbox import Outbox
    from edge.node import Node
    from edge.payload import ModelIds
    from edge.testing import RecordingPublisher, ScriptedCapture, ScriptedOpener
    from edge.types import AnalysedFrame, Detections, FaceAttributes, Frame

    class CountingAnalyser:
        def __init__(self) -> None:
            from edge.vision.analyser import StageTimes

            self.times = StageTimes()

        def analyse(self, frame: Frame, select: object = None) -> AnalysedFrame:
            frame.image.fill(0)
            return AnalysedFrame(frame.index, frame.ts, 64, 48, Detections(), FaceAttributes())

    env(NOTIFY_SOCKET=systemd.address, WATCHDOG_USEC="400000", WATCHDOG_PID=str(os.getpid()))
    settings = NodeSettings.model_validate(
        {
            "node": {"id": "node-a", "state_dir": str(tmp_path)},
            "source": {"uri": "0", "read_timeout_s": 5, "max_fps": 100},
            "policy": {"purposes": ["footfall"]},
        }
    )
    opener = ScriptedOpener([ScriptedCapture(40, then="stall", fps=40)])
    source = LiveSource("0", settings.source, opener)
    node = Node(
        settings,
        source=source,
        analyser=CountingAnalyser(),  # type: ignore[arg-type]
        outbox=Outbox(tmp_path / "kazoe.db"),
        publisher=RecordingPublisher(),
        models=ModelIds(detector="d@1"),
    )
    runner = threading.Thread(target=node.run_frames)
    runner.start()
    try:
        import time

        time.sleep(1.5)  # 1 s of frames, then the camera stalls (no more pings)
        during = systemd.messages()
        time.sleep(0.6)
        after_stall = systemd.messages()
    finally:
        node.stop_event.set()
        source.close()
        runner.join(timeout=5)
        node.notifier.close()
    assert during[0].startswith("READY=1")
    assert sum(m == "WATCHDOG=1" for m in during) >= 3
    assert "WATCHDOG=1" not in after_stall
