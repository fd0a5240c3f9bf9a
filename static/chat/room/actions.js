// The buttons on a message (reply, react, edit, delete, a reaction chip, a quote), handled
// once for the whole log: rows are rebuilt when a message changes, the listener stays.
// Delete asks for a second press instead of a dialog: nothing here may block the page.
import { t } from "../../js/i18n.js";
import { createEditing } from "./editing.js";
import { createReactionPicker } from "./reactions.js";
import { createReplies } from "./replies.js";

const CONFIRM_MS = 4000;

function confirmDelete(button) {
  if (button.dataset.armed === "1") return true;
  button.dataset.armed = "1";
  button.classList.add("armed");
  button.textContent = t("Delete?");
  button.setAttribute("aria-label", t("Press again to delete the message"));
  setTimeout(() => {
    if (!button.isConnected) return;
    button.dataset.armed = "";
    button.classList.remove("armed");
    button.textContent = "🗑";
    button.setAttribute("aria-label", t("Delete message"));
  }, CONFIRM_MS);
  return false;
}

// Options: log, and one handler per action, each given the message id:
//   reply(id), react(id, row, button), toggleReaction(id, emoji, on), edit(id), remove(id),
//   jump(targetId)
function wireButtons({ log, handlers }) {
  log.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-action]");
    const row = button && button.closest(".msg[data-id]");
    if (!row || !log.contains(row)) return;
    const id = Number(row.dataset.id);
    switch (button.dataset.action) {
      case "reply": handlers.reply(id); break;
      case "react": handlers.react(id, row, button); break;
      case "toggle-reaction": handlers.toggleReaction(id, button.dataset.emoji, button.dataset.on === "true"); break;
      case "edit": handlers.edit(id); break;
      case "delete": if (confirmDelete(button)) handlers.remove(id); break;
      case "jump": handlers.jump(Number(button.dataset.target)); break;
    }
  });
}

// Replies, reactions, editing and deletion, wired to the log's buttons.
// Options: log, composer (the send box's text field), replyBar {bar, label, cancelButton},
//   messages (the message list), send(frame), showError(frame)
export function createMessageActions({ log, composer, replyBar, messages, send, showError }) {
  const replies = createReplies({ ...replyBar, composer, messages, showError });
  const editing = createEditing({ composer, messages, send, showError });
  const react = (id, emoji, on) => send({ type: "react", id, emoji, on });
  const picker = createReactionPicker({ react });
  wireButtons({
    log,
    handlers: {
      reply: replies.start,
      react: (id, row, button) => picker.open(row, id, button),
      toggleReaction: react,
      edit: editing.start,
      remove: (id) => send({ type: "delete", id }),
      jump: replies.jump,
    },
  });
  return {
    takeFields: replies.takeFields,
    olderShown: replies.olderShown,
    changed: editing.changed, // a newer version of a message arrived
    failed: editing.failed, // an error frame; true if it answered the edit in progress
  };
}
