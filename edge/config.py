"""The node's one TOML config file, validated by pydantic (``extra="forbid"``).

Every error names the key, the value and the reason; ``kazoe check-config``
prints them all and exits 2.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from datetime import datetime
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

Purpose = Literal["footfall", "demographics"]
NODE_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
DEFAULT_AGE_EDGES = (13, 20, 30, 40, 50, 60, 70)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NodeConfig(_Section):
    id: str = Field(pattern=NODE_ID_PATTERN, description="node id = MQTT client id = username")
    site: str = Field("default", min_length=1, max_length=64, description="site name for roll-ups")
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
    model: Literal["full_range", "short_range"] = "full_range"
    mode: Literal["pyramid", "tiles"] = Field(
        "pyramid",
        description="pyramid: the whole frame at each scale; tiles: overlapping native-size tiles",
    )
    scales: tuple[float, ...] = Field(
        (2.0,),
        min_length=1,
        max_length=4,
        description="pyramid mode: frame pixels per model pixel, one pass each",
    )
    score_threshold: float = Field(0.6, gt=0, lt=1, description="minimum face score")
    nms_iou: float = Field(0.3, gt=0, lt=1)
    tile_size: int = Field(384, ge=128, le=1920, description="square tile side in pixels")
    tile_overlap: float = Field(
        0.25, ge=0, lt=0.9, description="fraction of a tile shared with its neighbour"
    )
    whole_frame: bool = Field(True, description="also run on the whole frame for large faces")
    threads: int = Field(1, ge=1, le=16, description="onnxruntime intra-op threads")

    @field_validator("scales")
    @classmethod
    def _scales(cls, scales: tuple[float, ...]) -> tuple[float, ...]:
        if any(not 0.5 <= s <= 16 for s in scales):
            raise ValueError("each scale must be between 0.5 and 16")
        return scales


AttributeModel = Literal["cydral", "faceres", "faceapi"]
DEFAULT_GENDER_WEIGHTS: dict[AttributeModel, float] = {
    "cydral": 0.5,
    "faceres": 1.0,
    "faceapi": 1.0,
}


class AttributesConfig(_Section):
    batch_size: int = Field(16, ge=1, le=256)
    every_n_frames: int = Field(
        2, ge=1, le=30, description="estimate age/gender on every n-th analysed frame"
    )
    gender_margin: float = Field(
        0.1, ge=0, lt=0.5, description="mean p(male) within 0.5 +/- margin counts as unknown"
    )
    gender_models: tuple[AttributeModel, ...] = Field(
        ("cydral", "faceres", "faceapi"),
        min_length=1,
        max_length=3,
        description="networks whose p(male) is averaged per face: cydral, faceres, faceapi",
    )
    gender_weights: dict[AttributeModel, Annotated[float, Field(gt=0, le=10)]] = Field(
        default_factory=lambda: dict(DEFAULT_GENDER_WEIGHTS),
        description=(
            "weight of each gender model in the mean (a model not listed weighs 1); "
            "Cydral at half weight was better on both halves of FairFace"
        ),
    )
    age_model: AttributeModel = Field(
        "faceapi", description="network whose age estimate is used: cydral, faceres or faceapi"
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

    @field_validator("gender_models")
    @classmethod
    def _distinct(cls, models: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(models)) != len(models):
            raise ValueError("each model may appear once")
        return models


class TrackerConfig(_Section):
    iou_threshold: float = Field(0.1, gt=0, lt=1, description="minimum overlap to continue a track")
    max_center_dist: float = Field(
        1.5, gt=0, le=10, description="max centre jump per match, in face widths"
    )
    max_missed_s: float = Field(1.0, gt=0, le=60, description="a track unseen this long has ended")
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


class PolicyConfig(_Section):
    purposes: tuple[Purpose, ...] = Field(min_length=1, description="closed vocabulary")
    retention_days: int = Field(7, ge=1, le=365)
    k: int = Field(5, ge=2, le=1000, description="cells with 0 < count < k are withheld")
    controller: str = Field("unspecified controller", min_length=1, max_length=200)
    contact: str = Field("unspecified contact", min_length=1, max_length=200)
    statement: str = Field(
        "Counting people passing this point to plan services.", min_length=1, max_length=1000
    )
    location: str = Field("unspecified location", min_length=1, max_length=200)
    notice_url: str | None = Field(None, max_length=500)
    pia_reference: str | None = Field(None, max_length=200)

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


class MetricsConfig(_Section):
    host: str = Field("127.0.0.1", min_length=1, description="bind address (loopback by default)")
    port: int = Field(9108, ge=0, le=65535, description="Prometheus endpoint port; 0 turns it off")


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
    attributes: AttributesConfig = AttributesConfig()
    tracker: TrackerConfig = TrackerConfig()
    models: ModelsConfig = ModelsConfig()
    metrics: MetricsConfig = MetricsConfig()

    def policy_hash(self) -> str:
        """sha256 over the policy and the aggregation it governs (published everywhere)."""
        doc = {
            "policy": self.policy.model_dump(mode="json"),
            "aggregate": self.aggregate.model_dump(mode="json"),
        }
        digest = hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()
        return f"sha256:{digest}"

    def mqtt_username(self) -> str:
        return self.mqtt.username or self.node.id


Problem = Annotated[tuple[str, str, str], "key, value, reason"]


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
            reason = "unknown key (check the spelling; see README 'Configuration')"
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
