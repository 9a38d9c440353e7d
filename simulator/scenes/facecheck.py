"""How many pasted faces the node's own detector finds (``kazoe-sim facecheck``).

Builds a scene from a face folder, writes it as the node would read it (mp4v video), runs
``edge.vision.detector.Detector`` on every n-th decoded frame and counts, over faces at least 48 px
wide and fully in view, those with a detection whose centre lies inside the face box. The
same detector on each photo alone (on a grey canvas, at full size) tells apart faces the
pasting spoils from faces the detector cannot find at all (profiles, blur).
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge.config import DetectorConfig
from edge.errors import KazoeError
from edge.types import Detections
from edge.vision.face_detector import FaceDetector, open_detector
from simulator.errors import SceneError
from simulator.scenes.args import OneLineParser, typed
from simulator.scenes.faces import LABEL_FORMATS, parse_crop
from simulator.scenes.labelled import LabelledSource, load_labelled
from simulator.scenes.paths import BODY_HALF_W, BODY_LEN, BODY_TOP, Track
from simulator.scenes.portraits import FaceItem
from simulator.scenes.scene import SceneSpec, plan_scene, write_scene

MIN_FACE_PX = 48
REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class FaceCheck:
    faces: int  # (frame, person) pairs checked
    found: int
    faces_findable: int  # pairs whose photo the detector finds when shown alone
    found_findable: int
    people: int
    photos_missed_alone: int

    @property
    def recall(self) -> float:
        return self.found / self.faces if self.faces else 0.0

    @property
    def recall_findable(self) -> float:
        return self.found_findable / self.faces_findable if self.faces_findable else 0.0

    def report(self) -> str:
        return (
            f"pasted faces >= {MIN_FACE_PX} px in full view: {self.found}/{self.faces} detected "
            f"({100 * self.recall:.1f} %)\n"
            f"photos the detector misses even alone at full size: {self.photos_missed_alone} of "
            f"{self.people}\n"
            f"excluding those: {self.found_findable}/{self.faces_findable} "
            f"({100 * self.recall_findable:.1f} %)"
        )


def findable_alone(detector: FaceDetector, face: FaceItem) -> bool:
    """Whether the detector finds the photo's face on a plain grey canvas."""
    h, w = face.image.shape[:2]
    side = 2 * max(h, w)
    canvas = np.full((side, side, 3), 127, np.uint8)
    y0, x0 = (side - h) // 2, (side - w) // 2
    canvas[y0 : y0 + h, x0 : x0 + w] = face.image
    return len(detector.detect(canvas)) > 0


def _covers(big: tuple[int, int, int, int], box: tuple[int, int, int, int]) -> bool:
    """Whether a person drawn on top (face ``big`` plus body) overlaps face ``box`` at all."""
    gx, gy, gw, gh = big
    x0, y0, x1, y1 = box
    cx, top = gx + gw / 2, gy + BODY_TOP * gh
    regions = (
        (gx, gy, gx + gw, gy + gh),
        (cx - BODY_HALF_W * gw, top, cx + BODY_HALF_W * gw, top + BODY_LEN * gw),
    )
    return any(
        min(x1, rx1) > max(x0, rx0) and min(y1, ry1) > max(y0, ry0)
        for rx0, ry0, rx1, ry1 in regions
    )


def visible_boxes(tracks: list[Track], k: int, width: int, height: int) -> list[tuple[int, ...]]:
    """(person, x0, y0, x1, y1) of faces >= 48 px wide, wholly inside frame ``k`` and covered
    by nobody (people are drawn far to near, i.e. by face width, then id)."""
    present = []
    for person, t in enumerate(tracks):
        i = k - t.k0
        if 0 <= i < len(t.w):
            present.append(
                (int(t.w[i]), person, (int(t.x0[i]), int(t.y0[i]), int(t.w[i]), int(t.h[i])))
            )
    present.sort()
    boxes: list[tuple[int, ...]] = []
    for n, (w, person, (x0, y0, _, h)) in enumerate(present):
        box = (x0, y0, x0 + w, y0 + h)
        inside = x0 >= 0 and y0 >= 0 and box[2] <= width and box[3] <= height
        if w < MIN_FACE_PX or not inside:
            continue
        if not any(_covers(other, box) for _, _, other in present[n + 1 :]):
            boxes.append((person, *box))
    return boxes


def _hit(box: tuple[int, ...], det: Detections) -> bool:
    _, x0, y0, x1, y1 = box
    c = (det.boxes[:, :2] + det.boxes[:, 2:]) / 2
    return bool(((c[:, 0] >= x0) & (c[:, 0] <= x1) & (c[:, 1] >= y0) & (c[:, 1] <= y1)).any())


def check_faces(
    spec: SceneSpec, faces: list[FaceItem], detector: FaceDetector, every: int = 1
) -> FaceCheck:
    """Render the scene to a temporary video, decode it and count detected faces."""
    plan = plan_scene(spec, faces)
    walker_face = [faces[w.face] for w in plan.walkers]
    findable = [findable_alone(detector, f) for f in walker_face]
    counts = np.zeros(4, np.int64)  # faces, found, faces_findable, found_findable
    with tempfile.TemporaryDirectory(prefix="kazoe-facecheck-") as tmp:
        video = Path(tmp) / "scene.mp4"
        write_scene(spec, video, Path(tmp) / "truth.json", faces)
        cap = cv2.VideoCapture(str(video))
        k = 0
        while True:
            ok, image = cap.read()
            if not ok:
                break
            if k % every == 0:
                boxes = visible_boxes(plan.tracks, k, spec.width, spec.height)
                det = detector.detect(np.asarray(image, np.uint8)) if boxes else Detections()
                for box in boxes:
                    hit, alone = _hit(box, det), findable[box[0]]
                    counts += (1, hit, alone, hit and alone)
            k += 1
        cap.release()
    return FaceCheck(
        faces=int(counts[0]),
        found=int(counts[1]),
        faces_findable=int(counts[2]),
        found_findable=int(counts[3]),
        people=len(findable),
        photos_missed_alone=findable.count(False),
    )


def facecheck_main(argv: Sequence[str] | None = None) -> int:
    p = OneLineParser(prog="kazoe-sim facecheck", description=__doc__)
    p.add_argument("--faces", type=Path, required=True, help="folder of labelled face photos")
    p.add_argument("--labels", choices=LABEL_FORMATS, required=True)
    p.add_argument("--labels-file", type=Path, default=None)
    p.add_argument("--crop", type=typed(parse_crop), default=None)
    p.add_argument("--people", type=int, default=40)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fps", type=float, default=10.0)
    p.add_argument("--every", type=int, default=2, help="check every n-th frame")
    p.add_argument("--models", type=Path, default=REPO / "models" / "build")
    args = p.parse_args(argv)
    if args.every < 1:
        p.error("--every must be at least 1")
    spec = SceneSpec(people=args.people, fps=args.fps, seed=args.seed)
    try:
        spec.validate()
    except ValueError as exc:
        p.error(str(exc))
    try:
        source = LabelledSource(args.faces, args.labels, args.labels_file, args.crop)
        faces, _ = load_labelled(source, spec.people, spec.seed)
        detector = open_detector(args.models, DetectorConfig())
        result = check_faces(spec, faces, detector, args.every)
    except (SceneError, KazoeError, OSError, cv2.error) as exc:
        print(f"kazoe-sim facecheck: {exc}".splitlines()[0], file=sys.stderr)
        return 1
    print(result.report())
    return 0
