"""The printable street notice, rendered by a real headless Chromium (Debian's, via Playwright)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.config import NodeSettings
from edge.privacy.notice import build_notice, render_html

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
MODELS = REPO / "models" / "build"
ARTIFACTS = REPO / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
URL = "https://kashiwa.example/privacy/node-07"

if not CHROMIUM.exists():
    pytest.skip(f"Chromium not found at {CHROMIUM} (.ci/run installs it)", allow_module_level=True)
playwright_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def settings() -> NodeSettings:
    if not (MODELS / "models.json").is_file():
        pytest.fail("models are not built: run 'make models'")
    return NodeSettings.model_validate(
        {
            "node": {"id": "kashiwa-07", "site": "campus-north"},
            "source": {"uri": "street.mp4"},
            "aggregate": {"window_seconds": 300},
            "policy": {
                "purposes": ["footfall", "demographics"],
                "retention_days": 14,
                "k": 7,
                "controller": "Kashiwa-no-ha Smart City Council",
                "contact": "privacy@kashiwa.example",
                "location": "North gate, Campus Avenue",
                "notice_url": URL,
                "pia_reference": "PIA-2026-014",
            },
            "models": {"dir": str(MODELS)},
        }
    )


def test_printed_notice_shows_the_policy_facts_and_a_working_qr(browser: object) -> None:
    notice = build_notice(settings(), datetime(2026, 3, 1, tzinfo=UTC))
    page = browser.new_page(viewport={"width": 794, "height": 1123})  # type: ignore[attr-defined]
    page.set_content(render_html(notice))
    text = page.inner_text("body")
    for fact in (
        "Kashiwa-no-ha Smart City Council",
        "privacy@kashiwa.example",
        "North gate, Campus Avenue",
        "14日後に削除",
        "after 14 days",
        "7人未満",
        "below 7",
        "300 s window",
        "画像・映像",
        "tracking across visits",
        "PIA-2026-014",
        notice.policy_hash,
    ):
        assert fact in text, f"{fact!r} not in the rendered notice"
    ARTIFACTS.mkdir(exist_ok=True)
    png = page.screenshot(path=str(ARTIFACTS / "notice.png"), full_page=True)
    pdf = page.pdf(path=str(ARTIFACTS / "notice.pdf"), format="A4")
    page.close()
    assert pdf.startswith(b"%PDF")
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    decoded, _, _ = cv2.QRCodeDetector().detectAndDecode(image)
    assert decoded == URL, "the QR code on the poster does not lead to the notice URL"
