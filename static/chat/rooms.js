// The room list's live unread counts (docs/live-state.md): `/ws/rooms/` sends the count of
// each of the user's rooms on open and again whenever it changes. Plain JS, no build step.
(function () {
  "use strict";

  // Logging out from this very page closes its sockets (4401) while the logout POST is still
  // on its way; reloading then would cancel that navigation. Reload only if the page stays.
  let leaving = false;
  window.addEventListener("beforeunload", () => { leaving = true; });
  function reloadUnlessLeaving() {
    setTimeout(() => location.reload(), leaving ? 3000 : 0);
  }

  let attempt = 0;

  function row(roomId) {
    return document.querySelector('#my-rooms li[data-room-id="' + Number(roomId) + '"]');
  }

  function showCount(roomId, unread) {
    const item = row(roomId);
    const badge = item && item.querySelector(".unread");
    if (!badge) return; // a room joined elsewhere after this page was drawn
    badge.textContent = String(unread);
    badge.dataset.unread = String(unread);
    badge.classList.toggle("hidden", !unread);
  }

  const handlers = {
    rooms: (frame) => frame.rooms.forEach((room) => showCount(room.room_id, room.unread)),
    unread: (frame) => showCount(frame.room_id, frame.unread),
    room_left: (frame) => { const item = row(frame.room_id); if (item) item.remove(); },
  };

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const socket = new WebSocket(scheme + location.host + "/ws/rooms/");
    socket.addEventListener("open", () => { attempt = 0; });
    socket.addEventListener("message", (event) => {
      let frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      const handler = handlers[frame.type];
      if (handler) handler(frame);
    });
    socket.addEventListener("close", (event) => {
      if (event.code === 4401) { reloadUnlessLeaving(); return; } // logged out: to the login page
      // Backoff with jitter; the `rooms` frame on the next open puts every count right.
      const delay = Math.min(15000, 500 * 2 ** attempt) * (0.5 + Math.random() / 2);
      attempt += 1;
      setTimeout(connect, delay);
    });
    window.roomList = { socket: socket };
  }

  connect();
})();
