"""broker_config/prod and the PKI scripts, without a broker: what an integrator relies on."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import pytest

from edge.errors import BrokerError
from simulator.brokers.tls import PROD_CONFIG, Pki, TlsPorts, render_production_config
from tests.broker.payloads import largest_counts

SCRIPTS = PROD_CONFIG.parent.parent
PORTS = TlsPorts(cert=40001, password=40002, plain=40003)


# Options Mosquitto applies to the listener above them; every other option is global.
LISTENER_OPTIONS = {
    "protocol", "cafile", "capath", "certfile", "keyfile", "crlfile", "ciphers",
    "ciphers_tls1.3", "tls_version", "require_certificate", "use_identity_as_username",
    "use_subject_as_username", "use_username_as_clientid", "socket_domain", "bind_interface",
    "max_connections", "mount_point", "psk_hint", "http_dir",
}  # fmt: skip


def listeners(text: str) -> dict[str, dict[str, str]]:
    """Options of each listener, keyed by its ``listener`` arguments; '' = global options."""
    blocks: dict[str, dict[str, str]] = {"": {}}
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition(" ")
        if key == "listener":
            current = value
            blocks[current] = {}
        elif key in LISTENER_OPTIONS:
            assert current, f"{key} before any listener"
            blocks[current][key] = value
        else:
            blocks[""][key] = value
    return blocks


def settings(text: str) -> str:
    """The config without comments."""
    return "\n".join(
        line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")
    )


def run(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPTS / script), *args], capture_output=True, text=True, check=False
    )


def openssl_field(cert: Path, *args: str) -> str:
    result = subprocess.run(
        ["openssl", "x509", "-in", str(cert), "-noout", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- the production config ---------------------------------------------------------------


def test_production_config_is_locked_down() -> None:
    blocks = listeners(PROD_CONFIG.read_text(encoding="utf-8"))
    general = blocks[""]

    assert general["allow_anonymous"] == "false"
    assert general["per_listener_settings"] == "false"
    assert "password_file" in general
    assert "acl_file" in general
    assert general["persistence"] == "true"
    assert int(general["autosave_interval"]) <= 300  # the default 1800 s loses half an hour
    assert "message_size_limit" not in general  # see the comment in the file


def test_every_listener_off_loopback_is_tls_and_the_certificate_one_names_the_node() -> None:
    blocks = listeners(PROD_CONFIG.read_text(encoding="utf-8"))
    open_listeners = {k: v for k, v in blocks.items() if k and not k.endswith(" 127.0.0.1")}

    assert set(open_listeners) == {"8883", "8884"}
    for name, options in open_listeners.items():
        assert {"cafile", "certfile", "keyfile"} <= set(options), f"listener {name} lacks TLS"
        assert options.get("tls_version") in ("tlsv1.2", "tlsv1.3")
        assert options.get("use_username_as_clientid") == "true"
    cert = open_listeners["8883"]
    assert cert["require_certificate"] == "true"
    assert cert["use_identity_as_username"] == "true"
    assert "crlfile" in cert
    assert blocks["1883 127.0.0.1"].get("use_username_as_clientid") == "true"


def test_packet_limit_fits_the_largest_valid_counts_message_with_room() -> None:
    limit = int(listeners(PROD_CONFIG.read_text(encoding="utf-8"))[""]["max_packet_size"])
    largest = len(largest_counts()) + len("kazoe/v1/" + "n" * 63 + "/counts") + 16  # + header

    assert largest * 1.5 < limit, f"largest counts packet {largest} B vs limit {limit} B"


def test_nodes_write_only_their_own_three_topics_and_discovery_configs() -> None:
    acl = (PROD_CONFIG.parent / "acl").read_text(encoding="utf-8")
    rules = [line for line in acl.splitlines() if line and not line.startswith("#")]

    assert rules == [
        "pattern write kazoe/v1/%u/counts",
        "pattern write kazoe/v1/%u/status",
        "pattern write kazoe/v1/%u/notice",
        "pattern write homeassistant/sensor/%u/+/config",
    ]


def test_rendering_moves_every_listener_to_loopback_and_every_path_to_the_test(
    tmp_path: Path,
) -> None:
    text = render_production_config(
        PROD_CONFIG.read_text(encoding="utf-8"), pki_broker_dir=tmp_path, ports=PORTS
    )
    blocks = listeners(text)

    assert set(blocks) == {"", "40001 127.0.0.1", "40002 127.0.0.1", "$port 127.0.0.1"}
    assert "/etc/" not in settings(text)
    assert "/var/" not in settings(text)
    assert blocks["40001 127.0.0.1"]["cafile"] == f"{tmp_path}/ca.crt"


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        (("listener 8884\n", "listener 8884\nlistener 9001\n"), "unknown listener"),
        (("user mosquitto\n", "user root\n"), "lacks the expected lines"),
        (("autosave_interval 60\n", "autosave_interval 60\ninclude_dir /etc/x\n"), "system path"),
    ],
)
def test_rendering_refuses_a_config_it_does_not_understand(
    tmp_path: Path, change: tuple[str, str], complaint: str
) -> None:
    text = PROD_CONFIG.read_text(encoding="utf-8").replace(*change)

    with pytest.raises(BrokerError, match=complaint):
        render_production_config(text, pki_broker_dir=tmp_path, ports=PORTS)


# -- the PKI scripts ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    pki = Pki.create(tmp_path_factory.mktemp("pki") / "site", ["broker.example.org", "10.0.0.5"])
    pki.node_cert("kashiwa-07")
    pki.node_password("kashiwa-08")
    pki.reader("operator-alice")
    pki.reader("collector-main", cert=True)
    return pki


def test_node_certificate_names_the_node_and_is_for_clients(pki: Pki) -> None:
    folder = pki.path / "nodes" / "kashiwa-07"
    cert = folder / "kashiwa-07.crt"

    assert "CN=kashiwa-07" in openssl_field(cert, "-subject").replace(" ", "")
    assert "TLS Web Client Authentication" in openssl_field(cert, "-ext", "extendedKeyUsage")
    assert mode(folder / "kashiwa-07.key") == 0o600
    assert (folder / "ca.crt").read_bytes() == pki.ca_file.read_bytes()
    verify = subprocess.run(
        ["openssl", "verify", "-CAfile", str(pki.ca_file), str(cert)],
        capture_output=True,
        check=False,
    )
    assert verify.returncode == 0


def test_broker_certificate_lists_every_name_and_address(pki: Pki) -> None:
    san = openssl_field(pki.broker_dir / "broker.crt", "-ext", "subjectAltName")

    assert "DNS:broker.example.org" in san
    assert "IP Address:10.0.0.5" in san
    assert mode(pki.broker_dir / "broker.key") == 0o600
    assert mode(pki.path / "ca" / "ca.key") == 0o600


def test_readers_get_a_read_only_acl_block_and_secrets_stay_private(pki: Pki) -> None:
    acl = (pki.broker_dir / "acl").read_text(encoding="utf-8")

    for name in ("operator-alice", "collector-main"):
        assert f"user {name}\ntopic read kazoe/v1/#\ntopic deny kazoe/v1/{name}/#\n" in acl
        ha = f"topic read homeassistant/sensor/#\ntopic deny homeassistant/sensor/{name}/#\n"
        assert f"topic deny kazoe/v1/{name}/#\n{ha}" in acl
        assert mode(pki.path / "operators" / name / f"{name}.password") == 0o600
    users = {line.split(":")[0] for line in (pki.broker_dir / "passwd").read_text().splitlines()}
    assert users == {"kashiwa-08", "operator-alice", "collector-main"}


def test_rerunning_keeps_passwords(pki: Pki) -> None:
    secret = pki.path / "operators" / "operator-alice" / "operator-alice.password"
    before = secret.read_text()

    pki.reader("operator-alice")

    assert secret.read_text() == before


@pytest.mark.parametrize(
    ("script", "args", "message"),
    [
        ("make-node-cert.sh", ["Node_A"], "invalid node id 'Node_A'"),
        ("make-node-cert.sh", ["operator-bob"], "uses a reader prefix"),
        ("make-node-password.sh", ["-x"], "invalid node id '-x'"),
        ("make-operator.sh", ["bob"], "use operator-<name> or collector-<name>"),
        ("make-broker-cert.sh", ["bad host!"], "neither a host name nor an IP address"),
    ],
)
def test_scripts_refuse_bad_names_with_a_clear_line(
    pki: Pki, script: str, args: list[str], message: str
) -> None:
    result = run(script, str(pki.path), *args)

    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_make_ca_refuses_to_replace_a_ca(pki: Pki) -> None:
    before = (pki.path / "ca" / "ca.crt").read_bytes()

    result = run("make-ca.sh", str(pki.path))

    assert result.returncode == 1
    assert "refusing to replace a CA" in result.stderr
    assert (pki.path / "ca" / "ca.crt").read_bytes() == before


def test_scripts_need_a_ca_first(tmp_path: Path) -> None:
    result = run("make-node-cert.sh", str(tmp_path / "nowhere"), "node-a")

    assert result.returncode == 1
    assert "run make-ca.sh" in result.stderr


def test_revoking_removes_every_way_in(tmp_path: Path) -> None:
    pki = Pki.create(tmp_path / "pki")
    pki.reader("collector-old", cert=True)
    cert = pki.path / "operators" / "collector-old" / "collector-old.crt"
    kept = tmp_path / "kept.crt"
    kept.write_bytes(cert.read_bytes())

    pki.revoke("collector-old")

    verify = subprocess.run(
        [
            "openssl", "verify", "-crl_check", "-CAfile", str(pki.ca_file),
            "-CRLfile", str(pki.broker_dir / "ca.crl"), str(kept),
        ],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    assert "certificate revoked" in verify.stdout + verify.stderr
    assert "collector-old" not in (pki.broker_dir / "passwd").read_text()
    assert "user collector-old" not in (pki.broker_dir / "acl").read_text()
    assert not (pki.path / "operators" / "collector-old").exists()
