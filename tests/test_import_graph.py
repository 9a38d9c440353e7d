"""The import graph has one direction (DESIGN §3): no cycle, no product code on test tooling.

Every ``import`` and ``from ... import`` in the product packages is read with ``ast``,
including imports inside functions (a lazy import is still an arrow).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("edge", "collector", "simulator", "models")
# The node's stages in the order data flows; a stage may import only its own package,
# earlier stages and the shared root modules (config, payload, types, errors, testing).
EDGE_STAGES = ("capture", "vision", "counting", "privacy", "delivery", "ops")
EDGE_TOP = {"edge.node", "edge.runner", "edge.cli"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            found[module_name(path)] = path
    return found


def imports_of(name: str, path: Path, known: set[str]) -> Iterator[str]:
    """Project modules that ``name`` imports (anywhere in the file)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from pkg import mod` imports the module pkg.mod when it is one.
            targets = [
                f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in known
            ]
            targets.append(base)
        else:
            continue
        for raw in targets:
            target = raw
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                yield target


def graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {name: set(imports_of(name, path, known)) for name, path in found.items()}


def edge_rank(name: str) -> int:
    """0 for the shared root modules, 1.. for the stages in flow order, top last."""
    if name in EDGE_TOP:
        return len(EDGE_STAGES) + 1
    parts = name.split(".")
    if len(parts) > 1 and parts[1] in EDGE_STAGES:
        return EDGE_STAGES.index(parts[1]) + 1
    return 0


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules, or None."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)) is not None:
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state and (cycle := visit(start)) is not None:
            return cycle
    return None


def test_there_is_no_import_cycle() -> None:
    # A package's __init__ re-exporting its own modules is not a cycle between concerns.
    edges = {
        name: {t for t in targets if not name.startswith(t + ".")}
        for name, targets in graph().items()
    }
    assert find_cycle(edges) is None


@pytest.mark.parametrize("package", ["edge", "collector", "models"])
def test_product_code_never_imports_the_simulator(package: str) -> None:
    offenders = sorted(
        f"{name} -> {target}"
        for name, targets in graph().items()
        if name.split(".")[0] == package
        for target in targets
        if target.split(".")[0] == "simulator"
    )
    assert offenders == []


def test_the_node_never_imports_the_collector() -> None:
    offenders = sorted(
        f"{name} -> {target}"
        for name, targets in graph().items()
        if name.split(".")[0] == "edge"
        for target in targets
        if target.split(".")[0] in ("collector", "models")
    )
    assert offenders == []


def test_edge_stages_import_only_earlier_stages() -> None:
    offenders = sorted(
        f"{name} -> {target}"
        for name, targets in graph().items()
        if name.split(".")[0] == "edge"
        for target in targets
        if target.split(".")[0] == "edge"
        and edge_rank(target) > edge_rank(name)
        and target.split(".")[:2] != name.split(".")[:2]
    )
    assert offenders == []


def test_the_checker_sees_cycles_and_arrows() -> None:
    """The graph checks above can fail: a cycle and a backwards arrow are found."""
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    assert edge_rank("edge.ops.watch") > edge_rank("edge.capture.sources") > edge_rank("edge.types")
    edges = graph()
    assert "edge.capture.frames" in edges["edge.capture.live"]
    assert "edge.vision.anchors" in edges["edge.vision.detector"]  # `from edge.vision import x`


def test_the_peer_worker_imports_nothing_of_kazoe() -> None:
    """It runs in the peer's own venv, where Kazoe is not installed."""
    assert graph()["simulator.peer_worker"] == set()
