// One message row: author, time, "(edited)", the quoted reply, the body, reactions and the
// action buttons. `html` is sanitized on the server (chat/rendering.py) and is the only
// string that goes in as markup; every other user string goes in with textContent.
import { language, t } from "../../js/i18n.js";
import { el, personName } from "./dom.js";
import { renderReactions } from "./reactions.js";
import { timeElement } from "./timeline.js";
import { attachmentsElement } from "./uploads.js";

export const TOMBSTONE_TEXT = t("message deleted");

const exactFormat = new Intl.DateTimeFormat(language, { dateStyle: "full", timeStyle: "short" });

function actionButton(action, label, text) {
  const button = el("button", "msg-action", text);
  button.type = "button";
  button.dataset.action = action;
  button.setAttribute("aria-label", label);
  button.title = label;
  return button;
}

// Edit is offered while the server would still take it; the server decides in the end.
function canEdit(msg, viewer) {
  const age = Date.now() - new Date(msg.created).getTime();
  return msg.username === viewer.username && age < viewer.editWindowSeconds * 1000;
}

function canDelete(msg, viewer) {
  return msg.username === viewer.username || viewer.isStaff;
}

function actionsBar(msg, viewer) {
  const bar = el("div", "msg-actions");
  bar.setAttribute("role", "toolbar");
  bar.setAttribute("aria-label", t("Message actions"));
  bar.append(
    actionButton("reply", t("Reply to %(name)s", { name: msg.username }), "↩"),
    actionButton("react", t("Add a reaction"), "☺"),
  );
  if (canEdit(msg, viewer)) bar.append(actionButton("edit", t("Edit message"), "✎"));
  if (canDelete(msg, viewer)) bar.append(actionButton("delete", t("Delete message"), "🗑"));
  return bar;
}

function quoteButton(reply) {
  const quote = el("button", "msg-quote");
  quote.type = "button";
  quote.dataset.action = "jump";
  quote.dataset.target = String(reply.id);
  quote.setAttribute("aria-label", t("Go to the message by %(name)s this replies to", { name: reply.username }));
  quote.append(el("span", "quote-author", reply.username), el("span", "quote-excerpt", reply.excerpt || TOMBSTONE_TEXT));
  return quote;
}

function editedMarker(msg) {
  const marker = el("span", "edited muted", t("(edited)"));
  const when = new Date(msg.edited);
  marker.title = isNaN(when) ? "" : t("edited %(when)s", { when: exactFormat.format(when) });
  return marker;
}

function fillBody(body, msg) {
  if (msg.deleted) {
    body.textContent = TOMBSTONE_TEXT;
  } else if (msg.html) {
    body.innerHTML = msg.html; // server-sanitized: the one field inserted as markup
  } else {
    body.classList.add("plain");
    body.textContent = msg.body; // a row written without its html (an import): text only
  }
}

// Which control of the row has the focus, to give it back once the row is rebuilt: a
// keyboard user who toggles a reaction stays on that chip.
function focusedControl(row) {
  const active = document.activeElement;
  if (!active || !row.contains(active) || active === row) return null;
  if (!active.dataset || !active.dataset.action) return null;
  return { action: active.dataset.action, emoji: active.dataset.emoji };
}

function refocus(row, control) {
  const buttons = row.querySelectorAll("button[data-action]");
  const same = [...buttons].find((b) => b.dataset.action === control.action && b.dataset.emoji === control.emoji);
  (same || row).focus({ preventScroll: true });
}

// The parts of a row that a change can touch, rebuilt together; the row element, and an
// edit box or reaction picker open in it, stay (and keep the focus).
export function updateRow(row, msg, viewer) {
  row.dataset.version = String(msg.version);
  row.classList.toggle("deleted", msg.deleted);
  row.classList.toggle("mine", msg.username === viewer.username);
  row.dataset.author = msg.username; // the log's groups (timeline.js)
  row.dataset.created = msg.created;
  const head = el("div", "msg-head");
  head.append(personName(el("span", "author", msg.username), msg.username), timeElement(msg.created));
  if (msg.edited && !msg.deleted) head.append(editedMarker(msg));
  const body = el("div", "body");
  fillBody(body, msg);
  const parts = [head];
  if (msg.reply_to && !msg.deleted) parts.push(quoteButton(msg.reply_to));
  parts.push(body);
  if (!msg.deleted && msg.attachments && msg.attachments.length) {
    parts.push(attachmentsElement(msg.attachments));
  }
  if (!msg.deleted) parts.push(renderReactions(msg, viewer.username), actionsBar(msg, viewer));
  const control = focusedControl(row);
  const kept = msg.deleted ? [] : [...row.querySelectorAll(":scope > .msg-editor, :scope > .reaction-picker")];
  [...row.children].filter((child) => !kept.includes(child)).forEach((child) => child.remove());
  row.prepend(...parts);
  if (control) refocus(row, control);
}

export function messageRow(msg, viewer) {
  const row = el("div", "msg");
  row.dataset.id = String(msg.id);
  // Focusable, so that a keyboard reaches its actions (they show on focus-within).
  row.tabIndex = 0;
  updateRow(row, msg, viewer);
  return row;
}
