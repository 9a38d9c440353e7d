"""Ground truth written next to a synthetic scene (``kazoe.truth/1``).

One record per person (when their face is visible, how large it is) and one per counting
window (how many people *end* their track in it, i.e. exit in it). Nothing per frame.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field

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
    face_px_min: int = Field(ge=1)
    face_px_max: int = Field(ge=1)
    lingers: bool
    age: float | None = None
    gender: Literal["female", "male"] | None = None


class WindowTruth(BaseModel):
    """People whose track ends (who exit) in ``[start_s, end_s)``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start_s: float = Field(ge=0)
    end_s: float = Field(gt=0)
    people: int = Field(ge=0)


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
    people: list[PersonTruth]
    windows: list[WindowTruth]

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json", by_alias=True), indent=2) + "\n"

    @classmethod
    def load(cls, path: Path) -> SceneTruth:
        return cls.model_validate_json(path.read_text(encoding="utf-8"))


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
