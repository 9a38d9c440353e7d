"""Box-crop attribute networks: locked crop recipes, preprocessing, flip averaging, the ensemble."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from edge.config import (
    DEFAULT_AGE_BLEND,
    DEFAULT_AGE_MAP,
    DEFAULT_AGE_OFFSET,
    DEFAULT_AGE_SCALE,
    DEFAULT_GENDER_INTERCEPT,
    DEFAULT_GENDER_LOGISTIC,
    AttributesConfig,
)
from edge.types import Detections, FloatArray, ImageArray
from edge.vision import boxnets
from edge.vision.attributes import AttributeBackend, AttributeEstimator, map_age
from edge.vision.boxnets import FaceApiBackend, FaceResBackend, FaceResDeepBackend
from edge.vision.crops import box_crop
from edge.vision.models_info import model_ids


def test_crop_scales_are_locked() -> None:
    # DESIGN §4b: face-api's gender falls from 0.89 to 0.52 as its crop grows x1.0 -> x1.6;
    # the scales were chosen on one half of FairFace with YuNet boxes (models/MODEL_CARD.md).
    # Changing one is a decision.
    assert (boxnets.FACEAPI_GENDER_SCALE, boxnets.FACEAPI_SIZE) == (0.9, 112)
    assert boxnets.FACEAPI_AGE_SCALE == 0.9
    assert (boxnets.FACERES_SCALE, boxnets.FACERES_SIZE) == (1.5, 224)
    assert boxnets.FACERES_DEEP_SCALE == 1.2
    assert (FaceResDeepBackend.gender_scale, FaceResDeepBackend.age_scale) == (1.2, 1.2)
    assert (FaceResDeepBackend.file, FaceResDeepBackend.size) == ("faceres-deep.onnx", 224)


def _frame_with_face(x1: int, y1: int, side: int) -> ImageArray:
    frame = np.zeros((480, 640, 3), np.uint8)
    frame[y1 : y1 + side, x1 : x1 + side] = 255
    return frame


@pytest.mark.parametrize(("x1", "y1"), [(100, 80), (400, 300)])
def test_crop_is_square_upright_and_centred_on_the_box(x1: int, y1: int) -> None:
    side = 100
    frame = _frame_with_face(x1, y1, side)
    box = np.array([x1, y1, x1 + side, y1 + side], np.float32)

    tight = box_crop(frame, box, 1.0, 112)
    wide = box_crop(frame, box, 1.5, 224)

    assert tight.shape == (112, 112, 3)
    assert wide.shape == (224, 224, 3)
    assert tight[2:-2, 2:-2].min() == 255, "x1.0: the crop is the box"
    # x1.5: the box fills the middle 2/3 (149 of 224 px), a black margin of ~37 px around.
    rows = np.flatnonzero(wide[:, 112, 0] > 127)
    cols = np.flatnonzero(wide[112, :, 0] > 127)
    assert abs(rows[0] - 37) <= 1
    assert abs(rows[-1] - 186) <= 1
    assert abs(cols[0] - 37) <= 1
    assert abs(cols[-1] - 186) <= 1


def test_crop_past_the_frame_edge_repeats_the_border() -> None:
    frame = np.full((100, 100, 3), 200, np.uint8)
    crop = box_crop(frame, np.array([-20, -20, 40, 40], np.float32), 1.5, 64)
    assert crop.min() == 200


class FakeSession:
    """Records the tensors it is given (as statistics) and answers with scripted outputs."""

    def __init__(self, outputs: Any) -> None:
        self.outputs = outputs
        self.seen: list[dict[str, Any]] = []

    def run(self, _names: object, feeds: dict[str, FloatArray]) -> list[FloatArray]:
        (name, tensor) = next(iter(feeds.items()))
        self.seen.append(
            {
                "name": name,
                "shape": tensor.shape,
                "dtype": tensor.dtype,
                "pixel": tensor[0, 0, 0].copy(),
            }
        )
        return list(self.outputs(tensor))

    def get_outputs(self) -> list[object]:
        return [object(), object()]


def _one_face(colour: tuple[int, int, int]) -> tuple[ImageArray, Detections]:
    frame = np.zeros((200, 200, 3), np.uint8)
    frame[:, :] = colour
    det = Detections(
        np.array([[50, 50, 150, 150]], np.float32),
        np.array([0.9], np.float32),
        np.zeros((1, 6, 2), np.float32),
    )
    return frame, det


def test_face_api_gets_rgb_0_255_and_reads_male_from_softmax_column_0() -> None:
    def outputs(t: FloatArray) -> tuple[FloatArray, FloatArray]:
        return np.full((len(t), 1), 41.0, np.float32), np.tile([[0.8, 0.2]], (len(t), 1))

    session = FakeSession(outputs)
    backend = FaceApiBackend(session, 16, flip=False)
    frame, det = _one_face((10, 20, 30))  # BGR
    p_male, age = backend.estimate(frame, det)
    for seen in session.seen:  # one run: gender and age share the x0.9 crop
        assert seen["name"] == "input"
        assert seen["shape"] == (1, 112, 112, 3)
        assert seen["pixel"].tolist() == [30.0, 20.0, 10.0], "RGB, 0..255, no normalisation"
    assert len(session.seen) == 1
    assert p_male.tolist() == pytest.approx([0.8])
    assert age.tolist() == [41.0]


class _TwoScales(FaceApiBackend):
    gender_scale, age_scale = 1.0, 1.1


def test_a_backend_with_two_scales_reads_gender_and_age_from_their_own_crops() -> None:
    frame = _frame_with_face(200, 150, 100)  # a white box on black: the box itself

    def outputs(t: FloatArray) -> tuple[FloatArray, FloatArray]:
        white = t.mean(axis=(1, 2, 3)) / 255.0  # share of the crop inside the box
        return white[:, None], np.stack([white, 1 - white], axis=1)

    det = Detections(
        np.array([[200, 150, 300, 250]], np.float32),
        np.ones(1, np.float32),
        np.zeros((1, 6, 2), np.float32),
    )
    p_male, age = _TwoScales(FakeSession(outputs), 16, flip=True).estimate(frame, det)
    assert p_male.tolist() == pytest.approx([1.0], abs=0.02)  # x1.0: all box
    assert age.tolist() == pytest.approx([1 / 1.1**2], abs=0.02)  # x1.1: box / crop area
    # The default face-api crop (x0.9) lies inside the box for both outputs.
    p_male, age = FaceApiBackend(FakeSession(outputs), 16, flip=True).estimate(frame, det)
    assert (p_male.tolist(), age.tolist()) == (pytest.approx([1.0]), pytest.approx([1.0]))


def test_faceres_gets_bgr_minus_the_mean_and_the_expected_age() -> None:
    def outputs(t: FloatArray) -> tuple[FloatArray, FloatArray]:
        probs = np.zeros((len(t), 100), np.float32)
        probs[:, 30], probs[:, 40] = 0.5, 0.5
        return np.full((len(t), 1), 0.3, np.float32), probs

    session = FakeSession(outputs)
    backend = FaceResBackend(session, 16, flip=False)
    frame, det = _one_face((110, 120, 130))
    p_male, age = backend.estimate(frame, det)
    (seen,) = session.seen
    assert seen["shape"] == (1, 224, 224, 3)
    np.testing.assert_allclose(
        seen["pixel"], [110 - 103.939, 120 - 116.779, 130 - 123.68], atol=1e-4
    )
    assert p_male.tolist() == pytest.approx([0.3])
    assert age.tolist() == pytest.approx([35.0])


def test_flip_averaging_runs_the_mirror_and_averages() -> None:
    # Left half dark, right half bright: the mirrored crop is the other way round.
    frame = np.zeros((200, 200, 3), np.uint8)
    frame[:, 100:] = 200
    det = Detections(
        np.array([[50, 50, 150, 150]], np.float32),
        np.ones(1, np.float32),
        np.zeros((1, 6, 2), np.float32),
    )

    def outputs(t: FloatArray) -> tuple[FloatArray, FloatArray]:
        left = t[:, :, :56].mean(axis=(1, 2, 3)) / 200.0  # 0 for the original, 1 mirrored
        return (10 + 20 * left)[:, None], np.stack([left, 1 - left], axis=1)

    session = FakeSession(outputs)
    backend = FaceApiBackend(session, 16, flip=True)
    p_male, age = backend.estimate(frame, det)
    assert session.seen[0]["shape"][0] == 2, "crop and mirror in one batch"
    assert p_male.tolist() == pytest.approx([0.5], abs=0.02)
    assert age.tolist() == pytest.approx([20.0], abs=0.5)


class Scripted:
    """A backend that returns fixed estimates for every face."""

    def __init__(self, name: str, p_male: float, age: float) -> None:
        self.name, self.p_male, self.age = name, p_male, age

    def estimate(self, image: ImageArray, detections: Detections) -> tuple[FloatArray, FloatArray]:
        n = len(detections)
        return np.full(n, self.p_male, np.float32), np.full(n, self.age, np.float32)


def _estimator(cfg: AttributesConfig) -> AttributeEstimator:
    backends: dict[Any, AttributeBackend] = {
        "cydral": Scripted("cydral", 0.9, 25.0),
        "faceres": Scripted("faceres", 0.3, 40.0),
        "faceapi": Scripted("faceapi", 0.3, 33.0),
        "faceres-deep": Scripted("faceres-deep", 0.7, 43.0),
    }
    return AttributeEstimator({m: backends[m] for m in {*cfg.gender_models, *cfg.age_models}}, cfg)


def _sigmoid(z: float) -> float:
    return 1 / (1 + math.exp(-z))


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


# The default: gender = sigmoid(intercept + coefficient x logit(FaceRes-deep's 0.7)); age =
# offset + scale x ((1 - w) x face-api's 33 + w x FaceRes-deep's 43).
DEFAULT_P = _sigmoid(
    DEFAULT_GENDER_INTERCEPT + DEFAULT_GENDER_LOGISTIC["faceres-deep"] * _logit(0.7)
)
_W = DEFAULT_AGE_BLEND["faceres-deep"]
_LINE = DEFAULT_AGE_OFFSET + DEFAULT_AGE_SCALE * ((1 - _W) * 33 + _W * 43)
# then through the default age_map: between the two knots around the line's age
_LO, _HI = (
    max(k for k in DEFAULT_AGE_MAP if k[0] <= _LINE),
    min(k for k in DEFAULT_AGE_MAP if k[0] > _LINE),
)
DEFAULT_AGE = _LO[1] + (_LINE - _LO[0]) * (_HI[1] - _LO[1]) / (_HI[0] - _LO[0])


@pytest.mark.parametrize(
    ("cfg", "p_male", "age"),
    [
        (AttributesConfig(), DEFAULT_P, DEFAULT_AGE),
        # a logistic fusion of two networks: sigmoid(0.5 + 1 x logit(0.9) + 2 x logit(0.3))
        (
            AttributesConfig(
                gender_models=("cydral", "faceapi"),
                gender_logistic={"cydral": 1.0, "faceapi": 2.0},
                gender_intercept=0.5,
            ),
            _sigmoid(0.5 + _logit(0.9) + 2 * _logit(0.3)),
            DEFAULT_AGE,
        ),
        # the previous default: weighted mean (0.5 x 0.9 + 0.3 + 0.5 x 0.7) / 2; other networks
        # than the fitted ones fall back to the mean; another age blend to the plain line
        (
            AttributesConfig(
                gender_models=("cydral", "faceapi", "faceres-deep"),
                age_blend={"faceres-deep": 0.2},
            ),
            0.55,
            0.8 * 33 + 0.2 * 43,
        ),
        (
            AttributesConfig(
                gender_models=("cydral", "faceapi", "faceres-deep"),
                gender_weights={},
                age_blend={"faceres-deep": 0.2},
                age_scale=2.0,
                age_offset=-1.0,
            ),
            0.6333333,
            2 * (0.8 * 33 + 0.2 * 43) - 1,
        ),  # plain mean; an explicit age line
        (AttributesConfig(gender_models=("cydral",), age_model="cydral", age_blend={}), 0.9, 25.0),
        (AttributesConfig(gender_models=("cydral", "faceapi"), age_blend={}), 0.5, 33.0),
        # the default before that: Cydral 0.5, FaceRes 1, face-api 1; age face-api alone
        (
            AttributesConfig(
                gender_models=("cydral", "faceres", "faceapi"),
                gender_weights={"cydral": 0.5},
                age_blend={},
            ),
            0.42,
            33.0,
        ),
        # age_blend naming age_model itself is ignored (it already has the rest)
        (AttributesConfig(age_model="faceres-deep"), DEFAULT_P, 43.0),
    ],
    ids=[
        "default",
        "logistic",
        "weighted-mean",
        "plain-mean",
        "cydral-only",
        "without-faceres",
        "previous",
        "blend-self",
    ],
)
def test_gender_fusion_and_age_blend_follow_the_config(
    cfg: AttributesConfig, p_male: float, age: float
) -> None:
    frame, det = _one_face((0, 0, 0))
    result = _estimator(cfg).estimate(frame, det)
    assert result.p_male is not None
    assert result.age is not None
    assert result.p_male.tolist() == pytest.approx([p_male])
    assert result.age.tolist() == pytest.approx([age])


def test_fitted_fusion_is_the_default_only_for_the_networks_it_was_fitted_on() -> None:
    assert AttributesConfig().gender_logistic == DEFAULT_GENDER_LOGISTIC
    assert (AttributesConfig().age_scale, AttributesConfig().age_offset) == (
        DEFAULT_AGE_SCALE,
        DEFAULT_AGE_OFFSET,
    )
    other = AttributesConfig.model_validate({"gender_models": ["cydral"], "age_blend": {}})
    assert other.gender_logistic == {}
    assert (other.age_scale, other.age_offset) == (1.0, 0.0)
    kept = AttributesConfig.model_validate({"age_model": "faceres", "age_scale": 1.2})
    assert (kept.age_scale, kept.age_offset) == (1.2, 0.0)
    with pytest.raises(ValidationError, match=r"gender_logistic has coefficients for \['cydral'\]"):
        AttributesConfig(gender_models=("faceapi",), gender_logistic={"cydral": 1.0})


def test_a_fitted_age_line_never_goes_below_zero() -> None:
    cfg = AttributesConfig(age_blend={}, age_offset=-5.0)
    frame, det = _one_face((0, 0, 0))
    est = AttributeEstimator({m: Scripted(m, 0.5, 2.0) for m in ("faceapi", "faceres-deep")}, cfg)
    result = est.estimate(frame, det)
    assert result.age is not None
    assert result.age.tolist() == [0.0]


def test_age_blend_weights_must_leave_age_model_a_share() -> None:
    with pytest.raises(ValidationError, match="sum to less than 1"):
        AttributesConfig(age_blend={"faceres-deep": 0.6, "faceres": 0.4})
    with pytest.raises(ValidationError, match="age_blend"):
        AttributesConfig(age_blend={"faceres-deep": 0.0})
    assert AttributesConfig(age_blend={}).age_models == ("faceapi",)
    assert AttributesConfig().age_models == ("faceapi", "faceres-deep")


def test_a_model_named_twice_is_a_config_error() -> None:
    with pytest.raises(ValidationError, match="each model may appear once"):
        AttributesConfig(gender_models=("faceres", "faceres"))
    with pytest.raises(ValidationError, match="gender_models"):
        AttributesConfig(gender_models=("dlib",))  # type: ignore[arg-type]


def test_ensemble_model_ids_name_every_member(tmp_path: Path) -> None:
    lock = tmp_path / "models.json"
    names = [
        "face_detection_full_range",
        "age-v1",
        "gender-v1",
        "faceres",
        "faceapi-agegender",
        "faceres-deep",
    ]
    models = {n: {"id": f"{n}@0000000{i}", "licence": "x"} for i, n in enumerate(names)}
    lock.write_text(json.dumps({"models": models}), encoding="utf-8")

    ids = model_ids(tmp_path, "full_range", True, AttributesConfig())
    assert ids.age == "faceapi-agegender@00000004+faceres-deep@00000005"
    assert ids.gender == "faceres-deep@00000005"
    three = AttributesConfig(gender_models=("cydral", "faceapi", "faceres-deep"))
    ensemble = model_ids(tmp_path, "full_range", True, three)
    assert ensemble.gender == "gender-v1@00000002+faceapi-agegender@00000004+faceres-deep@00000005"
    alone = model_ids(
        tmp_path,
        "full_range",
        True,
        AttributesConfig(gender_models=("cydral",), age_model="cydral", age_blend={}),
    )
    assert (alone.age, alone.gender) == ("age-v1@00000001", "gender-v1@00000002")


@pytest.mark.parametrize("cls", [FaceApiBackend, FaceResBackend, FaceResDeepBackend])
def test_input_tensors_are_zeroed_after_inference(cls: type[FaceApiBackend]) -> None:
    kept: list[FloatArray] = []

    def outputs(t: FloatArray) -> tuple[FloatArray, FloatArray]:
        kept.append(t)  # a reference, as a leaky runtime might hold one
        n = len(t)
        return np.full((n, 1), 0.5, np.float32), np.full((n, 100), 0.01, np.float32)

    frame, det = _one_face((90, 90, 90))
    cls(FakeSession(outputs), 16, flip=True).estimate(frame, det)
    assert len(kept) == 1  # one crop scale per network (face-api: 0.9 for both outputs)
    for tensor in kept:
        assert not tensor.any(), "face pixels (as model input) do not outlive the inference"


@pytest.mark.parametrize(
    ("cls", "yunet", "blazeface"),
    [
        (FaceApiBackend, (0.9, 0.9), (1.0, 1.1)),
        (FaceResBackend, (1.5, 1.5), (1.5, 1.5)),
        (FaceResDeepBackend, (1.2, 1.2), (1.4, 1.4)),
    ],
)
def test_crop_scales_follow_the_detector_whose_boxes_they_crop(
    cls: type[FaceApiBackend], yunet: tuple[float, float], blazeface: tuple[float, float]
) -> None:
    # YuNet's boxes are taller than BlazeFace's: each detector keeps the scales chosen on it.
    def outputs(t: FloatArray) -> tuple[FloatArray, FloatArray]:
        return np.zeros((len(t), 1), np.float32), np.zeros((len(t), 100), np.float32)

    on_yunet = cls(FakeSession(outputs), 16)
    on_blazeface = cls(FakeSession(outputs), 16, blazeface=True)
    assert (on_yunet.gender_scale, on_yunet.age_scale) == yunet
    assert (on_blazeface.gender_scale, on_blazeface.age_scale) == blazeface


def test_the_age_map_interpolates_and_moves_one_for_one_beyond_its_end_knots() -> None:
    knots = ((10.0, 5.0), (30.0, 35.0), (60.0, 65.0))
    ages = np.array([0.0, 10.0, 20.0, 30.0, 45.0, 60.0, 70.0])
    assert map_age(ages, knots).tolist() == [-5.0, 5.0, 20.0, 35.0, 50.0, 65.0, 75.0]
    assert map_age(ages, ()).tolist() == ages.tolist()


@pytest.mark.parametrize(
    ("knots", "message"),
    [
        ([[10, 5]], "at least two knots"),
        ([[10, 5], [10, 8]], r"knots must ascend: \[10, 5\] is followed by \[10, 8\]"),
        ([[10, 5], [20, 4]], "knots must ascend"),
        ([[10, 5], [20, 200]], "less than or equal to 150"),
    ],
)
def test_an_age_map_that_does_not_ascend_is_refused(knots: list[list[float]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AttributesConfig.model_validate({"age_map": knots})


def test_the_fitted_age_map_by_default_and_none_with_another_line() -> None:
    assert AttributesConfig().age_map == DEFAULT_AGE_MAP
    assert AttributesConfig(age_blend={}).age_map == ()
    knots = ((0.0, 0.0), (80.0, 85.0))
    assert AttributesConfig(age_map=knots).age_map == knots
    assert AttributesConfig.model_validate({"age_scale": 1.2}).age_map == ()
    # a line given at all, even the default one, is a line of its own: no map on it
    restated = {"age_scale": DEFAULT_AGE_SCALE, "age_offset": DEFAULT_AGE_OFFSET}
    assert AttributesConfig.model_validate(restated).age_map == ()
    # restating the default networks keeps the map, and so does a dump read back
    same = {"age_model": "faceapi", "age_blend": dict(DEFAULT_AGE_BLEND)}
    assert AttributesConfig.model_validate(same).age_map == DEFAULT_AGE_MAP
    dumped = AttributesConfig().model_dump()
    assert AttributesConfig.model_validate(dumped).age_map == DEFAULT_AGE_MAP
