"""``kazoe-sim score``: the figures a tester reads, from hand-made truth and counts files."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from edge.testing import sample_counts
from simulator.scenes.truth import PersonTruth, SceneTruth
from simulator.scoring.cli import score_main

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
BANDS = ["0-12", "13-19", "20-29", "30-39", "40-49", "50-59", "60-69", "70+"]


def person(
    i: int, exit_s: float, gender: str, band: str | None, group: str | None = None
) -> PersonTruth:
    return PersonTruth.model_validate(
        {
            "id": i,
            "portrait": f"p{i}.jpg",
            "enter_s": max(0.0, exit_s - 5),
            "exit_s": exit_s,
            "face_px_min": 60,
            "face_px_max": 80,
            "lingers": False,
            "age_group": group or band,
            "age_band": band,
            "gender": gender,
        }
    )


def truth_file(tmp_path: Path, people: list[PersonTruth], *, labelled: bool = True) -> Path:
    truth = SceneTruth.model_validate(
        {
            "width": 1280,
            "height": 720,
            "fps": 10,
            "seconds": 60,
            "frames": 600,
            "seed": 0,
            "window_seconds": 60,  # the counts' 30 s windows must win
            "faces": "test" if labelled else None,
            "age_band_edges": [13, 20, 30, 40, 50, 60, 70] if labelled else None,
            "people": people,
            "windows": [],
        }
    )
    path = tmp_path / "truth.json"
    path.write_text(truth.to_json(), encoding="utf-8")
    return path


def window(
    seq: int, people: int | None, gender: dict[str, Any], bands: dict[str, Any], **kw: Any
) -> dict[str, Any]:
    start = T0 + timedelta(seconds=30 * (seq - 1))
    fields: dict[str, Any] = {
        "window_start": start,
        "window_end": start + timedelta(seconds=30),
        "people": people,
        "gender": gender,
        "age_bands": {b: bands.get(b, 0) for b in [*BANDS, "unknown"]},
        "suppressed": kw.pop("suppressed", []),
    }
    payload = sample_counts(kw.pop("node_id", "cam-1"), seq=kw.pop("seq_no", seq), **fields, **kw)
    doc: dict[str, Any] = json.loads(payload.to_json())
    return doc


def counts_file(tmp_path: Path, windows: list[dict[str, Any]]) -> Path:
    path = tmp_path / "counts.jsonl"
    lines = [
        json.dumps({"topic": f"kazoe/v1/{w['node_id']}/counts", "received_at": "x", "payload": w})
        for w in windows
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


PEOPLE = [
    person(0, 5.0, "female", "20-29"),
    person(1, 12.0, "male", "30-39"),
    person(2, 31.0, "female", None, group="10-19"),  # straddles 0-12 / 13-19
    person(3, 45.0, "male", "0-12"),
]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = score_main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_perfect_counts_score_zero_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    counts = counts_file(
        tmp_path,
        [
            window(1, 2, {"female": 1, "male": 1, "unknown": 0}, {"20-29": 1, "30-39": 1}),
            window(2, 2, {"female": 1, "male": 1, "unknown": 0}, {"13-19": 1, "0-12": 1}),
        ],
    )
    code, out, _ = run(
        capsys, "--truth", str(truth_file(tmp_path, PEOPLE)), "--counts", str(counts), "--json"
    )
    assert code == 0
    doc = json.loads(out)
    assert doc["window_s"] == 30
    assert [(w["truth"], w["counted"]) for w in doc["windows"]] == [(2, 2), (2, 2)]
    assert doc["count_error_pct"] == 0
    assert doc["female_share_error_pp"] == 0
    assert doc["age_tvd"] == 0
    assert doc["band_merges"] == {"0-19": ["0-12", "13-19"]}
    rows = {r["band"]: (r["truth"], r["counted"]) for r in doc["bands"]}
    assert rows["0-19"] == (2, 2)
    assert "0-12" not in rows


def test_withheld_cells_are_unknown_not_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    counts = counts_file(
        tmp_path,
        [
            window(
                1,
                None,
                {"female": None, "male": None, "unknown": 0},
                {"20-29": None, "30-39": None},
                suppressed=[
                    "people",
                    "gender.female",
                    "gender.male",
                    "age_bands.20-29",
                    "age_bands.30-39",
                ],
            ),
            window(2, 3, {"female": 1, "male": 2, "unknown": 0}, {"0-12": 3}),
        ],
    )
    code, out, _ = run(
        capsys, "--truth", str(truth_file(tmp_path, PEOPLE)), "--counts", str(counts)
    )
    assert code == 0
    assert "people          truth     2   counted     3   error +50.0 %" in out
    assert "5 cells withheld (null = unknown, not zero): people 1, gender 2, age_bands 2" in out
    assert "note: people withheld in 1 window(s): left out of the count error" in out
    assert "  2026-03-01T08:00:00Z      2 withheld" in out


@pytest.mark.parametrize("withheld", ["female", "male"])
def test_a_withheld_gender_cell_makes_the_female_share_na(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], withheld: str
) -> None:
    # Window 1 shows 1 of its 2 gender cells: the hidden one could be anyone, so neither
    # 100 % nor 0 % female is a share the node published.
    gender = {"female": 1, "male": 1, "unknown": 0, withheld: None}
    counts = counts_file(
        tmp_path,
        [
            window(1, 2, gender, {"20-29": 1, "30-39": 1}, suppressed=[f"gender.{withheld}"]),
            window(2, 2, {"female": 1, "male": 1, "unknown": 0}, {"13-19": 1, "0-12": 1}),
        ],
    )
    truth = str(truth_file(tmp_path, PEOPLE))
    code, out, _ = run(capsys, "--truth", truth, "--counts", str(counts))
    assert code == 0
    assert "female share    truth 50.0 %   counted n/a   abs error n/a" in out
    assert "note: gender withheld in 1 window(s) (cells below k): female share n/a" in out
    code, out, _ = run(capsys, "--truth", truth, "--counts", str(counts), "--json")
    doc = json.loads(out)
    assert (doc["female_share_counted"], doc["female_share_error_pp"]) == (None, None)


def test_the_female_share_is_also_scored_over_the_windows_that_published_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Window 1 withholds its male cell; window 2 (truth: one woman, one man) says 2 women.
    counts = counts_file(
        tmp_path,
        [
            window(1, 2, {"female": 1, "male": None, "unknown": 0}, {"20-29": 1, "30-39": 1},
                   suppressed=["gender.male"]),
            window(2, 2, {"female": 2, "male": 0, "unknown": 0}, {"13-19": 1, "0-12": 1}),
        ],
    )  # fmt: skip
    truth = str(truth_file(tmp_path, PEOPLE))
    code, out, _ = run(capsys, "--truth", truth, "--counts", str(counts))
    assert code == 0
    assert "female share    truth 50.0 %   counted n/a   abs error n/a" in out
    assert (
        "  where published (1 of 2 windows): truth 50.0 %   counted 100.0 %   abs error 50.0 pp"
        in out
    )
    code, out, _ = run(capsys, "--truth", truth, "--counts", str(counts), "--json")
    doc = json.loads(out)
    assert (doc["gender_windows_published"], doc["gender_windows"]) == (1, 2)
    assert doc["female_share_error_published_pp"] == 50.0


def test_truth_is_binned_by_the_counts_window_and_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    counts = counts_file(tmp_path, [window(2, 2, {"female": 1, "male": 1, "unknown": 0}, {})])
    truth = truth_file(tmp_path, PEOPLE)
    _, out, _ = run(
        capsys,
        "--truth",
        str(truth),
        "--counts",
        str(counts),
        "--json",
        "--start-time",
        "2026-03-01T08:00:00Z",
    )
    doc = json.loads(out)
    assert [(w["truth"], w["counted"], w["missing"]) for w in doc["windows"]] == [
        (2, None, True),
        (2, 2, False),
    ]
    assert doc["count_error_pct"] == -50
    assert "1 window(s) with exits had no counts message (counted as 0)" in doc["notes"]


def test_two_messages_for_one_window_are_added_up(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    half = {"female": 1, "male": 0, "unknown": 0}
    counts = counts_file(
        tmp_path,
        [window(1, 1, half, {"20-29": 1}), window(1, 1, half, {"20-29": 1}, seq_no=2)],
    )
    _, out, _ = run(
        capsys, "--truth", str(truth_file(tmp_path, PEOPLE)), "--counts", str(counts), "--json"
    )
    assert json.loads(out)["windows"][0]["counted"] == 2


def test_portrait_truth_scores_people_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    counts = counts_file(tmp_path, [window(1, 2, {"female": 1, "male": 1, "unknown": 0}, {})])
    truth = truth_file(tmp_path, PEOPLE[:2], labelled=False)
    code, out, _ = run(capsys, "--truth", str(truth), "--counts", str(counts))
    assert code == 0
    assert "female share" not in out
    assert "note: the truth has no gender or age labels: people counts only" in out


@pytest.mark.parametrize(
    ("counts_text", "extra", "message"),
    [
        (None, [], "not found (write it with 'kazoe-sim record')"),
        ("not json\n", [], "line 1: not JSON"),
        ("", [], "holds no counts messages"),
        ("two-nodes", [], "counts from 2 nodes (cam-1, cam-2): pick one with --node"),
        ("two-nodes", ["--node", "cam-9"], "no counts from node 'cam-9'"),
    ],
)
def test_bad_counts_files_exit_1_with_one_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    counts_text: str | None,
    extra: list[str],
    message: str,
) -> None:
    path = tmp_path / "counts.jsonl"
    g = {"female": 1, "male": 1, "unknown": 0}
    if counts_text == "two-nodes":
        counts_file(tmp_path, [window(1, 2, g, {}), window(1, 2, g, {}, node_id="cam-2")])
    elif counts_text is not None:
        path.write_text(counts_text, encoding="utf-8")
    code, out, err = run(
        capsys, "--truth", str(truth_file(tmp_path, PEOPLE)), "--counts", str(path), *extra
    )
    assert code == 1
    assert out == ""
    assert message in err
    assert err.count("\n") == 1


def test_bad_truth_and_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "t.json"
    bad.write_text("{}", encoding="utf-8")
    code, _, err = run(capsys, "--truth", str(bad), "--counts", str(bad))
    assert code == 1
    assert err.startswith(f"kazoe-sim score: {bad} is not a truth file")
    with pytest.raises(SystemExit) as info:
        score_main(["--truth", str(bad), "--counts", str(bad), "--start-time", "yesterday"])
    assert info.value.code == 2
    assert "is not RFC 3339" in capsys.readouterr().err


def test_share_of_people_in_withheld_cells_per_window(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    counts = counts_file(
        tmp_path,
        [
            # 10 people; female and male withheld (6 of them), the age bands all published.
            window(
                1,
                10,
                {"female": None, "male": None, "unknown": 4},
                {"20-29": 6, "30-39": 4},
                suppressed=["gender.female", "gender.male"],
            ),
            window(2, 2, {"female": 1, "male": 1, "unknown": 0}, {"0-12": 2}),
        ],
    )
    truth = str(truth_file(tmp_path, PEOPLE))
    code, out, _ = run(capsys, "--truth", truth, "--counts", str(counts), "--json")
    assert code == 0
    doc = json.loads(out)
    shares = [w["withheld_share"] for w in doc["windows"]]
    assert shares == [pytest.approx(6 / 30), 0.0]
    assert doc["withheld_share_mean"] == pytest.approx(0.1)
    code, out, _ = run(capsys, "--truth", truth, "--counts", str(counts))
    assert "withheld share  10.0 % of people per window in withheld cells" in out
    assert "  2026-03-01T08:00:00Z      2       10    20.0 %" in out


def test_interval_coverage_counts_windows_whose_truth_is_inside(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Window 1 (truth: 1 of 2 female, 20-29 and 30-39 half each): its female interval holds
    # 50 %, its 20-29 interval (60-90 %) misses 50 %, its 30-39 one (10-60 %) holds it.
    # Window 2 holds a 10-19 person (0-12 or 13-19): 0-12 is left out, 20-29 (truth 0 %)
    # is inside 0-10 %; its female share (50 %) is outside 0-20 %.
    def iv(female: list[float], bands: dict[str, list[float]]) -> dict[str, Any]:
        return {
            "schema": "kazoe.counts/3",
            "intervals": {
                "level": 0.9,
                "calibration": "test@00000000",
                "female_share": {"low": female[0], "high": female[1]},
                "age_bands": {b: {"low": lo, "high": hi} for b, (lo, hi) in bands.items()},
            },
        }

    counts = counts_file(
        tmp_path,
        [
            window(
                1,
                2,
                {"female": 1, "male": 1, "unknown": 0},
                {"20-29": 1, "30-39": 1},
                **iv([30.0, 70.0], {"20-29": [60.0, 90.0], "30-39": [10.0, 60.0]}),
            ),
            window(
                2,
                2,
                {"female": 1, "male": 1, "unknown": 0},
                {"13-19": 1, "0-12": 1},
                **iv([0.0, 20.0], {"0-12": [0.0, 80.0], "20-29": [0.0, 10.0]}),
            ),
        ],
    )
    truth = str(truth_file(tmp_path, PEOPLE))
    code, out, _ = run(capsys, "--truth", truth, "--counts", str(counts))
    assert code == 0
    assert (
        "intervals       90% intervals hold the truth: female share 1 of 2 (50%) windows, "
        "age bands 2 of 3 (67%) band intervals"
    ) in out
    code, out, _ = run(capsys, "--truth", truth, "--counts", str(counts), "--json")
    cover = json.loads(out)["coverage"]
    assert (cover["female_windows"], cover["female_covered"]) == (2, 1)
    assert (cover["band_intervals"], cover["band_covered"]) == (3, 2)


def test_windows_without_intervals_report_no_coverage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    counts = counts_file(
        tmp_path, [window(1, 2, {"female": 1, "male": 1, "unknown": 0}, {"20-29": 1, "30-39": 1})]
    )
    code, out, _ = run(
        capsys, "--truth", str(truth_file(tmp_path, PEOPLE)), "--counts", str(counts)
    )
    assert code == 0
    assert "intervals " not in out
