"""The ACL/TLS matrix of issue 4 against broker_config/prod/mosquitto.conf.

One test per row; every row records what the broker answered (``observe``) and
the table is printed at the end of the run. Certificates and passwords come
from the integrator's scripts (see conftest.py).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from edge.testing import wait_until
from simulator.brokers.tls import ClientCert, Pki, TlsBroker, TlsProbe
from tests.broker.conftest import COLLECTOR, NODE_A, NODE_B, NODE_P, OPERATOR, Credentials
from tests.broker.payloads import counts, largest_counts, notice, status

pytestmark = pytest.mark.integration

NOT_AUTHORIZED = 135
Observe = Callable[[str], None]
Connect = Callable[[TlsProbe], TlsProbe]
LEAVES = ("counts", "status", "notice")
WRONG = "not-the-password"


def topic(node_id: str, leaf: str) -> str:
    return f"kazoe/v1/{node_id}/{leaf}"


def operator(broker: TlsBroker, creds: Credentials, connected: Connect) -> TlsProbe:
    """An operator's terminal (password over TLS) subscribed to everything under kazoe/v1."""
    probe = connected(TlsProbe.for_password(broker, OPERATOR, creds.operator_password))
    assert probe.subscribe("kazoe/v1/#").ok
    return probe


VERIFY_FAILED = "certificate verify failed"  # what Mosquitto logs for a refused certificate


def broker_logs(broker: TlsBroker, text: str, more_than: int) -> bool:
    """Wait (bounded) until the broker log has more than ``more_than`` lines with ``text``."""
    try:
        wait_until(lambda: broker.log_count(text) > more_than, 5.0, f"{text!r} in the broker log")
    except AssertionError:
        return False
    return True


def wait_marker(reader: TlsProbe, sender: TlsProbe, node_id: str) -> None:
    """Publish a marker window from ``sender`` and wait until ``reader`` has it.

    Mosquitto handles one client's packets in order, so once the reader has the
    marker any earlier publish that was going to reach it has reached it.
    """
    marker = counts(node_id, seq=999)
    assert sender.publish(topic(node_id, "counts"), marker).ok
    assert reader.wait_for(lambda msgs: any(m.payload == marker for m in msgs)), "marker lost"


@pytest.mark.matrix(
    "node publishes its own counts, status, notice",
    expect="PUBACK success x3; operator gets all 3",
)
def test_node_publishes_its_own_topics(
    prod_broker: TlsBroker, creds: Credentials, connected: Connect, observe: Observe
) -> None:
    reader = operator(prod_broker, creds, connected)
    node = connected(TlsProbe.for_cert(prod_broker, creds.node_a))
    bodies = {"counts": counts(NODE_A), "status": status(NODE_A), "notice": notice(NODE_A)}

    acks = [
        node.publish(topic(NODE_A, leaf), body, retain=leaf != "counts")
        for leaf, body in bodies.items()
    ]
    got = reader.wait_for(
        lambda msgs: all(any(m.payload == b for m in msgs) for b in bodies.values())
    )

    delivered = [
        leaf for leaf, body in bodies.items() if any(m.payload == body for m in reader.messages)
    ]
    observe(f"{', '.join(a.detail for a in acks)}; operator got {'/'.join(delivered)}")
    assert all(a.ok for a in acks), [a.detail for a in acks]
    assert got, f"operator received only {delivered}"


@pytest.mark.matrix(
    "password node (no certificate) publishes its own counts",
    expect="PUBACK success; operator gets it",
)
def test_password_node_publishes_over_tls(
    prod_broker: TlsBroker, creds: Credentials, connected: Connect, observe: Observe
) -> None:
    reader = operator(prod_broker, creds, connected)
    node = connected(TlsProbe.for_password(prod_broker, NODE_P, creds.node_p_password))

    body = counts(NODE_P, seq=7)
    ack = node.publish(topic(NODE_P, "counts"), body)
    got = reader.wait_for(lambda msgs: any(m.payload == body for m in msgs))

    observe(f"{ack.detail}; operator {'got' if got else 'did not get'} it")
    assert ack.ok, ack.detail
    assert got


@pytest.mark.matrix("node-a cannot publish as node-b", expect="PUBACK 135 x3; operator gets none")
def test_node_cannot_publish_as_another_node(
    prod_broker: TlsBroker, creds: Credentials, connected: Connect, observe: Observe
) -> None:
    reader = operator(prod_broker, creds, connected)
    node_a = connected(TlsProbe.for_cert(prod_broker, creds.node_a))
    forged = {leaf: b'{"forged": "%s"}' % leaf.encode() for leaf in LEAVES}

    acks = [node_a.publish(topic(NODE_B, leaf), body) for leaf, body in forged.items()]
    wait_marker(reader, node_a, NODE_A)

    leaked = [m.topic for m in reader.messages if m.payload in forged.values()]
    observe(f"{', '.join(str(a.code) for a in acks)}; operator got {len(leaked)} forged")
    assert [a.code for a in acks] == [NOT_AUTHORIZED] * 3, [a.detail for a in acks]
    assert leaked == []


@pytest.mark.matrix(
    "node-a cannot take over node-b's session",
    expect="client id replaced by CN; node-b stays connected",
)
def test_node_cannot_hijack_a_client_id(
    prod_broker: TlsBroker,
    creds: Credentials,
    connected: Connect,
    clients: list[TlsProbe],
    observe: Observe,
) -> None:
    victim = connected(TlsProbe.for_cert(prod_broker, creds.node_b, client_id=NODE_B))
    intruder = TlsProbe.for_cert(prod_broker, creds.node_a, client_id=NODE_B)
    clients.append(intruder)

    entered = intruder.connect()
    # Had the intruder taken over, the broker would have closed the victim first.
    still = victim.publish(topic(NODE_B, "status"), status(NODE_B), retain=True)

    observe(f"intruder: {entered.detail}; node-b publish after: {still.detail}")
    assert still.ok, f"node-b was disconnected: {still.detail}"
    assert victim.connected


@pytest.mark.matrix("node reads nothing", expect="receives nothing")
def test_node_reads_nothing(
    prod_broker: TlsBroker, creds: Credentials, connected: Connect, observe: Observe
) -> None:
    reader = operator(prod_broker, creds, connected)
    spy = connected(TlsProbe.for_cert(prod_broker, creds.node_a))
    node_b = connected(TlsProbe.for_cert(prod_broker, creds.node_b))

    suback = spy.subscribe("kazoe/v1/#")
    wait_marker(reader, node_b, NODE_B)

    # Mosquitto 2.0 grants the SUBACK and applies the ACL to every message.
    observe(f"{suback.detail}; node-a got {len(spy.messages)} message(s)")
    assert spy.messages == []


@pytest.mark.matrix("operator and collector cannot publish", expect="PUBACK 135 on every topic")
def test_readers_cannot_publish(
    prod_broker: TlsBroker, creds: Credentials, connected: Connect, observe: Observe
) -> None:
    readers = {
        f"{OPERATOR} (password)": TlsProbe.for_password(
            prod_broker, OPERATOR, creds.operator_password
        ),
        f"{OPERATOR} (certificate)": TlsProbe.for_cert(prod_broker, creds.operator_cert),
        f"{COLLECTOR} (password)": TlsProbe.for_password(
            prod_broker, COLLECTOR, creds.collector_password
        ),
    }
    targets = [topic(NODE_A, "counts"), "kazoe/v1/{me}/counts", "kazoe/v1/{me}/status", "other"]
    codes: dict[str, list[int | None]] = {}
    for label, probe in readers.items():
        connected(probe)
        me = label.split()[0]
        codes[label] = [probe.publish(t.format(me=me), b"{}").code for t in targets]

    observe("; ".join(f"{label}: {set(c)}" for label, c in codes.items()))
    for label, got in codes.items():
        assert got == [NOT_AUTHORIZED] * len(targets), f"{label}: {got}"


@pytest.mark.matrix(
    "anonymous connections are refused",
    expect="CONNACK 135 (8884, 1883); TLS refused without cert (8883)",
)
def test_anonymous_is_refused(
    prod_broker: TlsBroker, clients: list[TlsProbe], observe: Observe
) -> None:
    ports = prod_broker.ports
    attempts = {
        "8884 no username": TlsProbe.for_password(prod_broker, None, None),
        "1883 no username": TlsProbe(prod_broker.host, ports.plain, ca_file=None),
        "8883 no certificate": TlsProbe(prod_broker.host, ports.cert, ca_file=prod_broker.ca_file),
    }
    clients.extend(attempts.values())
    outcomes = {label: probe.connect() for label, probe in attempts.items()}

    observe("; ".join(f"{label}: {o.detail}" for label, o in outcomes.items()))
    assert not any(o.ok for o in outcomes.values())
    assert outcomes["8884 no username"].code == NOT_AUTHORIZED
    assert outcomes["1883 no username"].code == NOT_AUTHORIZED


@pytest.mark.matrix("wrong or missing password is refused", expect="CONNACK 135")
def test_wrong_password_is_refused(
    prod_broker: TlsBroker, clients: list[TlsProbe], observe: Observe
) -> None:
    host, ports, ca = prod_broker.host, prod_broker.ports, prod_broker.ca_file
    attempts = {
        "node-p wrong password": TlsProbe(
            host, ports.password, ca_file=ca, username=NODE_P, password=WRONG
        ),
        "node-a no password": TlsProbe(host, ports.password, ca_file=ca, username=NODE_A),
        "operator wrong password on 1883": TlsProbe(
            host, ports.plain, ca_file=None, username=OPERATOR, password=WRONG
        ),
    }
    clients.extend(attempts.values())
    outcomes = {label: probe.connect() for label, probe in attempts.items()}

    observe("; ".join(f"{label}: {o.code}" for label, o in outcomes.items()))
    assert {label: o.code for label, o in outcomes.items()} == dict.fromkeys(
        attempts, NOT_AUTHORIZED
    )


@pytest.mark.matrix(
    "plaintext client is refused on the TLS ports",
    expect="connection closed before CONNACK",
)
def test_plaintext_is_refused_on_tls_ports(
    prod_broker: TlsBroker, creds: Credentials, clients: list[TlsProbe], observe: Observe
) -> None:
    password = creds.node_p_password.read_text(encoding="utf-8").strip()
    attempts = {
        "8883": TlsProbe(prod_broker.host, prod_broker.ports.cert, ca_file=None, username=NODE_A),
        "8884": TlsProbe(
            prod_broker.host,
            prod_broker.ports.password,
            ca_file=None,
            username=NODE_P,
            password=password,
        ),
    }
    clients.extend(attempts.values())
    outcomes = {label: probe.connect() for label, probe in attempts.items()}

    observe("; ".join(f"{label}: {o.detail}" for label, o in outcomes.items()))
    for label, outcome in outcomes.items():
        assert not outcome.ok, f"plaintext accepted on {label}"
        assert outcome.code is None, f"{label} answered MQTT in plaintext: {outcome.detail}"


@pytest.mark.matrix(
    "certificate from an unknown CA is refused", expect="TLS handshake fails, no CONNACK"
)
def test_unknown_ca_certificate_is_refused(
    prod_broker: TlsBroker, creds: Credentials, clients: list[TlsProbe], observe: Observe
) -> None:
    # The foreign certificate says CN=node-a too; only the CA differs. The client
    # trusts our broker (right CA) so the failure is the broker refusing it.
    probe = TlsProbe(
        prod_broker.host,
        prod_broker.ports.cert,
        ca_file=prod_broker.ca_file,
        cert_file=creds.foreign.cert_file,
        key_file=creds.foreign.key_file,
    )
    clients.append(probe)
    refusals = prod_broker.log_count(VERIFY_FAILED)
    outcome = probe.connect()
    logged = broker_logs(prod_broker, VERIFY_FAILED, refusals)

    observe(f"{outcome.detail}; broker log: {VERIFY_FAILED if logged else '(nothing)'}")
    assert not outcome.ok
    assert outcome.code is None, outcome.detail
    assert logged, prod_broker.log_tail()


@pytest.mark.matrix(
    "node refuses a broker it cannot verify", expect="TLS verify failure at the node"
)
def test_node_refuses_an_unverified_broker(
    prod_broker: TlsBroker, creds: Credentials, clients: list[TlsProbe], observe: Observe
) -> None:
    # A node provisioned by another deployment (another CA) must not talk to us.
    probe = TlsProbe(
        prod_broker.host,
        prod_broker.ports.cert,
        ca_file=creds.foreign.ca_file,
        cert_file=creds.node_a.cert_file,
        key_file=creds.node_a.key_file,
    )
    clients.append(probe)
    outcome = probe.connect()

    observe(outcome.detail)
    assert not outcome.ok
    assert "CERTIFICATE_VERIFY_FAILED" in outcome.detail


@pytest.mark.matrix(
    "oversized message is refused",
    expect="largest valid counts accepted; 32 KiB + 1 dropped",
)
def test_oversized_message_is_refused(
    prod_broker: TlsBroker, creds: Credentials, connected: Connect, observe: Observe
) -> None:
    reader = operator(prod_broker, creds, connected)
    node = connected(TlsProbe.for_cert(prod_broker, creds.node_a))
    largest = largest_counts(NODE_A)
    oversized = b"x" * (32 * 1024 + 1)

    fits = node.publish(topic(NODE_A, "counts"), largest)
    delivered = reader.wait_for(lambda msgs: any(m.payload == largest for m in msgs))
    refused = node.publish(topic(NODE_A, "counts"), oversized)
    # A fresh connection for the marker: the broker dropped the old one.
    marker_sender = connected(TlsProbe.for_cert(prod_broker, creds.node_a))
    wait_marker(reader, marker_sender, NODE_A)

    leaked = any(m.payload == oversized for m in reader.messages)
    observe(
        f"{len(largest)} B: {fits.detail}; {len(oversized)} B: {refused.detail}, "
        f"operator got it: {leaked}"
    )
    assert fits.ok, f"the largest valid counts message was refused: {fits.detail}"
    assert delivered
    assert not refused.ok, refused.detail
    assert not leaked


@pytest.mark.matrix(
    "revoked certificate is refused",
    expect="connects before revoke-cert.sh; TLS refused after",
)
def test_revoked_certificate_is_refused(
    tmp_path: Path, clients: list[TlsProbe], observe: Observe
) -> None:
    pki = Pki.create(tmp_path / "pki")
    issued = pki.node_cert("node-c")
    # Whoever stole the node keeps a copy of its files.
    shutil.copytree(issued.cert_file.parent, tmp_path / "stolen")
    stolen = ClientCert(
        "node-c",
        tmp_path / "stolen" / "ca.crt",
        tmp_path / "stolen" / "node-c.crt",
        tmp_path / "stolen" / "node-c.key",
    )
    with TlsBroker(pki.path, state_dir=tmp_path / "state") as broker:
        before = TlsProbe.for_cert(broker, stolen)
        clients.append(before)
        first = before.connect()
        before.close()

        pki.revoke("node-c")
        broker.restart()  # Mosquitto reads the revocation list at start-up
        after = TlsProbe.for_cert(broker, stolen)
        clients.append(after)
        second = after.connect()
        logged = broker_logs(broker, VERIFY_FAILED, 0)

    observe(f"before: {first.detail}; after: {second.detail}, broker log: {VERIFY_FAILED}")
    assert first.ok, first.detail
    assert not second.ok
    assert second.code is None, second.detail
    assert logged
