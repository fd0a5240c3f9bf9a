// The operations dashboard (/dashboard/): draws each `stats` frame of /ws/dashboard/ as charts
// (Chart.js, vendored in static/vendor/chartjs/) and as text and tables beside them, so that the
// numbers are readable without the pictures. An ES module, no build step. Room names are user
// text: they go into the page with textContent only (Chart.js draws labels on a canvas).
// Chart.js is its UMD build, loaded by a classic deferred script before this module runs.

import { language, t, tn } from "../js/i18n.js";
import { LiveSocket } from "../js/livesocket.js";

const LEVELS = ["info", "warning", "critical"];
const LEVEL_NAMES = { info: t("info"), warning: t("warning"), critical: t("critical") };
const minuteFormat = new Intl.DateTimeFormat(language, { hour: "2-digit", minute: "2-digit" });
const LEVEL_COLOURS = { info: "#2563eb", warning: "#d97706", critical: "#dc2626" };
const ROOM_COLOURS = ["#7c3aed", "#0891b2", "#65a30d", "#db2777", "#ea580c"];
// The page's own text colours (light or dark theme, static/css/app.css) for the charts' text
// and the all-rooms line.
const themeColour = (name, fallback) =>
  getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
const ALL_ROOMS_COLOUR = themeColour("--fg", "#111827");
Chart.defaults.color = themeColour("--muted", "#5b6270");
Chart.defaults.borderColor = themeColour("--line", "#d9dde3");

const stateBadge = document.getElementById("conn-state");

function setState(state, label) {
  stateBadge.className = "state state-" + state;
  stateBadge.textContent = label;
  stateBadge.dataset.state = state;
}

function minuteLabel(iso) {
  const when = new Date(iso);
  return isNaN(when) ? "" : minuteFormat.format(when);
}

function messages(count) {
  return tn("%(count)s message", "%(count)s messages", count);
}

function cell(tag, text, attributes = {}) {
  const node = document.createElement(tag);
  node.textContent = String(text);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  return node;
}

// No animation: a chart that moves every second should move to the numbers, not towards them.
const baseOptions = { animation: false, responsive: true, maintainAspectRatio: false };

const activityChart = new Chart(document.getElementById("activity-chart"), {
  type: "line",
  data: { labels: [], datasets: [] },
  options: {
    ...baseOptions,
    interaction: { mode: "index", intersect: false },
    scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
    elements: { point: { radius: 0 } },
  },
});

const alertsChart = new Chart(document.getElementById("alerts-chart"), {
  type: "bar",
  data: {
    labels: LEVELS.map((level) => LEVEL_NAMES[level]),
    datasets: [{ label: t("Alerts, last 24 hours"), data: [0, 0, 0],
                 backgroundColor: LEVELS.map((level) => LEVEL_COLOURS[level]) }],
  },
  options: {
    ...baseOptions,
    plugins: { legend: { display: false } },
    scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
  },
});

function showNow(stats, lastHour) {
  document.getElementById("present").textContent = String(stats.present);
  document.getElementById("sockets").textContent = String(stats.sockets);
  document.getElementById("messages-hour").textContent = String(lastHour);
}

function showActivity(stats, lastHour) {
  const minutes = stats.messages_per_minute;
  activityChart.data.labels = minutes.map((m) => minuteLabel(m.minute));
  activityChart.data.datasets = [
    { label: t("All rooms"), data: minutes.map((m) => m.count), borderColor: ALL_ROOMS_COLOUR,
      backgroundColor: ALL_ROOMS_COLOUR, borderWidth: 2 },
    ...stats.rooms.map((room, i) => ({
      label: room.name, data: room.per_minute || [], borderColor: ROOM_COLOURS[i % 5],
      backgroundColor: ROOM_COLOURS[i % 5], borderWidth: 1.5,
    })),
  ];
  activityChart.update("none");

  const current = minutes.length ? minutes[minutes.length - 1].count : 0;
  const peak = minutes.reduce((best, m) => (m.count > best.count ? m : best), { count: 0 });
  let summary = t("%(messages)s in the last hour, %(current)s so far this minute.",
                   { messages: messages(lastHour), current });
  if (peak.count > 0) {
    summary += " " + t("Busiest minute: %(minute)s with %(count)s.", { minute: minuteLabel(peak.minute), count: peak.count });
  }
  if (stats.rooms.length) {
    summary += " " + t("Busiest rooms: %(rooms)s.", {
      rooms: stats.rooms.map((room) => room.name + " (" + room.messages_last_hour + ")").join(", "),
    });
  }
  document.getElementById("activity-summary").textContent = summary;

  const table = document.getElementById("activity-table");
  const head = table.tHead.rows[0];
  head.replaceChildren(cell("th", t("Minute"), { scope: "col" }), cell("th", t("All rooms"), { scope: "col" }),
                       ...stats.rooms.map((room) => cell("th", room.name, { scope: "col" })));
  table.tBodies[0].replaceChildren(...minutes.slice().reverse().map((m, back) => {
    const row = document.createElement("tr");
    const index = minutes.length - 1 - back;
    row.append(cell("th", minuteLabel(m.minute), { scope: "row" }), cell("td", m.count),
               ...stats.rooms.map((room) => cell("td", (room.per_minute || [])[index] || 0)));
    return row;
  }));
}

function showAlerts(stats) {
  const counts = LEVELS.map((level) => stats.alerts_by_level[level] || 0);
  alertsChart.data.datasets[0].data = counts;
  alertsChart.update("none");
  LEVELS.forEach((level, i) => {
    document.querySelector(`#alerts-table td[data-level="${level}"]`).textContent = String(counts[i]);
  });
}

function showRooms(stats) {
  document.getElementById("rooms-table").tBodies[0].replaceChildren(...stats.rooms.map((room) => {
    const row = document.createElement("tr");
    row.dataset.roomId = String(room.room_id);
    row.append(cell("th", room.name, { scope: "row" }), cell("td", room.messages_last_hour));
    return row;
  }));
  document.getElementById("no-rooms").hidden = stats.rooms.length > 0;
}

function showStats(stats) {
  const lastHour = stats.messages_per_minute.reduce((sum, m) => sum + m.count, 0);
  showNow(stats, lastHour);
  showActivity(stats, lastHour);
  showAlerts(stats);
  showRooms(stats);
}

LiveSocket({
  path: () => "/ws/dashboard/",
  final: [4403],
  connecting: (isRetry) => setState("connecting", isRetry ? t("reconnecting…") : t("connecting…")),
  opened: () => setState("open", t("connected")),
  frame: (frame) => { if (frame.type === "stats") showStats(frame); },
  lost: (code, retryInMs) => {
    if (retryInMs === null) setState("closed", code === 4403 ? t("staff only") : t("disconnected"));
    else setState("reconnecting", t("reconnecting…"));
  },
});
