// The send form: a message shows at once as pending and goes out with a client_id of its
// own; until the server confirms it, every reconnect sends it again with that client_id
// (stored once). Also the typing frames and the line under the form for errors.
import { t } from "../../js/i18n.js";
import { el } from "./dom.js";

const MAX_LENGTH = 2000; // docs/protocol.md; the server refuses longer ones anyway

function newClientId() {
  if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
  return Date.now().toString(36) + Math.random().toString(36).slice(2);
}

// Options:
//   form, input, errorLine   the send form, its text field and the error line under it
//   username                 the author shown on pending messages
//   send(frame)              sends over the room socket; false if it is not open
//   appendPending(username, body)   shows a pending message, returns its element
//   takeFields()             more fields for the next message frame (its `reply_to`)
//   uploads                  static/chat/room/uploads.js: finished uploads go with the message
export function createComposer({ form, input, errorLine, username, send, appendPending, takeFields, uploads }) {
  // client_id -> {body, fields, attachments, element}: sent, not yet confirmed
  const pending = new Map();
  let lastTypingSent = 0;

  function transmit(item, clientId) {
    const frame = { ...item.fields, type: "message", body: item.body, client_id: clientId };
    if (item.attachments.length) frame.attachments = item.attachments;
    send(frame);
  }

  // The server's error frames carry a machine-readable code: shown in the page's language.
  function errorText(frame) {
    const texts = {
      bad_json: t("The server could not read that."),
      bad_frame: t("The server could not read that."),
      unknown_type: t("The server does not know that request."),
      invalid: t("That message is not valid."),
      too_long: t("Messages are at most %(max)s characters.", { max: MAX_LENGTH }),
      rate_limited: t("You are sending too fast; wait a moment."),
      forbidden: t("You may not do that."),
      not_found: t("That message is gone."),
      conflict: t("The message changed meanwhile; try again."),
    };
    return texts[frame.code] || frame.detail || frame.code;
  }

  function showError(frame) {
    const text = errorText(frame);
    errorLine.textContent = text;
    setTimeout(() => { if (errorLine.textContent === text) errorLine.textContent = ""; }, 5000);
  }

  function markRefused(item, clientId) {
    const row = item.element;
    row.classList.add("refused");
    row.querySelector(".time").textContent = t("not sent");
    row.querySelector(".retry")?.remove();
    const retry = el("button", "retry", t("Send again"));
    retry.type = "button";
    retry.addEventListener("click", () => {
      row.classList.remove("refused");
      row.querySelector(".time").textContent = t("sending…");
      retry.remove();
      transmit(item, clientId);
      input.focus();
    });
    row.append(retry);
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const body = input.value.trim();
    if (uploads && uploads.busy()) { showError({ detail: t("Wait for the uploads to finish.") }); return; }
    const attachments = uploads ? uploads.take() : [];
    if (!body && !attachments.length) return;
    if (body.length > MAX_LENGTH) { showError({ code: "too_long" }); return; }
    const clientId = newClientId();
    const item = {
      body: body,
      fields: takeFields ? takeFields() : {},
      attachments: attachments,
      element: appendPending(username, body),
    };
    pending.set(clientId, item);
    transmit(item, clientId);
    input.value = "";
  });

  input.addEventListener("input", () => {
    const now = Date.now();
    // Throttled: at most one typing frame every 2.5 s while keys are pressed.
    if (now - lastTypingSent > 2500 && send({ type: "typing" })) lastTypingSent = now;
  });

  return {
    showError,
    // The server stored the message sent with this client_id: its pending copy goes.
    settle(clientId) {
      const mine = pending.get(clientId);
      if (!mine) return;
      mine.element.remove();
      pending.delete(clientId);
    },
    // The server refused the message sent with this client_id (too fast, too long, the
    // database away): its copy says why and offers to send it again, the text kept.
    refused(frame) {
      const mine = pending.get(frame.client_id);
      if (!mine) return;
      markRefused(mine, frame.client_id);
    },
    // Anything typed while offline goes out again with the same client_id: stored once.
    resendPending() {
      pending.forEach((item, clientId) => transmit(item, clientId));
    },
    // The socket stopped for good (not a member, no such room): nothing can be sent.
    disable() {
      form.querySelectorAll("button").forEach((button) => { button.disabled = true; });
    },
  };
}
