"""The node's own MQTT client and the operator's watch view against the production config."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from edge.config import MqttConfig, TlsConfig
from edge.delivery.mqtt import LinkState, MqttPublisher
from edge.ops.watch import watch_main
from edge.payload import StatusPayload
from edge.testing import sample_counts, sample_status, wait_until
from simulator.brokers.tls import ClientCert, TlsBroker, TlsProbe
from tests.broker.conftest import NODE_A, NODE_B, NODE_P, OPERATOR, Credentials

pytestmark = pytest.mark.integration

PublisherFactory = Callable[..., MqttPublisher]


def node_status(node_id: str) -> Callable[[LinkState], StatusPayload]:
    def make(state: LinkState) -> StatusPayload:
        return sample_status(node_id, state)

    return make


def cert_config(broker: TlsBroker, cert: ClientCert) -> MqttConfig:
    """[mqtt] as DEPLOYING.md tells an integrator to write it for a certificate."""
    return MqttConfig(
        host=broker.host,
        port=broker.ports.cert,
        tls=TlsConfig(ca_file=cert.ca_file, cert_file=cert.cert_file, key_file=cert.key_file),
        keepalive_s=5,
        reconnect_min_s=1,
        reconnect_max_s=1,
    )


@pytest.fixture
def publishers() -> Iterator[PublisherFactory]:
    """``make(config, node_id)``: a started MqttPublisher, stopped after the test."""
    made: list[tuple[MqttPublisher, str]] = []

    def make(config: MqttConfig, node_id: str) -> MqttPublisher:
        publisher = MqttPublisher(config, node_id=node_id, status=node_status(node_id))
        made.append((publisher, node_id))
        publisher.start()
        return publisher

    yield make
    for publisher, node_id in made:
        publisher.stop(sample_status(node_id, "offline"), timeout_s=2)


def operator(broker: TlsBroker, creds: Credentials) -> TlsProbe:
    probe = TlsProbe.for_password(broker, OPERATOR, creds.operator_password)
    assert probe.connect().ok
    assert probe.subscribe("kazoe/v1/#").ok
    return probe


def connected(publisher: MqttPublisher) -> MqttPublisher:
    wait_until(lambda: publisher.connected, 10, "the node to connect over TLS")
    return publisher


def send_window(publisher: MqttPublisher, seq: int, node_id: str) -> list[int]:
    """Publish window ``seq``; the seqs acknowledged by the time its PUBACK arrives (<= 5 s)."""
    assert connected(publisher).publish_counts(seq, sample_counts(node_id, seq).to_json())
    acked: list[int] = []

    def has_ack() -> bool:
        acked.extend(publisher.take_acked())
        return seq in acked

    wait_until(has_ack, 5, f"PUBACK for window {seq}")
    return acked


def test_node_publisher_with_client_certificate_gets_its_window_acknowledged(
    prod_broker: TlsBroker, creds: Credentials, publishers: PublisherFactory
) -> None:
    with operator(prod_broker, creds) as reader:
        publisher = publishers(cert_config(prod_broker, creds.node_a), NODE_A)

        acked = send_window(publisher, 41, NODE_A)

        assert acked == [41]
        window = sample_counts(NODE_A, 41).to_json()
        assert reader.wait_for(lambda msgs: any(m.payload == window for m in msgs))
        # The birth status went out retained on connect, as on a plaintext broker.
        assert reader.wait_for(
            lambda msgs: any(m.topic == f"kazoe/v1/{NODE_A}/status" for m in msgs)
        )


def test_node_publisher_with_password_over_tls_gets_its_window_acknowledged(
    prod_broker: TlsBroker, creds: Credentials, publishers: PublisherFactory
) -> None:
    config = MqttConfig(
        host=prod_broker.host,
        port=prod_broker.ports.password,
        password_file=creds.node_p_password,
        tls=TlsConfig(ca_file=prod_broker.ca_file),
        keepalive_s=5,
    )
    publisher = publishers(config, NODE_P)

    assert send_window(publisher, 3, NODE_P) == [3]


def test_node_configured_with_another_nodes_id_is_not_acknowledged(
    prod_broker: TlsBroker,
    creds: Credentials,
    publishers: PublisherFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # node-a's certificate, but [node].id = "node-b": the CN decides, not the config.
    caplog.set_level(logging.ERROR, logger="kazoe.mqtt")
    publisher = publishers(cert_config(prod_broker, creds.node_a), NODE_B)

    sent = connected(publisher).publish_counts(5, sample_counts(NODE_B, 5).to_json())
    wait_until(
        lambda: "broker rejected window seq=5 on kazoe/v1/node-b/counts" in caplog.text,
        5,
        "the node to log the rejected window",
    )

    assert sent
    assert publisher.take_acked() == []  # the window stays in the outbox


def test_watch_over_tls_shows_a_node(
    prod_broker: TlsBroker, creds: Credentials, tmp_path: Path
) -> None:
    with TlsProbe.for_cert(prod_broker, creds.node_b) as node:
        assert node.connect().ok
        body = sample_status(NODE_B).to_json()
        assert node.publish(f"kazoe/v1/{NODE_B}/status", body, retain=True).ok
    out = io.StringIO()

    code = watch_main(
        [
            "--host", prod_broker.host,
            "--port", str(prod_broker.ports.password),
            "--username", OPERATOR,
            "--password-file", str(creds.operator_password),
            "--ca-file", str(prod_broker.ca_file),
            "--once-seconds", "1.5",
        ],
        out=out,
    )  # fmt: skip

    assert code == 0
    assert f"{NODE_B} status online" in out.getvalue()


# -- TLS problems the node does not explain yet (strict xfails: drop once fixed) ---------


def kazoe_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    """ERROR lines of the node's own MQTT logger (not paho's pass-through)."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "kazoe.mqtt" and r.levelno >= logging.ERROR
    ]


# paho 2.2 leaves the socket of a failed TLS handshake to the garbage collector.
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_node_says_when_it_does_not_trust_the_broker(
    prod_broker: TlsBroker,
    creds: Credentials,
    publishers: PublisherFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="kazoe.mqtt")
    node_a = creds.node_a
    wrong_ca = ClientCert(NODE_A, creds.foreign.ca_file, node_a.cert_file, node_a.key_file)
    publishers(cert_config(prod_broker, wrong_ca), NODE_A)

    wait_until(lambda: bool(kazoe_errors(caplog)), 5, "the node to report the failure")

    assert any("certificate" in line for line in kazoe_errors(caplog)), kazoe_errors(caplog)


def test_node_says_once_that_its_certificate_was_refused(
    prod_broker: TlsBroker,
    publishers: PublisherFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="kazoe.mqtt")
    caplog.set_level(logging.DEBUG, logger="kazoe.mqtt.paho")  # paho's retries, demoted
    # A node with no client certificate at all: refused in the TLS handshake.
    config = MqttConfig(
        host=prod_broker.host,
        port=prod_broker.ports.cert,
        tls=TlsConfig(ca_file=prod_broker.ca_file),
        reconnect_min_s=1,
        reconnect_max_s=1,
    )
    publishers(config, NODE_A)

    wait_until(
        lambda: sum("failed to receive" in r.getMessage() for r in caplog.records) >= 3,
        10,
        "three connection attempts",
    )

    errors = kazoe_errors(caplog)
    assert len(errors) == 1, errors
    assert "certificate" in errors[0]
