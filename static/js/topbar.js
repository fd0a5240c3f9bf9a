// The page header on a narrow screen: its links fold behind a "Menu" button so that the header
// stays one row (static/css/app.css). Without this module the links simply wrap.
const topbar = document.querySelector(".topbar");
const toggle = topbar && topbar.querySelector(".menu-toggle");
const nav = toggle && document.getElementById(toggle.getAttribute("aria-controls"));

if (nav) {
  topbar.classList.add("has-menu");
  toggle.hidden = false;
  const setOpen = (open) => {
    toggle.setAttribute("aria-expanded", String(open));
    nav.classList.toggle("open", open);
  };
  toggle.addEventListener("click", () => setOpen(toggle.getAttribute("aria-expanded") !== "true"));
  // Escape closes it and gives focus back to the button; so does a click elsewhere.
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && nav.classList.contains("open")) { setOpen(false); toggle.focus(); }
  });
  document.addEventListener("click", (event) => {
    if (!topbar.contains(event.target)) setOpen(false);
  });
}
