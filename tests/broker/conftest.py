"""The production broker config under test: a PKI made by the integrator's scripts
and ``broker_config/prod/mosquitto.conf`` running on free loopback ports.

Tests marked ``matrix(row, expect=...)`` are rows of the ACL/TLS matrix; each
records what the broker actually answered with ``observe(...)`` and the table
is printed at the end of the run (terminal summary).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from edge.errors import BrokerError
from simulator.brokers.tls import ClientCert, Pki, TlsBroker, TlsProbe

NODE_A, NODE_B, NODE_P = "node-a", "node-b", "node-p"
OPERATOR, COLLECTOR = "operator-alice", "collector-main"


@dataclass(frozen=True)
class Credentials:
    """Everything the matrix needs, made by broker_config/*.sh."""

    pki: Pki
    node_a: ClientCert
    node_b: ClientCert
    node_p_password: Path  # node-p has no certificate: password on the TLS password listener
    operator_password: Path
    operator_cert: ClientCert
    collector_password: Path
    foreign: ClientCert  # node-a, but signed by another CA


@dataclass
class MatrixRow:
    row: str
    expect: str
    observed: str = "(not recorded)"
    outcome: str = "not run"


ROWS: dict[str, MatrixRow] = {}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "matrix(row, expect): a row of the production broker ACL/TLS matrix"
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    marker = item.get_closest_marker("matrix")
    if marker is not None and (report.when == "call" or report.outcome != "passed"):
        row = ROWS.setdefault(item.nodeid, MatrixRow(marker.args[0], marker.kwargs["expect"]))
        if report.when == "call" or row.outcome in ("not run", "passed"):
            row.outcome = report.outcome if report.when == "call" else f"{report.when} error"
    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not ROWS:
        return
    header = ("row", "expected", "observed", "result")
    rows = [header, *((r.row, r.expect, r.observed, r.outcome) for r in ROWS.values())]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    terminalreporter.section("production broker ACL/TLS matrix (broker_config/prod)")
    for i, r in enumerate(rows):
        terminalreporter.write_line(
            " | ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip()
        )
        if i == 0:
            terminalreporter.write_line("-+-".join("-" * w for w in widths))


@pytest.fixture
def observe(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """``observe(text)``: what the broker answered, for this test's matrix row."""
    marker = request.node.get_closest_marker("matrix")
    assert marker is not None, "observe() is for tests marked matrix(...)"
    row = ROWS.setdefault(request.node.nodeid, MatrixRow(marker.args[0], marker.kwargs["expect"]))

    def record(text: str) -> None:
        row.observed = text

    return record


@pytest.fixture(scope="module")
def creds(tmp_path_factory: pytest.TempPathFactory) -> Credentials:
    """A deployment PKI made with the scripts, as an integrator would."""
    root = tmp_path_factory.mktemp("pki")
    try:
        pki = Pki.create(root / "site")
        foreign = Pki.create(root / "foreign", name="Someone else's CA").node_cert(NODE_A)
        return Credentials(
            pki=pki,
            node_a=pki.node_cert(NODE_A),
            node_b=pki.node_cert(NODE_B),
            node_p_password=pki.node_password(NODE_P),
            operator_password=pki.reader(OPERATOR),
            operator_cert=pki.reader_cert(OPERATOR),
            collector_password=pki.reader(COLLECTOR),
            foreign=foreign,
        )
    except BrokerError as exc:
        pytest.fail(f"the PKI scripts failed: {exc}")


@pytest.fixture(scope="module")
def prod_broker(
    creds: Credentials, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TlsBroker]:
    """broker_config/prod/mosquitto.conf on free loopback ports, shared by a module."""
    broker = TlsBroker(creds.pki.path, state_dir=tmp_path_factory.mktemp("prod-broker"))
    try:
        broker.start()
    except BrokerError as exc:
        broker.close()
        pytest.fail(f"cannot start the production broker config: {exc}")
    try:
        yield broker
    finally:
        broker.close()


ClientFactory = Callable[..., TlsProbe]


@pytest.fixture
def clients() -> Iterator[list[TlsProbe]]:
    """Probes appended here are closed after the test."""
    made: list[TlsProbe] = []
    yield made
    for probe in made:
        probe.close()


@pytest.fixture
def connected(clients: list[TlsProbe]) -> Callable[[TlsProbe], TlsProbe]:
    """``connected(probe)``: connect (asserting success) and close after the test."""

    def connect(probe: TlsProbe) -> TlsProbe:
        clients.append(probe)
        outcome = probe.connect()
        assert outcome.ok, f"could not connect to port {probe.port}: {outcome.detail}"
        return probe

    return connect
