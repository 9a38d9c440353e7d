"""The node's TOML config: valid files load; every mistake names its key and the reason."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from edge.config import DEFAULT_AGE_EDGES, AggregateConfig, ConfigInvalid, load_config, parse_config
from edge.errors import ConfigError

BASE = {
    "node": 'id = "cam-01"\nsite = "station-east"',
    "source": 'uri = "street.mp4"\nstart_time = 2026-01-01T09:00:00Z',
    "policy": 'purposes = ["footfall", "demographics"]\nretention_days = 30\nk = 5',
}


def render(*drop: str, **sections: str) -> str:
    """BASE with some sections replaced (or added; mqtt__tls is [mqtt.tls]), ``drop`` removed."""
    merged = {**BASE, **sections}
    parts = [f"[{name.replace('__', '.')}]\n{body}\n" for name, body in merged.items()]
    kept = [p for p, name in zip(parts, merged, strict=True) if name not in drop]
    return "\n".join(kept)


def test_valid_file_loads_with_defaults(tmp_path: Path) -> None:
    path = tmp_path / "node.toml"
    path.write_text(render(mqtt='host = "broker.local"\nport = 8883'), encoding="utf-8")
    settings = load_config(path)
    assert settings.node.id == "cam-01"
    assert settings.node.site == "station-east"
    assert settings.source.start_time is not None
    assert settings.source.start_time.isoformat() == "2026-01-01T09:00:00+00:00"
    assert settings.policy.purposes == ("footfall", "demographics")
    assert settings.policy.demographics
    assert settings.policy.retention_days == 30
    assert settings.mqtt.host == "broker.local"
    assert settings.mqtt.port == 8883
    assert settings.mqtt_username() == "cam-01"
    assert settings.aggregate.age_bands == DEFAULT_AGE_EDGES
    assert settings.aggregate.window_seconds == 60
    assert settings.detector.model == "yunet"
    assert settings.detector.effective_scales == (1.0,)


def test_tls_pair_and_custom_bands_are_accepted() -> None:
    text = render(
        mqtt__tls='ca_file = "ca.pem"\ncert_file = "node.pem"\nkey_file = "node.key"',
        aggregate="window_seconds = 300\nage_bands = [18, 65]",
    )
    settings = parse_config(text, Path("node.toml"))
    assert settings.mqtt.tls is not None
    assert settings.mqtt.tls.key_file == Path("node.key")
    assert settings.aggregate.band_labels() == ["0-17", "18-64", "65+"]


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    missing = tmp_path / "absent.toml"
    with pytest.raises(ConfigError, match=re.escape(f"{missing}: config file not found")):
        load_config(missing)


# (case id, toml text, key named, reason fragment)
ERRORS = [
    ("unknown-key", render(node='id = "cam-01"\nsitee = "x"'), "node.sitee", "unknown key"),
    (
        "unknown-section",
        render(camera="fps = 10"),
        "camera",
        "unknown key",
    ),
    (
        "replaced-key",
        render(attributes="refresh_frames = 8"),
        "attributes.refresh_frames",
        "use attributes.estimates_per_track",
    ),
    ("missing-node-id", render(node='site = "east"'), "node.id", "Field required"),
    ("missing-node-section", render("node"), "node", "Field required"),
    ("node-id-upper-case", render(node='id = "Cam-01"'), "node.id", "pattern"),
    ("node-id-space", render(node='id = "cam 01"'), "node.id", "pattern"),
    ("node-id-leading-dash", render(node='id = "-cam"'), "node.id", "pattern"),
    ("node-id-too-long", render(node=f'id = "{"a" * 64}"'), "node.id", "pattern"),
    # Published in the notice: the wire schema (and PostgreSQL) refuse NUL and controls.
    (
        "site-control-character",
        render(node='id = "cam-01"\nsite = "east\\tgate"'),
        "node.site",
        "control characters",
    ),
    (
        "controller-nul",
        render(policy='purposes = ["footfall"]\ncontroller = "City\\u0000office"'),
        "policy.controller",
        "NUL",
    ),
    (
        "bands-descending",
        render(aggregate="age_bands = [20, 13]"),
        "aggregate.age_bands",
        "strictly ascending",
    ),
    (
        "bands-repeated",
        render(aggregate="age_bands = [13, 13, 20]"),
        "aggregate.age_bands",
        "strictly ascending",
    ),
    ("bands-empty", render(aggregate="age_bands = []"), "aggregate.age_bands", "at least one"),
    ("bands-zero", render(aggregate="age_bands = [0, 13]"), "aggregate.age_bands", "between 1"),
    (
        "retention-zero",
        render(policy='purposes = ["footfall"]\nretention_days = 0'),
        "policy.retention_days",
        "greater than or equal to 1",
    ),
    (
        "retention-too-long",
        render(policy='purposes = ["footfall"]\nretention_days = 366'),
        "policy.retention_days",
        "less than or equal to 365",
    ),
    (
        "k-one",
        render(policy='purposes = ["footfall"]\nk = 1'),
        "policy.k",
        "greater than or equal to 2",
    ),
    (
        "suppression-cost-unknown",
        render(policy='purposes = ["footfall"]\nsuppression_cost = "people"'),
        "policy.suppression_cost",
        "'counts' or 'cells'",
    ),
    (
        "protection-level-zero",
        render(policy='purposes = ["footfall"]\nprotection_level = 0'),
        "policy.protection_level",
        "greater than or equal to 1",
    ),
    ("no-purposes", render(policy="purposes = []"), "policy.purposes", "at least 1"),
    (
        "unknown-purpose",
        render(policy='purposes = ["marketing"]'),
        "policy.purposes.0",
        "'footfall' or 'demographics'",
    ),
    (
        "purpose-repeated",
        render(policy='purposes = ["footfall", "footfall"]'),
        "policy.purposes",
        "must not repeat",
    ),
    (
        "tls-cert-without-key",
        render(mqtt__tls='ca_file = "ca.pem"\ncert_file = "node.pem"'),
        "mqtt.tls",
        "cert_file and key_file go together",
    ),
    (
        "tls-key-without-cert",
        render(mqtt__tls='ca_file = "ca.pem"\nkey_file = "node.key"'),
        "mqtt.tls",
        "cert_file and key_file go together",
    ),
    (
        "reconnect-max-below-min",
        render(mqtt="reconnect_min_s = 10\nreconnect_max_s = 5"),
        "mqtt",
        "reconnect_max_s must be >= reconnect_min_s",
    ),
    ("port-zero", render(mqtt="port = 0"), "mqtt.port", "greater than or equal to 1"),
    ("tile-too-small", render(detector="tile_size = 64"), "detector.tile_size", "128"),
    ("yunet-tiles", render(detector='mode = "tiles"'), "detector", 'mode "tiles" is for BlazeFace'),
    ("unknown-model", render(detector='model = "retina"'), "detector.model", "'yunet'"),
    ("window-zero", render(aggregate="window_seconds = 0"), "aggregate.window_seconds", "1"),
    (
        "naive-start-time",
        render(source='uri = "a.mp4"\nstart_time = 2026-01-01T09:00:00'),
        "source.start_time",
        "timezone",
    ),
    ("invalid-toml", render(node='id = "cam-01'), "(file)", "not valid TOML"),
]


@pytest.mark.parametrize(
    ("text", "key", "reason"),
    [pytest.param(text, key, reason, id=case) for case, text, key, reason in ERRORS],
)
def test_invalid_config_names_the_key_and_reason(text: str, key: str, reason: str) -> None:
    with pytest.raises(ConfigInvalid) as caught:
        parse_config(text, Path("/etc/kazoe/node.toml"))
    rows = {row[0]: row for row in caught.value.rows}
    assert key in rows, f"no error row for {key}: {caught.value.rows}"
    assert reason in rows[key][2]
    message = str(caught.value)
    assert message.startswith("/etc/kazoe/node.toml: invalid config: ")
    assert f"{key} = " in message
    assert isinstance(caught.value, ConfigError)


def test_all_problems_are_reported_at_once() -> None:
    text = render(node='id = "BAD"', policy='purposes = ["footfall"]\nk = 1\nretention_days = 0')
    with pytest.raises(ConfigInvalid) as caught:
        parse_config(text, Path("node.toml"))
    assert {row[0] for row in caught.value.rows} == {
        "node.id",
        "policy.k",
        "policy.retention_days",
    }


def test_missing_value_is_shown_as_missing() -> None:
    with pytest.raises(ConfigInvalid) as caught:
        parse_config(render("source"), Path("node.toml"))
    assert caught.value.rows == [("source", "(missing)", "Field required")]


@pytest.mark.parametrize(
    ("edges", "labels"),
    [
        (
            DEFAULT_AGE_EDGES,
            ["0-12", "13-19", "20-29", "30-39", "40-49", "50-59", "60-69", "70+"],
        ),
        ((18, 65), ["0-17", "18-64", "65+"]),
        ((50,), ["0-49", "50+"]),
        ((1, 2), ["0-0", "1-1", "2+"]),
    ],
)
def test_band_labels(edges: tuple[int, ...], labels: list[str]) -> None:
    assert AggregateConfig(age_bands=edges).band_labels() == labels


def _hash(**sections: str) -> str:
    return parse_config(render(**sections), Path("node.toml")).policy_hash()


def test_policy_hash_is_stable_and_well_formed() -> None:
    first = _hash()
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", first)
    assert _hash() == first
    # Sections outside policy/aggregate do not change what residents were told.
    assert _hash(mqtt='host = "elsewhere"', detector="tile_size = 256") == first
    assert _hash(node='id = "cam-02"', source='uri = "other.mp4"') == first


@pytest.mark.parametrize(
    "sections",
    [
        {"policy": 'purposes = ["footfall", "demographics"]\nretention_days = 30\nk = 6'},
        {"policy": 'purposes = ["footfall", "demographics"]\nretention_days = 31\nk = 5'},
        {"policy": 'purposes = ["footfall"]\nretention_days = 30\nk = 5'},
        {"policy": BASE["policy"] + '\ncontact = "privacy@city.example"'},
        {"aggregate": "window_seconds = 300"},
        {"aggregate": "age_bands = [18, 65]"},
    ],
    ids=["k", "retention", "purposes", "contact", "window", "bands"],
)
def test_policy_hash_changes_with_the_policy(sections: dict[str, str]) -> None:
    assert _hash(**sections) != _hash()
