"""How right the published counts are, against a scene's ground truth (pure functions).

The node counts a person in the window in which their track ends; the truth puts each person
in the window holding their ``exit_s``. Both use the counts' own window length and the node's
epoch-aligned windows, with the scene's frame 0 at ``t0`` (``[source] start_time``).

A withheld (null) cell is unknown: it is left out of the sums and reported, never read as 0.
Age groups that straddle a band edge (FairFace ``10-19`` against ``0-12`` / ``13-19``) make
the bands they span one merged band (``0-19``) on both sides, so nothing is guessed.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from simulator.scenes.labels import Bands, parse_group
from simulator.scenes.truth import SceneTruth
from simulator.scoring.counts_file import NodeWindow

FIELDS = ("people", "gender", "age_bands", "joint")


@dataclass(frozen=True)
class WindowScore:
    start: float
    truth: int
    counted: int | None  # None: withheld, or no message for this window
    missing: bool = False
    # People in withheld cells / people, over the window's people, gender and age-band
    # tables; None when there is no message or the people count itself is withheld.
    withheld_share: float | None = None


@dataclass(frozen=True)
class BandRow:
    band: str
    truth: int
    counted: int
    withheld_windows: int


@dataclass
class Score:
    node_id: str
    window_s: float
    t0: float
    windows: list[WindowScore]
    truth_people: int
    counted_people: int
    truth_people_compared: int  # truth in windows whose people count was published
    count_error_pct: float | None
    mean_abs_window_error: float | None
    max_abs_window_error: int | None
    female_share_truth: float | None = None
    female_share_counted: float | None = None
    female_share_error_pp: float | None = None
    # Over the windows whose female and male cells were both published only (the truth of
    # the labelled people who exited in those windows): a share even when k withholds one.
    gender_windows_published: int = 0
    gender_windows: int = 0
    female_share_truth_published: float | None = None
    female_share_counted_published: float | None = None
    female_share_error_published_pp: float | None = None
    gender_unknown_counted: int = 0
    bands: list[BandRow] = field(default_factory=list)
    band_merges: dict[str, list[str]] = field(default_factory=dict)
    age_unknown_counted: int = 0
    age_unlabelled_truth: int = 0
    age_tvd: float | None = None
    suppressed_cells: dict[str, int] = field(default_factory=dict)
    withheld_share_mean: float | None = None  # over windows with a published people count
    # kazoe.counts/3 windows: how often the published interval held the window's truth.
    coverage: IntervalCoverage | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class IntervalCoverage:
    """Windows (female share) and band intervals whose truth lay inside, and how many."""

    level: float
    female_windows: int = 0
    female_covered: int = 0
    band_intervals: int = 0
    band_covered: int = 0

    def text(self) -> str:
        def part(covered: int, total: int) -> str:
            return f"{covered} of {total} ({covered / total:.0%})" if total else "n/a"

        return (
            f"{self.level:.0%} intervals hold the truth: female share "
            f"{part(self.female_covered, self.female_windows)} windows, age bands "
            f"{part(self.band_covered, self.band_intervals)} band intervals"
        )


def _merged_bands(truth: SceneTruth, bands: Bands) -> dict[str, str]:
    """Node band -> the band it is reported under (itself, or a merge over straddling groups)."""
    labels = bands.labels
    joined = [False] * len(labels)  # band i is reported together with band i + 1
    for person in truth.people:
        if person.age_band is None and person.age_group is not None:
            spanned = bands.spanned(parse_group(person.age_group))
            for i in range(labels.index(spanned[0]), labels.index(spanned[-1])):
                joined[i] = True
    merged: dict[str, str] = {}
    i = 0
    while i < len(labels):
        j = i
        while j + 1 < len(labels) and joined[j]:
            j += 1
        lo, last = labels[i].split("-")[0].rstrip("+"), labels[j]
        name = f"{lo}+" if last.endswith("+") else f"{lo}-{last.split('-')[1]}"
        for k in range(i, j + 1):
            merged[labels[k]] = labels[i] if i == j else name
        i = j + 1
    return merged


def _window_of(ts: float, window_s: float) -> float:
    return math.floor(round(ts / window_s, 9)) * window_s


def score(
    truth: SceneTruth, node_id: str, window_s: float, published: list[NodeWindow], t0: float
) -> Score:
    """Compare one node's windows with the truth; see the module docstring for the rules."""
    by_start = {w.start: w for w in published}
    exits = Counter(_window_of(t0 + p.exit_s, window_s) for p in truth.people)
    starts = sorted(set(exits) | set(by_start))
    rows = []
    for s in starts:
        w = by_start.get(s)
        rows.append(
            WindowScore(
                s,
                exits.get(s, 0),
                None if w is None else w.people,
                w is None,
                None if w is None else withheld_share(w),
            )
        )
    compared = [r for r in rows if r.counted is not None or r.missing]
    counted = sum(r.counted or 0 for r in compared)
    truth_compared = sum(r.truth for r in compared)
    errors = [abs((r.counted or 0) - r.truth) for r in compared]
    result = Score(
        node_id=node_id,
        window_s=window_s,
        t0=t0,
        windows=rows,
        truth_people=len(truth.people),
        counted_people=counted,
        truth_people_compared=truth_compared,
        count_error_pct=100 * (counted - truth_compared) / truth_compared
        if truth_compared
        else None,
        mean_abs_window_error=sum(errors) / len(errors) if errors else None,
        max_abs_window_error=max(errors) if errors else None,
    )
    missing = [r for r in rows if r.missing]
    if missing:
        result.notes.append(
            f"{len(missing)} window(s) with exits had no counts message (counted as 0)"
        )
    withheld = [r for r in rows if r.counted is None and not r.missing]
    if withheld:
        result.notes.append(
            f"people withheld in {len(withheld)} window(s): left out of the count error"
        )
    result.suppressed_cells = _suppressed(published)
    shares = [r.withheld_share for r in rows if r.withheld_share is not None]
    result.withheld_share_mean = sum(shares) / len(shares) if shares else None
    if truth.labelled:
        _demographics(result, truth, published)
    else:
        result.notes.append("the truth has no gender or age labels: people counts only")
    return result


def withheld_share(w: NodeWindow) -> float | None:
    """People in withheld cells / people, averaged over the window's tables.

    Each table (people, gender, age bands) adds up to the people count, so the people in a
    table's withheld cells are the people count less its published cells: exact from the
    message alone. None when the people count is withheld (then nothing is known).
    """
    if w.people is None:
        return None
    tables = [t for t in (w.gender, w.age_bands) if t is not None]
    if w.people == 0:
        return 0.0
    hidden = sum(w.people - sum(v for v in t.values() if v is not None) for t in tables)
    return hidden / (w.people * (1 + len(tables)))


def _suppressed(published: list[NodeWindow]) -> dict[str, int]:
    cells = Counter(name.split(".")[0] for w in published for name in w.suppressed)
    return {"total": sum(cells.values()), **{f: cells.get(f, 0) for f in FIELDS}}


def _demographics(result: Score, truth: SceneTruth, published: list[NodeWindow]) -> None:
    if not any(w.gender is not None for w in published):
        result.notes.append("the node published no demographics (purpose 'demographics' off)")
        return
    _gender(result, truth, published)
    _ages(result, truth, published)
    _coverage(result, truth, published)


def _coverage(result: Score, truth: SceneTruth, published: list[NodeWindow]) -> None:
    """Per window: is the truth inside the published interval? Truth shares are over the
    window's people (female share: the labelled ones); a band that someone's labelled group
    straddles into is left out of that window's band check."""
    with_iv = [w for w in published if w.intervals is not None]
    if not with_iv:
        return
    cover = IntervalCoverage(level=float(with_iv[0].intervals["level"]))  # type: ignore[index]
    bands = Bands(tuple(truth.age_band_edges or ()))
    by_window: dict[float, list[Any]] = {}
    for p in truth.people:
        by_window.setdefault(_window_of(result.t0 + p.exit_s, result.window_s), []).append(p)
    for w in with_iv:
        iv: dict[str, Any] = w.intervals or {}
        people = by_window.get(w.start, [])
        labelled = [p for p in people if p.gender is not None]
        share = iv.get("female_share")
        if share is not None and labelled:
            truth_f = 100 * sum(p.gender == "female" for p in labelled) / len(labelled)
            cover.female_windows += 1
            cover.female_covered += share["low"] - 0.05 <= truth_f <= share["high"] + 0.05
        # A band is checked only if nobody in the window might be in it without the truth
        # saying so (a FairFace 10-19 person may be 0-12 or 13-19: both are left out).
        unsure = {
            b
            for p in people
            if p.age_band is None and p.age_group is not None
            for b in bands.spanned(parse_group(p.age_group))
        }
        if people and all(p.age_band is not None or p.age_group is not None for p in people):
            for band, bounds in (iv.get("age_bands") or {}).items():
                if band in unsure:
                    continue
                truth_b = 100 * sum(p.age_band == band for p in people) / len(people)
                cover.band_intervals += 1
                cover.band_covered += bounds["low"] - 0.05 <= truth_b <= bounds["high"] + 0.05
    result.coverage = cover


def _gender(result: Score, truth: SceneTruth, published: list[NodeWindow]) -> None:
    women = sum(p.gender == "female" for p in truth.people)
    known = sum(p.gender is not None for p in truth.people)
    c_female = sum((w.gender or {}).get("female") or 0 for w in published)
    c_male = sum((w.gender or {}).get("male") or 0 for w in published)
    result.gender_unknown_counted = sum((w.gender or {}).get("unknown") or 0 for w in published)
    if known:
        result.female_share_truth = 100 * women / known
    _gender_where_published(result, truth, [w for w in published if w.gender is not None])
    # A withheld female or male cell hides part of the split: any share would be a guess
    # (all the withheld people might be women), so the share is n/a, not 100 % or 0 %.
    withheld = result.gender_windows - result.gender_windows_published
    if withheld:
        result.notes.append(
            f"gender withheld in {withheld} window(s) (cells below k): female share n/a"
        )
    elif c_female + c_male:
        result.female_share_counted = 100 * c_female / (c_female + c_male)
    if result.female_share_truth is not None and result.female_share_counted is not None:
        result.female_share_error_pp = abs(result.female_share_counted - result.female_share_truth)


def _gender_where_published(
    result: Score, truth: SceneTruth, with_gender: list[NodeWindow]
) -> None:
    """The female share over the windows whose female and male cells were both published,
    against the labelled people who exited in those windows."""
    complete = [
        w
        for w in with_gender
        if all((w.gender or {}).get(c, 0) is not None for c in ("female", "male"))
    ]
    result.gender_windows, result.gender_windows_published = len(with_gender), len(complete)
    starts = {w.start for w in complete}
    labelled = [
        p
        for p in truth.people
        if p.gender is not None and _window_of(result.t0 + p.exit_s, result.window_s) in starts
    ]
    c_female = sum((w.gender or {}).get("female") or 0 for w in complete)
    c_male = sum((w.gender or {}).get("male") or 0 for w in complete)
    if not labelled or not c_female + c_male:
        return
    result.female_share_truth_published = (
        100 * sum(p.gender == "female" for p in labelled) / len(labelled)
    )
    result.female_share_counted_published = 100 * c_female / (c_female + c_male)
    result.female_share_error_published_pp = abs(
        result.female_share_counted_published - result.female_share_truth_published
    )


def _ages(result: Score, truth: SceneTruth, published: list[NodeWindow]) -> None:
    bands = Bands(tuple(truth.age_band_edges or ()))
    merged = _merged_bands(truth, bands)
    names = list(dict.fromkeys(merged.values()))
    t_counts: Counter[str] = Counter()
    for p in truth.people:
        if p.age_band is not None:
            t_counts[merged[p.age_band]] += 1
        elif p.age_group is not None:
            t_counts[merged[bands.spanned(parse_group(p.age_group))[0]]] += 1
    c_counts: Counter[str] = Counter()
    withheld: Counter[str] = Counter()
    for w in published:
        for band, value in (w.age_bands or {}).items():
            if band == "unknown":
                result.age_unknown_counted += value or 0
            elif band in merged and value is None:
                withheld[merged[band]] += 1
            elif band in merged:
                c_counts[merged[band]] += value or 0
    result.bands = [BandRow(n, t_counts[n], c_counts[n], withheld[n]) for n in names]
    result.band_merges = {
        n: [b for b, m in merged.items() if m == n]
        for n in names
        if list(merged.values()).count(n) > 1
    }
    result.age_unlabelled_truth = sum(
        p.age_band is None and p.age_group is None for p in truth.people
    )
    t_total, c_total = sum(t_counts.values()), sum(c_counts.values())
    if t_total and c_total:
        result.age_tvd = 0.5 * sum(
            abs(t_counts[n] / t_total - c_counts[n] / c_total) for n in names
        )
