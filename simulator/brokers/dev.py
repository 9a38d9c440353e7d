"""A throwaway Mosquitto broker with the project's own development config.

``DevBroker`` renders ``broker_config/dev/mosquitto.conf.in`` into a state
directory, creates credentials with ``broker_config/make-dev-passwords.sh``,
starts ``mosquitto`` on a free loopback port and waits until it accepts
connections. Tests use it as a fixture; ``make run`` runs it in the foreground::

    python -m simulator.brokers.dev --port 0 --state run/broker --nodes node-a,node-b

The system broker on 1883 is never touched.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from string import Template
from types import FrameType, TracebackType

from paho.mqtt.reasoncodes import ReasonCode

from edge.delivery.client import ClientOptions
from edge.errors import BrokerError
from simulator.brokers.probe import BlockingClient

BROKER_CONFIG_DIR = Path(__file__).resolve().parents[2] / "broker_config"
NOT_INSTALLED = "mosquitto is not installed: run 'sudo apt-get install mosquitto' and try again"
LOOPBACK = "127.0.0.1"
_RUNNING = re.compile(r"mosquitto version \S+ running")


def find_mosquitto() -> str:
    """Path of the broker binary (Debian installs it in /usr/sbin, often not on PATH)."""
    found = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        raise BrokerError(NOT_INSTALLED)
    return found


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port nobody listens on right now (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _die_with_parent() -> Callable[[], None] | None:
    """A preexec hook that makes the broker die with us, even if we are SIGKILLed (Linux).

    The kernel ties this to the thread that started the broker: start a
    DevBroker from the main thread or another thread that outlives it.
    """
    if not sys.platform.startswith("linux"):
        return None
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return None
    prctl = ctypes.CDLL(libc_name, use_errno=True).prctl
    pr_set_pdeathsig = 1

    def hook() -> None:
        prctl(pr_set_pdeathsig, signal.SIGKILL)

    return hook


class DevBroker:
    """A Mosquitto subprocess on loopback with per-node passwords and ACLs.

    ``port=0`` picks a free port once; ``restart()`` reuses it, and the
    persistence file in ``state_dir`` carries retained messages across a clean
    restart. With no ``state_dir`` a temporary one is removed on exit.
    """

    def __init__(
        self,
        nodes: Sequence[str] = ("node-a",),
        *,
        port: int = 0,
        state_dir: Path | None = None,
        startup_timeout_s: float = 10.0,
        config_dir: Path = BROKER_CONFIG_DIR,
    ) -> None:
        self.host = LOOPBACK
        self.nodes = tuple(nodes)
        self.port = port
        self.startup_timeout_s = startup_timeout_s
        self._config_dir = config_dir
        self._owned_tmp: tempfile.TemporaryDirectory[str] | None = None
        if state_dir is None:
            self._owned_tmp = tempfile.TemporaryDirectory(prefix="kazoe-broker-")
            state_dir = Path(self._owned_tmp.name)
        self.state_dir = state_dir.resolve()
        self.conf_path = self.state_dir / "mosquitto.conf"
        self.log_path = self.state_dir / "mosquitto.log"
        self._stderr_path = self.state_dir / "mosquitto.stderr"
        self._proc: subprocess.Popen[bytes] | None = None
        self._prepared = False

    # -- public API -----------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def password_file(self, user: str) -> Path:
        """File holding ``user``'s plaintext password (for ``[mqtt].password_file``)."""
        path = self.state_dir / f"{user}.password"
        if not path.is_file():
            raise BrokerError(f"no password for user {user!r}; known: {', '.join(self.users)}")
        return path

    def password(self, user: str) -> str:
        return self.password_file(user).read_text(encoding="utf-8").strip()

    @property
    def users(self) -> tuple[str, ...]:
        return (*self.nodes, "watcher")

    def start(self) -> DevBroker:
        """Start the broker and wait until it accepts connections."""
        if self.running:
            return self
        if not self._prepared:
            self._prepare()
        attempts = 3 if self.port == 0 else 1
        for attempt in range(attempts):
            if self.port == 0 or attempt > 0:
                self.port = free_port(self.host)
            self._render_config()
            try:
                self._launch()
            except BrokerError:
                # Another process may have taken the port we picked; try a fresh one.
                if attempt + 1 == attempts or "Address already in use" not in self.log_tail():
                    raise
            else:
                return self
        raise AssertionError("unreachable")  # pragma: no cover

    def stop(self, timeout_s: float = 5.0) -> None:
        """SIGTERM (the broker saves its persistence file), SIGKILL after ``timeout_s``."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def kill(self) -> None:
        """SIGKILL: an abrupt crash; state since the last autosave is lost."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

    def restart(self) -> None:
        """Stop cleanly (if running) and start again on the same port and state."""
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop the broker and remove a temporary state directory."""
        self.stop()
        if self._owned_tmp is not None:
            self._owned_tmp.cleanup()
            self._owned_tmp = None

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the broker's log and stderr, for error messages."""
        text = ""
        for path in (self._stderr_path, self.log_path):
            try:
                text += path.read_text(encoding="utf-8", errors="replace")
            except FileNotFoundError:
                continue
        return "\n".join(text.strip().splitlines()[-lines:])

    def __enter__(self) -> DevBroker:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- internals ------------------------------------------------------------------------

    def _prepare(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        script = self._config_dir / "make-dev-passwords.sh"
        result = subprocess.run(
            ["bash", str(script), str(self.state_dir), *self.nodes],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            detail = result.stderr.strip() or result.stdout.strip()
            raise BrokerError(f"cannot create broker passwords: {detail}")
        shutil.copyfile(self._config_dir / "dev" / "acl", self.state_dir / "acl")
        self._prepared = True

    def _render_config(self) -> None:
        template = Template((self._config_dir / "dev" / "mosquitto.conf.in").read_text("utf-8"))
        text = template.substitute(
            port=self.port,
            state_dir=self.state_dir,
            password_file=self.state_dir / "passwd",
            acl_file=self.state_dir / "acl",
            user=pwd.getpwuid(os.getuid()).pw_name,
        )
        self.conf_path.write_text(text, encoding="utf-8")

    def _launch(self) -> None:
        binary = find_mosquitto()
        # Each start appends; truncate so log_tail() shows this run's failure.
        self.log_path.write_bytes(b"")
        with self._stderr_path.open("wb") as err:
            self._proc = subprocess.Popen(
                [binary, "-c", str(self.conf_path)],
                stdin=subprocess.DEVNULL,
                stdout=err,
                stderr=err,
                preexec_fn=_die_with_parent(),  # noqa: PLW1509 - only calls prctl(2)
                # Ctrl-C at a terminal must not reach the broker before the node has
                # published its offline status; the owner stops it (or it dies with us).
                start_new_session=True,
            )
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                code = self._proc.returncode
                self._proc = None
                raise BrokerError(
                    f"mosquitto exited with status {code} while starting on port {self.port}; "
                    f"log:\n{self.log_tail()}"
                )
            # Another process may already listen on this port, so a connect alone
            # proves nothing: mosquitto logs "running" only once its listener is open.
            if self._logged_running() and self._accepts():
                return
            time.sleep(0.02)
        self.kill()
        raise BrokerError(
            f"mosquitto did not accept connections on {self.host}:{self.port} within "
            f"{self.startup_timeout_s:.0f}s; log:\n{self.log_tail()}"
        )

    def _logged_running(self) -> bool:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return False
        return _RUNNING.search(text) is not None

    def _accepts(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=0.2):
                return True
        except OSError:
            return False


class ProbeClient(BlockingClient):
    """A blocking MQTT v5 client for checking a broker: every call waits for its answer.

    Used by tests and fault simulations; the node itself uses ``edge.delivery.mqtt``.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        username: str | None = None,
        password: str | None = None,
        client_id: str = "",
        keepalive_s: int = 5,
    ) -> None:
        options = ClientOptions(
            client_id=client_id or f"probe-{secrets.token_hex(4)}",
            username=username,
            password=password,
            backoff=None,  # a refusal or a lost connection is the answer
            suppress_exceptions=False,
        )
        super().__init__(host, port, options, keepalive_s)

    def connect(self, timeout_s: float = 5.0) -> ReasonCode:
        """Connect and wait for the CONNACK; returns its reason code (refusals too)."""
        try:
            self._client.connect(self.host, self.port, keepalive=self._keepalive_s)
        except OSError as exc:
            raise BrokerError(f"cannot connect to {self.host}:{self.port}: {exc}") from None
        self._client.loop_start()
        self._started = True
        with self._cond:
            self._cond.wait_for(lambda: self._connack is not None, timeout_s)
            connack = self._connack
        if connack is None:
            raise BrokerError(f"no CONNACK from {self.host}:{self.port} within {timeout_s}s")
        return connack

    def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        qos: int = 1,
        retain: bool = False,
        timeout_s: float = 5.0,
    ) -> ReasonCode | None:
        """Publish; for QoS 1 wait for the PUBACK and return its reason code."""
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if qos == 0:
            return None
        with self._cond:
            if not self._cond.wait_for(lambda: info.mid in self._acks, timeout_s):
                raise BrokerError(f"no PUBACK for {topic} within {timeout_s}s")
            return self._acks.pop(info.mid)

    def subscribe(self, topic_filter: str, timeout_s: float = 5.0) -> list[ReasonCode]:
        _, mid = self._client.subscribe(topic_filter, qos=1)
        with self._cond:
            if mid is None or not self._cond.wait_for(lambda: mid in self._subacks, timeout_s):
                raise BrokerError(f"no SUBACK for {topic_filter} within {timeout_s}s")
            return self._subacks.pop(mid)


def broker_main(argv: Sequence[str] | None = None) -> int:
    """Run a development broker in the foreground until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(
        prog="kazoe-sim broker", description="Run a development Mosquitto broker in the foreground."
    )
    add_broker_arguments(parser)
    args = parser.parse_args(argv)
    return run_broker(args)


def add_broker_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--port", type=int, default=0, help="listen port on 127.0.0.1 (0: free port)"
    )
    parser.add_argument(
        "--state", type=Path, default=None, help="state directory (default: a temporary one)"
    )
    parser.add_argument(
        "--nodes", default="node-a", help="comma-separated node ids to create users for"
    )


def run_broker(args: argparse.Namespace) -> int:
    nodes = [n.strip() for n in str(args.nodes).split(",") if n.strip()]
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with DevBroker(nodes, port=args.port, state_dir=args.state) as broker:
            print(f"broker listening on {broker.host}:{broker.port} (state: {broker.state_dir})")
            for user in broker.users:
                print(f"  user {user}: password file {broker.password_file(user)}")
            sys.stdout.flush()
            while not stop.wait(0.5):
                if not broker.running:
                    print(
                        f"broker stopped unexpectedly; log:\n{broker.log_tail()}", file=sys.stderr
                    )
                    return 1
    except BrokerError as exc:
        print(f"kazoe-sim broker: {exc}", file=sys.stderr)
        return 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


if __name__ == "__main__":
    sys.exit(broker_main())
