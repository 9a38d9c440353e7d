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
    # Device scale 2: the poster is printed (vector), so read the QR at print-like resolution.
    page = browser.new_page(  # type: ignore[attr-defined]
        viewport={"width": 794, "height": 1123}, device_scale_factor=2
    )
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
    page.screenshot(path=str(ARTIFACTS / "notice.png"), full_page=True)
    qr_png = page.locator("figure svg").screenshot()
    pdf = page.pdf(path=str(ARTIFACTS / "notice.pdf"), format="A4")
    page.close()
    assert pdf.startswith(b"%PDF")
    image = cv2.imdecode(np.frombuffer(qr_png, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    # As on paper: black on white (no anti-aliased grey edges), with a white quiet zone.
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    _, ink = cv2.threshold(grey, 128, 255, cv2.THRESH_BINARY)
    ink = cv2.copyMakeBorder(ink, 40, 40, 40, 40, cv2.BORDER_CONSTANT, value=255)
    decoded, _, _ = cv2.QRCodeDetector().detectAndDecode(ink)
    assert decoded == URL, "the QR code on the poster does not lead to the notice URL"
