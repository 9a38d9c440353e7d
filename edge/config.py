"""The node's one TOML config file, validated by pydantic (``extra="forbid"``).

Every error names the key, the value and the reason; ``kazoe check-config``
prints them all and exits 2.
"""

from __future__ import annotations

import hashlib
import json
import math
import tomllib
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from edge.errors import ConfigError
from edge.geometry import RelPoint, check_points, check_polygon, point_in_polygon
from edge.payload import label_text, storable_text

Purpose = Literal["footfall", "demographics"]
NODE_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
DEFAULT_AGE_EDGES = (13, 20, 30, 40, 50, 60, 70)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NodeConfig(_Section):
    id: str = Field(pattern=NODE_ID_PATTERN, description="node id = MQTT client id = username")
    site: str = Field("default", min_length=1, max_length=64, description="site name for roll-ups")

    @field_validator("site")
    @classmethod
    def _label(cls, site: str) -> str:
        return label_text(site)

    state_dir: Path = Field(Path("state"), description="outbox database and audit log live here")


class SourceConfig(_Section):
    uri: str = Field(min_length=1, description="video file path, rtsp:// URL, or device index")
    start_time: AwareDatetime | None = Field(
        None,
        description=(
            "media-clock anchor for file sources (time of frame 0); default: the run's start "
            "time. Set it to make replays reproducible."
        ),
    )
    realtime: bool = Field(False, description="pace a file to its own frame rate")
    loop: bool = Field(False, description="repeat a file source forever")
    read_timeout_s: float = Field(
        5.0, gt=0, le=300, description="a live read slower than this is a stall"
    )
    max_fps: float = Field(
        15.0, gt=0, le=120, description="analyse at most this many frames/s (live)"
    )


class DetectorConfig(_Section):
    model: Literal["yunet", "full_range", "short_range"] = Field(
        "yunet",
        description="yunet (default, whole frame at native size) or BlazeFace full/short range",
    )
    mode: Literal["pyramid", "tiles"] = Field(
        "pyramid",
        description="pyramid: the whole frame at each scale; tiles: overlapping native-size tiles",
    )
    scales: tuple[float, ...] | None = Field(
        None,
        min_length=1,
        max_length=4,
        description="frame pixels per model pixel, one pass each (yunet and BlazeFace pyramid); "
        "default 1.0 for yunet, 2.0 for BlazeFace",
    )
    score_threshold: float = Field(0.6, gt=0, lt=1, description="minimum face score")
    nms_iou: float = Field(0.3, gt=0, lt=1)
    tile_size: int = Field(384, ge=128, le=1920, description="square tile side in pixels")
    tile_overlap: float = Field(
        0.25, ge=0, lt=0.9, description="fraction of a tile shared with its neighbour"
    )
    whole_frame: bool = Field(True, description="also run on the whole frame for large faces")
    threads: int = Field(1, ge=1, le=16, description="onnxruntime intra-op threads")
    max_pass_pixels: int = Field(
        1_000_000,
        ge=262_144,
        le=33_554_432,
        description="yunet: a pass over more model pixels than this (a 1080p frame at scale "
        "1.0 is 2.1 M) runs as overlapping horizontal bands plus a pass at twice the scale, "
        "to bound peak memory; 720p (0.94 M) stays one pass, 1080p becomes three 1920x512 "
        "bands and a 960x544 pass (1.66x the work of one)",
    )
    full_frame_every: int = Field(
        8,
        ge=1,
        le=300,
        description="yunet: search the whole frame every n-th frame; in between only regions "
        "around recent faces and around motion no face explains (1 = every frame)",
    )
    motion_threshold: int = Field(
        15,
        ge=1,
        le=255,
        description="yunet regions: grey-level change (0-255) on the 160 px motion thumbnail "
        "that counts as motion",
    )
    region_padding: float = Field(
        0.5, ge=0.25, le=4, description="yunet regions: face widths searched around each face"
    )
    region_face_px: float = Field(
        64,
        ge=24,
        le=256,
        description="yunet regions: a face region is downscaled (steps 1, 1.5, 2, 3, 4) until "
        "its face is about this many model pixels wide",
    )
    max_region_share: float = Field(
        0.6,
        gt=0,
        le=1,
        description="yunet regions: when the regions cost more than this share of a whole-frame "
        "pass, search the whole frame instead",
    )

    @field_validator("scales")
    @classmethod
    def _scales(cls, scales: tuple[float, ...] | None) -> tuple[float, ...] | None:
        if scales is not None and any(not 0.5 <= s <= 16 for s in scales):
            raise ValueError("each scale must be between 0.5 and 16")
        return scales

    @model_validator(mode="after")
    def _tiles_are_blazeface(self) -> DetectorConfig:
        if self.model == "yunet" and self.mode == "tiles":
            raise ValueError(
                'mode "tiles" is for BlazeFace; yunet runs on the whole frame (set scales, '
                'or model = "full_range")'
            )
        return self

    @property
    def effective_scales(self) -> tuple[float, ...]:
        """The configured scales, or the model's default (YuNet 1.0, BlazeFace 2.0)."""
        if self.scales is not None:
            return self.scales
        return (1.0,) if self.model == "yunet" else (2.0,)


class QualityConfig(_Section):
    """Which detected faces may feed age/gender, from what the detector already gives."""

    min_score: float = Field(
        0.75, ge=0, le=1, description="a face scoring below this feeds no age/gender"
    )
    min_face_px: float = Field(
        32, ge=0, le=4096, description="a face box narrower than this feeds no age/gender"
    )
    eye_ratio: tuple[float, float] = Field(
        (0.3, 0.65),
        description="eye distance / box width of a frontal face (profiles and backs of heads "
        "fall below)",
    )
    nose_span: tuple[float, float] = Field(
        (0.15, 0.85),
        description="where the nose sits between the eyes (0 = right eye, 1 = left eye) for a "
        "frontal face",
    )
    drop_below: float = Field(
        0.85,
        ge=0,
        le=1,
        description="a detection scoring below this whose landmarks are not face-like (see "
        "face_eye_ratio, face_nose_span) is no face at all (backs of heads, signs) and is "
        "dropped; 0 keeps every detection",
    )
    face_eye_ratio: float = Field(
        0.25,
        ge=0,
        le=1,
        description="face-like: eye distance / box width at least this, or the nose within "
        "face_nose_span",
    )
    face_nose_span: tuple[float, float] = Field(
        (-0.2, 1.2), description="face-like: the nose within this span along the eye axis"
    )

    @field_validator("eye_ratio", "nose_span", "face_nose_span")
    @classmethod
    def _ordered(cls, pair: tuple[float, float]) -> tuple[float, float]:
        low, high = pair
        if not -1 <= low < high <= 2:
            raise ValueError("needs [low, high] with -1 <= low < high <= 2")
        return pair


AttributeModel = Literal["cydral", "faceres", "faceapi", "faceres-deep"]
DEFAULT_GENDER_MODELS: tuple[AttributeModel, ...] = ("faceres-deep",)
DEFAULT_AGE_MODEL: AttributeModel = "faceapi"
DEFAULT_GENDER_WEIGHTS: dict[AttributeModel, float] = {
    "cydral": 0.5,
    "faceapi": 1.0,
    "faceres-deep": 0.5,
}
# Age = (1 - sum of these) x age_model's age + each weight x that network's age.
DEFAULT_AGE_BLEND: dict[AttributeModel, float] = {"faceres-deep": 0.485}
# Logistic fusion of the default gender networks: p(male) = sigmoid(intercept + sum of
# coefficient x logit(p(male) of that network)); fitted on all 540 FairFace photos with
# YuNet detections by ``kazoe-sim fit-attributes`` (held-out figures: models/MODEL_CARD.md).
DEFAULT_GENDER_LOGISTIC: dict[AttributeModel, float] = {"faceres-deep": 1.307}
DEFAULT_GENDER_INTERCEPT = -1.0
# The blended age's line fitted with it (age = offset + scale x blend): the networks' ages
# regress towards the middle of the range; the fit stretches them back.
DEFAULT_AGE_SCALE = 1.09
DEFAULT_AGE_OFFSET = -0.7
# Then a monotone piecewise-linear map of the line's age, fitted with it: its 21 knots move
# the fitted photos' 0, 5, ..., 100 % quantiles three quarters of the way onto those of their
# labelled ages (each group's faces spread evenly over its years), so the estimated ages
# are distributed nearly like the true ones and the age-band shares follow.
DEFAULT_AGE_MAP: tuple[tuple[float, float], ...] = (
    (0.2, 0.0), (2.5, 1.7), (4.2, 3.1), (7.1, 5.9), (11.9, 9.4), (17.8, 13.8), (22.7, 18.4),
    (25.9, 22.6), (27.8, 26.4), (31.3, 30.7), (33.6, 34.6), (37.2, 38.9), (40.3, 43.1),
    (44.9, 47.6), (50.0, 52.2), (56.8, 57.3), (59.7, 61.4), (63.6, 65.7), (68.6, 70.3),
    (73.5, 74.9), (84.1, 81.0),
)  # fmt: skip
AgeKnot = tuple[Annotated[float, Field(ge=-50, le=150)], Annotated[float, Field(ge=0, le=150)]]


def _model_set(models: object) -> set[str] | None:
    """The model names of a raw gender_models value (None when it is not a list of names)."""
    if isinstance(models, list | tuple) and all(isinstance(m, str) for m in models):
        return set(models)
    return None


class AttributesConfig(_Section):
    batch_size: int = Field(
        2,
        ge=1,
        le=256,
        description="faces per attribute-network run; larger batches grow the shared arena "
        '(peak RSS); see README "Speed"',
    )
    every_n_frames: int = Field(
        2, ge=1, le=30, description="estimate age/gender on every n-th analysed frame"
    )
    estimates_per_track: int = Field(
        4,
        ge=0,
        le=1000,
        description="age/gender is estimated for a tracked person's first this many good "
        "observations, later only for a clearly better one (reestimate_better); 0 estimates "
        "every good face of every sampled frame",
    )
    reestimate_better: float = Field(
        1.15,
        ge=1,
        le=10,
        description="with estimates_per_track: a face this many times the quality (score x "
        "size) of its track's best estimated one is estimated again",
    )
    gender_margin: float = Field(
        0.1, ge=0, lt=0.5, description="mean p(male) within 0.5 +/- margin counts as unknown"
    )
    gender_models: tuple[AttributeModel, ...] = Field(
        DEFAULT_GENDER_MODELS,
        min_length=1,
        max_length=4,
        description="networks whose p(male) is fused per face (gender_logistic, or with {} "
        "the weighted mean of gender_weights): cydral, faceres, faceapi, faceres-deep",
    )
    gender_weights: dict[AttributeModel, Annotated[float, Field(gt=0, le=10)]] = Field(
        default_factory=lambda: dict(DEFAULT_GENDER_WEIGHTS),
        description=(
            "with gender_logistic = {} (the default when gender_weights is given and "
            "gender_logistic is not): weight of each gender model in the mean (a model not "
            "listed weighs 1); the previous default's weights, chosen on one half of FairFace "
            "(models/MODEL_CARD.md)"
        ),
    )
    gender_logistic: dict[AttributeModel, Annotated[float, Field(ge=-20, le=20)]] = Field(
        default_factory=lambda: dict(DEFAULT_GENDER_LOGISTIC),
        description=(
            "logistic fusion: p(male) = sigmoid(gender_intercept + sum of coefficient x "
            "logit(each network's p(male))), one coefficient per gender model; {} averages "
            "probabilities with gender_weights instead. Default: fitted on FairFace for the "
            "default gender_models (kazoe-sim fit-attributes); with other gender_models it "
            "defaults to {}"
        ),
    )
    gender_intercept: float = Field(
        DEFAULT_GENDER_INTERCEPT,
        ge=-20,
        le=20,
        description="with gender_logistic: its intercept (default: the fitted one for the "
        "default gender_models, else 0)",
    )
    age_model: AttributeModel = Field(
        DEFAULT_AGE_MODEL,
        description="network whose age estimate is used: cydral, faceres, faceapi, faceres-deep",
    )
    age_blend: dict[AttributeModel, Annotated[float, Field(gt=0, lt=1)]] = Field(
        default_factory=lambda: dict(DEFAULT_AGE_BLEND),
        description=(
            "other networks' ages mixed into age_model's: age = (1 - sum) x age_model + "
            "weight x each; {} uses age_model alone"
        ),
    )
    age_scale: float = Field(
        DEFAULT_AGE_SCALE,
        gt=0,
        le=3,
        description=(
            "age = age_offset + age_scale x the blended age; default: fitted on FairFace for "
            "the default age_model and age_blend (kazoe-sim fit-attributes), else 1"
        ),
    )
    age_offset: float = Field(
        DEFAULT_AGE_OFFSET, ge=-30, le=30, description="see age_scale (years); default else 0"
    )
    age_map: tuple[AgeKnot, ...] = Field(
        DEFAULT_AGE_MAP,
        max_length=64,
        description=(
            "after the line: [[line age, age], ...] knots of a piecewise-linear map, line "
            "ages strictly ascending, ages not descending (beyond the end knots the age moves "
            "one for one); [] none. Default: fitted on FairFace with the default line "
            "(kazoe-sim fit-attributes); [] with another age_model or age_blend, or when "
            "age_scale or age_offset is given at all (even at the default value)"
        ),
    )
    flip_average: bool = Field(
        True, description="faceres/faceapi: also run the mirrored crop and average the two"
    )
    min_evidence: float = Field(
        0.5,
        ge=0,
        le=1000,
        description=(
            "a track's summed observation quality (detector score x face-size factor, "
            "about 1 per good frame) below this publishes its age and gender as unknown"
        ),
    )

    @model_validator(mode="before")
    @classmethod
    def _fitted_defaults(cls, data: object) -> object:
        """The fitted fusion and age line are defaults only for the networks they were fitted
        on: a config that picks other networks and leaves them out gets {} (intercept 0) and
        (1, 0); one that gives gender_weights and no gender_logistic asks for the mean."""
        if not isinstance(data, dict):
            return data
        out = dict(data)
        models = out.get("gender_models", DEFAULT_GENDER_MODELS)
        if _model_set(models) != set(DEFAULT_GENDER_LOGISTIC):
            out.setdefault("gender_intercept", 0.0)
            out.setdefault("gender_logistic", {})
        if "gender_weights" in out:
            out.setdefault("gender_logistic", {})
        same_age = out.get("age_model", DEFAULT_AGE_MODEL) == DEFAULT_AGE_MODEL and (
            out.get("age_blend", DEFAULT_AGE_BLEND) == DEFAULT_AGE_BLEND
        )
        if not same_age:
            out.setdefault("age_scale", 1.0)
            out.setdefault("age_offset", 0.0)
        if not same_age or "age_scale" in out or "age_offset" in out:
            out.setdefault("age_map", ())
        return out

    @field_validator("age_map")
    @classmethod
    def _ascending(cls, knots: tuple[tuple[float, float], ...]) -> tuple[tuple[float, float], ...]:
        if len(knots) == 1:
            raise ValueError("give at least two knots, or [] for no map")
        for (x0, y0), (x1, y1) in pairwise(knots):
            if x1 <= x0 or y1 < y0:
                raise ValueError(
                    f"knots must ascend: [{x0:g}, {y0:g}] is followed by [{x1:g}, {y1:g}]"
                )
        return knots

    @model_validator(mode="after")
    def _logistic_covers_models(self) -> AttributesConfig:
        if self.gender_logistic and set(self.gender_logistic) != set(self.gender_models):
            raise ValueError(
                f"gender_logistic has coefficients for {sorted(self.gender_logistic)} but "
                f"gender_models is {sorted(self.gender_models)}: give one coefficient per "
                "gender model (kazoe-sim fit-attributes fits them) or set gender_logistic = {}"
            )
        return self

    @field_validator("gender_models")
    @classmethod
    def _distinct(cls, models: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(models)) != len(models):
            raise ValueError("each model may appear once")
        return models

    @field_validator("age_blend")
    @classmethod
    def _blend_below_one(cls, blend: dict[str, float]) -> dict[str, float]:
        if sum(blend.values()) >= 1:
            raise ValueError("the blend weights must sum to less than 1 (age_model keeps the rest)")
        return blend

    @property
    def age_models(self) -> tuple[AttributeModel, ...]:
        """age_model and the blended networks other than it."""
        return (self.age_model, *(m for m in self.age_blend if m != self.age_model))


class TrackerConfig(_Section):
    iou_threshold: float = Field(
        0.3, gt=0, lt=1, description="overlap with the predicted box that always passes the gate"
    )
    max_center_dist: float = Field(
        0.6,
        gt=0,
        le=10,
        description="centre gate for a track seen in the last frame, in widths of the smaller face",
    )
    gate_growth: float = Field(
        1.6,
        ge=0,
        le=20,
        description="how far the centre gate widens per second a track is unseen (face widths)",
    )
    max_size_ratio: float = Field(
        1.6, gt=1, le=5, description="a detection this much larger or smaller is another person"
    )
    high_score: float = Field(
        0.6,
        gt=0,
        lt=1,
        description="detections at or above this start tracks; weaker ones only continue them",
    )
    duplicate_iou: float = Field(
        0.7,
        gt=0,
        le=1,
        description="a box this much inside another (of the smaller's area) is the same face",
    )
    max_missed_s: float = Field(
        3.0,
        gt=0,
        le=60,
        description="a track unseen this long has ended (re-identified by position until then)",
    )
    min_hits: int = Field(5, ge=1, le=100, description="frames needed before a track counts")


class AggregateConfig(_Section):
    window_seconds: int = Field(60, ge=1, le=86400)
    age_bands: tuple[int, ...] = Field(
        DEFAULT_AGE_EDGES,
        description="ascending band edges: [13, 20] gives bands 0-12, 13-19 and 20+",
    )

    @field_validator("age_bands")
    @classmethod
    def _ascending(cls, edges: tuple[int, ...]) -> tuple[int, ...]:
        if not edges:
            raise ValueError("needs at least one edge")
        if any(e <= 0 or e > 120 for e in edges):
            raise ValueError("edges must be between 1 and 120")
        if list(edges) != sorted(set(edges)):
            raise ValueError("edges must be strictly ascending")
        return edges

    def band_labels(self) -> list[str]:
        lows = [0, *self.age_bands]
        labels = [f"{lo}-{hi - 1}" for lo, hi in zip(lows, self.age_bands, strict=False)]
        return [*labels, f"{self.age_bands[-1]}+"]


LINE_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,31}$"
MIN_LINE_LENGTH = 0.01  # relative frame units


class CountingLine(_Section):
    """A counting line: people whose track crosses it are counted per direction."""

    name: str = Field(pattern=LINE_NAME_PATTERN, description="line name, used in payload cells")
    start: RelPoint = Field(description="first end point, relative frame coordinates (x, y)")
    end: RelPoint = Field(description="second end point, relative frame coordinates (x, y)")
    in_side: Literal["left", "right"] = Field(
        "left",
        description="which side is 'in', looking along the line from start to end on screen",
    )
    description: str | None = Field(
        None, min_length=1, max_length=200, description="what the line counts, for the notice"
    )

    @model_validator(mode="after")
    def _line(self) -> CountingLine:
        check_points((self.start, self.end))
        if math.dist(self.start, self.end) < MIN_LINE_LENGTH:
            raise ValueError(
                f"line {self.name!r} has (nearly) zero length; its two points must differ"
            )
        return self


class CountingZone(_Section):
    """A zone: with zones configured, only people whose path enters one are counted."""

    name: str = Field(pattern=LINE_NAME_PATTERN, description="zone name, for the notice")
    polygon: tuple[RelPoint, ...] = Field(
        min_length=3, max_length=64, description="corners in relative frame coordinates (x, y)"
    )

    @field_validator("polygon")
    @classmethod
    def _polygon(cls, polygon: tuple[RelPoint, ...]) -> tuple[RelPoint, ...]:
        check_polygon(polygon)
        return polygon


class CountingConfig(_Section):
    lines: tuple[CountingLine, ...] = Field((), max_length=16, description="[[counting.lines]]")
    zones: tuple[CountingZone, ...] = Field(
        (),
        max_length=16,
        description="[[counting.zones]]: when set, a person counts only if their path enters one",
    )

    @field_validator("lines")
    @classmethod
    def _unique(cls, lines: tuple[CountingLine, ...]) -> tuple[CountingLine, ...]:
        names = [line.name for line in lines]
        if len(set(names)) != len(names):
            raise ValueError("line names must not repeat")
        return lines

    @field_validator("zones")
    @classmethod
    def _unique_zones(cls, zones: tuple[CountingZone, ...]) -> tuple[CountingZone, ...]:
        names = [zone.name for zone in zones]
        if len(set(names)) != len(names):
            raise ValueError("zone names must not repeat")
        return zones


class PrivacyMask(_Section):
    """A region the node never looks at: zeroed in the frame before any model sees it."""

    name: str = Field(
        min_length=1, max_length=100, description="what it hides, shown on the street notice"
    )
    polygon: tuple[RelPoint, ...] = Field(
        min_length=3, max_length=64, description="corners in relative frame coordinates (x, y)"
    )

    @field_validator("polygon")
    @classmethod
    def _polygon(cls, polygon: tuple[RelPoint, ...]) -> tuple[RelPoint, ...]:
        check_polygon(polygon)
        return polygon


MASK_GRID = 64  # coverage check: sample points per side


class PrivacyConfig(_Section):
    masks: tuple[PrivacyMask, ...] = Field((), max_length=32, description="[[privacy.masks]]")

    @field_validator("masks")
    @classmethod
    def _not_everything(cls, masks: tuple[PrivacyMask, ...]) -> tuple[PrivacyMask, ...]:
        if not masks:
            return masks
        grid = [(i + 0.5) / MASK_GRID for i in range(MASK_GRID)]
        seen = any(
            not any(point_in_polygon(x, y, m.polygon) for m in masks) for x in grid for y in grid
        )
        if not seen:
            raise ValueError(
                "the masks cover the whole frame, so the camera would see nothing; "
                "mask only what must not be analysed"
            )
        return masks


class PolicyConfig(_Section):
    purposes: tuple[Purpose, ...] = Field(min_length=1, description="closed vocabulary")
    retention_days: int = Field(7, ge=1, le=365)
    k: int = Field(5, ge=2, le=1000, description="cells with 0 < count < k are withheld")
    protection_level: int | None = Field(
        None,
        ge=1,
        le=100_000,
        description="a withheld small cell could, for all the published cells show, hold at "
        "least this many people (default: k, so nothing published shows a cell is small)",
    )
    suppression_cost: Literal["counts", "cells"] = Field(
        "counts",
        description="what complementary suppression minimises: withheld people or withheld cells",
    )
    suppression_time_limit_ms: int = Field(
        500, ge=1, le=60_000, description="solver time limit per window before the fallback"
    )
    controller: str = Field("unspecified controller", min_length=1, max_length=200)
    contact: str = Field("unspecified contact", min_length=1, max_length=200)
    statement: str = Field(
        "Counting people passing this point to plan services.", min_length=1, max_length=1000
    )
    location: str = Field("unspecified location", min_length=1, max_length=200)
    notice_url: str | None = Field(None, max_length=500)
    pia_reference: str | None = Field(None, max_length=200)

    @field_validator(
        "controller", "contact", "statement", "location", "notice_url", "pia_reference"
    )
    @classmethod
    def _storable(cls, value: str | None) -> str | None:
        # These go out in the retained notice; the wire schema refuses what no database stores.
        return None if value is None else storable_text(value)

    @field_validator("purposes")
    @classmethod
    def _unique(cls, purposes: tuple[Purpose, ...]) -> tuple[Purpose, ...]:
        if len(set(purposes)) != len(purposes):
            raise ValueError("purposes must not repeat")
        return purposes

    @property
    def demographics(self) -> bool:
        return "demographics" in self.purposes


class TlsConfig(_Section):
    ca_file: Path
    cert_file: Path | None = None
    key_file: Path | None = None

    @model_validator(mode="after")
    def _pair(self) -> TlsConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together")
        return self


class MqttConfig(_Section):
    host: str = Field("127.0.0.1", min_length=1)
    port: int = Field(1883, ge=1, le=65535)
    username: str | None = Field(None, description="default: the node id")
    password_file: Path | None = Field(None, description="file holding the password on one line")
    tls: TlsConfig | None = None
    keepalive_s: int = Field(30, ge=5, le=3600)
    max_inflight: int = Field(10, ge=1, le=1000, description="unacknowledged windows at once")
    reconnect_min_s: float = Field(1.0, gt=0, le=60)
    reconnect_max_s: float = Field(30.0, gt=0, le=3600)

    @model_validator(mode="after")
    def _backoff(self) -> MqttConfig:
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must be >= reconnect_min_s")
        return self

    def read_password(self) -> str | None:
        if self.password_file is None:
            return None
        try:
            return self.password_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                f"mqtt.password_file: cannot read {self.password_file}: {exc.strerror}"
            ) from None


class HomeAssistantConfig(_Section):
    """MQTT discovery for Home Assistant: sensors that read the node's own counts topic."""

    enabled: bool = Field(False, description="announce retained discovery configs on connect")
    discovery_prefix: str = Field(
        "homeassistant",
        pattern=r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$",
        max_length=100,
        description="Home Assistant's discovery prefix (its MQTT integration setting)",
    )
    device_name: str | None = Field(
        None, min_length=1, max_length=100, description="default: 'Kazoe <node id>'"
    )


class MetricsConfig(_Section):
    host: str = Field("127.0.0.1", min_length=1, description="bind address (loopback by default)")
    port: int = Field(9108, ge=0, le=65535, description="Prometheus endpoint port; 0 turns it off")


class IntervalsConfig(_Section):
    """How sure the published shares are: intervals from a calibration (README 'Intervals')."""

    enabled: bool = Field(True, description="publish intervals with demographics")
    level: float = Field(
        0.9, ge=0.5, le=0.99, description="coverage level of each interval (0.9 = 90 %)"
    )
    calibration: Path | None = Field(
        None,
        description=(
            "calibration file (kazoe calibrate); default: the shipped FairFace calibration, "
            "used only when it matches the node's models and [attributes] recipe"
        ),
    )


class ModelsConfig(_Section):
    dir: Path = Field(Path("models/build"), description="where `make models` wrote the model files")


class NodeSettings(_Section):
    """The whole config file."""

    node: NodeConfig
    source: SourceConfig
    mqtt: MqttConfig = MqttConfig()
    aggregate: AggregateConfig = AggregateConfig()
    policy: PolicyConfig
    detector: DetectorConfig = DetectorConfig()
    quality: QualityConfig = QualityConfig()
    attributes: AttributesConfig = AttributesConfig()
    intervals: IntervalsConfig = IntervalsConfig()
    tracker: TrackerConfig = TrackerConfig()
    counting: CountingConfig = CountingConfig()
    privacy: PrivacyConfig = PrivacyConfig()
    models: ModelsConfig = ModelsConfig()
    metrics: MetricsConfig = MetricsConfig()
    home_assistant: HomeAssistantConfig = HomeAssistantConfig()

    def policy_hash(self) -> str:
        """sha256 over the policy and the aggregation it governs (published everywhere)."""
        doc = {
            "policy": self.policy.model_dump(mode="json"),
            "aggregate": self.aggregate.model_dump(mode="json"),
        }
        # Lines and masks change what is counted and seen; absent, old hashes stay valid.
        if self.counting.lines or self.counting.zones:
            doc["counting"] = self.counting.model_dump(mode="json")
        if self.privacy.masks:
            doc["privacy"] = self.privacy.model_dump(mode="json")
        digest = hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()
        return f"sha256:{digest}"

    def mqtt_username(self) -> str:
        return self.mqtt.username or self.node.id


Problem = Annotated[tuple[str, str, str], "key, value, reason"]

# Keys an earlier release read, and what took their place (a clear line, not "unknown key").
REPLACED = {
    "attributes.refresh_frames": (
        "removed: the tracker now chooses which faces get age/gender; use "
        "attributes.estimates_per_track (default 4) and reestimate_better"
    ),
}


def problems(error: ValidationError) -> list[tuple[str, str, str]]:
    """Flatten a pydantic error into (key, value, reason) rows for humans."""
    rows = []
    for err in error.errors(include_url=False):
        # A quoted TOML key may hold a line break; keep every problem on one line.
        key = ".".join(p if p.isprintable() else repr(p)[1:-1] for p in map(str, err["loc"]))
        key = key or "(file)"
        value = "(missing)" if err["type"] == "missing" else repr(err.get("input"))[:80]
        reason = err["msg"]
        if err["type"] == "extra_forbidden":
            reason = REPLACED.get(
                key, "unknown key (check the spelling; see README 'Configuration')"
            )
        rows.append((key, value, reason))
    return rows


class ConfigInvalid(ConfigError):
    def __init__(self, path: Path, rows: list[tuple[str, str, str]]) -> None:
        self.rows = rows
        lines = "; ".join(f"{k} = {v}: {r}" for k, v, r in rows)
        super().__init__(f"{path}: invalid config: {lines}")


def parse_config(text: str, path: Path) -> NodeSettings:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigInvalid(path, [("(file)", "(toml)", f"not valid TOML: {exc}")]) from None
    except RecursionError:
        raise ConfigInvalid(path, [("(file)", "(toml)", "values nested too deeply")]) from None
    try:
        return NodeSettings.model_validate(raw)
    except ValidationError as exc:
        raise ConfigInvalid(path, problems(exc)) from None


def load_config(path: Path) -> NodeSettings:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config: {exc}") from None
    return parse_config(text, path)


def now_anchor() -> datetime:
    from datetime import UTC

    return datetime.now(tz=UTC)
