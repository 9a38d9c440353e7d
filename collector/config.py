"""The collector's TOML config, validated by pydantic (``extra="forbid"``).

Every error names the key, the value and the reason; ``kazoe-collector
check-config`` prints them all and exits 2. Secrets (MQTT password, dashboard
token, basic-auth password) live in files named here, never in the config.
"""

from __future__ import annotations

import ipaddress
import socket
import tomllib
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from collector.errors import CollectorConfigError
from edge.config import NODE_ID_PATTERN, TlsConfig, problems

SiteName = Annotated[str, Field(min_length=1, max_length=64)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def read_secret(path: Path, key: str) -> str:
    """The first line of a secret file, or a CollectorConfigError naming ``key``."""
    try:
        secret = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise CollectorConfigError(f"{key}: cannot read {path}: {exc.strerror}") from None
    if not secret:
        raise CollectorConfigError(f"{key}: {path} is empty")
    return secret


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class MqttSection(_Section):
    host: str = Field("127.0.0.1", min_length=1)
    port: int = Field(1883, ge=1, le=65535)
    username: str = Field("watcher", min_length=1, description="a reader allowed kazoe/v1/#")
    password_file: Path | None = Field(None, description="file holding the password on one line")
    tls: TlsConfig | None = None
    client_id: str = Field(
        default_factory=lambda: f"kazoe-collector-{socket.gethostname()}"[:64],
        min_length=1,
        max_length=64,
        description="stable and unique per collector: the broker keeps its session under it",
    )
    share_group: str = Field(
        "",
        pattern=r"^[A-Za-z0-9_-]{0,64}$",
        description="empty (default): this collector reads every window on a plain subscription, "
        "which the broker keeps across its own restarts; a name: collectors in that group share "
        "the counts stream (Mosquitto 2.0 does not queue for a restored shared subscription, so "
        "windows sent between a broker restart and the group's re-subscription are missed)",
    )
    session_expiry_s: int = Field(
        3600, ge=0, le=7 * 86400, description="how long the broker queues windows for us offline"
    )
    keepalive_s: int = Field(30, ge=5, le=3600)
    max_payload_bytes: int = Field(16384, ge=1024, le=1 << 20)
    reconnect_min_s: int = Field(1, ge=1, le=60)
    reconnect_max_s: int = Field(30, ge=1, le=3600)

    def read_password(self) -> str | None:
        if self.password_file is None:
            return None
        return read_secret(self.password_file, "mqtt.password_file")


class DatabaseSection(_Section):
    url: str = Field(
        "state/collector.db",
        min_length=1,
        description="a file path (SQLite) or postgresql://user@host/db (PostgreSQL)",
    )
    retention_days: int = Field(30, ge=1, le=3650, description="windows older than this go")
    purge_interval_s: int = Field(3600, ge=1, le=86400)
    batch_max: int = Field(500, ge=1, le=10000, description="messages stored per transaction")

    @property
    def is_postgres(self) -> bool:
        return self.url.startswith(("postgresql://", "postgres://"))


class RollupSection(_Section):
    k: int = Field(5, ge=2, le=1000, description="roll-up cells with 0 < count < k are withheld")


class HttpSection(_Section):
    host: str = Field("127.0.0.1", min_length=1, description="dashboard bind address")
    port: int = Field(8080, ge=0, le=65535, description="0 picks a free port")
    token_file: Path | None = Field(None, description="bearer token, required off loopback")
    basic_user: str | None = Field(None, min_length=1, max_length=64)
    basic_password_file: Path | None = None
    stale_after_s: int = Field(
        180, ge=1, le=86400, description="an online node silent this long is shown as silent"
    )
    refresh_s: float = Field(1.0, gt=0, le=60, description="how often live views check for news")

    @model_validator(mode="after")
    def _auth(self) -> HttpSection:
        if (self.basic_user is None) != (self.basic_password_file is None):
            raise ValueError("basic_user and basic_password_file go together")
        if not is_loopback(self.host) and self.token_file is None and self.basic_user is None:
            raise ValueError(
                f"the dashboard binds to {self.host}, beyond loopback: set http.token_file "
                "or http.basic_user + http.basic_password_file"
            )
        return self

    @property
    def needs_auth(self) -> bool:
        return self.token_file is not None or self.basic_user is not None


class MetricsSection(_Section):
    enabled: bool = True
    host: str = Field("127.0.0.1", min_length=1, description="Prometheus bind address")
    port: int = Field(9464, ge=0, le=65535, description="0 picks a free port")


class NgsiLdSection(_Section):
    push_url: str | None = Field(
        None,
        pattern=r"^https?://",
        description="context broker base URL (we POST to <url>/ngsi-ld/v1/entityOperations/upsert)",
    )
    tenant: str | None = Field(None, max_length=64, description="NGSILD-Tenant header")
    timeout_s: float = Field(5.0, gt=0, le=120)
    batch_max: int = Field(100, ge=1, le=1000)
    queue_max: int = Field(10000, ge=1, le=1_000_000, description="windows waiting to be pushed")


class CollectorSettings(_Section):
    """The whole config file."""

    mqtt: MqttSection = MqttSection()
    database: DatabaseSection = DatabaseSection()
    rollup: RollupSection = RollupSection()
    sites: dict[Annotated[str, Field(pattern=NODE_ID_PATTERN)], SiteName] = Field(
        default_factory=dict, description="node id -> site, when the node's notice names none"
    )
    http: HttpSection = HttpSection()
    metrics: MetricsSection = MetricsSection()
    ngsi_ld: NgsiLdSection = NgsiLdSection()


class ConfigInvalid(CollectorConfigError):
    def __init__(self, path: Path, rows: list[tuple[str, str, str]]) -> None:
        self.rows = rows
        lines = "; ".join(f"{k} = {v}: {r}" for k, v, r in rows)
        super().__init__(f"{path}: invalid config: {lines}")


def parse_config(text: str, path: Path) -> CollectorSettings:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigInvalid(path, [("(file)", "(toml)", f"not valid TOML: {exc}")]) from None
    try:
        return CollectorSettings.model_validate(raw)
    except ValidationError as exc:
        rows = [
            (key, value, reason.replace("README 'Configuration'", "collector/README.md"))
            for key, value, reason in problems(exc)
        ]
        raise ConfigInvalid(path, rows) from None


def load_config(path: Path) -> CollectorSettings:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CollectorConfigError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CollectorConfigError(f"{path}: cannot read config: {exc}") from None
    return parse_config(text, path)
