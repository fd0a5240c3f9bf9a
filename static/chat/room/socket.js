// The room's socket (docs/protocol.md): each (re)connect asks for what it missed with the
// query versions.js keeps (`?since=`). The lifecycle (backoff, offline, 4401) is LiveSocket's.
import { t } from "../../js/i18n.js";
import { LiveSocket } from "../../js/livesocket.js";

const CLOSE_REASONS = {
  4401: t("You are logged out. Reloading…"),
  4403: t("You are not a member of this room."),
  4404: t("This room does not exist."),
  4409: t("Too many open tabs."),
  4429: t("Disconnected for sending too fast."),
  1012: t("Catching up"),
};

// Options:
//   roomId, query()      the room, and the query string a (re)connect opens with
//   stateBadge           the connection state shown in the page head
//   handlers             frame type -> handler(frame, opening); `opening` is true only for
//                        the history frame a socket opens with
//   opened()             the socket is open
//   lost()               the socket is gone, retried or not
//   ended()              it is gone for good (not a member, no such room)
export function connectRoomSocket({ roomId, query, stateBadge, handlers, opened, lost, ended }) {
  let opening = true; // the next history frame is the one a socket opens with

  function setState(state, label) {
    stateBadge.className = "state state-" + state;
    stateBadge.textContent = label || state;
    stateBadge.dataset.state = state;
  }

  return LiveSocket({
    // Asked on every attempt: a reconnect catches up from what was seen.
    path: () => "/ws/chat/room/" + roomId + "/" + query(),
    final: [4403, 4404],
    connecting: (isRetry) => setState(isRetry ? "reconnecting" : "connecting", isRetry ? t("reconnecting…") : t("connecting…")),
    opened: () => {
      opening = true;
      setState("open", t("connected"));
      opened();
    },
    frame: (frame) => {
      const isOpening = frame.type === "history" && opening;
      if (frame.type === "history") opening = false;
      const handler = handlers[frame.type];
      if (handler) handler(frame, isOpening);
    },
    lost: (code, retryIn) => {
      lost();
      if (code === 4401) {
        setState("closed", t("logged out"));
      } else if (retryIn === null) {
        setState("closed", CLOSE_REASONS[code]);
        ended();
      } else if (retryIn === 0) {
        setState("reconnecting", CLOSE_REASONS[code] || t("reconnecting…"));
      } else {
        const seconds = Math.ceil(retryIn / 1000);
        setState("reconnecting", t("%(reason)s · retrying in %(seconds)s s", { reason: CLOSE_REASONS[code] || t("offline"), seconds }));
      }
    },
  });
}
