"""Roll-ups re-apply small-count suppression: a withheld input is never summed as zero."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from collector.records import Window, flatten_cells
from collector.rollup import CellSum, Rollup, roll_up
from collector.store import hourly_deltas
from edge.privacy.suppression import build_table, determined, suppress

BANDS = ("0-12", "20-29", "70+")


def window(seq: int, doc: dict[str, Any]) -> Window:
    return Window("node-a", seq, "0" * 32, 3600, 3660, flatten_cells(doc), "{}", 0)


def rolled(docs: list[dict[str, Any]], k: int = 5) -> Rollup:
    sums = {
        cell: CellSum(n, nulls, total)
        for _, _, cell, n, nulls, total in hourly_deltas(
            [window(i, d) for i, d in enumerate(docs, 1)]
        )
    }
    return roll_up(sums, k)


def doc(people: int | None, female: int | None, male: int | None) -> dict[str, Any]:
    return {"people": people, "gender": {"female": female, "male": male}}


def test_known_cells_are_summed_and_published() -> None:
    r = rolled([doc(12, 5, 7), doc(10, 5, 5)])
    assert r.windows == 2
    assert r.people == 22
    assert r.gender == {"female": 10, "male": 12}
    assert r.withheld == ()


def test_a_withheld_input_makes_the_rollup_cell_withheld_not_zero() -> None:
    # Window 1 withheld its female and male cells (3 and 9 were never published).
    r = rolled([doc(12, None, None), doc(10, 5, 5)])
    assert r.people == 22
    assert r.gender == {"female": None, "male": None}
    assert "gender.female" in r.withheld
    assert "gender.male" in r.withheld


def test_one_unknown_cell_takes_a_complement_so_it_cannot_be_recomputed() -> None:
    # Only "female" is unknown; publishing people and male would give female = people - male.
    r = rolled([{"people": 20, "gender": {"female": None, "male": 14, "unknown": 0}}])
    assert r.gender is not None
    assert r.gender["female"] is None
    published = [r.people, r.gender["male"]]
    assert None in published, "people or male must be withheld too"


def test_cells_missing_from_some_windows_are_unknown() -> None:
    r = rolled([doc(12, 5, 7), {"people": 10}])
    assert r.people == 22
    assert r.gender == {"female": None, "male": None}


def test_small_rollup_cells_are_withheld() -> None:
    sums = {
        "_windows": CellSum(1, 0, 0),
        "people": CellSum(1, 0, 9),
        "gender.female": CellSum(1, 0, 2),
        "gender.male": CellSum(1, 0, 7),
    }
    r = roll_up(sums, k=5)
    assert r.gender == {"female": None, "male": None}  # 2 < k, and male would reveal it
    assert r.people == 9


def test_no_windows_is_an_empty_rollup() -> None:
    assert roll_up({}, 5).windows == 0
    assert roll_up({}, 5).people == 0


cell = st.one_of(st.none(), st.integers(0, 12))


@st.composite
def windows(draw: st.DrawFn) -> list[dict[str, Any]]:
    out = []
    for _ in range(draw(st.integers(1, 4))):
        bands = {b: draw(cell) for b in BANDS}
        out.append(
            {
                "people": draw(cell),
                "gender": {"female": draw(cell), "male": draw(cell)},
                "age_bands": bands,
            }
        )
    return out


@settings(max_examples=150, deadline=None)
@given(windows(), st.integers(2, 6))
def test_published_rollup_cells_are_exact_sums_and_withheld_ones_stay_hidden(
    docs: list[dict[str, Any]], k: int
) -> None:
    r = rolled(docs, k)
    flat = [flatten_cells(d) for d in docs]
    published: dict[str, int | None] = {"people": r.people}
    published |= {f"gender.{g}": v for g, v in (r.gender or {}).items()}
    published |= {f"age_bands.{b}": v for b, v in (r.age_bands or {}).items()}
    for name, value in published.items():
        inputs = [f.get(name) for f in flat]
        if any(v is None for v in inputs):
            assert value is None, f"{name} had a withheld input but was published"
        if value is not None:
            assert value == sum(v for v in inputs if v is not None)
            assert value == 0 or value >= k, f"{name}={value} is below k={k}"
    # No withheld cell can be recomputed from the published ones.
    table = build_table(
        0,
        dict.fromkeys(r.gender or {}, 0) or None,
        dict.fromkeys(r.age_bands or {}, 0) or None,
        None,
    )
    withheld = [i for i, n in enumerate(table.names) if published.get(n) is None]
    assert determined(table.constraints, withheld) == []


def line_doc(gate_in: int | None, gate_out: int | None) -> dict[str, Any]:
    return {"people": 20, "lines": {"gate": {"in": gate_in, "out": gate_out}}}


def test_line_cells_are_summed_per_direction_and_small_sums_withheld() -> None:
    r = rolled([line_doc(6, 1), line_doc(4, 2)], k=5)
    assert r.lines == {"gate": {"in": 10, "out": None}}
    assert "lines.gate.out" in r.withheld
    assert r.to_json()["lines"] == {"gate": {"in": 10, "out": None}}


def test_a_line_cell_withheld_in_one_window_is_unknown_in_the_roll_up() -> None:
    r = rolled([line_doc(6, None), line_doc(9, 7)], k=5)
    assert r.lines == {"gate": {"in": 15, "out": None}}


def test_a_line_missing_from_some_windows_is_unknown_not_zero() -> None:
    r = rolled([line_doc(6, 6), {"people": 20}], k=5)
    assert r.lines == {"gate": {"in": None, "out": None}}
    assert rolled([{"people": 20}]).lines is None


def test_rollups_choose_complementary_cells_as_the_node_does() -> None:
    # The issue-14 window (k = 2, 70+ holds one person) summed over two half windows.
    genders = ("female", "male", "unknown")
    bands = ("0-12", "13-19", "20-29", "30-39", "40-49", "50-59", "60-69", "70+", "unknown")
    rows = [
        [1, 4, 14, 11, 7, 7, 5, 0, 1],
        [2, 3, 12, 10, 3, 6, 5, 0, 2],
        [0, 0, 2, 1, 1, 1, 2, 1, 0],
    ]
    joint = {g: dict(zip(bands, row, strict=True)) for g, row in zip(genders, rows, strict=True)}
    cells = {"people": sum(map(sum, rows))}
    cells |= {f"gender.{g}": sum(joint[g].values()) for g in genders}
    cells |= {f"age_bands.{b}": sum(joint[g][b] for g in genders) for b in bands}
    cells |= {f"joint.{g}.{b}": joint[g][b] for g in genders for b in bands}
    sums = {"_windows": CellSum(2, 0, 0)} | {n: CellSum(2, 0, v) for n, v in cells.items()}
    r = roll_up(sums, k=2)
    node = build_table(
        cells["people"],
        {g: cells[f"gender.{g}"] for g in genders},
        {b: cells[f"age_bands.{b}"] for b in bands},
        joint,
    )
    expected = {node.names[i] for i in suppress(node, 2)}
    assert set(r.withheld) == expected
    assert r.age_bands is not None
    assert r.age_bands["70+"] is None
    middle = {b: r.age_bands[b] for b in ("30-39", "40-49", "50-59")}
    assert middle == {"30-39": 22, "40-49": 11, "50-59": 14}, "published, as exact sums"
