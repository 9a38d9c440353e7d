"""Age and gender labels of face photos, and how they map onto the node's age bands.

A label gives the age either in years (UTKFace, a CSV) or as a group such as ``20-29`` or
``70+`` (FairFace). Years map to a band exactly as the node does it (``int(age)`` against the
band edges). A group maps to a band only when the whole group lies inside one band; a group
that straddles a band edge (FairFace ``10-19`` against the node's ``0-12`` / ``13-19``) is
reported as *straddling*, never guessed.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from typing import Literal

from pydantic import ValidationError

from edge.config import DEFAULT_AGE_EDGES, AggregateConfig

Gender = Literal["female", "male"]
OPEN_END = 200  # upper bound used for an open group such as "70+"
_GROUP = re.compile(r"^\s*(\d{1,3})\s*(?:-\s*(\d{1,3})|(\+))\s*$")
_FEMALE = {"f", "female", "woman", "w", "1"}
_MALE = {"m", "male", "man", "0"}


@dataclass(frozen=True)
class AgeGroup:
    """Ages ``lo`` to ``hi`` inclusive (``hi`` None: open ended, e.g. ``70+``)."""

    lo: int
    hi: int | None

    @property
    def name(self) -> str:
        return f"{self.lo}+" if self.hi is None else f"{self.lo}-{self.hi}"


@dataclass(frozen=True)
class FaceLabel:
    """What is known about the person in one photo: age (years or group) and gender."""

    age_years: float | None = None
    age_group: AgeGroup | None = None
    gender: Gender | None = None


def parse_group(text: str) -> AgeGroup:
    """``"20-29"`` or ``"70+"``; ValueError naming the text otherwise."""
    m = _GROUP.match(text)
    if m is None:
        raise ValueError(f"age group {text!r} is not like '20-29' or '70+'")
    lo = int(m.group(1))
    hi = None if m.group(3) else int(m.group(2))
    if hi is not None and hi < lo:
        raise ValueError(f"age group {text!r} ends before it starts")
    return AgeGroup(lo, hi)


def parse_age(text: str) -> tuple[float | None, AgeGroup | None]:
    """An age in years (``"34"``, ``"34.5"``) or a group (``"30-39"``); empty = unknown."""
    text = text.strip()
    if not text or text.lower() in {"unknown", "na", "n/a", "-"}:
        return None, None
    try:
        years = float(text)
    except ValueError:
        return None, parse_group(text)
    if not 0 <= years <= 130:
        raise ValueError(f"age {text!r} is not between 0 and 130 years")
    return years, None


def parse_gender(text: str, *, numeric: bool = False) -> Gender | None:
    """Female/male from words (``F``, ``Female``, ``woman``...) or UTK digits (0 male, 1 female)."""
    word = text.strip().lower()
    if not word or word in {"unknown", "na", "n/a", "-"}:
        return None
    if word.isdigit() and not numeric:
        raise ValueError(f"gender {text!r} should be a word such as female / male")
    if word in _FEMALE:
        return "female"
    if word in _MALE:
        return "male"
    raise ValueError(f"gender {text!r} is not female / male (or F / M)")


@dataclass(frozen=True)
class Bands:
    """The node's age bands (``[aggregate] age_bands`` edges) and how labels fall into them."""

    edges: tuple[int, ...] = DEFAULT_AGE_EDGES

    @property
    def labels(self) -> list[str]:
        return AggregateConfig(age_bands=self.edges).band_labels()

    def of_years(self, years: float) -> str:
        """The node's own rule (``edge.counting.aggregator``): whole years against the edges."""
        return self.labels[bisect_right(self.edges, int(years))]

    def of_group(self, group: AgeGroup) -> str | None:
        """The band holding the whole group, or None when the group straddles an edge."""
        lo = self.of_years(group.lo)
        hi = self.of_years(OPEN_END if group.hi is None else group.hi)
        return lo if lo == hi else None

    def of_label(self, label: FaceLabel) -> str | None:
        if label.age_years is not None:
            return self.of_years(label.age_years)
        if label.age_group is not None:
            return self.of_group(label.age_group)
        return None

    def spanned(self, group: AgeGroup) -> list[str]:
        """Every band the group touches (one unless it straddles)."""
        labels = self.labels
        first = labels.index(self.of_years(group.lo))
        last = labels.index(self.of_years(OPEN_END if group.hi is None else group.hi))
        return labels[first : last + 1]


def parse_edges(text: str) -> tuple[int, ...]:
    """``"13,20,30"`` -> (13, 20, 30), validated like ``[aggregate] age_bands``."""
    try:
        edges = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise ValueError(f"--age-bands {text!r}: use comma-separated whole years") from None
    try:
        AggregateConfig(age_bands=edges)
    except ValidationError as exc:
        reason = exc.errors()[0]["msg"].removeprefix("Value error, ")
        raise ValueError(f"--age-bands {text!r}: {reason}") from None
    return edges
