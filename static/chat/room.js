// The room page's chat client (docs/protocol.md). A native ES module, no build step.
// Every user-supplied string goes into the page with textContent, never as HTML.
import { LiveSocket } from "../js/livesocket.js";

const config = JSON.parse(document.getElementById("room-config").textContent);
const log = document.getElementById("log");
const olderBox = document.getElementById("older");
const stateBadge = document.getElementById("conn-state");
const form = document.getElementById("send-form");
const input = document.getElementById("body");
const sendError = document.getElementById("send-error");
const typingLine = document.getElementById("typing");
const presenceList = document.getElementById("presence");
const presenceCount = document.getElementById("presence-count");

const seen = new Set(); // message ids already shown: replays after a reconnect are dropped
const pending = new Map(); // client_id -> {body, element}: sent, not yet confirmed
let lastId = 0; // highest id shown: the reconnect asks for everything after it
let firstId = null; // lowest id shown: older history is fetched before it
let hasOlder = false;
let loadingOlder = false;
let opening = true; // the next history frame is the one a socket opens with
let lastTypingSent = 0;
const typists = new Map(); // username -> expiry timer

const CLOSE_REASONS = {
  4401: "You are logged out. Reloading…",
  4403: "You are not a member of this room.",
  4404: "This room does not exist.",
  4409: "Too many open tabs.",
  4429: "Disconnected for sending too fast.",
  1012: "Catching up",
};

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function setState(state, label) {
  stateBadge.className = "state state-" + state;
  stateBadge.textContent = label || state;
  stateBadge.dataset.state = state;
}

function nearBottom() {
  return log.scrollHeight - log.scrollTop - log.clientHeight < 80;
}

function formatTime(iso) {
  const when = new Date(iso);
  return isNaN(when) ? "" : when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

function messageElement(msg) {
  const row = el("div", "msg");
  row.dataset.id = String(msg.id);
  row.append(el("span", "author", msg.username), el("span", "body", msg.body));
  row.append(el("span", "time", formatTime(msg.created)));
  return row;
}

// Insert a confirmed message in id order; a pending copy of it settles in place.
function showMessage(msg) {
  if (seen.has(msg.id)) return;
  seen.add(msg.id);
  const stick = nearBottom();
  const row = messageElement(msg);
  const mine = msg.client_id && pending.get(msg.client_id);
  if (mine) {
    // The pending copy sits at the end; the confirmed one goes where its id belongs
    // (another message may have been stored after it yet reached us first).
    mine.element.remove();
    pending.delete(msg.client_id);
  }
  insertInOrder(row, msg.id);
  lastId = Math.max(lastId, msg.id);
  firstId = firstId === null ? msg.id : Math.min(firstId, msg.id);
  if (stick) log.scrollTop = log.scrollHeight;
  markRead();
}

function insertInOrder(row, id) {
  const rows = log.querySelectorAll(".msg[data-id]");
  for (let i = rows.length - 1; i >= 0; i--) {
    if (Number(rows[i].dataset.id) < id) {
      rows[i].after(row);
      return;
    }
  }
  olderBox.after(row);
}

// The first history frame on a socket is the opening one; later ones answer our requests
// for older pages (the server sends history at no other time).
function showHistory(frame, opening) {
  const heightBefore = log.scrollHeight;
  const wasEmpty = firstId === null;
  frame.messages.forEach(showMessage);
  if (!opening) {
    hasOlder = frame.has_more;
    loadingOlder = false;
    log.scrollTop += log.scrollHeight - heightBefore; // keep the reader's place
  } else if (wasEmpty) {
    hasOlder = frame.has_more;
    log.scrollTop = log.scrollHeight;
  } else if (frame.has_more) {
    catchUpOverHttp(); // more than one socket page was missed
  }
  olderBox.textContent = hasOlder ? "Scroll up for older messages" : "Start of the room";
  fillUp();
}

async function catchUpOverHttp() {
  for (let more = true; more; ) {
    const url = "/api/rooms/" + config.roomId + "/messages/?limit=100&after=" + lastId;
    const response = await fetch(url, { credentials: "same-origin" });
    if (!response.ok) return;
    const page = await response.json();
    page.messages.forEach(showMessage);
    more = page.has_more && page.messages.length > 0;
  }
}

function showPresence(frame) {
  presenceList.replaceChildren(...frame.users.map((name) => el("li", "", name)));
  presenceCount.textContent = "(" + frame.count + ")";
}

function showTyping(name) {
  clearTimeout(typists.get(name));
  typists.set(name, setTimeout(() => { typists.delete(name); renderTyping(); }, 4000));
  renderTyping();
}

function renderTyping() {
  const names = Array.from(typists.keys());
  typingLine.textContent = names.length ? names.join(", ") + (names.length > 1 ? " are" : " is") + " typing…" : "";
}

function showError(frame) {
  sendError.textContent = frame.detail || frame.code;
  setTimeout(() => { if (sendError.textContent === (frame.detail || frame.code)) sendError.textContent = ""; }, 5000);
}

const handlers = {
  history: (frame) => {
    showHistory(frame, frame.__opening === true);
    // The socket is in the room now: others (the alerts panel) may catch up over HTTP.
    if (frame.__opening === true) window.dispatchEvent(new CustomEvent("chat:joined"));
  },
  message: (frame) => { showMessage(frame); typists.delete(frame.username); renderTyping(); },
  presence: showPresence,
  typing: (frame) => showTyping(frame.username),
  error: showError,
  alert: (frame) => window.dispatchEvent(new CustomEvent("chat:alert", { detail: frame })),
};

// Asked on every attempt: a reconnect catches up from the last message shown.
function socketPath() {
  return "/ws/chat/room/" + config.roomId + "/" + (lastId ? "?after=" + lastId : "");
}

// The socket's lifecycle (backoff, offline, 4401) is LiveSocket's (static/js/livesocket.js).
const socketHooks = {
  path: socketPath,
  final: [4403, 4404],
  connecting: (isRetry) => setState(isRetry ? "reconnecting" : "connecting", isRetry ? "reconnecting…" : "connecting…"),
  opened: () => {
    opening = true;
    setState("open", "connected");
    // Anything typed while offline goes out again with the same client_id: stored once.
    pending.forEach((item, clientId) => transmit(item.body, clientId));
  },
  frame: (frame) => {
    if (frame.type === "history") { frame.__opening = opening; opening = false; }
    const handler = handlers[frame.type];
    if (handler) handler(frame);
  },
  lost: (code, retryIn) => {
    loadingOlder = false;
    if (code === 4401) {
      setState("closed", "logged out");
    } else if (retryIn === null) {
      setState("closed", CLOSE_REASONS[code]);
      form.querySelector("button").disabled = true;
    } else {
      setState("reconnecting", (CLOSE_REASONS[code] || "offline") + " · retrying in " + Math.ceil(retryIn / 1000) + " s");
    }
  },
};

function transmit(body, clientId) {
  live.send({ type: "message", body: body, client_id: clientId });
}

function newClientId() {
  if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
  return Date.now().toString(36) + Math.random().toString(36).slice(2);
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const body = input.value.trim();
  if (!body) return;
  if (body.length > 2000) { showError({ detail: "Messages are at most 2000 characters." }); return; }
  const clientId = newClientId();
  const row = el("div", "msg pending");
  row.append(el("span", "author", config.username), el("span", "body", body), el("span", "time", "sending…"));
  log.append(row);
  log.scrollTop = log.scrollHeight;
  pending.set(clientId, { body: body, element: row });
  transmit(body, clientId);
  input.value = "";
});

input.addEventListener("input", () => {
  const now = Date.now();
  // Throttled: at most one typing frame every 2.5 s while keys are pressed.
  if (now - lastTypingSent > 2500 && live.send({ type: "typing" })) lastTypingSent = now;
});

function loadOlder() {
  if (!hasOlder || loadingOlder || firstId === null) return;
  if (!live.send({ type: "history", before: firstId, limit: 50 })) return;
  loadingOlder = true;
  olderBox.textContent = "Loading older messages…";
}

// A log too short to scroll never fires "scroll": fetch older pages until it fills up.
function fillUp() {
  if (log.scrollHeight <= log.clientHeight) loadOlder();
}

log.addEventListener("scroll", () => {
  if (log.scrollTop <= 40) loadOlder();
});

let readSent = 0;
// One read frame per burst of shown messages (a history page shows 50 at once), at most
// every 750 ms: read frames count against the user's request budget like any other.
let readTimer = null;
function markRead() {
  if (readTimer === null) readTimer = setTimeout(sendRead, 750);
}
function sendRead() {
  readTimer = null;
  if (document.hidden || lastId <= readSent) return;
  if (live.send({ type: "read", id: lastId })) readSent = lastId;
}
document.addEventListener("visibilitychange", sendRead);

const live = LiveSocket(socketHooks);
window.chatClient = { get socket() { return live.socket; }, seen: seen, config: config };
