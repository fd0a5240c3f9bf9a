// Reactions: the chips under a message (emoji, count, who reacted in the title, one's own
// highlighted and toggled by a click) and the picker (common emoji plus a free field for
// any one emoji). The server validates the emoji and the 20-emoji cap (error `invalid`).
import { t } from "../../js/i18n.js";
import { el } from "./dom.js";

const COMMON_EMOJI = ["👍", "❤️", "😂", "🎉", "😮", "😢", "🙏", "👀"];

function chip(reaction, me) {
  const mine = reaction.users.includes(me);
  const button = el("button", "reaction" + (mine ? " mine" : ""));
  button.type = "button";
  button.dataset.action = "toggle-reaction";
  button.dataset.emoji = reaction.emoji;
  button.dataset.on = mine ? "false" : "true"; // what a click asks for
  button.setAttribute("aria-pressed", String(mine));
  button.title = reaction.users.join(", ");
  button.setAttribute("aria-label", t("%(emoji)s %(count)s, from %(names)s", { emoji: reaction.emoji, count: reaction.count, names: reaction.users.join(", ") }));
  button.append(el("span", "reaction-emoji", reaction.emoji), el("span", "reaction-count", String(reaction.count)));
  return button;
}

export function renderReactions(msg, me) {
  const box = el("div", "reactions");
  box.append(...(msg.reactions || []).map((reaction) => chip(reaction, me)));
  return box;
}

function pickerElement() {
  const picker = el("div", "reaction-picker");
  picker.setAttribute("role", "dialog");
  picker.setAttribute("aria-label", t("Pick a reaction"));
  const buttons = COMMON_EMOJI.map((emoji) => {
    const button = el("button", "pick", emoji);
    button.type = "button";
    button.dataset.emoji = emoji;
    button.setAttribute("aria-label", t("React with %(emoji)s", { emoji }));
    return button;
  });
  const form = el("form", "pick-other");
  const input = el("input", "pick-input");
  input.maxLength = 16;
  input.placeholder = t("other");
  input.setAttribute("aria-label", t("Any emoji"));
  const add = el("button", "pick-add", t("Add"));
  add.type = "submit";
  add.setAttribute("aria-label", t("React with the emoji typed"));
  form.append(input, add);
  picker.append(...buttons, form);
  return { picker, input, form };
}

// One picker for the page, moved under the message it is opened for.
// Options: react(id, emoji, on)   sends the react frame
export function createReactionPicker({ react }) {
  const { picker, input, form } = pickerElement();
  let target = null; // {id, opener}: the message it is open for, and the button to refocus

  function close() {
    if (!target) return;
    const opener = target.opener;
    target = null;
    picker.remove();
    if (opener && opener.isConnected) opener.focus();
  }

  function choose(emoji) {
    if (!target || !emoji) return;
    react(target.id, emoji, true);
    close();
  }

  picker.addEventListener("click", (event) => {
    const button = event.target.closest("button.pick");
    if (button) choose(button.dataset.emoji);
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    choose(input.value.trim());
  });
  picker.addEventListener("keydown", (event) => {
    if (event.key === "Escape") { event.stopPropagation(); close(); }
  });

  return {
    open(row, id, opener) {
      if (target && target.id === id && picker.isConnected) { close(); return; }
      close();
      target = { id, opener };
      input.value = "";
      row.append(picker);
      picker.querySelector("button.pick").focus();
    },
    close,
  };
}
