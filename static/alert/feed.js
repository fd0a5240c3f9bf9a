// The live alert feed (/alerts/): the history frame and live `alert` frames of /ws/alerts/,
// newest first, merged by id with what the server rendered. A native ES module, no build step.
// Every user-supplied string goes into the page with textContent, never as HTML.
import { language, t } from "../js/i18n.js";
import { LiveSocket } from "../js/livesocket.js";

const dateTime = new Intl.DateTimeFormat(language, { dateStyle: "short", timeStyle: "short" });
// The level is a code in the frame; its name is shown in the page's language.
const levelName = (level) => ({ info: t("info"), warning: t("warning"), critical: t("critical") })[level];

const config = JSON.parse(document.getElementById("alerts-config").textContent);
const list = document.getElementById("alerts");
const stateBadge = document.getElementById("conn-state");
const LEVELS = ["info", "warning", "critical"];

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function setState(state, label) {
  stateBadge.className = "state state-" + state;
  stateBadge.textContent = label;
  stateBadge.dataset.state = state;
}

function alertElement(alert) {
  const safeLevel = LEVELS.includes(alert.level) ? alert.level : "info";
  const item = el("li", "alert-item level-" + safeLevel);
  item.id = "alert-" + alert.id;
  item.dataset.id = String(alert.id);
  item.dataset.level = safeLevel;
  const room = el("a", "alert-room", config.rooms[String(alert.room_id)] || t("room %(id)s", { id: alert.room_id }));
  room.href = "/chat/room/" + Number(alert.room_id) + "/";
  const when = new Date(alert.created);
  const time = el("time", "", isNaN(when) ? "" : dateTime.format(when));
  time.dateTime = alert.created;
  const meta = el("span", "alert-meta muted");
  meta.append(el("span", "alert-user", alert.username), " · ", time);
  item.append(el("span", "alert-level", levelName(safeLevel)), " ", room, " ", el("span", "alert-content", alert.content), meta);
  return item;
}

function showAlert(alert) {
  if (document.getElementById("alert-" + alert.id)) return; // already shown
  const empty = document.getElementById("no-alerts");
  if (empty) empty.remove();
  const item = alertElement(alert);
  for (const existing of list.children) {
    if (Number(existing.dataset.id) < alert.id) { existing.before(item); return; }
  }
  list.append(item);
}

function newestShown() {
  const first = list.firstElementChild;
  return first ? Number(first.dataset.id) : 0;
}

// Everything after `from`, the newest alert the page had when this socket set out; alerts
// arriving live meanwhile are merged by id.
async function catchUp(from) {
  if (!from) return; // the page was empty: the history frame is the feed's latest
  let after = from;
  for (let page = 0; page < 10; page++) {
    const response = await fetch("/api/alerts/?limit=100&after=" + after, { credentials: "same-origin" });
    if (!response.ok) return;
    const body = await response.json();
    body.alerts.forEach(showAlert);
    if (!body.has_more || body.alerts.length === 0) return;
    after = body.alerts[body.alerts.length - 1].id;
  }
}

let newestBefore = 0; // the newest alert shown when the current socket set out

// The socket's lifecycle (backoff, offline, 4401) is LiveSocket's (static/js/livesocket.js).
LiveSocket({
  path: () => "/ws/alerts/",
  connecting: (isRetry) => {
    newestBefore = newestShown();
    setState(isRetry ? "reconnecting" : "connecting", isRetry ? t("reconnecting…") : t("connecting…"));
  },
  opened: () => setState("open", t("live")),
  frame: (frame) => {
    if (frame.type === "history") {
      frame.alerts.forEach(showAlert);
      // The history frame holds the latest 20: a longer gap since then comes over HTTP.
      if (frame.alerts.length && frame.alerts[0].id > newestBefore) catchUp(newestBefore);
    } else if (frame.type === "alert") {
      showAlert(frame);
    }
  },
  lost: (code, retryIn) => {
    if (retryIn === null) setState("closed", t("logged out"));
    else setState("reconnecting", t("offline, retrying in %(seconds)s s", { seconds: Math.ceil(retryIn / 1000) }));
  },
});
