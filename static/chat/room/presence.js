// Who is in the room now, and the "… is typing" line under the log.
import { language, t } from "../../js/i18n.js";
import { el, personName } from "./dom.js";

const listFormat = new Intl.ListFormat(language, { style: "long", type: "conjunction" });

const TYPING_SHOWN_MS = 4000; // a typist is forgotten this long after their last frame

export function createPresence({ list, count, typingLine }) {
  const typists = new Map(); // username -> expiry timer

  function render() {
    const names = Array.from(typists.keys());
    if (!names.length) typingLine.textContent = "";
    else if (names.length === 1) typingLine.textContent = t("%(name)s is typing…", { name: names[0] });
    else typingLine.textContent = t("%(names)s are typing…", { names: listFormat.format(names) });
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
