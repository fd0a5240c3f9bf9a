// Attachments: files picked with the button, dropped onto the room or pasted into the
// composer are uploaded over HTTP at once (never over the socket), each with a progress bar;
// the composer sends the ids of those finished with the next message. A pending upload can
// be removed before sending. Also how a message's attachments are shown.
import { language, t } from "../../js/i18n.js";
import { el } from "./dom.js";

const MAX_PER_MESSAGE = 10; // docs/protocol.md

export function formatSize(bytes) {
  const number = (value, digits) => new Intl.NumberFormat(language, { maximumFractionDigits: digits }).format(value);
  if (bytes < 1024) return number(bytes, 0) + " B";
  if (bytes < 1024 * 1024) return number(bytes / 1024, 1) + " KB";
  return number(bytes / (1024 * 1024), 1) + " MB";
}

// A message's attachments: images as their thumbnail linking to the file, anything else as a
// download card with its name and size. Names go in as text; URLs are the server's own.
export function attachmentsElement(attachments) {
  const box = el("div", "attachments");
  for (const file of attachments || []) {
    const link = el("a", file.thumbnail_url ? "attachment-image" : "attachment-file");
    link.href = file.url;
    link.rel = "noopener";
    if (file.thumbnail_url) {
      const img = el("img");
      img.src = file.thumbnail_url;
      img.alt = file.name;
      img.loading = "lazy";
      link.target = "_blank";
      link.append(img);
    } else {
      link.download = file.name;
      link.append(el("span", "attachment-name", file.name), el("span", "attachment-size muted", formatSize(file.size)));
    }
    box.append(link);
  }
  return box;
}

// Options:
//   roomId, csrfToken     where and how to POST uploads
//   list                  the element that shows pending uploads
//   dropZone, input       the room (drop target) and the composer's text field (paste target)
//   button, fileInput     the "attach" button and its hidden <input type="file" multiple>
//   showError(frame)      the composer's error line
export function createUploads({ roomId, csrfToken, list, dropZone, input, button, fileInput, showError }) {
  const pending = []; // {id | null, xhr, row, done}

  function remove(item) {
    if (item.xhr && !item.done) item.xhr.abort();
    item.row.remove();
    pending.splice(pending.indexOf(item), 1);
  }

  function pendingRow(item, file) {
    const row = el("li", "upload");
    const bar = el("progress");
    bar.max = 100;
    bar.value = 0;
    const cancel = el("button", "upload-remove", "×");
    cancel.type = "button";
    cancel.title = t("Remove");
    cancel.setAttribute("aria-label", t("Remove %(name)s", { name: file.name || t("pasted image") }));
    cancel.addEventListener("click", () => remove(item));
    row.append(el("span", "upload-name", file.name || t("pasted image")), bar, cancel);
    return { row, bar };
  }

  function failed(item, xhr) {
    let detail = xhr.status ? t("upload failed (HTTP %(status)s)", { status: xhr.status }) : t("upload failed (network)");
    try { detail = JSON.parse(xhr.responseText).detail || detail; } catch (_) { /* not JSON */ }
    showError({ detail: item.name + ": " + detail });
    remove(item);
  }

  function start(file) {
    if (pending.length >= MAX_PER_MESSAGE) {
      showError({ detail: t("At most %(count)s files per message.", { count: MAX_PER_MESSAGE }) });
      return;
    }
    const item = { id: null, done: false, name: file.name || t("pasted image") };
    const { row, bar } = pendingRow(item, file);
    item.row = row;
    pending.push(item);
    list.append(row);
    const form = new FormData();
    form.append("file", file, file.name || "pasted-image.png");
    const xhr = new XMLHttpRequest();
    item.xhr = xhr;
    xhr.open("POST", `/api/rooms/${roomId}/attachments/`);
    xhr.setRequestHeader("X-CSRFToken", csrfToken);
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) bar.value = Math.round((100 * event.loaded) / event.total);
    });
    xhr.addEventListener("load", () => {
      if (xhr.status !== 201) { failed(item, xhr); return; }
      item.done = true;
      item.id = JSON.parse(xhr.responseText).id;
      bar.value = 100;
      row.classList.add("uploaded");
    });
    xhr.addEventListener("error", () => failed(item, xhr));
    xhr.send(form);
  }

  const startAll = (files) => Array.from(files || []).forEach(start);

  button.addEventListener("click", () => fileInput.click());
  fileInput.addEventListener("change", () => { startAll(fileInput.files); fileInput.value = ""; });
  dropZone.addEventListener("dragover", (event) => {
    if (!event.dataTransfer || !Array.from(event.dataTransfer.types).includes("Files")) return;
    event.preventDefault(); // lets the drop happen here instead of the browser opening it
    dropZone.classList.add("dropping");
  });
  dropZone.addEventListener("dragleave", () => dropZone.classList.remove("dropping"));
  dropZone.addEventListener("drop", (event) => {
    dropZone.classList.remove("dropping");
    if (!event.dataTransfer || !event.dataTransfer.files.length) return;
    event.preventDefault();
    startAll(event.dataTransfer.files);
  });
  input.addEventListener("paste", (event) => {
    const files = Array.from((event.clipboardData && event.clipboardData.files) || []);
    if (!files.length) return; // plain text pastes as usual
    event.preventDefault();
    startAll(files);
  });

  return {
    busy: () => pending.some((item) => !item.done),
    // The ids of finished uploads, handed to one message: the pending list starts over.
    take() {
      const ids = pending.filter((item) => item.done).map((item) => item.id);
      pending.slice().forEach((item) => { if (item.done) { item.row.remove(); pending.splice(pending.indexOf(item), 1); } });
      return ids;
    },
  };
}
