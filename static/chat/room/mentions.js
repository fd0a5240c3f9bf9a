// The composer's @ autocomplete: typing `@` and the start of a name lists the room's members
// who match; arrows move through them, Enter or Tab (or a click) puts the name in, Escape
// closes the list. While the list is open Enter picks a name instead of sending.
// Also: mentions of the viewer stand out (a rule on `.mention[data-username=<you>]`).
import { el } from "./dom.js";

const SHOWN = 8; // names listed at once
const TYPED_MENTION = /(^|[^\w@.+-])@([\w.+-]*)$/; // an `@name` being typed, before the caret

// Options:
//   input      the composer's text field
//   list       an empty element for the suggestions (shown above the field)
//   members()  the room's member usernames
//   me         the viewer's username (not suggested)
export function createMentionAutocomplete({ input, list, members, me }) {
  let names = [];
  let active = 0;
  let start = -1; // where the `@` being completed is in the field's value

  function close() {
    names = [];
    start = -1;
    list.hidden = true;
    list.replaceChildren();
    input.removeAttribute("aria-activedescendant");
  }

  function render() {
    list.replaceChildren(...names.map((name, i) => {
      const item = el("li", i === active ? "active" : "", "@" + name);
      item.id = "mention-option-" + i;
      item.setAttribute("role", "option");
      item.setAttribute("aria-selected", String(i === active));
      item.addEventListener("mousedown", (event) => { event.preventDefault(); choose(i); });
      return item;
    }));
    list.hidden = names.length === 0;
    if (names.length) input.setAttribute("aria-activedescendant", "mention-option-" + active);
  }

  function update() {
    const caret = input.selectionStart ?? input.value.length;
    const typed = TYPED_MENTION.exec(input.value.slice(0, caret));
    if (!typed) return close();
    const prefix = typed[2].toLowerCase();
    start = caret - typed[2].length - 1;
    names = members()
      .filter((name) => name !== me && name.toLowerCase().startsWith(prefix))
      .slice(0, SHOWN);
    active = 0;
    render();
  }

  function choose(index) {
    const name = names[index];
    if (name === undefined || start < 0) return close();
    const caret = input.selectionStart ?? input.value.length;
    const before = input.value.slice(0, start) + "@" + name + " ";
    input.value = before + input.value.slice(caret);
    input.setSelectionRange(before.length, before.length);
    close();
    input.dispatchEvent(new Event("input", { bubbles: true }));
  }

  input.addEventListener("input", update);
  input.addEventListener("blur", close);
  input.addEventListener("keydown", (event) => {
    if (list.hidden || !names.length) return;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      active = (active + (event.key === "ArrowDown" ? 1 : names.length - 1)) % names.length;
      render();
    } else if (event.key === "Enter" || event.key === "Tab") {
      event.preventDefault(); // picks the name; the message is not sent
      choose(active);
    } else if (event.key === "Escape") {
      close();
    }
  });
  close();
}

// `.mention[data-username=<you>]` stands out in every message rendered from html.
export function highlightMentionsOf(username) {
  const style = document.createElement("style");
  style.textContent = '.mention[data-username="' + CSS.escape(username) + '"] { background: #ffe08a; font-weight: 600; }';
  document.head.append(style);
}
