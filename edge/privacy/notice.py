"""One policy, two notices: the retained machine-readable notice and a printable street poster.

Both are rendered from the same ``NodeSettings`` the node enforces (purposes,
retention, k, window, bands), so the notice cannot say something the node does
not do. Purpose and storage terms follow the W3C Data Privacy Vocabulary (DPV).
"""

from __future__ import annotations

import html
import io
from datetime import datetime

import qrcode
import qrcode.image.svg

from edge.config import NodeSettings
from edge.payload import NoticePayload
from edge.privacy.policy import published_fields
from edge.privacy.shares import IntervalMaker
from edge.vision.models_info import lock_entries, model_ids

DPV_PURPOSE = {"footfall": "dpv:ServiceOptimisation", "demographics": "dpv:ServiceOptimisation"}
PURPOSE_TEXT = {
    "footfall": ("people counts per time window", "時間帯ごとの通行人数"),
    "demographics": (
        "counts by estimated gender and age band",
        "推定された性別・年齢層ごとの人数",
    ),
}
NOT_COLLECTED = (
    (
        "images or video (frames are overwritten in memory after analysis)",
        "画像・映像（解析後すぐにメモリ上で消去）",
    ),
    ("face crops, face templates or embeddings", "顔画像の切り出し・顔特徴量"),
    ("identities or names", "個人の特定・氏名"),
    ("tracking across visits or across cameras", "再訪や他のカメラをまたいだ追跡"),
    ("per-person records", "個人ごとの記録"),
)


def intervals_text(level: float) -> tuple[str, str]:
    """What a published interval means, in English and Japanese."""
    pct = f"{level:.0%}"
    return (
        f"each window's female share and age-band shares come with a {pct} interval: the "
        f"range that holds the true share in about {pct} of windows, given how often the "
        "age and gender models were wrong on a labelled set of faces; the counts themselves "
        "are the models' estimates, not corrected; no interval is published for a withheld "
        "count",
        f"各時間帯の女性比率・年齢層比率には{pct}区間を付けます。ラベル付きの顔画像で測った"
        f"推定の誤り率から、真の比率がおよそ{pct}の時間帯で入る範囲です。人数そのものは推定値の"
        "ままで補正しません。非公開の集計値には区間を付けません",
    )


def build_notice(
    settings: NodeSettings, at: datetime, intervals: IntervalMaker | None = None
) -> NoticePayload:
    """The notice; ``intervals``: the node publishes intervals from this calibration."""
    policy = settings.policy
    ids = model_ids(
        settings.models.dir, settings.detector.model, policy.demographics, settings.attributes
    )
    licences = dict(lock_entries(settings.models.dir).values())
    # An ensemble's id is its members' ids joined by '+': list each model once.
    used = list(
        dict.fromkeys(
            part
            for i in (ids.detector, ids.age, ids.gender)
            if i is not None
            for part in i.split("+")
        )
    )
    return NoticePayload.model_validate(
        {
            "node_id": settings.node.id,
            "site": settings.node.site,
            "location": policy.location,
            "controller": policy.controller,
            "contact": policy.contact,
            "statement": policy.statement,
            "purposes": [
                {"id": p, "dpv": DPV_PURPOSE[p], "description": PURPOSE_TEXT[p][0]}
                for p in policy.purposes
            ],
            "data_published": published_fields(settings, intervals is not None),
            "data_not_collected": [en for en, _ in NOT_COLLECTED],
            "retention": {"days": policy.retention_days, "iso8601": f"P{policy.retention_days}D"},
            "k": policy.k,
            "window_seconds": settings.aggregate.window_seconds,
            "age_bands": settings.aggregate.band_labels() if policy.demographics else [],
            "models": [{"id": i, "licence": licences.get(i, "unknown")} for i in used],
            "policy_hash": settings.policy_hash(),
            "notice_url": policy.notice_url,
            "pia_reference": policy.pia_reference,
            "not_analysed": [m.name for m in settings.privacy.masks] or None,
            "counting_lines": [
                {"name": line.name, "description": line.description}
                for line in settings.counting.lines
            ]
            or None,
            "counting_zones": [zone.name for zone in settings.counting.zones] or None,
            "intervals": None
            if intervals is None
            else {
                "level": intervals.level,
                "calibration": intervals.calibration_id,
                "measured_on": intervals.measured_on,
                "description": intervals_text(intervals.level)[0],
            },
            "at": at,
        }
    )


def qr_svg(url: str) -> str:
    """The URL as an inline SVG QR code."""
    image = qrcode.make(url, image_factory=qrcode.image.svg.SvgPathImage, box_size=10)
    buffer = io.BytesIO()
    image.save(buffer)
    text = buffer.getvalue().decode()
    return text[text.index("<svg") :]


def render_markdown(notice: NoticePayload) -> str:
    lines = [
        "# AIカメラによる人流計測のお知らせ / Notice: AI camera people counting",
        "",
        f"**場所 / Location:** {notice.location} ({notice.site})",
        f"**管理者 / Controller:** {notice.controller}",
        f"**お問い合わせ / Contact:** {notice.contact}",
        "",
        f"{notice.statement}",
        "",
        "## 目的と公開するデータ / Purposes and published data",
    ]
    for purpose in notice.purposes:
        ja = PURPOSE_TEXT[purpose.id][1]
        lines.append(f"- {ja} / {purpose.description} ({purpose.dpv})")
    for line in notice.counting_lines or []:
        what = f": {line.description}" if line.description else ""
        lines.append(
            f"- ライン「{line.name}」の通過人数（方向別） / crossings of line '{line.name}' "
            f"per direction{what}"
        )
    if notice.counting_zones:
        zones = ", ".join(notice.counting_zones)
        lines.append(f"- 計数する区域 / people are counted only inside: {zones}")
    if notice.intervals:
        en, ja = intervals_text(notice.intervals.level)
        lines.append(f"- {ja} / {en} ({notice.intervals.measured_on})")
    lines += ["", "## 取得しないもの / Never collected"]
    lines += [f"- {ja} / {en}" for en, ja in NOT_COLLECTED]
    if notice.not_analysed:
        lines += ["", "## このカメラが見ない場所 / This camera does not look at"]
        lines += [f"- {name}" for name in notice.not_analysed]
        lines.append(
            "- （解析の前に画像から消去） / (blanked out of every image before any analysis)"
        )
    lines += [
        "",
        "## 保存と保護 / Storage and protection",
        f"- 集計は{notice.window_seconds}秒ごと / counts per {notice.window_seconds} s window",
        f"- {notice.k}人未満の集計値は公開しません / counts below {notice.k} are withheld",
        f"- 端末上の集計は{notice.retention.days}日後に削除 / deleted from the device after "
        f"{notice.retention.days} days",
        f"- ポリシー / policy: `{notice.policy_hash}`",
    ]
    if notice.notice_url:
        lines += ["", f"詳細 / Details: {notice.notice_url}"]
    return "\n".join(lines) + "\n"


def render_html(notice: NoticePayload) -> str:
    """A printable A4 street notice (Japanese and English) with a QR code to the notice URL."""
    e = html.escape
    purposes = "".join(
        f"<li><span lang='ja'>{e(PURPOSE_TEXT[p.id][1])}</span> / {e(p.description)}</li>"
        for p in notice.purposes
    )
    purposes += "".join(
        f"<li><span lang='ja'>ライン「{e(line.name)}」の通過人数（方向別）</span> / "
        f"crossings of line '{e(line.name)}' per direction"
        + (f": {e(line.description)}" if line.description else "")
        + "</li>"
        for line in notice.counting_lines or []
    )
    if notice.counting_zones:
        purposes += (
            "<li><span lang='ja'>計数する区域</span> / people are counted only inside: "
            + e(", ".join(notice.counting_zones))
            + "</li>"
        )
    if notice.intervals:
        en, ja = intervals_text(notice.intervals.level)
        purposes += f"<li><span lang='ja'>{e(ja)}</span> / {e(en)}</li>"
    never = "".join(
        f"<li><span lang='ja'>{e(ja)}</span> / {e(en)}</li>" for en, ja in NOT_COLLECTED
    )
    masked = (
        "<h2>このカメラが見ない場所 / This camera does not look at</h2><ul>"
        + "".join(f"<li>{e(name)}</li>" for name in notice.not_analysed)
        + "</ul><p class='small'>解析の前に画像から消去されます / blanked out of every image "
        "before any analysis</p>"
        if notice.not_analysed
        else ""
    )
    qr = (
        f"<figure>{qr_svg(notice.notice_url)}<figcaption>{e(notice.notice_url)}</figcaption></figure>"
        if notice.notice_url
        else "<p class='small'>No notice URL configured ([policy] notice_url).</p>"
    )
    return f"""<!doctype html>
<html lang="ja"><head><meta charset="utf-8"><title>Kazoe notice — {e(notice.node_id)}</title>
<style>
@page {{ size: A4; margin: 14mm; }}
body {{ font-family: "Noto Sans CJK JP", "Noto Sans JP", sans-serif; color: #111; }}
h1 {{ font-size: 26pt; margin: 0 0 4mm; border-bottom: 3px solid #0a5; }}
h2 {{ font-size: 15pt; margin: 6mm 0 2mm; color: #0a5; }}
li {{ font-size: 12pt; margin: 1mm 0; }}
.meta {{ font-size: 12pt; }} .small {{ font-size: 9pt; color: #555; }}
figure {{ float: right; width: 42mm; margin: 0 0 4mm 6mm; text-align: center; }}
figure svg {{ width: 42mm; height: 42mm; }} figcaption {{ font-size: 8pt; word-break: break-all; }}
</style></head><body>
<h1>AIカメラによる人流計測のお知らせ<br><small>Notice: AI camera people counting</small></h1>
{qr}
<p class="meta"><b>場所 / Location:</b> {e(notice.location)} ({e(notice.site)})<br>
<b>管理者 / Controller:</b> {e(notice.controller)}<br>
<b>お問い合わせ / Contact:</b> {e(notice.contact)}</p>
<p>{e(notice.statement)}</p>
<h2>目的と公開するデータ / What is counted</h2><ul>{purposes}</ul>
<h2>取得しないもの / Never collected</h2><ul>{never}</ul>
{masked}
<h2>保存と保護 / Storage and protection</h2><ul>
<li>{notice.window_seconds}秒ごとの集計のみ送信 / only counts per {notice.window_seconds} s window are sent</li>
<li>{notice.k}人未満の集計値は公開しません / any count below {notice.k} is withheld</li>
<li>端末上の集計は{notice.retention.days}日後に削除 / counts are deleted from the device after {notice.retention.days} days</li>
</ul>
<p class="small">Node {e(notice.node_id)} · policy {e(notice.policy_hash)} · models {e(", ".join(m.id for m in notice.models))}
{f" · PIA {e(notice.pia_reference)}" if notice.pia_reference else ""}</p>
</body></html>
"""
