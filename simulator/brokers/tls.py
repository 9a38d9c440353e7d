"""Mosquitto with the *production* config, for tests: TLS, client certificates, ACLs.

``Pki`` drives the integrator's own scripts (``broker_config/make-ca.sh`` and
friends) in a directory; ``TlsBroker`` starts ``broker_config/prod/mosquitto.conf``
rewritten for that directory, a state directory and three free loopback ports;
``TlsProbe`` is a blocking MQTT v5 client that reports refusals (CONNACK codes,
TLS failures, dropped connections) as values instead of raising::

    pki = Pki.create(tmp / "pki")
    node_a = pki.node_cert("node-a")
    with TlsBroker(pki.path) as broker, TlsProbe.for_cert(broker, node_a) as probe:
        assert probe.connect().accepted

Process handling (start, readiness, SIGKILL-safe cleanup, logs) is
``simulator.brokers.dev.DevBroker``'s: it is given a generated config directory whose
template is the rewritten production file. The system broker is never touched.
"""

from __future__ import annotations

import gc
import re
import shlex
import shutil
import ssl
import subprocess
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from edge.delivery.client import ClientOptions
from edge.errors import BrokerError
from simulator.brokers.dev import BROKER_CONFIG_DIR, LOOPBACK, DevBroker, free_port
from simulator.brokers.probe import BlockingClient

PROD_CONFIG = BROKER_CONFIG_DIR / "prod" / "mosquitto.conf"
INSTALL_DIR = "/etc/mosquitto/kazoe/"
CERT_LISTENER, PASSWORD_LISTENER, PLAIN_LISTENER = 8883, 8884, 1883


# -- PKI through the integrator's scripts -------------------------------------------------


@dataclass(frozen=True)
class ClientCert:
    """What one client gets: the CA to trust, its certificate and key."""

    name: str
    ca_file: Path
    cert_file: Path
    key_file: Path


class Pki:
    """A PKI directory managed with the scripts in ``broker_config/``."""

    def __init__(self, path: Path, scripts: Path = BROKER_CONFIG_DIR) -> None:
        self.path = path
        self._scripts = scripts

    @classmethod
    def create(
        cls,
        path: Path,
        hosts: Sequence[str] = ("localhost", LOOPBACK),
        *,
        name: str = "Kazoe test CA",
        scripts: Path = BROKER_CONFIG_DIR,
    ) -> Pki:
        """A new CA and a broker certificate valid for ``hosts``."""
        pki = cls(path, scripts)
        pki.run("make-ca.sh", "--name", name)
        pki.run("make-broker-cert.sh", *hosts)
        return pki

    @property
    def broker_dir(self) -> Path:
        return self.path / "broker"

    @property
    def ca_file(self) -> Path:
        return self.broker_dir / "ca.crt"

    def run(self, script: str, *args: str) -> str:
        """Run ``broker_config/<script> PKI_DIR args...``; BrokerError with stderr on failure."""
        result = subprocess.run(
            ["bash", str(self._scripts / script), str(self.path), *args],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            detail = result.stderr.strip() or result.stdout.strip()
            raise BrokerError(f"{script} failed ({result.returncode}): {detail}")
        return result.stdout

    def node_cert(self, node_id: str) -> ClientCert:
        self.run("make-node-cert.sh", node_id)
        folder = self.path / "nodes" / node_id
        return ClientCert(
            node_id, folder / "ca.crt", folder / f"{node_id}.crt", folder / f"{node_id}.key"
        )

    def node_password(self, node_id: str) -> Path:
        """Give ``node_id`` a password; returns its password file."""
        self.run("make-node-password.sh", node_id)
        return self.path / "nodes" / node_id / f"{node_id}.password"

    def reader(self, name: str, *, cert: bool = False) -> Path:
        """Read-only credentials for ``operator-*``/``collector-*``; returns the password file."""
        self.run("make-operator.sh", name, *(["--cert"] if cert else []))
        return self.path / "operators" / name / f"{name}.password"

    def reader_cert(self, name: str) -> ClientCert:
        self.reader(name, cert=True)
        folder = self.path / "operators" / name
        return ClientCert(name, folder / "ca.crt", folder / f"{name}.crt", folder / f"{name}.key")

    def revoke(self, name: str) -> None:
        self.run("revoke-cert.sh", name)


# -- the production config, rewritten for a test directory --------------------------------


@dataclass(frozen=True)
class TlsPorts:
    cert: int  # production 8883: client certificate required
    password: int  # production 8884: TLS + password
    plain: int  # production 1883 on loopback


def render_production_config(text: str, *, pki_broker_dir: Path, ports: TlsPorts) -> str:
    """The production config as a ``DevBroker`` template (``$port``, ``$state_dir``, ...).

    Listeners move to loopback on ``ports`` (the plaintext one becomes DevBroker's
    ``$port``), installed paths to ``pki_broker_dir``, persistence and the log to
    the state directory, the process user to the caller. A line that names a
    system path or a listener this function does not know is an error, so a
    change to the production file cannot slip past the tests unrendered.
    """
    broker_dir = str(pki_broker_dir).replace("$", "$$")
    state = "$state_dir"
    rewrites = [
        (rf"^listener {CERT_LISTENER}$", f"listener {ports.cert} {LOOPBACK}"),
        (rf"^listener {PASSWORD_LISTENER}$", f"listener {ports.password} {LOOPBACK}"),
        (rf"^listener {PLAIN_LISTENER} 127\.0\.0\.1$", f"listener $port {LOOPBACK}"),
        (rf"^password_file {INSTALL_DIR}passwd$", "password_file $password_file"),
        (rf"^acl_file {INSTALL_DIR}acl$", "acl_file $acl_file"),
        (r"^persistence_location /var/lib/mosquitto/$", f"persistence_location {state}/"),
        (
            r"^log_dest file /var/log/mosquitto/mosquitto\.log$",
            f"log_dest file {state}/mosquitto.log",
        ),
        (r"^user mosquitto$", "user $user"),
    ]
    rules = [(re.compile(pattern), replacement) for pattern, replacement in rewrites]
    used = [False] * len(rules)
    out: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            out.append(raw)
            continue
        line = line.replace("$", "$$")
        for index, (pattern, replacement) in enumerate(rules):
            if pattern.match(line):
                used[index] = True
                line = replacement
                break
        else:
            line = line.replace(INSTALL_DIR, broker_dir.rstrip("/") + "/")
        if line.startswith("listener ") and "$port" not in line and LOOPBACK not in line:
            raise BrokerError(f"production config line {number}: unknown listener {raw!r}")
        if re.search(r"(^|\s)/(etc|var|run)/", line):
            raise BrokerError(f"production config line {number}: unexpected system path {raw!r}")
        out.append(line)
    missing = [rules[i][0].pattern for i, ok in enumerate(used) if not ok]
    if missing:
        raise BrokerError(f"production config lacks the expected lines: {', '.join(missing)}")
    return "\n".join(out) + "\n"


# Installed in the generated config directory under the name DevBroker runs to
# create credentials: here they already exist, made by the PKI scripts.
_CREDENTIALS_SHIM = """#!/usr/bin/env bash
# Generated by simulator/brokers/tls.py: install the PKI's password file.
set -euo pipefail
cp -- {passwd} "$1/passwd"
"""


class TlsBroker:
    """``broker_config/prod/mosquitto.conf`` on three free loopback ports.

    Credentials come from a PKI directory made with ``Pki`` (or the scripts by
    hand). ``restart()`` keeps the ports and the persistence file and re-reads
    the PKI's password file, ACL and revocation list.
    """

    def __init__(
        self,
        pki_dir: Path,
        *,
        state_dir: Path | None = None,
        config: Path = PROD_CONFIG,
        startup_timeout_s: float = 10.0,
    ) -> None:
        self.host = LOOPBACK
        self.pki_broker_dir = (pki_dir / "broker").resolve()
        self._config = config
        self._startup_timeout_s = startup_timeout_s
        self._owned_tmp: tempfile.TemporaryDirectory[str] | None = None
        if state_dir is None:
            self._owned_tmp = tempfile.TemporaryDirectory(prefix="kazoe-tls-broker-")
            state_dir = Path(self._owned_tmp.name)
        self.state_dir = state_dir.resolve()
        self._ports: TlsPorts | None = None
        self._dev: DevBroker | None = None

    @property
    def ports(self) -> TlsPorts:
        if self._ports is None:
            raise BrokerError("the TLS broker has not been started")
        return self._ports

    @property
    def ca_file(self) -> Path:
        return self.pki_broker_dir / "ca.crt"

    @property
    def running(self) -> bool:
        return self._dev is not None and self._dev.running

    @property
    def conf_path(self) -> Path:
        return self.state_dir / "mosquitto.conf"

    def start(self) -> TlsBroker:
        """Start and wait until every listener is open; retries once per port clash."""
        if self.running:
            return self
        self.state_dir.mkdir(parents=True, exist_ok=True)
        fixed = self._ports is not None
        for attempt in range(1 if fixed else 3):
            ports = self._ports if fixed and self._ports else self._pick_ports()
            dev = DevBroker(
                (),
                port=ports.plain,
                state_dir=self.state_dir,
                startup_timeout_s=self._startup_timeout_s,
                config_dir=self._write_config_dir(ports),
            )
            try:
                dev.start()
            except BrokerError:
                if fixed or attempt == 2 or "Address already in use" not in dev.log_tail():
                    raise
                continue
            self._ports, self._dev = ports, dev
            return self
        raise AssertionError("unreachable")  # pragma: no cover

    def stop(self) -> None:
        if self._dev is not None:
            self._dev.stop()

    def kill(self) -> None:
        if self._dev is not None:
            self._dev.kill()

    def restart(self) -> None:
        """Stop, then start on the same ports with the PKI's current files."""
        self.stop()
        self._dev = None
        self.start()

    def close(self) -> None:
        self.stop()
        if self._owned_tmp is not None:
            self._owned_tmp.cleanup()
            self._owned_tmp = None

    def log_tail(self, lines: int = 20) -> str:
        return self._dev.log_tail(lines) if self._dev is not None else ""

    def log_count(self, text: str) -> int:
        """How many lines of this run's broker log contain ``text``."""
        try:
            log = (self.state_dir / "mosquitto.log").read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return 0
        return sum(text in line for line in log.splitlines())

    def __enter__(self) -> TlsBroker:
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

    def _pick_ports(self) -> TlsPorts:
        picked: set[int] = set()
        while len(picked) < 3:
            picked.add(free_port(self.host))
        cert, password, plain = sorted(picked)
        return TlsPorts(cert=cert, password=password, plain=plain)

    def _write_config_dir(self, ports: TlsPorts) -> Path:
        for name in ("passwd", "acl", "ca.crt", "ca.crl", "broker.crt", "broker.key"):
            if not (self.pki_broker_dir / name).is_file():
                raise BrokerError(
                    f"{self.pki_broker_dir / name} is missing: create the PKI with "
                    "make-ca.sh and make-broker-cert.sh first"
                )
        config_dir = self.state_dir / "config"
        (config_dir / "dev").mkdir(parents=True, exist_ok=True)
        template = render_production_config(
            self._config.read_text(encoding="utf-8"),
            pki_broker_dir=self.pki_broker_dir,
            ports=ports,
        )
        (config_dir / "dev" / "mosquitto.conf.in").write_text(template, encoding="utf-8")
        shutil.copyfile(self.pki_broker_dir / "acl", config_dir / "dev" / "acl")
        script = config_dir / "make-dev-passwords.sh"
        passwd = shlex.quote(str(self.pki_broker_dir / "passwd"))
        script.write_text(_CREDENTIALS_SHIM.format(passwd=passwd), encoding="utf-8")
        return config_dir


# -- a blocking client that reports refusals ----------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What the broker answered: ``ok`` and a short human-readable ``detail``."""

    ok: bool
    detail: str
    code: int | None = None  # MQTT reason code, when there was one


class TlsProbe(BlockingClient):
    """A blocking MQTT v5 test client over TLS (or plaintext with ``ca_file=None``).

    ``connect()``, ``publish()`` and ``subscribe()`` wait for the broker's answer
    and return an ``Outcome``; a TLS failure or a dropped connection is an
    outcome too, never an exception or a hang.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        ca_file: Path | None,
        cert_file: Path | None = None,
        key_file: Path | None = None,
        username: str | None = None,
        password: str | None = None,
        client_id: str = "",
        keepalive_s: int = 5,
    ) -> None:
        context = None
        if ca_file is not None:
            context = ssl.create_default_context(cafile=str(ca_file))
            if cert_file is not None:
                context.load_cert_chain(str(cert_file), str(key_file) if key_file else None)
        options = ClientOptions(
            client_id=client_id,
            username=username,
            password=password,
            tls_context=context,
            backoff=None,
            suppress_exceptions=False,
        )
        super().__init__(host, port, options, keepalive_s)

    @classmethod
    def for_cert(
        cls, broker: TlsBroker, cert: ClientCert, *, port: int | None = None, client_id: str = ""
    ) -> TlsProbe:
        """A client presenting ``cert`` on the certificate listener."""
        return cls(
            broker.host,
            broker.ports.cert if port is None else port,
            ca_file=cert.ca_file,
            cert_file=cert.cert_file,
            key_file=cert.key_file,
            client_id=client_id,
        )

    @classmethod
    def for_password(
        cls, broker: TlsBroker, user: str | None, password_file: Path | None
    ) -> TlsProbe:
        """A client logging in with a password on the TLS password listener."""
        password = password_file.read_text(encoding="utf-8").strip() if password_file else None
        return cls(
            broker.host,
            broker.ports.password,
            ca_file=broker.ca_file,
            username=user,
            password=password,
        )

    @property
    def connected(self) -> bool:
        with self._cond:
            return (
                self._connack is not None
                and not self._connack.is_failure
                and not (self._closed_reason)
            )

    def connect(self, timeout_s: float = 5.0) -> Outcome:
        """Connect and wait for the CONNACK, a TLS failure or the connection to close."""
        failure = self._open()
        if failure is not None:
            return Outcome(False, failure)
        self._client.loop_start()
        self._started = True
        with self._cond:
            self._cond.wait_for(
                lambda: self._connack is not None or self._closed_reason is not None, timeout_s
            )
            connack, closed = self._connack, self._closed_reason
        if connack is not None:
            return Outcome(not connack.is_failure, f"CONNACK {connack}", connack.value)
        if closed is not None:
            return Outcome(False, f"connection closed before CONNACK ({closed})")
        return Outcome(False, f"no CONNACK within {timeout_s:g}s")

    def _open(self) -> str | None:
        """Open the connection (TCP + TLS handshake); a failure as text, else None."""
        with warnings.catch_warnings():
            # paho 2.2 leaves its socket open when the TLS handshake fails; it is
            # closed when collected, with a ResourceWarning we expect right here.
            warnings.simplefilter("ignore", ResourceWarning)
            try:
                self._client.connect(self.host, self.port, keepalive=self._keepalive_s)
            except ssl.SSLError as exc:
                failure = f"TLS handshake refused ({exc.reason or exc})"
            except OSError as exc:
                failure = f"connection failed ({exc})"
            else:
                return None
            gc.collect()
        return failure

    def publish(
        self, topic: str, payload: bytes, *, retain: bool = False, timeout_s: float = 5.0
    ) -> Outcome:
        """QoS 1 publish; waits for the PUBACK or the connection to close."""
        info = self._client.publish(topic, payload, qos=1, retain=retain)
        with self._cond:
            self._cond.wait_for(
                lambda: info.mid in self._acks or self._closed_reason is not None, timeout_s
            )
            reason = self._acks.pop(info.mid, None)
            closed = self._closed_reason
        if reason is not None:
            return Outcome(not reason.is_failure, f"PUBACK {reason}", reason.value)
        if closed is not None:
            return Outcome(False, f"disconnected ({closed})")
        return Outcome(False, f"no PUBACK within {timeout_s:g}s")

    def subscribe(self, topic_filter: str, timeout_s: float = 5.0) -> Outcome:
        _, mid = self._client.subscribe(topic_filter, qos=1)
        with self._cond:
            self._cond.wait_for(lambda: mid in self._subacks, timeout_s)
            reasons = self._subacks.pop(mid, None) if mid is not None else None
        if not reasons:
            raise BrokerError(f"no SUBACK for {topic_filter} within {timeout_s}s")
        reason = reasons[0]
        return Outcome(not reason.is_failure, f"SUBACK {reason}", reason.value)
