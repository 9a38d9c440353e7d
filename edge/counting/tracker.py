"""Follow faces across frames so each person is counted once, when their track ends.

Motion only (DESIGN §6: no appearance features, no embeddings). Each track is a small
Kalman filter over the face centre and width with constant velocity, on the media clock.
Association per frame, as ByteTrack does it:

1. detections scoring at least ``high_score`` against every live track, by least total
   cost (Hungarian method), inside a gate;
2. weaker detections against the tracks still unmatched (established ones, or ones seen
   moments ago), so a face that the detector barely sees keeps its track and a half-hidden
   face coming out from behind someone finds its own; weak detections never start one;
3. the remaining strong detections start tentative tracks, unless they duplicate a face
   already matched in this frame.

The gate does not scale with the track's face size alone: a detection must be of a similar
size (``max_size_ratio``), its distance is measured in widths of the *smaller* of the two
faces (so a big foreground face's track cannot jump onto a small face behind it), and it
widens with the time the track has been unseen (``gate_growth``), around the predicted
position and, for a person who stopped while hidden, the last seen one. A track hidden for
up to ``max_missed_s`` (a pillar, a passer-by) is re-identified that way, by position and
time only; one that is predicted to have left the frame ends at once. Two tracks that come
to cover the same face are merged into the older one.

Partly hidden faces. A real detector (YuNet) still finds a face a third behind a pillar,
and boxes only the part in view: one edge is the face's, the other the pillar's. The raw
centre of such a box lags the face going in and leads it coming out by up to half a face,
which used to kill the track's speed, and a sliver is far narrower than the face, which
the size gate refused; the face came out as a second person. Now a box narrower than the
face is placed by the edge that agrees with the prediction (``_anchored``), both when
matching and when correcting, and sized by its height, which a vertical cut leaves; a face
walking in at the frame's side is judged the same way while its box grows. A track born
after a confirmed one vanished, inside that one's gate (position and time), is the hidden
face found again and merges into it, keeping the older track's speed and size.

Track state is geometry and running sums only: Kalman mean and covariance, the last box,
hit counts, quality-weighted sums of age and p(male), per counting line the last clear side and the
crossings so far, and whether the path has entered a counting zone. No pixels, no
embeddings, no path history.

Per-track fusion: each observation's age and p(male) count with its quality, the
detector score times a size factor (faces below ``FULL_QUALITY_PX`` wide count
proportionally less: small faces give the attribute networks little to go on); a poor
face (``Detections.good`` False, ``edge.vision.quality``) counts nothing. A track whose
summed quality stays below ``min_evidence`` (``[attributes]``) finishes without age or
gender, so it is counted but published as unknown.

Which faces get age/gender at all: the node hands the tracker to the analyser as its
``AttributeSelector``. Between detection and the attribute networks the analyser calls
``attributes_wanted``, which associates the frame (the geometry above, nothing else) and
asks only for the faces whose track still needs evidence (``edge.counting.evidence``:
its first ``estimates_per_track`` good observations, then only clearly better ones); a
weak or duplicate box, which feeds no track, is never estimated. ``update`` then folds
the estimates into the same association. Without that call ``update`` associates itself.

Why not a library: norfair pulls SciPy, filterpy and rich, supervision pulls SciPy,
matplotlib and Pillow (hundreds of MB on a Raspberry Pi) and neither knows our media clock,
our attribute sums or counting lines with dead bands; the whole tracker is a few hundred
lines of numpy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from edge.boxes import iou_matrix, overlap_of_smaller
from edge.config import CountingLine, CountingZone, NodeSettings, TrackerConfig
from edge.counting.assignment import assign
from edge.counting.evidence import EvidenceRule
from edge.counting.lines import Line, LineState
from edge.geometry import point_in_polygon
from edge.types import AnalysedFrame, BoolArray, Detections, FinishedTrack, FloatArray

RECENT_S = 0.5  # stage 2 only continues tracks seen this recently
TENTATIVE_PATIENCE_S = 0.4  # a track with fewer than min_hits hits unseen this long is noise
CONFIRM_HITS = 3  # hits after which a tentative track may be re-identified after a gap
# Kalman noise, relative to the face width (walking people change speed slowly).
ACCEL_STD = 1.5  # face widths / s^2
MEASURE_STD = 0.06  # face widths
INIT_VEL_STD = 4.0  # face widths / s
WIDTH_HORIZON_S = 0.3  # the face width is extrapolated this far at most
PARTIAL_BELOW = 0.88  # a detection narrower than this share of the face is a partial view
PARTIAL_NOISE = 2.0  # its re-anchored centre is trusted this much less (variance factor)
EDGE_PX = 2.0  # a box this close to the frame's side is cut by it
CUT_SHAPE = 1.2  # a cut face's box is this much taller for its width than the face's
PARTIAL_RATIO = 2.0  # a partial view may be this much narrower than max_size_ratio allows


def _anchored(box: FloatArray, cx: float, cy: float, w: float, aspect: float) -> FloatArray:
    """The face centre a partly hidden box implies, given the face's size and predicted centre.

    A face sliding behind a pillar or a passer-by keeps one true edge (the one still in
    view) while the other is cut; the raw box centre then lags (going in) or leads (coming
    out) by up to half the face. On each axis where the box is narrower than the face, the
    edge closer to where the predicted face has it is taken as the true one and the centre
    is put half a face from it. Geometry only.
    """
    out: FloatArray = _cxcyw(box[None])[0].copy()
    for axis, full, centre in ((0, w, cx), (1, w * aspect, cy)):
        lo, hi = float(box[axis]), float(box[axis + 2])
        if hi - lo >= PARTIAL_BELOW * full:
            continue
        if abs(lo - (centre - full / 2)) <= abs(hi - (centre + full / 2)):
            out[axis] = lo + full / 2
        else:
            out[axis] = hi - full / 2
    return out


def _at_edge(box: FloatArray, width: int, height: int) -> bool:
    """Whether a box touches (or crosses) the frame's left or right edge: a face cut by it."""
    return bool(width) and (float(box[0]) <= EDGE_PX or float(box[2]) >= width - EDGE_PX)


def _cxcyw(boxes: FloatArray) -> FloatArray:
    out: FloatArray = np.stack(
        [
            (boxes[:, 0] + boxes[:, 2]) / 2,
            (boxes[:, 1] + boxes[:, 3]) / 2,
            boxes[:, 2] - boxes[:, 0],
        ],
        axis=1,
    ).astype(np.float32)
    return out


@dataclass(slots=True, eq=False)
class _Track:
    id: int
    mean: FloatArray  # (3, 2): (cx, cy, w) x (position, velocity), pixels and pixels/s
    cov: FloatArray  # (3, 2, 2)
    aspect: float  # face height / width
    size: float  # face width from whole-face boxes (partial views do not change it)
    box: FloatArray  # last observed box
    first_seen: float
    last_seen: float
    hits: int = 1
    evidence: float = 0.0  # summed observation quality
    estimates: int = 0  # observations with age/gender that fed the sums
    best: float = 0.0  # the best quality among them
    age_sum: float = 0.0
    p_male_sum: float = 0.0
    lines: list[LineState] = field(default_factory=list)
    in_zone: bool = False  # with [[counting.zones]]: has the face centre entered one yet
    cut: bool = False  # the last box touched the frame's edge (its width is not the face's)

    @classmethod
    def start(cls, tid: int, box: FloatArray, ts: float, n_lines: int) -> _Track:
        cx, cy, w = (float(v) for v in _cxcyw(box[None])[0])
        w = max(w, 1.0)
        mean = np.array([[cx, 0.0], [cy, 0.0], [w, 0.0]], dtype=np.float32)
        pos_var, vel_var = (MEASURE_STD * w) ** 2, (INIT_VEL_STD * w) ** 2
        cov = np.tile(np.diag([pos_var, vel_var]).astype(np.float32), (3, 1, 1))
        aspect = float((box[3] - box[1]) / w)
        return cls(
            id=tid,
            mean=mean,
            cov=cov,
            aspect=aspect,
            size=w,
            box=box.copy(),
            first_seen=ts,
            last_seen=ts,
            lines=[LineState() for _ in range(n_lines)],
        )

    def predict(self, ts: float) -> tuple[FloatArray, FloatArray]:
        """Mean and covariance at ``ts`` (not stored: the track keeps its last posterior)."""
        dt = max(0.0, ts - self.last_seen)
        f = np.array([[1.0, dt], [0.0, 1.0]], dtype=np.float32)
        q = (ACCEL_STD * float(self.mean[2, 0])) ** 2
        noise = q * np.array([[dt**3 / 3, dt**2 / 2], [dt**2 / 2, dt]], dtype=np.float32)
        mean: FloatArray = np.einsum("ij,dj->di", f, self.mean).astype(np.float32)
        cov: FloatArray = (np.einsum("ij,djk,lk->dil", f, self.cov, f) + noise).astype(np.float32)
        # Face size changes slowly; a box shrinking as its face slides behind a pillar must
        # not be extrapolated into a tiny (or huge) face over a gap.
        w = float(self.mean[2, 0])
        grown = w + float(self.mean[2, 1]) * min(dt, WIDTH_HORIZON_S)
        mean[2, 0] = min(max(grown, 0.8 * w, 4.0), 1.25 * w)
        if dt > WIDTH_HORIZON_S:
            mean[2, 0] = max(self.size, 4.0)  # over a gap: the face's own size
        return mean, cov

    def correct(self, ts: float, box: FloatArray, cut: bool = False) -> None:
        mean, cov = self.predict(ts)
        z = _cxcyw(box[None])[0]
        if self.cut and not cut:
            # Walked in at the frame's edge: the first whole box is the face's size and shape
            # (the cut ones before it were narrower than the face, and taller for their width).
            self.size = float(z[2])
            self.aspect = float((box[3] - box[1]) / max(float(z[2]), 1.0))
        elif self.cut and float(z[2]) > self.size:
            self.size = float(z[2])  # still coming in: the face is at least this wide
        self.cut = cut
        # A box much narrower than the face was is a face partly hidden (sliding behind a
        # pillar or a passer-by): its width is not the face's, so it leaves the face size
        # alone, and its centre is re-anchored on the edge still in view (``_anchored``),
        # trusted a little less.
        partial = float(z[2]) < PARTIAL_BELOW * self.size
        if partial:
            z = _anchored(box, float(mean[0, 0]), float(mean[1, 0]), self.size, self.aspect)
        dims = 2 if partial else 3
        r = (MEASURE_STD * max(float(mean[2, 0]), 1.0)) ** 2 * (PARTIAL_NOISE if partial else 1.0)
        innovation = z[:dims] - mean[:dims, 0]
        s = cov[:dims, 0, 0] + r
        gain = cov[:dims, :, 0] / s[:, None]  # (dims, 2)
        mean[:dims] = mean[:dims] + gain * innovation[:, None]
        cov[:dims] = cov[:dims] - gain[:, :, None] * cov[:dims, 0, None, :]
        self.mean, self.cov = mean.astype(np.float32), cov.astype(np.float32)
        if partial:
            self.mean[2, 0], self.mean[2, 1] = self.size, 0.0
        else:
            self.size = 0.8 * self.size + 0.2 * float(z[2])
            self.aspect = 0.8 * self.aspect + 0.2 * float((box[3] - box[1]) / max(float(z[2]), 1.0))
        self.box = box.copy()
        self.last_seen = ts

    def box_at(self, ts: float) -> FloatArray:
        mean, _ = self.predict(ts)
        cx, cy, w = (float(v) for v in mean[:, 0])
        h = w * self.aspect
        return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dtype=np.float32)

    def absorb(self, other: _Track) -> None:
        """Take over ``other`` (the same face, tracked twice): its hits, sums and crossings."""
        newer = other.last_seen > self.last_seen
        if newer:
            # The newer box corrects this track's own state: a duplicate started from a
            # half-hidden face knows neither the face's size nor its speed.
            self.correct(other.last_seen, other.box, other.cut)
        self.first_seen = min(self.first_seen, other.first_seen)
        self.hits += other.hits
        self.evidence += other.evidence
        self.estimates += other.estimates
        self.best = max(self.best, other.best)
        self.age_sum += other.age_sum
        self.p_male_sum += other.p_male_sum
        self.in_zone = self.in_zone or other.in_zone
        for mine, theirs in zip(self.lines, other.lines, strict=True):
            mine.absorb(theirs, newer)

    def finish(self, min_evidence: float) -> FinishedTrack:
        w = self.evidence
        known = w > 0 and w >= min_evidence
        return FinishedTrack(
            first_seen=self.first_seen,
            ended_at=self.last_seen,
            hits=self.hits,
            mean_age=self.age_sum / w if known else None,
            mean_p_male=self.p_male_sum / w if known else None,
            crossings=tuple((s.went_in, s.went_out) for s in self.lines),
            in_zone=self.in_zone,
            evidence=w,
        )


FULL_QUALITY_PX = 64.0


def quality(score: float, box: FloatArray) -> float:
    """How much one observation counts: detector score x min(1, face width / 64 px)."""
    width = float(box[2] - box[0])
    return max(0.0, score) * min(1.0, max(0.0, width) / FULL_QUALITY_PX)


@dataclass(frozen=True, slots=True)
class TrackBoxes:
    """The tracks that were matched in the latest frame: ephemeral ids and observed boxes.

    For scoring (MOT metrics) and the setup tool; never published or stored.
    """

    ids: tuple[int, ...] = ()
    boxes: FloatArray = field(default_factory=lambda: np.zeros((0, 4), dtype=np.float32))


@dataclass(slots=True)
class _Associated:
    """One frame's association, kept from ``attributes_wanted`` until ``update`` (same frame).

    ``feeds`` maps a detection to the track its age/gender would feed (strong detections
    that continued or started a track; a merged duplicate's entries point at the survivor).
    """

    detections: Detections
    ts: float
    feeds: dict[int, _Track]


class Tracker:
    """Kalman + two-stage Hungarian association; see the module docstring."""

    def __init__(
        self,
        cfg: TrackerConfig,
        lines: tuple[CountingLine, ...] = (),
        zones: tuple[CountingZone, ...] = (),
        min_evidence: float = 0.0,
        evidence: EvidenceRule | None = None,
    ) -> None:
        """``evidence``: which faces ``attributes_wanted`` asks age/gender for (default: all)."""
        self.cfg = cfg
        self.evidence = evidence or EvidenceRule()
        self._associated: _Associated | None = None
        self.lines = [Line.from_config(line) for line in lines]
        self.zones = [zone.polygon for zone in zones]
        self.min_evidence = min_evidence
        self._tracks: list[_Track] = []
        self._next_id = 1
        self._latest = TrackBoxes()
        self._width = 0

    @classmethod
    def from_settings(cls, settings: NodeSettings) -> Tracker:
        """The tracker a node with these settings runs (``kazoe run`` and ``kazoe calibrate``)."""
        return cls(
            settings.tracker,
            settings.counting.lines,
            settings.counting.zones,
            min_evidence=settings.attributes.min_evidence,
            evidence=EvidenceRule.from_config(settings.attributes),
        )

    @property
    def active(self) -> int:
        return len(self._tracks)

    @property
    def latest(self) -> TrackBoxes:
        return self._latest

    def _cost(
        self, tracks: list[_Track], boxes: FloatArray, ts: float, stage_two: bool
    ) -> FloatArray:
        """(tracks, detections) cost in [0, 2]; inf outside the gate."""
        cfg = self.cfg
        if not tracks or len(boxes) == 0:
            return np.zeros((len(tracks), len(boxes)), dtype=np.float32)
        predicted = np.stack([t.box_at(ts) for t in tracks])
        last = np.stack([t.box for t in tracks])
        unseen = np.array([ts - t.last_seen for t in tracks], dtype=np.float32)
        aspect = np.array([t.aspect for t in tracks], dtype=np.float32)
        iou = iou_matrix(predicted, boxes)
        p, lst, d = _cxcyw(predicted), _cxcyw(last), _cxcyw(boxes)
        pw, dw = p[:, None, 2], d[None, :, 2]
        smaller = np.maximum(np.minimum(pw, dw), 1.0)
        ratio = np.maximum(pw, dw) / smaller
        # A face partly hidden (sliding behind a pillar or a passer-by, or coming out) gives a
        # box narrower than the face with one true edge: its centre is measured from that edge
        # (as ``_anchored`` does), and its size is judged by its height, which the cut leaves.
        # Cut, not smaller: a smaller face elsewhere (someone farther) keeps its shape, a
        # cut one is narrower for its height than the face.
        shape = (boxes[:, 3] - boxes[:, 1]) / np.maximum(boxes[:, 2] - boxes[:, 0], 1.0)
        partial = (dw < PARTIAL_BELOW * pw) & (shape[None, :] >= CUT_SHAPE * aspect[:, None])
        lo, hi = boxes[None, :, 0], boxes[None, :, 2]
        left_true = np.abs(lo - (p[:, None, 0] - pw / 2)) <= np.abs(hi - (p[:, None, 0] + pw / 2))
        anchored_x = np.where(left_true, lo + pw / 2, hi - pw / 2)
        dx = np.where(partial, anchored_x, d[None, :, 0])
        dxy = np.stack([dx, np.broadcast_to(d[None, :, 1], dx.shape)], axis=2)
        ph = np.maximum(pw * aspect[:, None], 1.0)
        dh = (boxes[None, :, 3] - boxes[None, :, 1]).clip(min=1.0)
        h_ratio = np.maximum(ph, dh) / np.minimum(ph, dh)
        from_pred = np.linalg.norm(p[:, None, :2] - dxy, axis=2) / smaller
        from_last = np.linalg.norm(lst[:, None, :2] - d[None, :, :2], axis=2) / smaller
        reach = cfg.max_center_dist + cfg.gate_growth * unseen[:, None]
        overlap = iou >= (cfg.iou_threshold if not stage_two else max(cfg.iou_threshold, 0.3))
        limit = cfg.max_size_ratio
        cut = partial & (h_ratio <= limit) & (ratio <= limit * PARTIAL_RATIO)
        # A track whose last box was cut by the frame's edge (a face walking in) grows: a
        # wider box is judged by its height, and placed by its inner edge (the one in view).
        edge = np.array([t.cut for t in tracks])[:, None] & (dw > pw) & (h_ratio <= limit)
        at_left = lst[:, None, 0] < self._width / 2
        inner = np.where(
            at_left, boxes[None, :, 2] - last[:, None, 2], boxes[None, :, 0] - last[:, None, 0]
        )
        inner_dist = np.hypot(inner, d[None, :, 1] - lst[:, None, 1]) / np.minimum(ph, dh)
        from_last = np.where(edge, np.minimum(from_last, inner_dist), from_last)
        near = np.minimum(from_pred / reach, from_last / cfg.max_center_dist)
        sized = (ratio <= cfg.max_size_ratio) | cut | edge
        allowed = sized & ((near <= 1.0) | overlap)
        cost = (1.0 - iou) + np.minimum(near, 1.0)
        out: FloatArray = np.where(allowed, cost, np.inf).astype(np.float32)
        return out

    def attributes_wanted(
        self, ts: float, width: int, height: int, detections: Detections
    ) -> BoolArray:
        """Associate a frame now and mark the good faces whose track still needs evidence.

        Called by the analyser between detection and age/gender (``AttributeSelector``); the
        association is kept for ``update`` with the same frame's detections. A face is
        wanted when it would feed a track (a strong detection that continues or starts one)
        and ``self.evidence`` says the track needs it; a weak or duplicate box never is.
        """
        associated = self._associate(ts, width, height, detections)
        wanted = np.zeros(len(detections), dtype=bool)
        good = detections.good_mask
        for d_idx, track in associated.feeds.items():
            if good[d_idx]:
                q = quality(float(detections.scores[d_idx]), detections.boxes[d_idx])
                wanted[d_idx] = self.evidence.wants(track.estimates, track.best, q)
        return wanted

    def update(self, frame: AnalysedFrame) -> list[FinishedTrack]:
        """Associate one frame's faces (unless ``attributes_wanted`` already did), fold in
        their age/gender; returns the tracks that ended by this frame's time."""
        associated = self._associated
        if (
            associated is None
            or associated.detections is not frame.detections
            or associated.ts != frame.ts
        ):
            associated = self._associate(frame.ts, frame.width, frame.height, frame.detections)
        self._associated = None
        for d_idx, track in associated.feeds.items():
            self._observe(track, frame, d_idx)
        return self._expire(frame.ts, frame.width, frame.height)

    def _associate(self, ts: float, width: int, height: int, det: Detections) -> _Associated:
        """Match, correct, start and merge tracks for one frame (geometry only)."""
        self._width = width
        boxes, scores = det.boxes, det.scores
        single = self._one_box_per_face(boxes, scores)
        strong = single[scores[single] >= self.cfg.high_score]
        weak = single[scores[single] < self.cfg.high_score]
        matched: dict[int, int] = {}  # track index -> detection index
        tracks = self._tracks
        # Stage 1: strong detections against every live track.
        cost = self._cost(tracks, boxes[strong], ts, stage_two=False)
        for t, j in assign(cost, 2.0):
            matched[t] = int(strong[j])
        # Stage 2: weak detections only continue tracks: established ones (a weak face coming
        # out from behind someone is the hidden track's) or ones seen moments ago.
        rest = [
            i
            for i, t in enumerate(tracks)
            if i not in matched and (t.hits >= CONFIRM_HITS or ts - t.last_seen <= RECENT_S)
        ]
        if rest and len(weak):
            cost = self._cost([tracks[i] for i in rest], boxes[weak], ts, stage_two=True)
            for t, j in assign(cost, 2.0):
                matched[rest[t]] = int(weak[j])
        feeds: dict[int, _Track] = {}
        for t_idx, d_idx in matched.items():
            track = tracks[t_idx]
            track.correct(ts, boxes[d_idx], _at_edge(boxes[d_idx], width, height))
            track.hits += 1
            if scores[d_idx] >= self.cfg.high_score:
                feeds[d_idx] = track
            self._cross(track, width, height)
        # Stage 3: new tracks from strong detections that are not a second box on a face.
        used = set(matched.values())
        taken = boxes[sorted(used)] if used else np.zeros((0, 4), dtype=np.float32)
        fresh: list[_Track] = []
        for d_idx in (int(i) for i in strong if int(i) not in used):
            box = boxes[d_idx]
            if len(taken) and overlap_of_smaller(box[None], taken).max() >= self.cfg.duplicate_iou:
                continue
            track = _Track.start(self._next_id, box, ts, len(self.lines))
            track.cut = _at_edge(box, width, height)
            self._next_id += 1
            feeds[d_idx] = track
            self._cross(track, width, height)
            fresh.append(track)
            taken = np.concatenate([taken, box[None]])
        self._tracks = tracks + fresh
        survivors = self._merge_duplicates(ts)
        feeds = {d: survivors.get(id(t), t) for d, t in feeds.items()}
        seen_now = [t for t in self._tracks if t.last_seen == ts]
        self._latest = TrackBoxes(
            tuple(t.id for t in seen_now),
            np.stack([t.box for t in seen_now]) if seen_now else np.zeros((0, 4), dtype=np.float32),
        )
        self._associated = _Associated(det, ts, feeds)
        return self._associated

    def _one_box_per_face(self, boxes: FloatArray, scores: FloatArray) -> npt.NDArray[np.intp]:
        """Indices of detections that are not mostly inside a higher-scoring one.

        Two boxes on one face (pyramid scales, a loose box round a tight one) survive NMS
        when one contains the other; only the better-scoring one may match or start a track.
        """
        order = np.argsort(-scores, kind="stable")
        if len(order) < 2:
            return order.astype(np.intp)
        cover = overlap_of_smaller(boxes, boxes)
        kept: list[int] = []
        for i in (int(v) for v in order):
            if all(cover[i, j] < self.cfg.duplicate_iou for j in kept):
                kept.append(i)
        return np.array(sorted(kept), dtype=np.intp)

    def _merge_duplicates(self, ts: float) -> dict[int, _Track]:
        """A track started after another vanished, where that one is predicted to be, is the
        same face found again: the older track takes it over. Either the new box covers the
        hidden track's predicted box (found at a scale the size gate refused), or it lies
        inside the hidden track's gate (position and time, as stage 1 measures them) -- a face
        first seen as a sliver coming out from behind a pillar starts a track that the
        hidden one could not take, and the next, fuller boxes follow that new track.

        Only a track born after the other was last seen qualifies: a near person's track that
        covers a far person hidden behind them existed before and stays a different person.
        Returns the survivor of each merged track (by ``id()`` of the merged one).
        """
        born = [t for t in self._tracks if t.last_seen == ts and t.first_seen > ts - RECENT_S]
        hidden = [t for t in self._tracks if t.last_seen < ts and t.hits >= CONFIRM_HITS]
        if not born or not hidden:
            return {}
        new_boxes = np.stack([t.box for t in born])
        cover = overlap_of_smaller(new_boxes, np.stack([t.box_at(ts) for t in hidden]))
        gated = self._cost(hidden, new_boxes, ts, stage_two=False).T  # (born, hidden)
        later = np.array([[n.first_seen > o.last_seen for o in hidden] for n in born])
        cost = np.where(later, np.where(cover >= self.cfg.duplicate_iou, 0.0, gated), np.inf)
        gone: dict[int, _Track] = {}
        for i, j in assign(cost.astype(np.float32), 2.0):
            hidden[j].absorb(born[i])
            gone[id(born[i])] = hidden[j]
        self._tracks = [t for t in self._tracks if id(t) not in gone]
        return gone

    def _cross(self, track: _Track, width: int, height: int) -> None:
        """Line crossings and zone entry of the track's newest face centre."""
        if not self.lines and not self.zones:
            track.in_zone = True
            return
        x0, y0, x1, y1 = (float(v) for v in track.box)
        p = ((x0 + x1) / 2 / max(width, 1), (y0 + y1) / 2 / max(height, 1))
        for line, state in zip(self.lines, track.lines, strict=True):
            state.observe(line, p)
        if not self.zones:
            track.in_zone = True
        elif not track.in_zone:
            track.in_zone = any(point_in_polygon(p[0], p[1], zone) for zone in self.zones)

    @staticmethod
    def _observe(track: _Track, frame: AnalysedFrame, i: int) -> None:
        det = frame.detections
        ages, p_male = frame.attributes.age, frame.attributes.p_male
        # A poor face (edge.vision.quality: good False, NaN attributes) feeds no age/gender;
        # it is still a person.
        if ages is None or p_male is None or not det.good_mask[i]:
            return
        if not np.isfinite(ages[i] + p_male[i]):
            return
        w = quality(float(det.scores[i]), det.boxes[i])
        track.evidence += w
        track.estimates += 1
        track.best = max(track.best, w)
        track.age_sum += w * float(ages[i])
        track.p_male_sum += w * float(p_male[i])

    def _ended(self, track: _Track, now: float, width: int, height: int) -> bool:
        unseen = now - track.last_seen
        if unseen > self.cfg.max_missed_s:
            return True
        if track.hits < CONFIRM_HITS and unseen > TENTATIVE_PATIENCE_S:
            return True
        if width and height and unseen > 0:
            # Predicted to have walked out of the frame (its centre is outside): nothing left
            # to re-identify, and someone walking in at that edge is someone else.
            cx, cy = (float(v) for v in track.predict(now)[0][:2, 0])
            return not (0 <= cx < width and 0 <= cy < height)
        return False

    def _expire(self, now: float, width: int = 0, height: int = 0) -> list[FinishedTrack]:
        ended = [t for t in self._tracks if self._ended(t, now, width, height)]
        if not ended:
            return []
        self._tracks = [t for t in self._tracks if t not in ended]
        return [t.finish(self.min_evidence) for t in ended if t.hits >= self.cfg.min_hits]

    def advance(self, now: float) -> list[FinishedTrack]:
        """End tracks unseen since ``now - max_missed_s`` (used when no frame arrives)."""
        return self._expire(now)

    def flush(self) -> list[FinishedTrack]:
        """End every track (end of a file source or shutdown)."""
        ended = [t.finish(self.min_evidence) for t in self._tracks if t.hits >= self.cfg.min_hits]
        self._tracks = []
        self._associated = None
        return ended
