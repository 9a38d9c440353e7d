"""Gender and age bands the default node counts on the recorded clips in ../shared/data/real
(Intel IoT Devkit sample videos, CC BY 4.0), against their people.csv.

Each clip runs through the node's own pipeline (``edge.ops.recording.track_video``: YuNet,
quality gate, tracker, the default attribute recipe and per-track fusion); only the tallies
of the counted tracks are compared, never a person. The tallies must equal the committed
ones (``expected_real_clips.json``): a change that moves them fails, and the expectation is
updated on purpose (the test checks the committed truth against people.csv, and the counted
tallies against the committed ones; that they agree with the truth is reported, not
asserted). Seven labelled people is a sanity check on real faces, not an accuracy figure.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import pytest

from edge.config import NodeSettings
from edge.counting.aggregator import Aggregator, gender_of
from edge.ops.calibrate import Pipeline, open_pipeline
from edge.ops.recording import file_source, track_video

pytestmark = [pytest.mark.integration, pytest.mark.slow]

HERE = Path(__file__).resolve().parent
MODELS = HERE.parents[2] / "models" / "build"
REAL = HERE.parents[3] / "shared" / "data" / "real"
EXPECTED = json.loads((HERE / "expected_real_clips.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def settings() -> NodeSettings:
    if not (MODELS / "models.json").is_file():
        pytest.skip("models are not built: run 'make models'")
    return NodeSettings.model_validate(
        {
            "node": {"id": "clips"},
            "source": {"uri": "clip.mp4"},
            "policy": {"purposes": ["footfall", "demographics"]},
            "models": {"dir": str(MODELS)},
        }
    )


@pytest.fixture(scope="module")
def pipeline(settings: NodeSettings) -> Pipeline:
    return open_pipeline(settings)


def _tallies(settings: NodeSettings, pipe: Pipeline, folder: Path) -> dict[str, dict[str, int]]:
    ends = track_video(settings, pipe, file_source(settings, folder / "clip.mp4"))
    margin = settings.attributes.gender_margin
    aggregator = Aggregator(settings.aggregate, True, margin)  # the node's own band rule
    gender = Counter(gender_of(t.p_male, margin) for t in ends)
    bands = Counter(aggregator.band_of(t.age) if t.age is not None else "unknown" for t in ends)
    return {"gender": dict(sorted(gender.items())), "bands": dict(sorted(bands.items()))}


def _truth(folder: Path) -> dict[str, dict[str, int]]:
    with (folder / "people.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    return {
        "gender": dict(sorted(Counter(r["gender"] for r in rows).items())),
        "bands": dict(sorted(Counter(r["age"] for r in rows).items())),
    }


@pytest.mark.parametrize("name", sorted(EXPECTED["clips"]))
def test_counted_gender_and_bands_match_the_committed_tallies(
    settings: NodeSettings, pipeline: Pipeline, name: str
) -> None:
    folder = REAL / name
    if not (folder / "clip.mp4").is_file():
        pytest.skip(f"recorded clip {name} not found at {folder} (read-only shared data)")
    expected = EXPECTED["clips"][name]
    assert _truth(folder) == expected["truth"], "people.csv changed: re-measure"
    got = _tallies(settings, pipeline, folder)
    print(f"\n{name}: truth {expected['truth']}, counted {got}")
    assert got == expected["counted"], (
        f"{name}: counted {got}, committed {expected['counted']}; if the change is intended, "
        "update tests/edge/ops/expected_real_clips.json"
    )
