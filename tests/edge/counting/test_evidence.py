"""Attributes only for observations that add evidence to their track, chosen by the tracker."""

from __future__ import annotations

from typing import cast

import numpy as np

from edge.config import TrackerConfig
from edge.counting.evidence import EvidenceRule
from edge.counting.tracker import Tracker
from edge.types import AnalysedFrame, Detections, FaceAttributes, Frame, ImageArray
from edge.vision.analyser import Analyser
from edge.vision.attributes import AttributeEstimator
from tests.edge.vision.test_focus import DrawnFaces, cfg, scene

FPS = 10.0


class CountingEstimator:
    """Age 30 + the call number, p(male) 0.8, for the good faces only; records batch sizes."""

    def __init__(self) -> None:
        self.batches: list[int] = []

    def estimate(self, image: ImageArray, detections: Detections) -> FaceAttributes:
        good = detections.good_mask
        if good.any():
            self.batches.append(int(good.sum()))
        age = np.where(good, 30.0 + len(self.batches), np.nan).astype(np.float32)
        return FaceAttributes(age, np.where(good, 0.8, np.nan).astype(np.float32))


def detections(*faces: tuple[float, float, float, float]) -> Detections:
    """(x, y, width, score) per face; square boxes, no landmarks (the tracker needs none)."""
    n = len(faces)
    boxes = np.array([[x, y, x + w, y + w] for x, y, w, _ in faces], np.float32).reshape(n, 4)
    scores = np.array([s for *_, s in faces], np.float32).reshape(n)
    return Detections(boxes, scores, np.zeros((n, 6, 2), np.float32))


def test_rule_first_observations_then_only_clearly_better_ones() -> None:
    rule = EvidenceRule(per_track=2, better=1.15)
    assert rule.wants(0, 0.0, 0.3)
    assert rule.wants(1, 0.3, 0.3)
    assert not rule.wants(2, 0.8, 0.9)
    assert rule.wants(2, 0.5, 0.9)
    assert EvidenceRule(per_track=0).wants(100, 1.0, 0.1), "0 means every face"
    assert not EvidenceRule(per_track=0).selective


def test_the_analyser_estimates_only_faces_whose_track_needs_evidence() -> None:
    estimator = CountingEstimator()
    stage = Analyser(DrawnFaces(), cast(AttributeEstimator, estimator), focus=cfg(8))
    tracker = Tracker(TrackerConfig(), evidence=EvidenceRule(per_track=2))
    estimated = []
    for i in range(7):  # the newcomer needs min_hits (5) frames to count
        faces = [(300, 120), (800, 120)] if i < 2 else [(300, 120), (800, 120), (500, 300)]
        image = scene(*faces)
        analysed = stage.analyse(Frame(i, i / FPS, image), tracker)
        assert not image.any(), "the frame is zeroed after attributes, as without a selector"
        tracker.update(analysed)
        assert analysed.attributes.age is not None
        estimated.append(int(np.isfinite(analysed.attributes.age).sum()))
    # Two observations per person, in one batch per frame; the newcomer gets its own two.
    assert estimated == [2, 2, 1, 1, 0, 0, 0]
    assert estimator.batches == [2, 2, 1, 1]
    finished = tracker.flush()
    assert len(finished) == 3
    # The first two people were estimated on calls 1 and 2 (ages 31, 32), the third on 3, 4.
    assert sorted(round(t.mean_age or 0, 3) for t in finished) == [31.5, 31.5, 33.5]


def test_a_closer_face_is_estimated_again_and_weak_boxes_never() -> None:
    tracker = Tracker(TrackerConfig(), evidence=EvidenceRule(per_track=1, better=1.15))
    wanted = []
    widths = [30.0, 31.0, 32.0, 48.0, 49.0]
    for i, w in enumerate(widths):
        det = detections((100 + 2 * i, 100, w, 0.9), (600, 100, 40, 0.5))
        mask = tracker.attributes_wanted(i / FPS, 1280, 720, det)
        wanted.append(mask.tolist())
        n = len(det)
        attrs = FaceAttributes(
            np.where(mask, 40.0, np.nan).astype(np.float32),
            np.where(mask, 0.2, np.nan).astype(np.float32),
        )
        tracker.update(AnalysedFrame(i, i / FPS, 1280, 720, det, attrs))
        assert n == 2
    # The first sighting, then the face 1.5x as wide (quality up by more than 15 %); the weak
    # second box (below high_score) feeds no track, so it is never estimated.
    assert wanted == [[True, False], [False, False], [False, False], [True, False], [False, False]]


def test_update_alone_still_associates_and_fuses_every_estimate() -> None:
    tracker = Tracker(TrackerConfig(), evidence=EvidenceRule(per_track=1))
    for i in range(6):
        det = detections((100 + 2 * i, 100, 64, 0.9))
        attrs = FaceAttributes(np.full(1, 20.0 + i, np.float32), np.full(1, 0.9, np.float32))
        tracker.update(AnalysedFrame(i, i / FPS, 1280, 720, det, attrs))
    (track,) = tracker.flush()
    assert track.mean_age == 22.5, "without attributes_wanted every estimate handed in counts"
