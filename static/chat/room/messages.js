// The message log: confirmed messages in id order, each shown once (a reconnect replays what
// was already shown), older history paged in over the socket as the reader scrolls up.
import { el } from "./dom.js";
import { attachmentsElement } from "./uploads.js";

function formatTime(iso) {
  const when = new Date(iso);
  return isNaN(when) ? "" : when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

function messageElement(msg) {
  const row = el("div", "msg");
  row.dataset.id = String(msg.id);
  row.append(el("span", "author", msg.username), el("span", "body", msg.body));
  row.append(el("span", "time", formatTime(msg.created)));
  if (msg.attachments && msg.attachments.length) row.append(attachmentsElement(msg.attachments));
  return row;
}

// Options:
//   log, olderBox          the log element and the "older messages" line at its top
//   send(frame)            sends over the room socket; false if it is not open
//   settlePending(id)      a confirmed message carries this client_id: drop its pending copy
//   shown()                after each newly shown message
//   missedMore()           a reconnect's history says more was missed than it holds
export function createMessageList({ log, olderBox, send, settlePending, shown, missedMore }) {
  const seen = new Set(); // message ids already shown: replays after a reconnect are dropped
  let lastId = 0; // highest id shown: the reconnect asks for everything after it
  let firstId = null; // lowest id shown: older history is fetched before it
  let hasOlder = false;
  let loadingOlder = false;

  function nearBottom() {
    return log.scrollHeight - log.scrollTop - log.clientHeight < 80;
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

  // Insert a confirmed message in id order; a pending copy of it settles in place.
  function show(msg) {
    if (seen.has(msg.id)) return;
    seen.add(msg.id);
    const stick = nearBottom();
    const row = messageElement(msg);
    // The pending copy sits at the end; the confirmed one goes where its id belongs
    // (another message may have been stored after it yet reached us first).
    if (msg.client_id) settlePending(msg.client_id);
    insertInOrder(row, msg.id);
    lastId = Math.max(lastId, msg.id);
    firstId = firstId === null ? msg.id : Math.min(firstId, msg.id);
    if (stick) log.scrollTop = log.scrollHeight;
    shown();
  }

  // The first history frame on a socket is the opening one; later ones answer our requests
  // for older pages (the server sends history at no other time).
  function showHistory(frame, opening) {
    const heightBefore = log.scrollHeight;
    const wasEmpty = firstId === null;
    frame.messages.forEach(show);
    if (!opening) {
      hasOlder = frame.has_more;
      loadingOlder = false;
      log.scrollTop += log.scrollHeight - heightBefore; // keep the reader's place
    } else if (wasEmpty) {
      hasOlder = frame.has_more;
      log.scrollTop = log.scrollHeight;
    } else if (frame.has_more) {
      missedMore(); // more than one socket page was missed
    }
    olderBox.textContent = hasOlder ? "Scroll up for older messages" : "Start of the room";
    fillUp();
  }

  // A message sent from this page, shown at the end until the server confirms it.
  function appendPending(username, body) {
    const row = el("div", "msg pending");
    row.append(el("span", "author", username), el("span", "body", body), el("span", "time", "sending…"));
    log.append(row);
    log.scrollTop = log.scrollHeight;
    return row;
  }

  function loadOlder() {
    if (!hasOlder || loadingOlder || firstId === null) return;
    if (!send({ type: "history", before: firstId, limit: 50 })) return;
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

  return {
    seen,
    get lastId() { return lastId; },
    show,
    showHistory,
    appendPending,
    // The socket that would have answered an older-history request is gone: ask again later.
    socketLost() { loadingOlder = false; },
  };
}
