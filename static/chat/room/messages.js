// The message log: confirmed messages in id order, each shown once and changed in place (an
// edit, a deletion, reactions) when a newer version of it arrives; older history paged in
// over the socket as the reader scrolls up.
import { t } from "../../js/i18n.js";
import { el } from "./dom.js";
import { messageRow, updateRow } from "./message_view.js";

// Without a timeline (static/chat/room/timeline.js) the rows are shown as they are.
const NO_TIMELINE = { placed() {}, markUnread() { return null; }, refresh() {} };

// Options:
//   log, olderBox          the log element and the "older messages" line at its top
//   viewer                 {username, isStaff, editWindowSeconds}: which actions to offer
//   send(frame)            sends over the room socket; false if it is not open
//   settlePending(id)      a confirmed message carries this client_id: drop its pending copy
//   shown()                after each newly shown message
//   olderShown()           after each page of older history
//   at                     a message id the page opens at (`?at=`): the log starts with it,
//                          older history above it, newer below; landed(row) once it is shown
//   timeline               optional: groups, day lines and the unread line (timeline.js)
//   jumpButton             optional: shown while the reader is scrolled up; goes to the latest
export function createMessageList({ log, olderBox, viewer, send, settlePending, shown, olderShown, at = null, landed = () => {}, timeline = NO_TIMELINE, jumpButton = null }) {
  const shownById = new Map(); // id -> {msg, row}: the version shown of each message
  let lastId = 0; // highest id shown
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

  // A newer version of a shown message replaces it in place; an older or equal one is stale.
  function update(entry, msg) {
    if (msg.version <= entry.msg.version) return;
    entry.msg = msg;
    updateRow(entry.row, msg, viewer);
  }

  // Show a message object: new ones in id order, known ones changed in place. A changed
  // message older than the oldest shown waits for its history page, which has it as it is now.
  function show(msg, fromOlderPage = false) {
    if (msg.client_id) settlePending(msg.client_id);
    const entry = shownById.get(msg.id);
    if (entry) { update(entry, msg); return; }
    if (!fromOlderPage && firstId !== null && msg.id < firstId) return;
    const stick = nearBottom();
    const row = messageRow(msg, viewer);
    shownById.set(msg.id, { msg, row });
    insertInOrder(row, msg.id);
    timeline.placed(row);
    lastId = Math.max(lastId, msg.id);
    firstId = firstId === null ? msg.id : Math.min(firstId, msg.id);
    if (stick) log.scrollTop = log.scrollHeight;
    else showJump();
    shown();
  }

  // A `reactions` frame: the message's reactions and version, nothing else.
  function showReactions(frame) {
    const entry = shownById.get(frame.id);
    if (entry) update(entry, { ...entry.msg, reactions: frame.reactions, version: frame.version });
  }

  // The first history frame on a socket is the opening one; later ones answer our requests
  // for older pages (the server sends history at no other time).
  function showHistory(frame, opening) {
    const heightBefore = log.scrollHeight;
    const wasEmpty = firstId === null;
    frame.messages.forEach((msg) => show(msg, !opening));
    if (!opening) {
      hasOlder = frame.has_more;
      loadingOlder = false;
      log.scrollTop += log.scrollHeight - heightBefore; // keep the reader's place
    } else if (wasEmpty && at) {
      hasOlder = true; // the page starts at `at`, not at the room's start
      landed(shownById.get(at)?.row);
    } else if (wasEmpty) {
      hasOlder = frame.has_more;
      log.scrollTop = log.scrollHeight;
      // Opened with unread messages: start where they begin, not past them.
      const unread = timeline.markUnread();
      if (unread) log.scrollTop = Math.max(0, unread.offsetTop - log.offsetTop - 8);
    }
    olderBox.textContent = hasOlder ? t("Scroll up for older messages") : t("Start of the room");
    if (!opening) olderShown();
    fillUp();
  }

  // A message sent from this page, shown at the end until the server confirms it.
  function appendPending(username, body) {
    const row = el("div", "msg pending");
    row.append(el("span", "author", username), el("span", "body", body), el("span", "time", t("sending…")));
    log.append(row);
    log.scrollTop = log.scrollHeight;
    return row;
  }

  function loadOlder() {
    if (!hasOlder || loadingOlder || firstId === null) return;
    if (!send({ type: "history", before: firstId, limit: 50 })) return;
    loadingOlder = true;
    olderBox.textContent = t("Loading older messages…");
  }

  // A log too short to scroll never fires "scroll": fetch older pages until it fills up.
  function fillUp() {
    if (log.scrollHeight <= log.clientHeight) loadOlder();
  }

  function showJump() {
    if (jumpButton) jumpButton.hidden = log.scrollHeight - log.scrollTop - log.clientHeight < 200;
  }

  log.addEventListener("scroll", () => {
    if (log.scrollTop <= 40) loadOlder();
    showJump();
  });
  if (jumpButton) {
    jumpButton.addEventListener("click", () => {
      log.scrollTop = log.scrollHeight;
      showJump();
      log.focus({ preventScroll: true }); // the button hides itself: focus goes to the log
    });
  }
  setInterval(timeline.refresh, 30000);

  return {
    seen: { has: (id) => shownById.has(id), get size() { return shownById.size; } },
    get lastId() { return lastId; },
    get hasOlder() { return hasOlder; },
    get: (id) => shownById.get(id)?.msg,
    rowOf: (id) => shownById.get(id)?.row,
    // The newest message of the viewer's own that is not deleted (Up arrow edits it).
    lastOwn() {
      const mine = [...shownById.values()].filter((e) => e.msg.username === viewer.username && !e.msg.deleted);
      return mine.reduce((best, e) => (!best || e.msg.id > best.id ? e.msg : best), null);
    },
    show,
    showReactions,
    showHistory,
    appendPending,
    loadOlder,
    // The socket that would have answered an older-history request is gone: ask again later.
    socketLost() { loadingOlder = false; },
  };
}
