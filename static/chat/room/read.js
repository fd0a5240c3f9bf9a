// Read state (docs/live-state.md): tells the server the newest message shown while the page
// is visible, which clears the room's unread count on the room list.

// One read frame per burst of shown messages (a history page shows 50 at once), at most
// every 750 ms: read frames count against the user's request budget like any other.
export function createReadMarker({ send, lastId }) {
  let readSent = 0;
  let readTimer = null;

  function sendRead() {
    readTimer = null;
    const newest = lastId();
    if (document.hidden || newest <= readSent) return;
    if (send({ type: "read", id: newest })) readSent = newest;
  }
  document.addEventListener("visibilitychange", sendRead);

  return {
    markRead() {
      if (readTimer === null) readTimer = setTimeout(sendRead, 750);
    },
  };
}
