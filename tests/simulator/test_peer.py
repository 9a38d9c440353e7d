"""The side-by-side bench's arithmetic (the peer itself runs only in ``make bench``)."""

from __future__ import annotations

from simulator.peer import Side, render
from simulator.peer_worker import _hits


def test_ratio_and_recall_are_against_the_peer() -> None:
    kazoe = Side("kazoe", seconds=10.0, frames=300, faces=400, hits=380)
    peer = Side("peer", seconds=30.0, frames=300, faces=300, hits=200)

    text = render([kazoe, peer], truth_faces=400, min_px=48)

    kazoe_row = next(line for line in text.splitlines() if line.startswith("kazoe"))
    assert kazoe_row.split()[1:] == ["30.00", "400", "0.950", "3.00"]
    peer_row = next(line for line in text.splitlines() if line.startswith("peer"))
    assert peer_row.split()[1:] == ["10.00", "300", "0.500", "1.00"]


def test_a_truth_face_is_hit_by_a_box_centred_inside_it() -> None:
    truth = [[0, 0, 10, 10], [100, 100, 120, 120]]

    assert _hits(truth, [[2, 2, 8, 8]]) == 1
    assert _hits(truth, [[2, 2, 8, 8], [105, 105, 115, 115]]) == 2
    assert _hits(truth, [[50, 50, 60, 60]]) == 0
