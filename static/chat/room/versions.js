// Catch-up by version (docs/protocol.md, "Versions"). Every change in a room takes the next
// version and is broadcast to the room, but broadcasts from different server processes may
// arrive out of order, and the channel layer may drop one. So the mark a reconnect asks
// `?since=` from is the highest version up to which EVERY version has been seen, not the
// highest seen: a version that never arrived is fetched again rather than skipped.

// The contiguous high-water mark over versions seen in any order.
export function createVersionMark() {
  let mark = null; // null until the first opening history frame says where the room is
  const ahead = new Set(); // seen, above the mark, with a gap below them

  function advance() {
    while (ahead.has(mark + 1)) ahead.delete(++mark);
    ahead.forEach((v) => { if (v <= mark) ahead.delete(v); });
  }

  return {
    get value() { return mark; },
    // Everything up to `version` is known (an opening frame, a complete catch-up).
    reached(version) {
      if (mark === null || version > mark) mark = version;
      advance();
    },
    saw(version) {
      if (typeof version !== "number" || (mark !== null && version <= mark)) return;
      ahead.add(version);
      if (mark !== null) advance();
    },
  };
}

function highestVersion(messages, floor) {
  return messages.reduce((top, m) => Math.max(top, m.version || 0), floor);
}

// Pages a `?since=` catch-up on over the API (the socket's page held at most 200).
// Returns the last version of the last page, or null if a page could not be fetched.
async function pageOnSince(roomId, since, show) {
  let top = since;
  for (let more = true; more; ) {
    const url = "/api/rooms/" + roomId + "/messages/?limit=100&since=" + top;
    const response = await fetch(url, { credentials: "same-origin" });
    if (!response.ok) return null;
    const page = await response.json();
    page.messages.forEach(show);
    top = highestVersion(page.messages, top);
    more = page.has_more && page.messages.length > 0;
  }
  return top;
}

// Pages the messages after `afterId` in over the API, oldest first, to the room's end.
async function pageOnAfter(roomId, afterId, show) {
  for (let after = afterId, more = true; more; ) {
    const url = "/api/rooms/" + roomId + "/messages/?limit=100&after=" + after;
    const response = await fetch(url, { credentials: "same-origin" });
    if (!response.ok) return;
    const page = await response.json();
    page.messages.forEach(show);
    after = page.messages.reduce((top, m) => Math.max(top, m.id), after);
    more = page.has_more && page.messages.length > 0;
  }
}

// Options: roomId, show(message) (applies a message object, new or changed), openAt (a
// message id the page opens at, `?at=`: the first socket asks for it and what follows)
export function createCatchUp({ roomId, show, openAt = null }) {
  const mark = createVersionMark();
  let askedSince = null; // the `since` the current socket opened with

  return {
    // The query a (re)connect opens with: since the mark once known.
    query() {
      askedSince = mark.value;
      if (askedSince === null && openAt) return "?after=" + (openAt - 1);
      return askedSince === null ? "" : "?since=" + askedSince;
    },
    saw: mark.saw,
    get mark() { return mark.value; },
    // The socket's opening history frame.
    async opened(frame) {
      if (askedSince === null) {
        // The latest page: the room is at frame.version; newer ones in it arrived meanwhile.
        // (Opened at a message: the page runs from it, and the rest up to the room's end,
        // read after frame.version was, follows over the API.)
        mark.reached(frame.version);
        frame.messages.forEach((m) => mark.saw(m.version));
        if (openAt && frame.has_more) {
          const last = frame.messages.reduce((top, m) => Math.max(top, m.id), openAt - 1);
          await pageOnAfter(roomId, last, show);
        }
        return;
      }
      // A since page holds every change after askedSince up to its last version, all of it.
      let top = highestVersion(frame.messages, askedSince);
      if (frame.has_more) top = await pageOnSince(roomId, top, show);
      if (top !== null) mark.reached(Math.max(top, frame.version));
    },
  };
}
