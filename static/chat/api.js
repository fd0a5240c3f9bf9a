// The JSON API as the pages call it (docs/protocol.md): the session cookie plus the CSRF
// token the page carries. Resolves to {ok, status, body}.
import { t } from "../js/i18n.js";

function csrfToken() {
  const field = document.querySelector("input[name=csrfmiddlewaretoken]");
  return field ? field.value : "";
}

export async function api(method, path, body) {
  const options = { method, headers: { "X-CSRFToken": csrfToken() }, credentials: "same-origin" };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, options);
  } catch (error) {
    // Offline or the server is away: the caller shows it; the socket's reconnect reloads.
    return { ok: false, status: 0, body: { detail: t("The service cannot be reached; retrying.") } };
  }
  let data = {};
  try { data = await response.json(); } catch (e) { /* an empty or non-JSON answer */ }
  return { ok: response.ok, status: response.status, body: data };
}

// Usernames starting with what was typed, into a <datalist> (at most 10, from the server).
export function suggestUsers(input, datalist) {
  let last = "";
  input.addEventListener("input", async () => {
    const prefix = input.value.split(",").pop().trim();
    if (!prefix || prefix === last) return;
    last = prefix;
    const answer = await api("GET", "/api/users/?q=" + encodeURIComponent(prefix));
    if (!answer.ok || prefix !== last) return;
    const head = input.value.includes(",") ? input.value.slice(0, input.value.lastIndexOf(",") + 1) + " " : "";
    datalist.replaceChildren(...answer.body.users.map((name) => {
      const option = document.createElement("option");
      option.value = head + name;
      return option;
    }));
  });
}
