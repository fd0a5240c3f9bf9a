// Who is in the room now, and the "… is typing" line under the log.
import { el, personName } from "./dom.js";

const TYPING_SHOWN_MS = 4000; // a typist is forgotten this long after their last frame

export function createPresence({ list, count, typingLine }) {
  const typists = new Map(); // username -> expiry timer

  function render() {
    const names = Array.from(typists.keys());
    typingLine.textContent = names.length ? names.join(", ") + (names.length > 1 ? " are" : " is") + " typing…" : "";
  }

  return {
    show(frame) {
      list.replaceChildren(...frame.users.map((name) => personName(el("li", "", name), name)));
      count.textContent = "(" + frame.count + ")";
    },
    typing(name) {
      clearTimeout(typists.get(name));
      typists.set(name, setTimeout(() => { typists.delete(name); render(); }, TYPING_SHOWN_MS));
      render();
    },
    // Their message arrived: they are done typing it.
    stoppedTyping(name) {
      typists.delete(name);
      render();
    },
  };
}
