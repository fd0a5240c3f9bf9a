// The room page's name, topic and members (docs/protocol.md): the topic is edited in place
// by those who may (owners and moderators), owners and moderators add members by username
// (with suggestions), remove them, and owners set roles. Changes arrive as `room_updated`
// over the sidebar's room list socket (`rooms:frame` events). User text goes in with
// textContent only.
import { t } from "../js/i18n.js";
import { api, suggestUsers } from "./api.js";
import { el, personName } from "./room/dom.js";

const config = JSON.parse(document.getElementById("room-config").textContent);
const byId = (id) => document.getElementById(id);
let room = config.room;
const isManager = () => room.kind === "room" && (room.role === "owner" || room.role === "moderator");
const isOwner = () => room.kind === "room" && room.role === "owner";
const ROLES = ["member", "moderator", "owner"];
const ROLE_NAMES = { member: t("member"), moderator: t("moderator"), owner: t("owner") };

function showError(box, answer) {
  box.textContent = answer.ok ? "" : (answer.body.detail || t("Refused (%(status)s).", { status: answer.status }));
}

function showRoom(updated) {
  room = { ...room, ...updated };
  if (room.kind === "room") byId("room-name").textContent = room.name;
  byId("room-topic").textContent = room.topic || (isManager() ? t("Set a topic") : "");
  byId("room-topic").title = isManager() ? t("Click to edit the topic") : "";
  byId("member-add-form").classList.toggle("hidden", !isManager());
  loadMembers();
}

function editTopic() {
  if (!isManager()) return;
  const topic = byId("room-topic");
  const input = el("input", "topic-input");
  input.value = room.topic;
  input.maxLength = 250;
  input.setAttribute("aria-label", t("Topic"));
  topic.replaceChildren(input);
  input.focus();
  let done = false;
  const finish = async (save) => {
    if (done) return;
    done = true;
    if (save && input.value !== room.topic) {
      const answer = await api("PATCH", "/api/rooms/" + room.id + "/", { topic: input.value });
      if (answer.ok) room = { ...room, ...answer.body };
    }
    showRoom(room);
  };
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter") finish(true);
    if (event.key === "Escape") finish(false);
  });
  input.addEventListener("blur", () => finish(true));
}

function memberRow(member) {
  const row = el("li", "", "");
  row.dataset.username = member.username;
  row.append(personName(el("span", "member-name", member.username), member.username));
  if (isOwner() && member.role !== "owner" || isOwner() && member.username === config.username) {
    const select = el("select", "member-role");
    select.setAttribute("aria-label", t("Role of %(name)s", { name: member.username }));
    ROLES.forEach((role) => { const option = el("option", "", ROLE_NAMES[role]); option.value = role; select.append(option); });
    select.value = member.role;
    select.addEventListener("change", () => setRole(member.username, select.value));
    row.append(select);
  } else {
    row.append(el("span", "tag", ROLE_NAMES[member.role] || member.role));
  }
  const mayRemove = member.username !== config.username && member.role !== "owner" &&
    (isOwner() || (isManager() && member.role === "member"));
  if (mayRemove) {
    const button = el("button", "link member-remove", t("remove"));
    button.type = "button";
    button.addEventListener("click", () => removeMember(member.username));
    row.append(button);
  }
  return row;
}

async function loadMembers() {
  const answer = await api("GET", "/api/rooms/" + room.id + "/members/");
  if (answer.ok) byId("member-list").replaceChildren(...answer.body.members.map(memberRow));
}

async function setRole(username, role) {
  const answer = await api("POST", "/api/rooms/" + room.id + "/members/", { username, role });
  showError(byId("member-error"), answer);
  loadMembers();
}

async function removeMember(username) {
  const answer = await api("DELETE", "/api/rooms/" + room.id + "/members/" + encodeURIComponent(username) + "/");
  showError(byId("member-error"), answer);
  loadMembers();
}

byId("member-add-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = byId("member-add-name");
  const answer = await api("POST", "/api/rooms/" + room.id + "/members/", { username: input.value.trim() });
  showError(byId("member-error"), answer);
  if (answer.ok) input.value = "";
  loadMembers();
});
suggestUsers(byId("member-add-name"), byId("member-suggestions"));
byId("room-topic").addEventListener("click", editTopic);

window.addEventListener("rooms:frame", (event) => {
  const frame = event.detail;
  if (frame.type === "room_updated" && frame.room.id === room.id) showRoom(frame.room);
});
showRoom(room);
