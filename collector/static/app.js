// Kazoe dashboard: renders /api/snapshot and its live updates from /api/events (SSE).
// All data goes into the page through textContent, never innerHTML.
"use strict";

const COLORS = { female: "#d6604d", male: "#4393c3", unknown: "#9aa0a6", band: "#6a51a3" };
const charts = new Map(); // site -> {history, gender, ages}
const openNotices = new Set();
let clockOffsetMs = 0;
let lastSnapshot = null;

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

function splitBar(gender) {
  const box = el("div", { class: "split" });
  if (!gender) return el("span", { class: "legend", text: "—" });
  const known = Object.entries(gender).filter(([, v]) => v !== null);
  const sum = known.reduce((a, [, v]) => a + v, 0);
  for (const [g, v] of known) {
    if (sum > 0 && v > 0) box.append(el("span", { style: `width:${(100 * v) / sum}%;background:${COLORS[g] || "#999"}`, title: `${g}: ${v}` }));
  }
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

function renderNodes(snapshot) {
  const body = document.querySelector("#nodes tbody");
  const rows = [];
  for (const node of snapshot.nodes) {
    const latest = node.latest;
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
      el("td", { class: "window", text: latest ? `${hhmm(latest.window_start)}–${hhmm(latest.window_end)} #${latest.seq}` : "—" }),
      el("td", { class: "num people", text: latest ? fmt(latest.people) : "—" }),
      el("td", { class: "num people-day", text: fmt(node.day.people) }),
      el("td", { class: "gender" }, splitBar(node.day.gender)),
      el("td", { class: "ages" }, histogram(node.day.age_bands)),
      el("td", { class: "lines" }, linesBox(node.day.lines)),
      noticeCell,
    );
    rows.push(tr);
    if (node.notice && openNotices.has(node.node_id)) {
      rows.push(el("tr", { class: "notice-row", "data-notice-for": node.node_id }, el("td", { colSpan: 11 }, noticeBox(node.notice))));
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
      el("div", { class: "figure" }, el("div", { class: "value people-day" }), el("div", { class: "label", text: "people, last 24 h" })),
      el("div", { class: "figure" }, el("div", { class: "value nodes-online" }), el("div", { class: "label", text: "nodes online" })),
    ),
    el("div", { class: "charts" },
      el("div", {}, el("div", { class: "chart-title", text: "People per hour, last 24 h" }), el("div", { class: "chart" }, history)),
      el("div", {}, el("div", { class: "chart-title", text: "Gender, 24 h" }), el("div", { class: "chart" }, gender)),
      el("div", {}, el("div", { class: "chart-title", text: "Age bands, 24 h" }), el("div", { class: "chart" }, ages)),
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
    made.card.querySelector(".people-day").textContent = fmt(site.day.people);
    made.card.querySelector(".nodes-online").textContent = `${site.online} / ${site.nodes}`;
    setChart(made.history, site.history.map((h) => hhmm(h.hour)), site.history.map((h) => h.people));
    const gender = site.day.gender || {};
    setChart(made.gender, Object.keys(gender), Object.values(gender), Object.keys(gender).map((g) => COLORS[g] || "#999"));
    const ages = site.day.age_bands || {};
    setChart(made.ages, Object.keys(ages), Object.values(ages));
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

window.addEventListener("DOMContentLoaded", () => {
  fetch("/api/snapshot").then((r) => (r.ok ? r.json() : null)).then((s) => s && render(s)).catch(() => {});
  connect();
  setInterval(() => {
    for (const cell of document.querySelectorAll("td.last-seen")) cell.textContent = ago(Number(cell.dataset.ms));
  }, 1000);
});
