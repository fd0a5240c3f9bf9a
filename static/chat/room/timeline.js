// How the log reads (docs/architecture.md, room page): messages by one author within a few
// minutes form a group (the name shows once; screen readers still hear it on each), a line
// names each day, times are relative ("5 min ago") with the exact one on hover, and a "new
// messages" line marks where the reader left off. Dates and times in the page's language.
// It only decorates rows messages.js has put in order; it never reorders them.
import { language, t } from "../../js/i18n.js";
import { el } from "./dom.js";

const GROUP_MS = 5 * 60 * 1000; // one author's messages this close together form a group

const exactFormat = new Intl.DateTimeFormat(language, { dateStyle: "full", timeStyle: "short" });
const clockFormat = new Intl.DateTimeFormat(language, { hour: "2-digit", minute: "2-digit" });
const dayFormat = new Intl.DateTimeFormat(language, { weekday: "long", day: "numeric", month: "long", year: "numeric" });
const relative = new Intl.RelativeTimeFormat(language, { numeric: "auto", style: "short" });

function dayKey(date) {
  return date.getFullYear() + "-" + date.getMonth() + "-" + date.getDate();
}

function dayLabel(date, now = new Date()) {
  const yesterday = new Date(now);
  yesterday.setDate(now.getDate() - 1);
  if (dayKey(date) === dayKey(now)) return t("Today");
  if (dayKey(date) === dayKey(yesterday)) return t("Yesterday");
  return dayFormat.format(date);
}

// "now", "3 min ago" within the hour, the clock time after that (the day line names the day).
export function relativeTime(date, now = new Date()) {
  const seconds = Math.round((now - date) / 1000);
  if (seconds < 45) return t("now");
  if (seconds < 3600) return relative.format(-Math.round(seconds / 60), "minute");
  return clockFormat.format(date);
}

// The <time> element of a confirmed message: relative text, exact date and time in `title`.
export function timeElement(iso) {
  const when = new Date(iso);
  const node = el("time", "time");
  if (isNaN(when)) return node;
  node.dateTime = iso;
  node.title = exactFormat.format(when);
  node.textContent = relativeTime(when);
  return node;
}

function created(row) {
  return new Date(row.dataset.created);
}

function previousMessage(row) {
  for (let node = row.previousElementSibling; node; node = node.previousElementSibling) {
    if (node.matches(".msg[data-id]")) return node;
  }
  return null;
}

function nextMessage(row) {
  for (let node = row.nextElementSibling; node; node = node.nextElementSibling) {
    if (node.matches(".msg[data-id]")) return node;
  }
  return null;
}

// Puts this row's group and day line right, given the message before it.
function decorate(row) {
  const before = previousMessage(row);
  const when = created(row);
  const newDay = !before || isNaN(when) || dayKey(created(before)) !== dayKey(when);
  const continues = !newDay && before.dataset.author === row.dataset.author &&
    when - created(before) < GROUP_MS && !row.previousElementSibling.matches(".unread-line");
  row.classList.toggle("cont", continues);
  // The day line sits right before the first message of its day (the unread line, if any,
  // between them).
  let line = row.previousElementSibling;
  if (line && line.matches(".unread-line")) line = line.previousElementSibling;
  const hasLine = line && line.matches(".day-line");
  if (newDay && !hasLine && !isNaN(when)) {
    const label = el("div", "day-line", dayLabel(when));
    label.setAttribute("role", "separator");
    label.setAttribute("aria-label", label.textContent);
    label.dataset.day = dayKey(when);
    (row.previousElementSibling && row.previousElementSibling.matches(".unread-line")
      ? row.previousElementSibling : row).before(label);
  } else if (!newDay && hasLine) {
    line.remove();
  }
}

export function createTimeline({ log, lastReadId, username }) {
  let unreadLine = null;

  return {
    // A confirmed row was just put in its place: it and the one after it may regroup.
    placed(row) {
      decorate(row);
      const after = nextMessage(row);
      if (after) decorate(after);
    },
    // On the page's first history: a line before the first message after the reader's last
    // read one, written by someone else. Returns that row, to scroll to.
    markUnread() {
      if (unreadLine || !lastReadId) return null;
      const first = Array.from(log.querySelectorAll(".msg[data-id]")).find(
        (row) => Number(row.dataset.id) > lastReadId && row.dataset.author !== username,
      );
      if (!first) return null;
      unreadLine = el("div", "unread-line");
      unreadLine.setAttribute("role", "separator");
      unreadLine.append(el("span", "", t("New messages")));
      unreadLine.setAttribute("aria-label", t("New messages"));
      first.before(unreadLine);
      decorate(first);
      return unreadLine;
    },
    // Relative times age: "now" becomes "1 min ago", "Today" becomes "Yesterday".
    refresh() {
      const now = new Date();
      log.querySelectorAll(".msg[data-id] time[datetime]").forEach((node) => {
        node.textContent = relativeTime(new Date(node.dateTime), now);
      });
      log.querySelectorAll(".day-line").forEach((line) => {
        const next = line.nextElementSibling && line.nextElementSibling.matches(".unread-line")
          ? line.nextElementSibling.nextElementSibling : line.nextElementSibling;
        if (!next || !next.dataset.created) return;
        line.textContent = dayLabel(created(next), now);
        line.setAttribute("aria-label", line.textContent);
      });
    },
  };
}
