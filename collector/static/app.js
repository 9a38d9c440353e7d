// Kazoe dashboard: renders /api/snapshot and its live updates from /api/events (SSE),
// and the chosen time range from /api/history (re-read when the snapshot changes).
// All data goes into the page through textContent, never innerHTML.
"use strict";

const COLORS = { female: "#d6604d", male: "#4393c3", unknown: "#9aa0a6", band: "#6a51a3" };
const charts = new Map(); // site -> {history, gender, ages}
const openNotices = new Set();
let clockOffsetMs = 0;
let lastSnapshot = null;
let lastHistory = null; // /api/history for the chosen range
let historyAt = 0;
let historyBusy = false;
let historySeq = 0;
let chartNode = null; // the node whose history chart is open
let nodeChart = null; // {nodeId, row, chart}
// How often a range is re-read while news arrives: a longer range changes less per minute.
const REFRESH_MS = { "24h": 2000, "7d": 10000, "30d": 30000, day: 2000 };
const BUCKET_NAMES = { hour: "hour", "6h": "6 h", day: "day" };
const RANGE_NAMES = { "24h": "24 h", "7d": "7 days", "30d": "30 days" };

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("data-")) node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

function fmt(value) {
  return value === null || value === undefined ? "withheld" : value.toLocaleString("en");
}

function ago(ms) {
  const s = Math.max(0, Math.round((Date.now() + clockOffsetMs - ms) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

function hhmm(iso) {
  return iso ? iso.slice(11, 16) : "";
}

// The range lives in the address (#range=7d, #range=day&day=2026-03-01) so a view can be shared.
function rangeParams() {
  const params = new URLSearchParams(location.hash.slice(1));
  const out = new URLSearchParams();
  for (const key of ["range", "day"]) if (params.has(key)) out.set(key, params.get(key));
  if (!out.has("range")) out.set("range", "24h");
  return out;
}

function setRange(params) {
  location.hash = params.toString();
}

function bucketLabel(iso, bucket) {
  if (bucket === "day") return iso.slice(5, 10);
  if (bucket === "6h") return `${iso.slice(5, 10)} ${iso.slice(11, 13)}h`;
  return hhmm(iso);
}

function rangeName(params) {
  const name = params.get("range");
  return name === "day" ? params.get("day") || "day" : RANGE_NAMES[name] || name;
}

function splitBar(gender, people) {
  const box = el("div", { class: "split" });
  if (!gender) return el("span", { class: "legend", text: "—" });
  const known = Object.entries(gender).filter(([, v]) => v !== null);
  const sum = known.reduce((a, [, v]) => a + v, 0);
  // Against the people total when it is known, so a withheld share stays visibly withheld
  // (hatched) instead of stretching the shown ones to 100 %.
  const whole = typeof people === "number" && people >= sum ? people : sum;
  for (const [g, v] of known) {
    if (whole > 0 && v > 0) box.append(el("span", { style: `width:${(100 * v) / whole}%;background:${COLORS[g] || "#999"}`, title: `${g}: ${v}` }));
  }
  if (whole > sum) box.append(el("span", { class: "withheld", style: `width:${(100 * (whole - sum)) / whole}%`, title: "withheld" }));
  const text = Object.entries(gender).map(([g, v]) => `${g[0].toUpperCase()} ${fmt(v)}`).join(" · ");
  return el("div", {}, box, el("div", { class: "legend gender-text", text }));
}

function histogram(bands) {
  if (!bands) return el("span", { class: "legend", text: "—" });
  const values = Object.values(bands).filter((v) => v !== null);
  const max = Math.max(1, ...values);
  const box = el("div", { class: "hist" });
  for (const [band, v] of Object.entries(bands)) {
    const bar = el("span", { title: `${band}: ${fmt(v)}` });
    if (v === null) bar.className = "withheld";
    else bar.style.height = `${Math.max(2, (100 * v) / max)}%`;
    box.append(bar);
  }
  return box;
}

function linesBox(lines) {
  // Counting lines: crossings per direction; a withheld (null) cell shows as "<k".
  if (!lines || Object.keys(lines).length === 0) return el("span", { class: "legend", text: "—" });
  const list = el("ul", { class: "lines" });
  for (const [name, row] of Object.entries(lines)) {
    list.append(el("li", { "data-line": name, text: `${name}: in ${fmt(row.in)} · out ${fmt(row.out)}` }));
  }
  return list;
}

function noticeBox(notice) {
  const facts = el("dl");
  const add = (label, value) => {
    if (value !== undefined && value !== null && value !== "") facts.append(el("dt", { text: label }), el("dd", { text: String(value) }));
  };
  add("Controller", notice.controller);
  add("Contact", notice.contact);
  add("Location", notice.location);
  add("Statement", notice.statement);
  add("Purposes", (notice.purposes || []).map((p) => p.id || p).join(", "));
  add("Retention", notice.retention ? `${notice.retention.days} days` : undefined);
  add("k", notice.k);
  add("Not collected", (notice.data_not_collected || []).join("; "));
  add("Does not look at", (notice.not_analysed || []).join("; "));
  add("Counting lines", (notice.counting_lines || []).map((l) => (l.description ? `${l.name} (${l.description})` : l.name)).join("; "));
  add("Notice URL", notice.notice_url);
  return el("div", { class: "notice-box" }, facts, el("pre", { class: "notice-json", text: JSON.stringify(notice, null, 2) }));
}

function nodeChartRow(nodeId) {
  if (nodeChart && nodeChart.nodeId === nodeId) return nodeChart.row;
  if (nodeChart && nodeChart.chart) nodeChart.chart.destroy();
  const canvas = el("canvas");
  const row = el("tr", { class: "chart-row", "data-chart-for": nodeId },
    el("td", { colSpan: 12 },
      el("div", { class: "chart-title node-chart-title", text: "loading…" }),
      el("div", { class: "chart node-chart" }, canvas)));
  const chart = window.Chart
    ? new Chart(canvas, { type: "bar", data: { labels: [], datasets: [{ data: [], backgroundColor: "#4f6d8f" }] }, options: chartOptions() })
    : null;
  nodeChart = { nodeId, row, chart };
  return row;
}

function renderNodeChart() {
  if (!nodeChart || !lastHistory || !lastHistory.node || lastHistory.node.node_id !== nodeChart.nodeId) return;
  const range = lastHistory.range;
  const node = lastHistory.node;
  nodeChart.row.querySelector(".node-chart-title").textContent =
    `${node.node_id}: people per ${BUCKET_NAMES[range.bucket]}, ${range.label} (total ${fmt(node.total.people)})`;
  setChart(nodeChart.chart, node.buckets.map((b) => bucketLabel(b.start, range.bucket)), node.buckets.map((b) => b.people));
}

function toggleNodeChart(nodeId) {
  chartNode = chartNode === nodeId ? null : nodeId;
  if (chartNode === null && nodeChart) {
    if (nodeChart.chart) nodeChart.chart.destroy();
    nodeChart = null;
  }
  renderNodes(lastSnapshot);
  loadHistory(true);
}

// kazoe.counts/3: the node's interval for the true female share of the last window (and
// per band in the tooltip), from the models' measured errors; the counts stay the estimates.
function intervalsBox(latest) {
  const iv = latest && latest.intervals;
  if (!iv) return null;
  const pct = `${Math.round(iv.level * 100)} %`;
  const f = iv.female_share;
  const text = f ? `female ${f.low.toFixed(0)}–${f.high.toFixed(0)} % (${pct})` : `female n/a (${pct})`;
  const bands = Object.entries(iv.age_bands || {}).map(([b, { low, high }]) => `${b}: ${low.toFixed(0)}–${high.toFixed(0)} %`);
  const title = `${pct} intervals from calibration ${iv.calibration}` + (bands.length ? `; age bands ${bands.join(", ")}` : "");
  return el("div", { class: "legend intervals", text, title });
}

function renderNodes(snapshot) {
  if (!snapshot) return;
  const body = document.querySelector("#nodes tbody");
  const rows = [];
  const totals = new Map((lastHistory ? lastHistory.nodes : []).map((n) => [n.node_id, n.total]));
  for (const node of snapshot.nodes) {
    const latest = node.latest;
    const total = totals.get(node.node_id);
    const chartButton = el("button", { class: "chart-toggle", type: "button", text: chartNode === node.node_id ? "hide" : "chart" });
    chartButton.addEventListener("click", () => toggleNodeChart(node.node_id));
    const tr = el("tr", { "data-node": node.node_id, class: `state-${node.state}` });
    const noticeCell = el("td");
    if (node.notice) {
      const button = el("button", { class: "notice", text: openNotices.has(node.node_id) ? "hide" : "show", type: "button" });
      button.addEventListener("click", () => {
        if (openNotices.has(node.node_id)) openNotices.delete(node.node_id);
        else openNotices.add(node.node_id);
        renderNodes(lastSnapshot);
      });
      noticeCell.append(button);
    } else {
      noticeCell.append(el("span", { class: "legend", text: "none" }));
    }
    tr.append(
      el("td", { class: "node-id" }, el("strong", { text: node.node_id })),
      el("td", { class: "site", text: node.site }),
      el("td", { class: "state", "data-state": node.state }, el("span", { class: `badge ${node.state}`, text: node.state })),
      el("td", { class: "last-seen", "data-ms": String(node.last_seen_ms), text: ago(node.last_seen_ms), title: node.last_seen }),
      el("td", { class: "window" }, el("div", { text: latest ? `${hhmm(latest.window_start)}–${hhmm(latest.window_end)} #${latest.seq}` : "—" }), intervalsBox(latest)),
      el("td", { class: "num people", text: latest ? fmt(latest.people) : "—" }),
      el("td", { class: "num people-range", text: total ? fmt(total.people) : "…" }),
      el("td", { class: "gender" }, total ? splitBar(total.gender, total.people) : null),
      el("td", { class: "ages" }, total ? histogram(total.age_bands) : null),
      el("td", { class: "lines" }, total ? linesBox(total.lines) : null),
      el("td", { class: "history" }, chartButton),
      noticeCell,
    );
    rows.push(tr);
    if (chartNode === node.node_id) rows.push(nodeChartRow(node.node_id));
    if (node.notice && openNotices.has(node.node_id)) {
      rows.push(el("tr", { class: "notice-row", "data-notice-for": node.node_id }, el("td", { colSpan: 12 }, noticeBox(node.notice))));
    }
  }
  body.replaceChildren(...rows);
  document.getElementById("no-nodes").hidden = snapshot.nodes.length > 0;
}

function chartOptions(extra = {}) {
  return {
    animation: false, responsive: true, maintainAspectRatio: false,
    plugins: { legend: { display: false } },
    scales: { y: { beginAtZero: true, ticks: { precision: 0 } } }, ...extra,
  };
}

function siteCard(site) {
  const card = el("div", { class: "site", "data-site": site.site });
  const history = el("canvas");
  const gender = el("canvas");
  const ages = el("canvas");
  card.append(
    el("h3", { class: "site-name", text: site.site }),
    el("div", { class: "figures" },
      el("div", { class: "figure" }, el("div", { class: "value people-hour" }), el("div", { class: "label hour-label", text: "people this hour" })),
      el("div", { class: "figure" }, el("div", { class: "value people-range" }), el("div", { class: "label range-label", text: "people, last 24 h" })),
      el("div", { class: "figure" }, el("div", { class: "value nodes-online" }), el("div", { class: "label", text: "nodes online" })),
    ),
    el("div", { class: "charts" },
      el("div", {}, el("div", { class: "chart-title history-title", text: "People per hour, last 24 h" }), el("div", { class: "chart history-chart" }, history)),
      el("div", {}, el("div", { class: "chart-title gender-title", text: "Gender, last 24 h" }), el("div", { class: "chart" }, gender)),
      el("div", {}, el("div", { class: "chart-title ages-title", text: "Age bands, last 24 h" }), el("div", { class: "chart" }, ages)),
    ),
  );
  const made = { card, history: null, gender: null, ages: null };
  if (window.Chart) {
    made.history = new Chart(history, { type: "bar", data: { labels: [], datasets: [{ data: [], backgroundColor: "#4f6d8f" }] }, options: chartOptions() });
    const everyLabel = { x: { ticks: { autoSkip: false, font: { size: 10 } } }, y: { beginAtZero: true, ticks: { precision: 0 } } };
    made.gender = new Chart(gender, { type: "bar", data: { labels: [], datasets: [{ data: [], backgroundColor: [] }] }, options: chartOptions({ scales: everyLabel }) });
    made.ages = new Chart(ages, { type: "bar", data: { labels: [], datasets: [{ data: [], backgroundColor: COLORS.band }] }, options: chartOptions({ scales: everyLabel }) });
  }
  return made;
}

function setChart(chart, labels, values, colors) {
  if (!chart) return;
  // A withheld roll-up cell has no bar; say so in its label rather than drawing zero.
  chart.data.labels = labels.map((label, i) => (values[i] === null ? [label, "withheld"] : label));
  chart.data.datasets[0].data = values;
  if (colors) chart.data.datasets[0].backgroundColor = colors;
  chart.update("none");
}

function renderSites(snapshot) {
  const box = document.getElementById("sites");
  const wanted = new Set(snapshot.sites.map((s) => s.site));
  for (const [name, made] of charts) {
    if (!wanted.has(name)) {
      for (const c of [made.history, made.gender, made.ages]) if (c) c.destroy();
      made.card.remove();
      charts.delete(name);
    }
  }
  for (const site of snapshot.sites) {
    let made = charts.get(site.site);
    if (!made) {
      made = siteCard(site);
      charts.set(site.site, made);
      box.append(made.card);
    }
    made.card.querySelector(".people-hour").textContent = fmt(site.hour.people);
    made.card.querySelector(".hour-label").textContent = `people since ${hhmm(snapshot.generated).slice(0, 2)}:00 UTC`;
    made.card.querySelector(".nodes-online").textContent = `${site.online} / ${site.nodes}`;
  }
  renderSiteHistory();
}

// The range figures and charts of every site card, from /api/history.
function renderSiteHistory() {
  if (!lastHistory) return;
  const range = lastHistory.range;
  const bySite = new Map(lastHistory.sites.map((s) => [s.site, s]));
  for (const [name, made] of charts) {
    const site = bySite.get(name);
    const card = made.card;
    card.dataset.range = range.label;
    card.querySelector(".range-label").textContent = `people, ${range.label}`;
    card.querySelector(".history-title").textContent = `People per ${BUCKET_NAMES[range.bucket]}, ${range.label}`;
    card.querySelector(".gender-title").textContent = `Gender, ${range.label}`;
    card.querySelector(".ages-title").textContent = `Age bands, ${range.label}`;
    card.querySelector(".people-range").textContent = site ? fmt(site.total.people) : "0";
    const buckets = site ? site.buckets : [];
    setChart(made.history, buckets.map((b) => bucketLabel(b.start, range.bucket)), buckets.map((b) => b.people));
    const gender = (site && site.total.gender) || {};
    setChart(made.gender, Object.keys(gender), Object.values(gender), Object.keys(gender).map((g) => COLORS[g] || "#999"));
    const ages = (site && site.total.age_bands) || {};
    setChart(made.ages, Object.keys(ages), Object.values(ages));
  }
}

function renderRangeBar() {
  const params = rangeParams();
  const name = params.get("range");
  for (const button of document.querySelectorAll("#range button[data-range]")) {
    button.setAttribute("aria-pressed", String(button.dataset.range === name));
  }
  const day = document.getElementById("range-day");
  day.value = name === "day" ? params.get("day") || "" : "";
  day.classList.toggle("chosen", name === "day");
  for (const span of document.querySelectorAll(".range-name")) span.textContent = rangeName(params);
  const by = document.getElementById("export-by").value;
  for (const format of ["csv", "json"]) {
    const query = new URLSearchParams(params);
    query.set("by", by);
    query.set("format", format);
    document.getElementById(`export-${format}`).href = `/api/export?${query}`;
  }
}

function showRangeError(message) {
  const box = document.getElementById("range-error");
  box.hidden = message === null;
  box.textContent = message === null ? "" : `Cannot show this range: ${message}`;
  // Charts of the previous range stay on screen only dimmed, so they are not mistaken for this one.
  document.body.classList.toggle("range-failed", message !== null);
  if (message !== null) document.getElementById("range-text").textContent = "";
}

function refreshEveryMs() {
  const params = rangeParams();
  const name = params.get("range");
  if (name === "day") {
    const today = new Date(Date.now() + clockOffsetMs).toISOString().slice(0, 10);
    return params.get("day") === today ? REFRESH_MS.day : Infinity; // a past day is final
  }
  return REFRESH_MS[name] || REFRESH_MS["30d"];
}

async function loadHistory(force = false) {
  if (!force && (historyBusy || Date.now() - historyAt < refreshEveryMs())) return;
  const seq = ++historySeq; // a newer request (another range) wins over one in flight
  historyBusy = true;
  historyAt = Date.now();
  const query = rangeParams();
  if (chartNode) query.set("node", chartNode);
  try {
    const reply = await fetch(`/api/history?${query}`);
    const text = await reply.text();
    if (seq !== historySeq) return;
    let doc = null;
    try {
      doc = JSON.parse(text);
    } catch {
      doc = null;
    }
    if (!reply.ok || doc === null) {
      showRangeError((doc && doc.error) || `HTTP ${reply.status}`);
      return;
    }
    showRangeError(null);
    lastHistory = doc;
    document.getElementById("range-text").textContent = `${doc.range.from.slice(0, 16).replace("T", " ")} – ${doc.range.until.slice(0, 16).replace("T", " ")} UTC, per ${BUCKET_NAMES[doc.range.bucket]}`;
    renderSiteHistory();
    renderNodes(lastSnapshot);
    renderNodeChart();
  } catch (exc) {
    if (seq === historySeq) showRangeError(`the collector did not answer (${exc})`);
  } finally {
    if (seq === historySeq) historyBusy = false;
  }
}

function render(snapshot) {
  lastSnapshot = snapshot;
  clockOffsetMs = snapshot.generated_ms - Date.now();
  document.getElementById("k").textContent = String(snapshot.k);
  const t = snapshot.totals;
  document.getElementById("totals").textContent = `${t.nodes} nodes · ${t.online} online · ${t.offline} offline · updated ${hhmm(snapshot.generated)}:${snapshot.generated.slice(17, 19)} UTC`;
  renderSites(snapshot);
  renderNodes(snapshot);
  loadHistory();
}

function setLive(state, text) {
  const live = document.getElementById("live");
  live.dataset.live = state;
  live.textContent = text;
}

function connect() {
  const source = new EventSource("/api/events");
  source.addEventListener("snapshot", (event) => {
    setLive("live", "● live");
    render(JSON.parse(event.data));
  });
  source.addEventListener("open", () => setLive("live", "● live"));
  source.addEventListener("error", () => setLive("lost", "reconnecting…"));
}

function rangeChanged() {
  renderRangeBar();
  lastHistory = null;
  loadHistory(true);
}

window.addEventListener("hashchange", rangeChanged);

window.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll("#range button[data-range]")) {
    button.addEventListener("click", () => setRange(new URLSearchParams({ range: button.dataset.range })));
  }
  document.getElementById("range-day").addEventListener("change", (event) => {
    if (event.target.value) setRange(new URLSearchParams({ range: "day", day: event.target.value }));
  });
  document.getElementById("export-by").addEventListener("change", renderRangeBar);
  renderRangeBar();
  loadHistory(true);
  fetch("/api/snapshot").then((r) => (r.ok ? r.json() : null)).then((s) => s && render(s)).catch(() => {});
  connect();
  setInterval(() => {
    for (const cell of document.querySelectorAll("td.last-seen")) cell.textContent = ago(Number(cell.dataset.ms));
  }, 1000);
});
