"""Shared fixtures: a real Mosquitto on a free port with the project's dev config.

``broker`` is a ``simulator.brokers.dev.DevBroker`` with users ``node-a``, ``node-b``
and ``watcher``; ``probe(user)`` opens a connected blocking client as that user.
Tests that use either are marked ``integration``. The system broker on 1883 is
never used.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from edge.config import MqttConfig
from edge.errors import BrokerError
from simulator.brokers.dev import DevBroker, ProbeClient

NODES = ("node-a", "node-b")
ProbeFactory = Callable[..., ProbeClient]


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[DevBroker]:
    """A running DevBroker for nodes node-a and node-b (state in tmp_path)."""
    dev = DevBroker(NODES, state_dir=tmp_path / "broker")
    try:
        dev.start()
    except BrokerError as exc:
        dev.close()
        pytest.fail(f"cannot start the test broker: {exc}")
    try:
        yield dev
    finally:
        dev.close()


@pytest.fixture
def probe(broker: DevBroker) -> Iterator[ProbeFactory]:
    """``probe(user, password=None, connect=True)``: a client as ``user``, closed afterwards.

    The password defaults to the user's real one; pass ``password=...`` to
    override and ``connect=False`` to call ``connect()`` yourself.
    """
    clients: list[ProbeClient] = []

    def make(user: str | None, password: str | None = None, *, connect: bool = True) -> ProbeClient:
        if user is not None and password is None:
            password = broker.password(user)
        client = ProbeClient(broker.host, broker.port, username=user, password=password)
        clients.append(client)
        if connect:
            reason = client.connect()
            assert not reason.is_failure, f"{user} could not connect: {reason}"
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def node_mqtt(broker: DevBroker) -> Callable[..., MqttConfig]:
    """``node_mqtt(user, **changes)``: a node's [mqtt] section for the test broker."""

    def make(user: str, **changes: object) -> MqttConfig:
        fields: dict[str, object] = {
            "host": broker.host,
            "port": broker.port,
            "password_file": broker.password_file(user),
            "keepalive_s": 5,
            "reconnect_min_s": 1,
            "reconnect_max_s": 1,
        }
        fields.update(changes)
        return MqttConfig.model_validate(fields)

    return make
