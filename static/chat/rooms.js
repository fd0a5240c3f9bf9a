// The `/` page's live unread counts (docs/live-state.md): the sidebar's `/ws/rooms/` socket
// (static/chat/sidebar.js) is the page's only room list socket; this module hears its frames
// as `rooms:frame` events. A native ES module, no build step.
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

window.addEventListener("rooms:frame", (event) => {
  const handler = handlers[event.detail.type];
  if (handler) handler(event.detail);
});
window.roomList = { get socket() { return window.sidebar && window.sidebar.socket; } };
