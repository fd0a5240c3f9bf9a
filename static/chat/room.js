// The room page's chat client (docs/protocol.md): wires the modules in static/chat/room/,
// one per concern. Native ES modules, no build step; a new feature adds a module here.
// Every user-supplied string goes into the page with textContent, never as HTML.
import { createComposer } from "./room/composer.js";
import { createMessageList } from "./room/messages.js";
import { createPresence } from "./room/presence.js";
import { createReadMarker } from "./room/read.js";
import { catchUpOverHttp, connectRoomSocket } from "./room/socket.js";
import { createUploads } from "./room/uploads.js";

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
  uploads,
});
const messages = createMessageList({
  log: byId("log"),
  olderBox: byId("older"),
  send,
  settlePending: composer.settle,
  shown: reads.markRead,
  missedMore: () => catchUpOverHttp(config.roomId, () => messages.lastId, messages.show),
});
const presence = createPresence({
  list: byId("presence"),
  count: byId("presence-count"),
  typingLine: byId("typing"),
});

const handlers = {
  history: (frame, opening) => {
    messages.showHistory(frame, opening);
    // The socket is in the room now: others (the alerts panel) may catch up over HTTP.
    if (opening) window.dispatchEvent(new CustomEvent("chat:joined"));
  },
  message: (frame) => { messages.show(frame); presence.stoppedTyping(frame.username); },
  presence: presence.show,
  typing: (frame) => presence.typing(frame.username),
  error: composer.showError,
  alert: (frame) => window.dispatchEvent(new CustomEvent("chat:alert", { detail: frame })),
};

const live = connectRoomSocket({
  roomId: config.roomId,
  lastId: () => messages.lastId,
  stateBadge: byId("conn-state"),
  handlers,
  opened: composer.resendPending,
  lost: messages.socketLost,
  ended: composer.disable,
});
window.chatClient = { get socket() { return live.socket; }, seen: messages.seen, config: config };
