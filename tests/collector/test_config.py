"""The collector's config: defaults, every error naming its key, auth required off loopback."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.config import CollectorSettings, ConfigInvalid, is_loopback, parse_config

EVERYWHERE = "0.0.0.0"  # noqa: S104 - a bind address under test, not bound


def test_an_empty_file_is_a_working_local_setup() -> None:
    settings = parse_config("", Path("c.toml"))
    assert settings.database.url == "state/collector.db"
    assert not settings.database.is_postgres
    assert settings.http.host == "127.0.0.1"
    assert not settings.http.needs_auth
    assert settings.mqtt.share_group == ""  # a plain subscription, kept across broker restarts
    assert settings.rollup.k == 5


def test_a_full_file() -> None:
    text = """
    [mqtt]
    host = "broker.example.org"
    port = 8883
    password_file = "/etc/kazoe/watcher.password"
    client_id = "collector-east-1"
    share_group = "east"
    tls = { ca_file = "/etc/kazoe/ca.crt" }

    [database]
    url = "postgresql://kazoe@db.example.org/kazoe"
    retention_days = 90

    [rollup]
    k = 10

    [sites]
    kashiwa-07 = "north-gate"

    [http]
    host = "0.0.0.0"
    port = 8443
    token_file = "/etc/kazoe/dashboard.token"

    [metrics]
    port = 9500

    [ngsi_ld]
    push_url = "http://orion.example.org:1026"
    """
    settings = parse_config(text, Path("c.toml"))
    assert settings.database.is_postgres
    assert settings.sites == {"kashiwa-07": "north-gate"}
    assert settings.http.needs_auth


@pytest.mark.parametrize(
    ("text", "key", "reason"),
    [
        ("[mqtt]\nhots = 'x'", "mqtt.hots", "unknown key"),
        ("[http]\nport = 70000", "http.port", "less than or equal to 65535"),
        ("[http]\nhost = '0.0.0.0'", "http", "beyond loopback"),
        ("[http]\nbasic_user = 'ops'", "http", "go together"),
        ("[rollup]\nk = 1", "rollup.k", "greater than or equal to 2"),
        ("[database]\nretention_days = 0", "database.retention_days", "greater than or equal to 1"),
        ("[mqtt]\nshare_group = 'a/b'", "mqtt.share_group", "pattern"),
        ("[sites]\n'Bad Node' = 'x'", "sites.Bad Node.[key]", "pattern"),
        ("[ngsi_ld]\npush_url = 'ftp://x'", "ngsi_ld.push_url", "pattern"),
        ("[database\nurl = 1", "(file)", "not valid TOML"),
    ],
)
def test_errors_name_the_key_and_the_reason(text: str, key: str, reason: str) -> None:
    with pytest.raises(ConfigInvalid) as caught:
        parse_config(text, Path("c.toml"))
    rows = caught.value.rows
    assert any(k == key and reason in r for k, _, r in rows), rows


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("localhost", True),
        ("127.0.0.2", True),
        (EVERYWHERE, False),
        ("192.168.1.5", False),
        ("collector.example.org", False),
    ],
)
def test_what_counts_as_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_auth_off_loopback_is_accepted_with_basic_auth() -> None:
    settings = CollectorSettings.model_validate(
        {"http": {"host": EVERYWHERE, "basic_user": "ops", "basic_password_file": "/x"}}
    )
    assert settings.http.needs_auth
