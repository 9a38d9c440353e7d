"""Ground truth written next to a synthetic scene (``kazoe.truth/1``).

One record per person (when their face is visible, how large it is and, for a labelled face
folder, their age and gender) and one per counting window (how many people *end* their track
in it, i.e. exit in it, and for labelled faces how many of each gender and age band). Nothing
per frame. The demographic fields are left out of scenes built from unlabelled portraits.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from simulator.scenes.labels import Bands

TRUTH_SCHEMA_ID: Final = "kazoe.truth/1"

# A face counts as visible in a frame when at least this fraction of its box is inside it.
VISIBLE_FRACTION = 0.9


class PersonTruth(BaseModel):
    """One synthetic person. Times are of the first/last frame in which the face is visible."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: int = Field(ge=0)
    portrait: str = Field(min_length=1, description="label of the face source, e.g. grace_hopper")
    enter_s: float = Field(ge=0)
    exit_s: float = Field(ge=0)
    face_px_min: int | None = Field(None, ge=1, description="narrowest face width; null if unknown")
    face_px_max: int | None = Field(None, ge=1, description="widest face width; null if unknown")
    lingers: bool = False
    age: float | None = Field(None, description="age in years, when the label gives years")
    age_group: str | None = Field(None, description="age group label, e.g. 20-29 or 70+")
    age_band: str | None = Field(
        None, description="the node's age band; null if unknown or the group straddles a band edge"
    )
    gender: Literal["female", "male"] | None = None


class WindowTruth(BaseModel):
    """People whose track ends (who exit) in ``[start_s, end_s)``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start_s: float = Field(ge=0)
    end_s: float = Field(gt=0)
    people: int = Field(ge=0)
    gender: dict[Literal["female", "male", "unknown"], int] | None = None
    age_bands: dict[str, int] | None = Field(None, description="people per node age band")
    straddling: dict[str, int] | None = Field(
        None, description="people whose age group straddles a band edge, per group"
    )
    age_unknown: int | None = Field(None, ge=0, description="people with no age label")


class SceneTruth(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    schema_: Literal["kazoe.truth/1"] = Field(default=TRUTH_SCHEMA_ID, alias="schema")
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    fps: float = Field(gt=0)
    seconds: float = Field(gt=0)
    frames: int = Field(gt=0)
    seed: int
    window_seconds: float = Field(gt=0)
    faces: str | None = Field(None, description="the labelled face source and its credit")
    age_band_edges: list[int] | None = Field(None, description="the node age band edges used")
    people: list[PersonTruth]
    windows: list[WindowTruth]
    pillars: list[list[int]] | None = Field(
        None, description="occluding columns x0, y0, x1, y1 (px), drawn over everyone"
    )

    @property
    def labelled(self) -> bool:
        return self.age_band_edges is not None

    def to_json(self) -> str:
        doc: dict[str, Any] = self.model_dump(mode="json", by_alias=True)
        _drop_none(doc, ("faces", "age_band_edges", "pillars"))
        for window in doc["windows"]:
            _drop_none(window, ("gender", "age_bands", "straddling", "age_unknown"))
        return json.dumps(doc, indent=2) + "\n"

    @classmethod
    def load(cls, path: Path) -> SceneTruth:
        return cls.model_validate_json(path.read_text(encoding="utf-8"))


def _drop_none(doc: dict[str, Any], keys: Iterable[str]) -> None:
    for key in keys:
        if doc.get(key, 0) is None:
            del doc[key]


def tally(people: Iterable[PersonTruth], bands: Bands) -> dict[str, Any]:
    """Totals of a group of labelled people: gender, node age bands, straddling groups."""
    group = list(people)
    gender = Counter(p.gender or "unknown" for p in group)
    in_band = Counter(p.age_band for p in group if p.age_band is not None)
    straddling = Counter(
        p.age_group for p in group if p.age_band is None and p.age_group is not None
    )
    return {
        "people": len(group),
        "gender": {g: gender[g] for g in ("female", "male", "unknown")},
        "age_bands": {b: in_band[b] for b in bands.labels},
        "straddling": dict(sorted(straddling.items())),
        "age_unknown": sum(1 for p in group if p.age_band is None and p.age_group is None),
    }


def labelled_windows(
    people: list[PersonTruth], seconds: float, window_s: float, bands: Bands
) -> list[WindowTruth]:
    """``count_windows`` with each window's gender and age band totals."""
    windows = []
    for w in count_windows([p.exit_s for p in people], seconds, window_s):
        last = w.end_s >= seconds
        inside = [
            p for p in people if w.start_s <= p.exit_s < w.end_s or (last and p.exit_s >= w.end_s)
        ]
        windows.append(
            WindowTruth.model_validate(
                {"start_s": w.start_s, "end_s": w.end_s, **tally(inside, bands)}
            )
        )
    return windows


def count_windows(exits_s: list[float], seconds: float, window_s: float) -> list[WindowTruth]:
    """Windows ``[k*w, (k+1)*w)`` covering the video (the last one cut at ``seconds``)."""
    windows: list[WindowTruth] = []
    k = 0
    while k * window_s < seconds:
        start = k * window_s
        end = min((k + 1) * window_s, seconds)
        last = end >= seconds
        n = sum(1 for e in exits_s if start <= e < end or (last and e >= end))
        windows.append(WindowTruth(start_s=round(start, 4), end_s=round(end, 4), people=n))
        k += 1
    return windows
