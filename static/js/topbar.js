// The page header on a narrow screen (static/css/app.css, under 760 px): its links fold behind
// a "Menu" button and the sidebar of rooms becomes a drawer behind a "Rooms" button, so that
// the header stays one row. Each button opens what its aria-controls names; Escape or a click
// elsewhere closes it, and Escape gives the focus back to the button. Without this module the
// links wrap and the sidebar stays in the page.
const topbar = document.querySelector(".topbar");

function foldable(toggle, bodyClass) {
  const panel = toggle && document.getElementById(toggle.getAttribute("aria-controls"));
  if (!panel) return;
  document.body.classList.add(bodyClass);
  toggle.hidden = false;
  const isOpen = () => toggle.getAttribute("aria-expanded") === "true";
  const setOpen = (open) => {
    toggle.setAttribute("aria-expanded", String(open));
    panel.classList.toggle("open", open);
  };
  toggle.addEventListener("click", () => {
    setOpen(!isOpen());
    // A drawer takes the focus to its first control; the menu's links follow its button.
    if (isOpen() && panel.matches(".sidebar")) {
      const first = panel.querySelector("a, button, input, summary");
      if (first) first.focus();
    }
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && isOpen()) { setOpen(false); toggle.focus(); }
  });
  document.addEventListener("click", (event) => {
    if (isOpen() && !panel.contains(event.target) && !toggle.contains(event.target)) setOpen(false);
  });
}

if (topbar) {
  foldable(topbar.querySelector(".menu-toggle"), "has-menu");
  foldable(topbar.querySelector(".drawer-toggle"), "has-drawer");
}
