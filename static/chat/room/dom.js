import { t } from "../../js/i18n.js";

// Building page elements. Text goes in with textContent, never as HTML: message bodies,
// usernames and errors are user-supplied.
export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// A person's name that starts a direct conversation with them when clicked (sidebar.js).
export function personName(node, username) {
  node.dataset.dmUsername = username;
  node.title = t("Message %(name)s", { name: username });
  return node;
}
