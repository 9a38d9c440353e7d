"""Privacy masks: zeroed in the frame buffer before any model reads it; bad polygons refused."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.config import ConfigInvalid, DetectorConfig, PrivacyMask, parse_config
from edge.privacy.masks import MaskSet
from edge.types import Detections, Frame, ImageArray
from edge.vision.analyser import Analyser
from edge.vision.face_detector import open_detector

REPO = Path(__file__).resolve().parents[3]
MODELS = REPO / "models" / "build"
FAIRFACE = REPO.parent / "shared" / "data" / "fairface"
FACE_FILE = "fairface_0002.jpg"  # one face in the crop
X, Y, SIDE = 540, 260, 200  # where the face is pasted on a 1280x720 grey frame

BASE = """
[node]
id = "n1"
[source]
uri = "street.mp4"
[policy]
purposes = ["footfall"]
"""


class RecordingDetector:
    """Stands in for the detector: keeps a copy of what it was shown (test only)."""

    def __init__(self) -> None:
        self.seen: list[ImageArray] = []

    def detect(self, image: ImageArray) -> Detections:
        self.seen.append(image.copy())
        return Detections()


def mask(name: str, *points: tuple[float, float]) -> PrivacyMask:
    return PrivacyMask(name=name, polygon=points)


DOOR = mask("door of No. 3", (0.25, 0.25), (0.5, 0.25), (0.5, 0.75), (0.25, 0.75))


def test_masked_pixels_are_zero_before_the_detector_runs() -> None:
    recorder = RecordingDetector()
    analyser = Analyser(recorder, None, masks=MaskSet((DOOR,)))  # type: ignore[arg-type]
    image = np.full((100, 200, 3), 200, dtype=np.uint8)
    analyser.analyse(Frame(0, 0.0, image))
    (seen,) = recorder.seen
    assert (seen[30:70, 55:95] == 0).all(), "inside the mask: zero"
    assert (seen[10:20, :] == 200).all(), "above the mask: untouched"
    assert (seen[:, 110:] == 200).all(), "right of the mask: untouched"
    assert (image == 0).all(), "and the frame is still zeroed after analysis"


def test_mask_pixels_follow_the_frame_size() -> None:
    masks = MaskSet((DOOR,))
    for h, w in ((100, 200), (720, 1280)):
        img = np.full((h, w, 3), 9, dtype=np.uint8)
        masks.apply(img)
        assert img[h // 2, int(0.375 * w)].tolist() == [0, 0, 0]
        assert img[h // 2, int(0.75 * w)].tolist() == [9, 9, 9]


@pytest.mark.integration
@pytest.mark.parametrize(
    ("model", "file"), [("yunet", "yunet.onnx"), ("full_range", "face_detection_full_range.onnx")]
)
def test_a_face_inside_a_mask_is_never_detected(model: str, file: str) -> None:
    if not (MODELS / file).is_file():
        pytest.skip(f"built model {file} not found in {MODELS} (run 'make models')")
    if not (FAIRFACE / FACE_FILE).is_file():
        pytest.skip(f"FairFace test faces not found at {FAIRFACE}")
    photo = cv2.imread(str(FAIRFACE / FACE_FILE))
    assert photo is not None, f"cannot decode {FAIRFACE / FACE_FILE}"
    face = cv2.resize(photo, (SIDE, SIDE))

    def frame() -> Frame:
        img = np.full((720, 1280, 3), 127, dtype=np.uint8)
        img[Y : Y + SIDE, X : X + SIDE] = face
        return Frame(0, 0.0, img)

    detector = open_detector(MODELS, DetectorConfig(model=model))  # type: ignore[arg-type]
    assert len(Analyser(detector, None).analyse(frame()).detections) == 1, "found unmasked"
    around = mask(
        "window",
        ((X - 20) / 1280, (Y - 20) / 720),
        ((X + SIDE + 20) / 1280, (Y - 20) / 720),
        ((X + SIDE + 20) / 1280, (Y + SIDE + 20) / 720),
        ((X - 20) / 1280, (Y + SIDE + 20) / 720),
    )
    elsewhere = MaskSet((mask("shop", (0.0, 0.0), (0.2, 0.0), (0.2, 0.2), (0.0, 0.2)),))
    assert len(Analyser(detector, None, masks=elsewhere).analyse(frame()).detections) == 1
    found = Analyser(detector, None, masks=MaskSet((around,))).analyse(frame())
    assert len(found.detections) == 0, f"a masked face was detected by {model}"
    if model == "full_range":
        for scales in ((1.0, 2.0, 4.0),):
            cfg = DetectorConfig(model="full_range", scales=scales)
            found = Analyser(open_detector(MODELS, cfg), None, masks=MaskSet((around,))).analyse(
                frame()
            )
            assert len(found.detections) == 0, f"a masked face was detected at scales {scales}"


@pytest.mark.parametrize(
    ("toml", "key", "reason"),
    [
        (
            '[[privacy.masks]]\nname = "w"\npolygon = [[0.1, 0.1], [1.2, 0.1], [0.5, 0.5]]',
            "privacy.masks.0.polygon",
            "outside the frame",
        ),
        (
            '[[privacy.masks]]\nname = "w"\npolygon = [[0.1, 0.1], [0.5, 0.5], [0.9, 0.9]]',
            "privacy.masks.0.polygon",
            "degenerate",
        ),
        (
            '[[privacy.masks]]\nname = "w"\n'
            "polygon = [[0.1, 0.1], [0.5, 0.5], [0.5, 0.1], [0.1, 0.5]]",
            "privacy.masks.0.polygon",
            "self-intersecting",
        ),
        (
            '[[privacy.masks]]\nname = "w"\npolygon = [[0.1, 0.1], [0.5, 0.5]]',
            "privacy.masks.0.polygon",
            "at least 3",
        ),
        (
            '[[privacy.masks]]\nname = "all"\npolygon = [[0, 0], [1, 0], [1, 1], [0, 1]]',
            "privacy.masks",
            "whole frame",
        ),
        (
            '[[privacy.masks]]\nname = "left"\npolygon = [[0, 0], [0.6, 0], [0.6, 1], [0, 1]]\n'
            '[[privacy.masks]]\nname = "right"\npolygon = [[0.5, 0], [1, 0], [1, 1], [0.5, 1]]',
            "privacy.masks",
            "whole frame",
        ),
        (
            '[[counting.lines]]\nname = "door"\nstart = [0.5, 0.5]\nend = [0.5, 0.5]',
            "counting.lines.0",
            "zero length",
        ),
        (
            '[[counting.lines]]\nname = "door"\nstart = [0.5, -0.1]\nend = [0.5, 0.5]',
            "counting.lines.0",
            "outside the frame",
        ),
        (
            '[[counting.lines]]\nname = "Door 1"\nstart = [0.5, 0.1]\nend = [0.5, 0.5]',
            "counting.lines.0.name",
            "pattern",
        ),
        (
            '[[counting.lines]]\nname = "d"\nstart = [0.5, 0.1]\nend = [0.5, 0.5]\n'
            '[[counting.lines]]\nname = "d"\nstart = [0.1, 0.1]\nend = [0.5, 0.5]',
            "counting.lines",
            "must not repeat",
        ),
        (
            '[[counting.lines]]\nname = "d"\nstart = [0.5, 0.1]\nend = [0.5, 0.5]\nin_side = "up"',
            "counting.lines.0.in_side",
            "left",
        ),
    ],
)
def test_bad_lines_and_masks_are_one_line_naming_the_key(toml: str, key: str, reason: str) -> None:
    with pytest.raises(ConfigInvalid) as err:
        parse_config(BASE + toml, Path("node.toml"))
    (row,) = err.value.rows
    assert row[0] == key
    assert reason in row[2]
    assert "\n" not in str(err.value)


def test_good_lines_and_masks_load_and_change_the_policy_hash() -> None:
    plain = parse_config(BASE, Path("node.toml"))
    extra = (
        '[[counting.lines]]\nname = "gate"\nstart = [0.5, 0.0]\nend = [0.5, 1.0]\n'
        'in_side = "right"\ndescription = "people entering the park"\n'
        '[[privacy.masks]]\nname = "windows of the house opposite"\n'
        "polygon = [[0.6, 0.1], [0.9, 0.1], [0.9, 0.4], [0.6, 0.4]]\n"
    )
    settings = parse_config(BASE + extra, Path("node.toml"))
    assert settings.counting.lines[0].in_side == "right"
    assert settings.privacy.masks[0].polygon[2] == (0.9, 0.4)
    assert settings.policy_hash() != plain.policy_hash()
