// The room page's chat client (docs/protocol.md): wires the modules in static/chat/room/,
// one per concern. Native ES modules, no build step; a new feature adds a module here.
// Every user-supplied string goes into the page with textContent, never as HTML; the one
// exception is a message's `html`, sanitized on the server (room/message_view.js).
import { createMessageActions } from "./room/actions.js";
import { createComposer } from "./room/composer.js";
import { createMentionAutocomplete, highlightMentionsOf } from "./room/mentions.js";
import { createMessageList } from "./room/messages.js";
import { createPresence } from "./room/presence.js";
import { createReadMarker } from "./room/read.js";
import { createTimeline } from "./room/timeline.js";
import { connectRoomSocket } from "./room/socket.js";
import { createUploads } from "./room/uploads.js";
import { createCatchUp } from "./room/versions.js";

const config = JSON.parse(document.getElementById("room-config").textContent);
const byId = (id) => document.getElementById(id);

// The modules send through the socket, which is opened last, once they all listen.
const send = (frame) => live.send(frame);

const uploads = createUploads({
  roomId: config.roomId,
  csrfToken: byId("send-form").dataset.csrf,
  list: byId("uploads"),
  dropZone: document.querySelector(".room-body"),
  input: byId("body"),
  button: byId("attach"),
  fileInput: byId("attach-input"),
  showError: (frame) => composer.showError(frame),
});
const reads = createReadMarker({ send, lastId: () => messages.lastId });
const composer = createComposer({
  form: byId("send-form"),
  input: byId("body"),
  errorLine: byId("send-error"),
  username: config.username,
  send,
  appendPending: (username, body) => messages.appendPending(username, body),
  takeFields: () => actions.takeFields(),
  uploads,
});
const messages = createMessageList({
  log: byId("log"),
  olderBox: byId("older"),
  viewer: config,
  send,
  settlePending: composer.settle,
  shown: reads.markRead,
  olderShown: () => actions.olderShown(),
  at: config.at || null,
  landed: markOpenedAt,
  timeline: createTimeline({ log: byId("log"), lastReadId: config.lastReadId || 0, username: config.username }),
  jumpButton: byId("jump-latest"),
});
const catchUp = createCatchUp({ roomId: config.roomId, show: messages.show, openAt: config.at || null });
const actions = createMessageActions({
  log: byId("log"),
  composer: byId("body"),
  replyBar: { bar: byId("reply-bar"), label: byId("reply-label"), cancelButton: byId("reply-cancel") },
  messages,
  send,
  showError: composer.showError,
});
createMentionAutocomplete({
  input: byId("body"),
  list: byId("mention-list"),
  members: () => config.members || [],
  me: config.username,
});
highlightMentionsOf(config.username);
// An edit or a deletion: counted for catch-up, shown in place, and an open editor told.
function changed(frame) {
  catchUp.saw(frame.message.version);
  messages.show(frame.message);
  actions.changed(frame.message);
}
// `?at=<id>` (a search result's, a notification's link): the message marked, in view.
function markOpenedAt(row) {
  if (!row) return;
  row.classList.add("msg-at");
  row.scrollIntoView({ block: "center" });
}

const presence = createPresence({
  list: byId("presence"),
  count: byId("presence-count"),
  typingLine: byId("typing"),
});

const handlers = {
  history: (frame, opening) => {
    messages.showHistory(frame, opening);
    if (opening) catchUp.opened(frame);
    // The socket is in the room now: others (the alerts panel) may catch up over HTTP.
    if (opening) window.dispatchEvent(new CustomEvent("chat:joined"));
  },
  message: (frame) => {
    catchUp.saw(frame.version);
    messages.show(frame);
    presence.stoppedTyping(frame.username);
  },
  message_updated: changed,
  message_deleted: changed,
  reactions: (frame) => { catchUp.saw(frame.version); messages.showReactions(frame); },
  presence: presence.show,
  typing: (frame) => presence.typing(frame.username),
  error: (frame) => {
    if (frame.client_id) composer.refused(frame);
    if (!actions.failed(frame)) composer.showError(frame);
  },
  alert: (frame) => window.dispatchEvent(new CustomEvent("chat:alert", { detail: frame })),
};

const live = connectRoomSocket({
  roomId: config.roomId,
  query: catchUp.query,
  stateBadge: byId("conn-state"),
  handlers,
  opened: composer.resendPending,
  lost: messages.socketLost,
  ended: composer.disable,
});
window.chatClient = {
  get socket() { return live.socket; },
  get version() { return catchUp.mark; }, // the catch-up mark a reconnect asks `since=`
  seen: messages.seen,
  config: config,
};
