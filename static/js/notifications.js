// Browser notifications (docs/protocol.md, the room list socket): a `notify` frame from
// `/ws/rooms/` becomes a Notification while the page is hidden and the browser's permission
// is "granted". Permission is asked only when the person presses a visible button, never on
// load; a denied permission is shown, not asked again. Also: the unread total in the tab's
// title. A native ES module, imported by the room-list clients; no build step.

import { t } from "./i18n.js";

const supported = () => "Notification" in window;

// Options:
//   roomName(roomId)   the room's name as this user sees it ("" if unknown)
export function createNotifier({ roomName }) {
  function handle(frame) {
    if (document.visibilityState !== "hidden") return; // the page itself shows it
    if (!supported() || Notification.permission !== "granted") return;
    const message = frame.message;
    const title = (roomName(frame.room_id) || "MyChannels") + " · " + message.username;
    // The body is the message's text, never its HTML (a notification shows plain text).
    const shown = new Notification(title, { body: message.body, tag: String(message.id) });
    shown.addEventListener("click", () => {
      window.focus();
      location.assign("/chat/room/" + Number(frame.room_id) + "/?at=" + Number(message.id));
      shown.close();
    });
  }
  return { handle };
}

const STATES = {
  unsupported: t("This browser does not show notifications."),
  default: "",
  granted: t("Browser notifications are on for this site."),
  denied: t("Notifications are blocked for this site in your browser's settings."),
};

// A button that asks for permission when pressed, and a line saying where things stand.
export function permissionControl(button, stateLine) {
  if (!button || !stateLine) return;
  function show() {
    const state = supported() ? Notification.permission : "unsupported";
    button.hidden = state !== "default";
    stateLine.textContent = STATES[state] || "";
    stateLine.dataset.permission = state;
  }
  button.addEventListener("click", async () => {
    if (!supported() || Notification.permission !== "default") return show();
    await Notification.requestPermission();
    show();
  });
  show();
}

// "(3) general · MyChannels": the page's own title, after the unread total when there is one.
const ownTitle = document.title;
export function showUnreadInTitle(total) {
  document.title = (total > 0 ? "(" + total + ") " : "") + ownTitle;
}
