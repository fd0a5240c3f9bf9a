// The room page's chat client (docs/protocol.md). Plain JS, no build step.
// Every user-supplied string goes into the page with textContent, never as HTML.
(function () {
  "use strict";

  // Logging out from this very page closes its sockets (4401) while the logout POST is still
  // on its way; reloading then would cancel that navigation. Reload only if the page stays.
  let leaving = false;
  window.addEventListener("beforeunload", () => { leaving = true; });
  function reloadUnlessLeaving() {
    setTimeout(() => location.reload(), leaving ? 3000 : 0);
  }

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
  let socket = null;
  let attempt = 0;
  let stopped = false;
  let reconnectTimer = null;
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

  function socketUrl() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const after = lastId ? "?after=" + lastId : "";
    return scheme + location.host + "/ws/chat/room/" + config.roomId + "/" + after;
  }

  function connect() {
    setState(attempt ? "reconnecting" : "connecting", attempt ? "reconnecting…" : "connecting…");
    const ws = new WebSocket(socketUrl());
    socket = ws;
    let opening = true;
    // A socket given up on (the browser went offline) may still report later: not ours anymore.
    const current = () => ws === socket;
    ws.addEventListener("open", () => {
      if (!current()) return;
      attempt = 0;
      setState("open", "connected");
      // Anything typed while offline goes out again with the same client_id: stored once.
      pending.forEach((item, clientId) => transmit(item.body, clientId));
    });
    ws.addEventListener("message", (event) => {
      if (!current()) return;
      let frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      if (frame.type === "history") { frame.__opening = opening; opening = false; }
      const handler = handlers[frame.type];
      if (handler) handler(frame);
    });
    ws.addEventListener("close", (event) => { if (current()) onClose(event.code); });
  }

  function onClose(code) {
    socket = null;
    loadingOlder = false;
    if (code === 4401) { setState("closed", "logged out"); stopped = true; reloadUnlessLeaving(); return; }
    if (code === 4403 || code === 4404) {
      stopped = true;
      setState("closed", CLOSE_REASONS[code]);
      form.querySelector("button").disabled = true;
      return;
    }
    if (stopped) return;
    // Exponential backoff with jitter, capped, so a restart is not met by a stampede.
    const delay = Math.min(15000, 500 * 2 ** attempt) * (0.5 + Math.random() / 2);
    attempt += 1;
    setState("reconnecting", (CLOSE_REASONS[code] || "offline") + " · retrying in " + Math.ceil(delay / 1000) + " s");
    reconnectTimer = setTimeout(connect, delay);
  }

  function transmit(body, clientId) {
    if (socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify({ type: "message", body: body, client_id: clientId }));
    }
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
    if (now - lastTypingSent > 2500 && socket && socket.readyState === WebSocket.OPEN) {
      lastTypingSent = now;
      socket.send(JSON.stringify({ type: "typing" }));
    }
  });

  function loadOlder() {
    if (!hasOlder || loadingOlder || firstId === null) return;
    if (!socket || socket.readyState !== WebSocket.OPEN) return;
    loadingOlder = true;
    olderBox.textContent = "Loading older messages…";
    socket.send(JSON.stringify({ type: "history", before: firstId, limit: 50 }));
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
    if (!socket || socket.readyState !== WebSocket.OPEN) return;
    readSent = lastId;
    socket.send(JSON.stringify({ type: "read", id: lastId }));
  }
  document.addEventListener("visibilitychange", sendRead);

  // The browser knows the network is gone before the socket does: a closing handshake with
  // nothing to carry it can hang for a minute. Give the socket up now and retry with backoff.
  window.addEventListener("offline", () => {
    if (!socket || stopped) return;
    const abandoned = socket;
    onClose(1006);
    abandoned.close();
  });

  window.addEventListener("online", () => {
    if (!socket && !stopped) { clearTimeout(reconnectTimer); connect(); }
  });

  window.chatClient = { get socket() { return socket; }, seen: seen, config: config };
  connect();
})();
