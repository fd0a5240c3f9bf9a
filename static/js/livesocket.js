// A page's socket to the service, kept open (docs/live-state.md): reconnects with capped,
// jittered backoff; gives the socket up when the browser goes offline and reconnects as soon
// as it is back; on 4401 (logged out) stops and reloads, which lands on the login page; on
// 1012 (the server lost events meant for this socket) reconnects at once to catch up.
// A native ES module (no build step), imported by the room page, rooms.js and feed.js.

// Logging out from this very page closes its sockets (4401) while the logout POST is still
// on its way; reloading then would cancel that navigation. Reload only if the page stays.
let leaving = false;
window.addEventListener("beforeunload", () => { leaving = true; });
function reloadUnlessLeaving() {
  setTimeout(() => location.reload(), leaving ? 3000 : 0);
}

// Hooks (all but path and frame optional):
//   path()                 where to connect ("/ws/…"), asked again on every attempt
//   connecting(isRetry)    before each attempt
//   opened()               the socket is open; frames follow
//   frame(frame)           each JSON frame received
//   lost(code, retryInMs)  the socket is gone; retryInMs is null when it is not retried
//   final                  close codes after which to stop (4401 always stops)
export function LiveSocket(hooks) {
  const final = new Set([4401, ...(hooks.final || [])]);
  let socket = null;
  let attempt = 0;
  let stopped = false;
  let retryTimer = null;

  function connect() {
    if (hooks.connecting) hooks.connecting(attempt > 0);
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const ws = new WebSocket(scheme + location.host + hooks.path());
    socket = ws;
    // A socket given up on (the browser went offline) may still report later: not ours anymore.
    const current = () => ws === socket;
    ws.addEventListener("open", () => {
      if (!current()) return;
      attempt = 0;
      if (hooks.opened) hooks.opened();
    });
    ws.addEventListener("message", (event) => {
      if (!current()) return;
      let frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      hooks.frame(frame);
    });
    ws.addEventListener("close", (event) => { if (current()) lost(event.code); });
  }

  function lost(code) {
    socket = null;
    if (stopped) return;
    if (final.has(code)) {
      stopped = true;
      if (hooks.lost) hooks.lost(code, null);
      if (code === 4401) reloadUnlessLeaving();
      return;
    }
    // 1012 asks for a catch-up now (docs/protocol.md): the server is up, only events were
    // lost. Once, straight away; if that attempt fails too, the backoff below takes over.
    if (code === 1012 && attempt === 0) {
      attempt = 1;
      if (hooks.lost) hooks.lost(code, 0);
      connect();
      return;
    }
    // Exponential backoff with jitter, capped, so a restart is not met by a stampede.
    const delay = Math.min(15000, 500 * 2 ** attempt) * (0.5 + Math.random() / 2);
    attempt += 1;
    if (hooks.lost) hooks.lost(code, delay);
    retryTimer = setTimeout(connect, delay);
  }

  // The browser knows the network is gone before the socket does: a closing handshake with
  // nothing to carry it can hang for a minute (Chromium). Give the socket up now.
  window.addEventListener("offline", () => {
    if (!socket || stopped) return;
    const abandoned = socket;
    lost(1006);
    abandoned.close();
  });
  window.addEventListener("online", () => {
    if (!socket && !stopped) { clearTimeout(retryTimer); connect(); }
  });

  connect();
  return {
    get socket() { return socket; },
    // Sends a frame if the socket is open; false if there is no open socket to carry it.
    send(frame) {
      if (!socket || socket.readyState !== WebSocket.OPEN) return false;
      socket.send(JSON.stringify(frame));
      return true;
    },
  };
}
