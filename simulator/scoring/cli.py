"""``kazoe-sim score --truth truth.json --counts counts.jsonl [--json]``: the accuracy report.

Exit 0 whatever the figures are (they are the output); 2 for bad arguments; 1 when a file
cannot be used, with one line saying why.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import pydantic

from simulator.scenes.args import OneLineParser, typed
from simulator.scenes.truth import SceneTruth
from simulator.scoring.counts_file import CountsFileError, node_windows, read_counts
from simulator.scoring.score import Score, score


def _stamp(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _when(text: str) -> float:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"--start-time {text!r} is not RFC 3339 (e.g. 2026-03-01T08:00:00Z)"
        ) from None
    if moment.tzinfo is None:
        raise ValueError(f"--start-time {text!r} needs a zone (e.g. Z)")
    return moment.timestamp()


def _num(value: float | None, spec: str, unit: str = "") -> str:
    return "n/a" if value is None else f"{value:{spec}}{unit}"


def render(result: Score, truth: SceneTruth) -> str:
    """The human report (plain text, one figure per line)."""
    lines = [
        f"node {result.node_id}: {len(result.windows)} windows of {result.window_s:g} s "
        f"from {_stamp(result.t0)}; scene {len(truth.people)} people, {truth.seconds:g} s"
        + (f", faces {truth.faces}" if truth.faces else ""),
        f"people          truth {result.truth_people_compared:5d}"
        f"   counted {result.counted_people:5d}"
        f"   error {_num(result.count_error_pct, '+.1f', ' %')}",
        f"per window      mean abs error {_num(result.mean_abs_window_error, '.2f')}"
        f"   max {_num(result.max_abs_window_error, 'd')}",
    ]
    if result.female_share_truth is not None or result.female_share_counted is not None:
        lines.append(
            f"female share    truth {_num(result.female_share_truth, '.1f', ' %')}"
            f"   counted {_num(result.female_share_counted, '.1f', ' %')}"
            f"   abs error {_num(result.female_share_error_pp, '.1f', ' pp')}"
            f"   (node gender unknown: {result.gender_unknown_counted})"
        )
    if result.gender_windows_published < result.gender_windows:
        lines.append(
            f"  where published ({result.gender_windows_published} of {result.gender_windows}"
            f" windows): truth {_num(result.female_share_truth_published, '.1f', ' %')}"
            f"   counted {_num(result.female_share_counted_published, '.1f', ' %')}"
            f"   abs error {_num(result.female_share_error_published_pp, '.1f', ' pp')}"
        )
    if result.bands:
        merges = "; ".join(f"{n} = {' + '.join(b)}" for n, b in result.band_merges.items())
        lines.append(
            f"age bands       total variation distance {_num(result.age_tvd, '.3f')}"
            + (f"   (merged where truth groups straddle a band edge: {merges})" if merges else "")
        )
        lines.append(f"  {'band':<8} {'truth':>6} {'counted':>8}  withheld in")
        for row in result.bands:
            held = f"{row.withheld_windows} window(s)" if row.withheld_windows else ""
            lines.append(f"  {row.band:<8} {row.truth:6d} {row.counted:8d}  {held}")
        lines.append(
            f"  {'unknown':<8} {result.age_unlabelled_truth:6d} {result.age_unknown_counted:8d}"
        )
    if result.coverage is not None:
        lines.append(f"intervals       {result.coverage.text()}")
    cells = result.suppressed_cells
    lines.append(
        f"suppressed      {cells.get('total', 0)} cells withheld (null = unknown, not zero): "
        + ", ".join(f"{k} {v}" for k, v in cells.items() if k != "total")
    )
    share = result.withheld_share_mean
    lines.append(
        f"withheld share  {_num(None if share is None else 100 * share, '.1f', ' %')} of people "
        "per window in withheld cells (mean over people, gender and age-band tables)"
    )
    lines.append(f"  {'window':<20} {'truth':>6} {'counted':>8} {'withheld':>9}")
    for w in result.windows:
        shown = "no msg" if w.missing else ("withheld" if w.counted is None else str(w.counted))
        held = "" if w.withheld_share is None else f"{100 * w.withheld_share:.1f} %"
        lines.append(f"  {_stamp(w.start):<20} {w.truth:6d} {shown:>8} {held:>9}")
    lines += [f"note: {n}" for n in result.notes]
    return "\n".join(lines)


def score_main(argv: Sequence[str] | None = None) -> int:
    p = OneLineParser(
        prog="kazoe-sim score",
        description="Compare counts recorded by 'kazoe-sim record' with a scene's ground truth.",
    )
    p.add_argument("--truth", type=Path, required=True, help="truth JSON from 'kazoe-sim scene'")
    p.add_argument("--counts", type=Path, required=True, help="JSON Lines from 'kazoe-sim record'")
    p.add_argument("--node", default=None, help="node id (needed when the file has several)")
    p.add_argument(
        "--start-time",
        type=typed(_when),
        default=None,
        help="the node's [source] start_time (default: start of the first published window)",
    )
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = p.parse_args(argv)
    try:
        truth = SceneTruth.load(args.truth)
    except FileNotFoundError:
        print(f"kazoe-sim score: {args.truth} not found", file=sys.stderr)
        return 1
    except (OSError, ValueError, pydantic.ValidationError) as exc:
        reason = str(exc).splitlines()[0]
        print(f"kazoe-sim score: {args.truth} is not a truth file: {reason}", file=sys.stderr)
        return 1
    try:
        node_id, window_s, published = node_windows(read_counts(args.counts), args.node)
    except CountsFileError as exc:
        print(f"kazoe-sim score: {exc}", file=sys.stderr)
        return 1
    t0 = args.start_time if args.start_time is not None else published[0].start
    result = score(truth, node_id, window_s, published, t0)
    if args.json:
        print(json.dumps(asdict(result), indent=2))
    else:
        print(render(result, truth))
    return 0
