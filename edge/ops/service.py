"""Talking to systemd (``Type=notify``): ready, alive, stopping, one status line.

``ServiceNotifier`` wraps the ``sdnotify`` package. Outside systemd
(``NOTIFY_SOCKET`` unset) every method does nothing, so the node calls it
unconditionally. The node loop is expected to call::

    notifier.ready()        # once, after the first frame has been analysed
    notifier.watchdog()     # after every analysed frame (sent at most every WATCHDOG_USEC/4)
    notifier.status(text)   # now and then: fps, outbox depth, broker link
    notifier.stopping()     # first thing on a clean shutdown

``watchdog()`` must be called only when a frame was really processed: a stalled
camera or a stuck detector then stops the pings and systemd restarts the node
after ``WatchdogSec``. A broken notify socket is logged once and never raises.
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from collections.abc import Callable, Mapping
from types import TracebackType

import sdnotify

log = logging.getLogger("kazoe.service")

# systemd reads one assignment per line; a status longer than this is cut.
MAX_STATUS_CHARS = 200


def _status_line(text: str) -> str:
    """One printable line, at most MAX_STATUS_CHARS long."""
    flat = " ".join(text.split())
    flat = "".join(ch if ch.isprintable() else "?" for ch in flat)
    return flat[:MAX_STATUS_CHARS]


def _wire(message: str) -> str:
    """``message`` so that sdnotify's latin-1 encoding yields its UTF-8 bytes.

    sdnotify encodes with latin-1 (a Japanese status would be dropped); systemd
    expects UTF-8. Decoding the UTF-8 bytes as latin-1 round-trips exactly.
    """
    return message.encode("utf-8").decode("latin-1")


class ServiceNotifier:
    """sd_notify(3) for the node: no-op when not started by systemd with Type=notify."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        # sdnotify reads NOTIFY_SOCKET from the environment itself.
        env = os.environ
        self._clock = clock
        self._notifier: sdnotify.SystemdNotifier | None = None
        self._failed = False
        self._last_ping: float | None = None
        self.socket = env.get("NOTIFY_SOCKET") or None
        self.watchdog_interval_s = _watchdog_interval(env, os.getpid())
        if self.socket is None:
            return
        if not _socket_env_ok(self.socket):
            log.warning("ignoring NOTIFY_SOCKET=%r: not a socket path", self.socket)
            self.socket = None
            return
        with warnings.catch_warnings():
            # sdnotify drops (without closing) the socket it could not connect;
            # the failure itself is reported below.
            warnings.simplefilter("ignore", ResourceWarning)
            try:
                self._notifier = sdnotify.SystemdNotifier(debug=True)
            except (OSError, ValueError) as exc:
                log.warning(
                    "cannot reach systemd's notify socket %s (%s); running without "
                    "readiness and watchdog notifications",
                    self.socket,
                    getattr(exc, "strerror", None) or exc,
                )

    @property
    def enabled(self) -> bool:
        """True when systemd is listening (started as a Type=notify service)."""
        return self._notifier is not None and not self._failed

    def ready(self, status: str | None = None) -> None:
        """The node is up: models loaded, source open, first frame analysed."""
        message = "READY=1"
        if status:
            message += f"\nSTATUS={_status_line(status)}"
        self._send(message)

    def watchdog(self) -> None:
        """A frame was analysed: keep the watchdog from firing (rate-limited)."""
        if self.watchdog_interval_s is None:
            return
        now = self._clock()
        if self._last_ping is not None and now - self._last_ping < self.watchdog_interval_s / 4:
            return
        self._last_ping = now
        self._send("WATCHDOG=1")

    def stopping(self, status: str | None = None) -> None:
        """A clean shutdown has begun (SIGTERM): systemd waits for us to exit."""
        message = "STOPPING=1"
        if status:
            message += f"\nSTATUS={_status_line(status)}"
        self._send(message)

    def status(self, text: str) -> None:
        """Free text shown by ``systemctl status kazoe`` (one line)."""
        self._send(f"STATUS={_status_line(text)}")

    def close(self) -> None:
        """Close the socket to systemd (at process exit; later calls do nothing)."""
        notifier, self._notifier = self._notifier, None
        if notifier is not None and notifier.socket is not None:
            notifier.socket.close()

    def __enter__(self) -> ServiceNotifier:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _send(self, message: str) -> None:
        if self._notifier is None:
            return
        try:
            self._notifier.notify(_wire(message))
        except OSError as exc:
            # systemd went away or the socket is gone: report once, keep counting.
            self._failed = True
            self.close()
            log.warning(
                "systemd notify socket %s failed (%s); no more service notifications",
                self.socket,
                exc.strerror or exc,
            )


def _socket_env_ok(value: str) -> bool:
    """An absolute path or an abstract socket name (``@name``), as sd_notify accepts."""
    return value.startswith(("/", "@")) and len(value) > 1


def _watchdog_interval(env: Mapping[str, str], pid: int) -> float | None:
    """Seconds from WATCHDOG_USEC when the watchdog is meant for this process, else None."""
    usec = env.get("WATCHDOG_USEC")
    if not usec:
        return None
    owner = env.get("WATCHDOG_PID")
    if owner and owner != str(pid):
        return None  # set for another process (our parent); not ours to feed
    try:
        value = int(usec)
    except ValueError:
        log.warning("ignoring WATCHDOG_USEC=%r: not a number", usec)
        return None
    return value / 1_000_000 if value > 0 else None
