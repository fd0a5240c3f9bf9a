// The room page's alerts: live ones arrive on the room's chat socket (room.js raises a
// `chat:alert` event per frame); the form posts through the JSON API. Plain JS, no build step.
// Every user-supplied string goes into the page with textContent, never as HTML.
(function () {
  "use strict";

  const list = document.getElementById("room-alerts");
  const form = document.getElementById("alert-form");
  const content = document.getElementById("alert-content");
  const level = document.getElementById("alert-level");
  const errorLine = document.getElementById("alert-error");
  const config = JSON.parse(document.getElementById("room-config").textContent);
  const LEVELS = ["info", "warning", "critical"];
  // The catalogue (/jsi18n/, loaded first by templates/base.html): texts in the page's language.
  const gettext = window.gettext || ((text) => text);
  const interpolate = window.interpolate || ((format, values) => format.replace(/%\((\w+)\)s/g, (_, key) => String(values[key])));
  const levelNames = { info: gettext("info"), warning: gettext("warning"), critical: gettext("critical") };
  const dateTime = new Intl.DateTimeFormat(document.documentElement.lang || "en", { dateStyle: "short", timeStyle: "short" });

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function alertElement(alert) {
    const safeLevel = LEVELS.includes(alert.level) ? alert.level : "info";
    const item = el("li", "alert-item level-" + safeLevel);
    item.id = "alert-" + alert.id;
    item.dataset.id = String(alert.id);
    item.dataset.level = safeLevel;
    const when = new Date(alert.created);
    const time = el("time", "", isNaN(when) ? "" : dateTime.format(when));
    time.dateTime = alert.created;
    const meta = el("span", "alert-meta muted");
    meta.append(el("span", "alert-user", alert.username), " · ", time);
    item.append(el("span", "alert-level", levelNames[safeLevel]), el("span", "alert-content", alert.content), meta);
    return item;
  }

  // Newest first; an alert already on the page (rendered by the server) is not added twice.
  function showAlert(alert) {
    if (alert.room_id !== config.roomId || document.getElementById("alert-" + alert.id)) return;
    const item = alertElement(alert);
    for (const existing of list.children) {
      if (Number(existing.dataset.id) < alert.id) { existing.before(item); return; }
    }
    list.append(item);
  }

  window.addEventListener("chat:alert", (event) => showAlert(event.detail));

  // Alerts posted while the chat socket was not in the room (between the page render and the
  // first connect, or during a reconnect) come from the API when it (re)joins. The feed holds
  // all the user's rooms; this room's are picked out.
  let caughtUpTo = config.alertsAfter || 0;
  let catchingUp = false;
  let joinedAgain = false;
  async function catchUp() {
    if (catchingUp) { joinedAgain = true; return; }
    catchingUp = true;
    try {
      do {
        joinedAgain = false;
        for (let page = 0; page < 10; page++) {
          const response = await fetch("/api/alerts/?limit=100&after=" + caughtUpTo, { credentials: "same-origin" });
          if (!response.ok) return;
          const body = await response.json();
          body.alerts.forEach((alert) => { caughtUpTo = Math.max(caughtUpTo, alert.id); showAlert(alert); });
          if (!body.has_more || body.alerts.length === 0) break;
        }
      } while (joinedAgain);
    } finally {
      catchingUp = false;
    }
  }
  window.addEventListener("chat:joined", catchUp);

  function csrfToken() {
    return form.querySelector("input[name=csrfmiddlewaretoken]").value;
  }

  function showError(text) {
    errorLine.textContent = text;
  }

  // With JavaScript the form goes to the API (errors shown in place); without, it posts to the
  // page view, which redirects back here.
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = content.value.trim();
    if (!text) { showError(gettext("An alert needs some text.")); return; }
    if (text.length > 200) { showError(gettext("Alerts are at most 200 characters.")); return; }
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      const response = await fetch("/api/rooms/" + config.roomId + "/alerts/", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
        body: JSON.stringify({ content: text, level: level.value }),
      });
      if (response.ok) {
        showAlert(await response.json());
        content.value = "";
        showError("");
      } else {
        let detail = interpolate(gettext("The alert was not posted (HTTP %(status)s)."), { status: response.status }, true);
        try { detail = (await response.json()).detail || detail; } catch (e) { /* not JSON */ }
        showError(detail);
      }
    } catch (e) {
      showError(gettext("The alert was not posted: the server cannot be reached."));
    } finally {
      button.disabled = false;
    }
  });
})();
