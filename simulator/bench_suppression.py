"""``make bench``, suppression part: information loss of the old and the new rule, solver time.

Information loss = people in withheld cells / people, pooled over a scene's windows and
averaged over each window's tables (people, gender, age bands, joint: each adds up to the
people count), so 10 % means a tenth of what the window would have said was withheld. The
age-band figure is the same for the age histogram alone. "Before" is the greedy heuristic
(``suppress_heuristic``), "after" the node's rule through ``seal()`` (the MILP at protection
level k; and, to tell the optimisation from the stronger guarantee, the MILP at protection
level 1, which asks no more than the heuristic does); the time is that of the node's
``seal()`` per window with at least one small cell.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge.config import NodeSettings
from edge.counting.aggregator import GENDERS, Aggregator
from edge.payload import ModelIds
from edge.privacy.policy import seal
from edge.privacy.suppression import Table, build_table, suppress_heuristic
from edge.types import FinishedTrack, WindowCounts
from simulator.errors import SceneError
from simulator.scenes.labelled import LabelledSource, load_labelled
from simulator.scenes.labels import Bands
from simulator.scenes.scene import SceneSpec, plan_scene
from simulator.scenes.truth import SceneTruth

LEVELS = (2, 5)
MODELS = ModelIds(detector="bench", age="bench", gender="bench")
# FairFace's own age groups as node bands, so every label falls in exactly one band.
FAIRFACE_EDGES = (10, 20, 30, 40, 50, 60, 70)
FAIRFACE_SCENE = {"people": 100, "fps": 10.0, "seed": 7, "window_s": 30.0}  # as tests/e2e


# "before": the greedy rule; "P=1": the MILP asked only what the greedy rule asks (nothing
# recomputable); "P=k": the node's default, every small cell could hold k or more.
RULES = ("before", "P=1", "P=k")


@dataclass
class Loss:
    """Withheld people (table entries) per rule, over a scene's windows."""

    windows: int = 0
    people: int = 0
    entries: int = 0
    held: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RULES, 0))
    bands: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RULES, 0))
    seal_ms: list[float] = field(default_factory=list)
    seal_cpu_ms: list[float] = field(default_factory=list)


def table_of(w: WindowCounts) -> Table:
    return build_table(w.people, w.gender, w.age_bands, w.joint)


def _held(table: Table, names: set[str], prefix: str = "") -> int:
    return sum(
        v
        for n, v in zip(table.names, table.values, strict=True)
        if n in names and n.startswith(prefix)
    )


def _with(base: NodeSettings, **policy: object) -> NodeSettings:
    return base.model_copy(update={"policy": base.policy.model_copy(update=policy)})


def measure(windows: Sequence[WindowCounts], base: NodeSettings, k: int) -> Loss:
    """Suppress every window by each rule at threshold k; time the node's seal()."""
    node = _with(base, k=k)
    same_rule = _with(base, k=k, protection_level=1)
    loss = Loss()
    for seq, w in enumerate(windows, start=1):
        table = table_of(w)
        chosen = {"before": {table.names[i] for i in suppress_heuristic(table, k)}}
        start, cpu = time.perf_counter(), time.process_time()
        sealed = seal(w, settings=node, boot_id="0" * 32, seq=seq, models=MODELS)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        chosen["P=k"] = set(sealed.payload.suppressed)
        relaxed = seal(w, settings=same_rule, boot_id="0" * 32, seq=seq, models=MODELS)
        chosen["P=1"] = set(relaxed.payload.suppressed)
        if any(0 < v < k for v in table.values):
            loss.seal_ms.append(elapsed * 1000)
            loss.seal_cpu_ms.append(cpu * 1000)
        loss.windows += 1
        loss.people += w.people
        loss.entries += sum(table.values)
        for rule, names in chosen.items():
            loss.held[rule] += _held(table, names)
            loss.bands[rule] += _held(table, names, "age_bands.")
    return loss


def report(name: str, how: str, windows: Sequence[WindowCounts], base: NodeSettings) -> None:
    people = sum(w.people for w in windows)
    print(f"\nsuppression — {name}: {len(windows)} window(s), {people} people; {how}")
    print("  information loss = people in withheld cells / people (all tables | age bands)")
    print(
        "  k   before   P=1 opt  P=k opt |  before   P=1 opt  P=k opt "
        "| seal() ms wall p50 / max, cpu p50 (windows with small cells)"
    )
    for k in LEVELS:
        m = measure(windows, base, k)

        def pct(part: int, whole: int) -> str:
            return f"{100 * part / whole:5.1f} %" if whole else "  n/a  "

        ms, cpu = np.asarray(m.seal_ms), np.asarray(m.seal_cpu_ms)
        timing = (
            f"{np.median(ms):6.1f} / {ms.max():6.1f}, cpu {np.median(cpu):5.1f} ({len(ms)})"
            if ms.size
            else "no small cells"
        )
        loss = "  ".join(pct(m.held[r], m.entries) for r in RULES)
        bands = "  ".join(pct(m.bands[r], m.people) for r in RULES)
        print(f"  {k}  {loss} | {bands} | {timing}")


def node_windows(
    finished: Sequence[FinishedTrack], cfg: NodeSettings, window_s: int
) -> list[WindowCounts]:
    """The node's own windows from its finished tracks (the aggregator, as in the node)."""
    agg = Aggregator(
        cfg.aggregate.model_copy(update={"window_seconds": window_s}),
        demographics=True,
        gender_margin=cfg.attributes.gender_margin,
    )
    for track in finished:
        agg.add(track)
    return agg.flush()


def truth_windows(truth: SceneTruth, window_s: float) -> list[WindowCounts]:
    """Ground-truth windows laid out as the node's (gender and band 'unknown' included)."""
    labels = [*Bands(tuple(truth.age_band_edges or ())).labels, "unknown"]
    n = max(1, math.ceil(truth.seconds / window_s))
    out = []
    for i in range(n):
        inside = [p for p in truth.people if math.floor(p.exit_s / window_s) == i]
        joint = {g: dict.fromkeys(labels, 0) for g in GENDERS}
        for p in inside:
            joint[p.gender or "unknown"][p.age_band or "unknown"] += 1
        out.append(
            WindowCounts(
                window_start=i * window_s,
                window_end=(i + 1) * window_s,
                people=len(inside),
                gender={g: sum(joint[g].values()) for g in GENDERS},
                age_bands={b: sum(joint[g][b] for g in GENDERS) for b in labels},
                joint=joint,
            )
        )
    return out


def fairface_truth(folder: Path) -> SceneTruth | str:
    """The 100-person FairFace scene's truth (no video needed), or why it cannot be had."""
    if not (folder / "ground_truth.json").is_file():
        return f"{folder} has no FairFace subset (ground_truth.json)"
    spec = SceneSpec(
        people=int(FAIRFACE_SCENE["people"]),
        fps=FAIRFACE_SCENE["fps"],
        seed=int(FAIRFACE_SCENE["seed"]),
        window_s=FAIRFACE_SCENE["window_s"],
        age_bands=FAIRFACE_EDGES,
    )
    try:
        faces, _ = load_labelled(LabelledSource(folder, "fairface"), spec.people, spec.seed)
        return plan_scene(spec, faces).truth
    except SceneError as exc:
        return str(exc)
