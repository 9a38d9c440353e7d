"""The simulator's "done when": a FairFace crowd of 100 people, end to end.

scene (``kazoe-sim scene --faces --labels fairface``) -> node (``python -m edge.cli run
--once``, real models) -> real Mosquitto (DevBroker) -> ``Recorder`` -> ``kazoe-sim score``.
The people-count error must stay within a committed figure (``expected_fairface.json``): a
drift either way beyond its tolerance fails, so a change that moves accuracy is noticed and
the figure is updated on purpose. Takes about two minutes here (a 1280x720, 10 fps, 136 s
scene: ~25 s to render, ~90 s for the node).
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from edge.delivery.subscriber import Subscriber
from edge.testing import wait_until
from simulator.brokers.dev import DevBroker
from simulator.scenes.scene import scene_main
from simulator.scenes.truth import SceneTruth
from simulator.scoring.cli import render
from simulator.scoring.counts_file import node_windows, read_counts
from simulator.scoring.record import Recorder
from simulator.scoring.score import score
from tests.e2e.conftest import START, RunNode, node_toml

pytestmark = [pytest.mark.integration, pytest.mark.slow]

HERE = Path(__file__).resolve().parent
FAIRFACE = HERE.parents[2] / "shared" / "data" / "fairface"
EXPECTED = json.loads((HERE / "expected_fairface.json").read_text(encoding="utf-8"))
NODE = "fairface-e2e"


@pytest.fixture(scope="module")
def fairface_scene(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if not (FAIRFACE / "ground_truth.json").is_file():
        pytest.skip(f"FairFace subset not found at {FAIRFACE} (see its SOURCE.md)")
    work = tmp_path_factory.mktemp("fairface")
    video, truth = work / "crowd.mp4", work / "crowd.json"
    scene = EXPECTED["scene"]
    args = ["--faces", str(FAIRFACE), "--labels", "fairface", "--people", str(scene["people"])]
    args += ["--fps", str(scene["fps"]), "--seed", str(scene["seed"])]
    args += ["--window", str(scene["window_s"]), "--out", str(video), "--truth", str(truth)]
    assert scene_main(args) == 0
    return video, truth


@pytest.mark.timeout(1800)  # four attribute networks per face: ~8 min on a loaded 2-core box
def test_fairface_crowd_end_to_end_within_committed_error(
    broker_fairface: DevBroker,
    fairface_scene: tuple[Path, Path],
    run_node: RunNode,
    tmp_path: Path,
) -> None:
    video, truth_path = fairface_scene
    truth = SceneTruth.load(truth_path)
    window_s = EXPECTED["scene"]["window_s"]
    windows = math.ceil(truth.seconds / window_s)
    out = io.StringIO()
    recorder = Recorder(out)
    sub = Subscriber(
        host=broker_fairface.host,
        port=broker_fairface.port,
        topics=["kazoe/v1/+/counts"],
        on_message=recorder.on_message,
        username="watcher",
        password=broker_fairface.password("watcher"),
    )
    sub.start()
    try:
        assert sub.subscribed.wait(10), "the recorder could not subscribe"
        toml = node_toml(
            broker_fairface,
            node_id=NODE,
            source=video,
            state=tmp_path / "state",
            window_s=window_s,
            k=EXPECTED["node"]["k"],
        )
        result = run_node(toml, "--once", timeout=1200)
        assert result.returncode == 0, result.stderr[-2000:]
        wait_until(lambda: recorder.stats.stored >= windows, 20, f"{windows} recorded windows")
    finally:
        sub.stop()
    counts = tmp_path / "counts.jsonl"
    counts.write_text(out.getvalue(), encoding="utf-8")
    node_id, length, published = node_windows(read_counts(counts), None)
    assert (node_id, length) == (NODE, window_s)
    t0 = published[0].start
    assert t0 == pytest.approx(_epoch(START))
    report = score(truth, node_id, length, published, t0)
    print("\n" + render(report, truth))
    _check(report.count_error_pct, EXPECTED["people_count_error_pct"], "people-count error")
    # A withheld female/male cell (k) makes the share n/a rather than a guess.
    withheld = any("female share n/a" in note for note in report.notes)
    assert (report.female_share_error_pp is None) == withheld
    assert report.age_tvd is not None
    # The default node publishes intervals from the shipped FairFace calibration (/3).
    assert report.coverage is not None, "no kazoe.counts/3 intervals in the windows"
    assert report.coverage.female_windows + report.coverage.band_intervals > 0


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _check(got: float | None, expected: dict[str, Any], what: str) -> None:
    assert got is not None, f"no {what}"
    value, tolerance = float(expected["value"]), float(expected["tolerance"])
    assert abs(got - value) <= tolerance, (
        f"{what} {got:+.1f} drifted from the committed {value:+.1f} by more than {tolerance:g}; "
        "if the change is intended, update tests/e2e/expected_fairface.json"
    )


@pytest.fixture
def broker_fairface(tmp_path: Path) -> Iterator[DevBroker]:
    """A DevBroker with a user for this test's node (the shared fixture has node-a/-b)."""
    with DevBroker((NODE,), state_dir=tmp_path / "broker") as dev:
        yield dev
