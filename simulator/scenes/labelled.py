"""Scenes whose people come from a folder of labelled face photos (``--faces --labels``).

Every person is a different photo while photos last (a seeded permutation, so the same seed
picks the same photos); the truth records each person's label and the node age band it falls
in, or that its age group straddles a band edge.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from simulator.scenes.faces import DEFAULT_CROPS, Crop, LabelFormat, choose, load_faces, read_labels
from simulator.scenes.labels import Bands
from simulator.scenes.portraits import FaceItem

STREAM_FACES = 4  # the scene's random stream for picking photos (see simulator.scenes.scene)
CREDITS: dict[LabelFormat, str] = {
    "fairface": "FairFace (Karkkainen & Joo, WACV 2021), CC BY 4.0",
    "utk": "UTKFace (Zhang, Song & Qi, CVPR 2017), non-commercial research use",
    "csv": "",
}


@dataclass(frozen=True)
class LabelledSource:
    """A face folder, its label format, an optional CSV path and crop box."""

    folder: Path
    fmt: LabelFormat
    table: Path | None = None
    crop: Crop | None = None

    def describe(self) -> str:
        credit = CREDITS[self.fmt]
        return f"{self.fmt}:{self.folder}" + (f" ({credit})" if credit else "")


def photo_order(files: int, people: int, seed: int) -> list[int]:
    """Which of a folder's ``files`` photos (in ``read_labels`` order) a scene of ``people``
    with ``seed`` shows, in person order (``kazoe-sim accuracy`` counts the same draws)."""
    return choose(files, people, np.random.default_rng([seed, STREAM_FACES]))


def load_labelled(source: LabelledSource, people: int, seed: int) -> tuple[list[FaceItem], str]:
    """One face per person, in person order, and a note for the user (or "")."""
    files, note = read_labels(source.folder, source.fmt, source.table)
    order = photo_order(len(files), people, seed)
    faces = load_faces([files[i] for i in order], source.crop or DEFAULT_CROPS[source.fmt])
    notes = [note] if note else []
    if people > len(files):
        notes.append(
            f"{people} people from {len(files)} photos: some photos are used more than once"
        )
    return faces, "; ".join(notes)


def person_labels(face: FaceItem, bands: Bands) -> dict[str, Any]:
    """The label fields of a person's truth record (empty for an unlabelled face)."""
    label = face.truth
    if label is None:
        return {}
    return {
        "age": label.age_years,
        "age_group": label.age_group.name if label.age_group is not None else None,
        "age_band": bands.of_label(label),
        "gender": label.gender,
    }
