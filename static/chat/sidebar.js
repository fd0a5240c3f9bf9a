// The sidebar on every chat page: the user's rooms and direct rooms with their unread and
// mention counts and how many people are in each now, live over the page's one `/ws/rooms/`
// socket (docs/live-state.md); browsing public rooms, creating a room, starting a direct
// conversation. Other modules on the page hear each frame as a `rooms:frame` event, so a page
// never opens a second room list socket. User text goes in with textContent only.
import { t } from "../js/i18n.js";
import { LiveSocket } from "../js/livesocket.js";
import { createNotifier, showUnreadInTitle } from "../js/notifications.js";
import { api, suggestUsers } from "./api.js";

const byId = (id) => document.getElementById(id);
const sidebar = byId("sidebar");
const rooms = new Map(); // room id -> {room, row}

function badge(kind, title) {
  const span = document.createElement("span");
  span.className = "badge hidden " + kind;
  span.title = title;
  return span;
}

function setBadge(span, value) {
  span.textContent = String(value);
  span.dataset.value = String(value);
  span.classList.toggle("hidden", !value);
}

function makeRow(room) {
  const row = document.createElement("li");
  row.dataset.roomId = String(room.id);
  const link = document.createElement("a");
  link.href = "/chat/room/" + Number(room.id) + "/";
  row.append(link, badge("active", t("here now")), badge("unread", t("unread")), badge("mentions", t("mentions")));
  if (sidebar.dataset.currentPath === link.getAttribute("href")) row.classList.add("current");
  return row;
}

function show(room) {
  let entry = rooms.get(room.id);
  if (!entry) {
    entry = { room: {}, row: makeRow(room) };
    rooms.set(room.id, entry);
  }
  entry.room = { ...entry.room, ...room };
  entry.row.querySelector("a").textContent = entry.room.name;
  const list = byId(entry.room.kind === "direct" ? "sidebar-dms" : "sidebar-rooms");
  if (entry.row.parentNode !== list) list.append(entry.row);
  sortList(list);
  showCounts(room.id, entry.room);
}

function sortList(list) {
  const rows = [...list.children].sort((a, b) =>
    a.querySelector("a").textContent.localeCompare(b.querySelector("a").textContent));
  rows.forEach((row) => list.append(row));
}

function showCounts(roomId, counts) {
  const entry = rooms.get(roomId);
  if (!entry) return;
  for (const kind of ["unread", "mentions", "active"]) {
    if (counts[kind] !== undefined) {
      entry.room[kind] = counts[kind];
      setBadge(entry.row.querySelector(".badge." + kind), counts[kind]);
    }
  }
  showUnreadTotal();
}

function forget(roomId) {
  const entry = rooms.get(roomId);
  if (entry) entry.row.remove();
  rooms.delete(roomId);
  showUnreadTotal();
}

// "(3) general · MyChannels": every room's unread count, summed, in the tab's title.
function showUnreadTotal() {
  let total = 0;
  rooms.forEach((entry) => { total += entry.room.unread || 0; });
  showUnreadInTitle(total);
}

const notifier = createNotifier({ roomName: (roomId) => rooms.get(roomId)?.room.name || "" });

async function loadRooms() {
  const answer = await api("GET", "/api/rooms/");
  if (answer.ok) answer.body.rooms.forEach(show);
}

const handlers = {
  rooms: (frame) => frame.rooms.forEach((counts) => showCounts(counts.room_id, counts)),
  unread: (frame) => showCounts(frame.room_id, frame),
  active: (frame) => showCounts(frame.room_id, { active: frame.count }),
  room_joined: (frame) => show(frame.room),
  room_updated: (frame) => { if (rooms.has(frame.room.id)) show(frame.room); },
  room_left: (frame) => forget(frame.room_id),
  notify: (frame) => notifier.handle(frame),
};

const live = LiveSocket({
  path: () => "/ws/rooms/",
  // The list may have changed while the socket was away: read it again, then counts follow.
  connecting: (isRetry) => { if (isRetry) loadRooms(); },
  frame: (frame) => {
    const handler = handlers[frame.type];
    if (handler) handler(frame);
    window.dispatchEvent(new CustomEvent("rooms:frame", { detail: frame }));
  },
});

function showError(answer) {
  byId("sidebar-error").textContent = answer.body.detail || t("Something went wrong (%(status)s).", { status: answer.status });
}

byId("create-room-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const answer = await api("POST", "/api/rooms/", {
    name: byId("create-room-name").value,
    topic: byId("create-room-topic").value,
    is_public: byId("create-room-public").checked,
  });
  if (!answer.ok) return showError(answer);
  location.assign("/chat/room/" + Number(answer.body.id) + "/");
});

export async function startDirect(usernames) {
  const answer = await api("POST", "/api/dms/", { usernames });
  if (!answer.ok) return showError(answer);
  location.assign("/chat/room/" + Number(answer.body.id) + "/");
}

byId("new-dm-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const names = byId("new-dm-users").value.split(",").map((name) => name.trim()).filter(Boolean);
  startDirect(names);
});
suggestUsers(byId("new-dm-users"), byId("user-suggestions"));

// Anywhere on the page, an element with data-dm-username starts a direct conversation.
document.addEventListener("click", (event) => {
  const target = event.target.closest && event.target.closest("[data-dm-username]");
  if (!target) return;
  event.preventDefault();
  startDirect([target.dataset.dmUsername]);
});

async function browse() {
  const query = byId("browse-search").value.trim();
  const answer = await api("GET", "/api/rooms/?public=1&q=" + encodeURIComponent(query));
  if (!answer.ok) return;
  byId("browse-list").replaceChildren(...answer.body.rooms.map(joinRow));
}

function joinRow(room) {
  const row = document.createElement("li");
  const name = document.createElement("span");
  name.textContent = room.name;
  const form = document.createElement("form");
  form.method = "post";
  form.action = "/chat/room/" + Number(room.id) + "/join/";
  form.className = "inline";
  const token = sidebar.querySelector("input[name=csrfmiddlewaretoken]").cloneNode();
  const button = document.createElement("button");
  button.type = "submit";
  button.textContent = t("Join");
  form.append(token, button);
  row.append(name, form);
  return row;
}

byId("browse-rooms").addEventListener("toggle", () => { if (byId("browse-rooms").open) browse(); });
let browseTimer = null;
byId("browse-search").addEventListener("input", () => {
  clearTimeout(browseTimer);
  browseTimer = setTimeout(browse, 200);
});

loadRooms();
window.sidebar = { get socket() { return live.socket; } };
