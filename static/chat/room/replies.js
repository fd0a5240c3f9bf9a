// Replies: the "replying to …" bar above the composer (Escape or its button cancels), the
// `reply_to` of the next message sent, and jumping from a quote to the original, paging
// older history in until it shows or the room's start is reached.
import { t } from "../../js/i18n.js";

const HIGHLIGHT_MS = 2000;

// Options:
//   bar, label, cancelButton   the reply bar, its text and its cancel button
//   composer                   the send box's text field
//   messages                   the message list (get, rowOf, loadOlder, hasOlder)
//   showError(frame)           the error line under the composer
export function createReplies({ bar, label, cancelButton, composer, messages, showError }) {
  let replyingTo = null; // the message id the next message answers
  let seeking = null; // the id a quote jump waits for while older pages load

  function cancel() {
    replyingTo = null;
    bar.hidden = true;
    label.textContent = "";
  }

  function start(id) {
    const msg = messages.get(id);
    if (!msg || msg.deleted) return;
    replyingTo = id;
    label.textContent = t("Replying to %(name)s: %(excerpt)s", { name: msg.username, excerpt: msg.body.slice(0, 100) });
    bar.hidden = false;
    composer.focus();
  }

  function highlight(row) {
    row.scrollIntoView({ block: "center" });
    row.classList.add("highlight");
    row.focus({ preventScroll: true });
    setTimeout(() => row.classList.remove("highlight"), HIGHLIGHT_MS);
  }

  // Shown already, or one more older page asked for; gives up at the room's start.
  function seek() {
    const row = messages.rowOf(seeking);
    if (row) { seeking = null; highlight(row); return; }
    if (!messages.hasOlder) {
      seeking = null;
      showError({ detail: t("The original message is no longer in this room's history.") });
      return;
    }
    messages.loadOlder();
  }

  function jump(id) {
    seeking = id;
    seek();
  }

  cancelButton.addEventListener("click", () => { cancel(); composer.focus(); });
  composer.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && replyingTo !== null) { event.preventDefault(); cancel(); }
  });

  return {
    start,
    jump,
    cancel,
    // The fields the next message frame carries; the reply is used up by sending it.
    takeFields() {
      if (replyingTo === null) return {};
      const fields = { reply_to: replyingTo };
      cancel();
      return fields;
    },
    // An older page arrived (or the socket reopened): go on looking if a jump waits.
    olderShown() { if (seeking !== null) seek(); },
  };
}
