// The room list's live unread counts (docs/live-state.md): `/ws/rooms/` sends the count of
// each of the user's rooms on open and again whenever it changes. A native ES module, no
// build step.
import { LiveSocket } from "../js/livesocket.js";

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

// Reconnects with backoff, reloads on 4401 (static/js/livesocket.js); the `rooms` frame on
// each open puts every count right.
const live = LiveSocket({
  path: () => "/ws/rooms/",
  frame: (frame) => {
    const handler = handlers[frame.type];
    if (handler) handler(frame);
  },
});
window.roomList = { get socket() { return live.socket; } };
