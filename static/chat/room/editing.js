// Editing one's own message in place: the body gives way to a text box (Enter saves, Escape
// cancels), the edit goes out with the version it was based on, and a `conflict` (someone,
// or another tab, changed it meanwhile) shows the newer text and keeps what was typed, so
// that saving again retries on top of it. Up arrow in an empty composer edits one's last.
import { t } from "../../js/i18n.js";
import { el } from "./dom.js";

// Options:
//   composer              the send box's text field (Up arrow, and focus after an edit)
//   messages              the message list (rowOf, get, lastOwn, show)
//   send(frame)           sends over the room socket; false if it is not open
//   showError(frame)      the error line under the composer
export function createEditing({ composer, messages, send, showError }) {
  let open = null; // {id, version, box, input, notice}: the edit in progress

  function close(returnFocus) {
    if (!open) return;
    const row = messages.rowOf(open.id);
    open.box.remove();
    if (row) row.classList.remove("editing");
    open = null;
    if (returnFocus) composer.focus();
  }

  function save() {
    const body = open.input.value.trim();
    if (!body) { showError({ detail: t("A message needs some text; delete it instead.") }); return; }
    const current = messages.get(open.id);
    if (current && body === current.body && current.version === open.version) { close(true); return; }
    if (!send({ type: "edit", id: open.id, body: body, version: open.version })) {
      showError({ detail: t("Offline: the edit was not sent. Try again once connected.") });
      return;
    }
    open.sentVersion = open.version;
    open.sentBody = body;
    open.input.disabled = true;
    open.notice.textContent = t("saving…");
  }

  function editorBox(msg) {
    const box = el("form", "msg-editor");
    const input = el("textarea", "edit-input");
    input.value = msg.body;
    input.maxLength = 2000;
    input.rows = 2;
    input.setAttribute("aria-label", t("Edit message"));
    const saveButton = el("button", "edit-save", t("Save"));
    saveButton.type = "submit";
    const cancel = el("button", "edit-cancel link", t("Cancel"));
    cancel.type = "button";
    cancel.setAttribute("aria-label", t("Cancel editing"));
    const notice = el("div", "edit-notice muted");
    notice.setAttribute("role", "status");
    box.append(input, saveButton, cancel, notice);
    box.addEventListener("submit", (event) => { event.preventDefault(); save(); });
    cancel.addEventListener("click", () => close(true));
    input.addEventListener("keydown", (event) => {
      if (event.key === "Escape") { event.preventDefault(); event.stopPropagation(); close(true); }
      if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); save(); }
    });
    return { box, input, notice };
  }

  function start(id) {
    const msg = messages.get(id);
    const row = messages.rowOf(id);
    if (!msg || !row || msg.deleted) return;
    close(false);
    const parts = editorBox(msg);
    open = { id, version: msg.version, sentVersion: null, sentBody: null, ...parts };
    row.classList.add("editing");
    row.append(parts.box);
    parts.input.focus();
    parts.input.setSelectionRange(parts.input.value.length, parts.input.value.length);
  }

  composer.addEventListener("keydown", (event) => {
    if (event.key !== "ArrowUp" || composer.value !== "") return;
    const last = messages.lastOwn();
    if (!last) return;
    event.preventDefault();
    start(last.id);
  });

  return {
    start,
    // A newer version of a message arrived: the edit in it is done, or it was deleted.
    changed(msg) {
      if (!open || open.id !== msg.id) return;
      // Someone else's change only makes ours conflict: the editor stays for the retry.
      if (msg.deleted || (open.sentVersion !== null && msg.body === open.sentBody)) close(true);
    },
    // An error frame: true when it answered the edit in progress (and was shown here).
    failed(frame) {
      if (!open || open.sentVersion === null) return false;
      if (frame.code === "conflict" && frame.message && frame.message.id === open.id) {
        messages.show(frame.message);
        open.version = frame.message.version;
        open.notice.textContent = t("Changed meanwhile: the newer text is above. Save again to replace it with yours.");
      } else if (["forbidden", "not_found", "invalid", "too_long", "rate_limited", "unavailable"].includes(frame.code)) {
        showError(frame);
        open.notice.textContent = "";
      } else {
        return false;
      }
      open.sentVersion = null;
      open.input.disabled = false;
      open.input.focus();
      return true;
    },
  };
}
