// pplane console: a little progressive enhancement; every page works
// without it.
"use strict";

// "/" jumps to the search box, as in most consoles; Escape leaves it.
document.addEventListener("keydown", (event) => {
  const target = event.target;
  const typing = target instanceof HTMLInputElement || target instanceof HTMLSelectElement
    || target instanceof HTMLTextAreaElement;
  const search = document.getElementById("q");
  if (event.key === "/" && !typing && search) {
    event.preventDefault();
    search.focus();
    search.select();
  } else if (event.key === "Escape" && typing) {
    target.blur();
  }
});

// A section marked data-live (a requeued entry on its way out) reloads the
// page every few seconds until the server stops marking it.
const live = document.querySelector("[data-live]");
if (live) {
  const seconds = Number(live.getAttribute("data-live")) || 2;
  setTimeout(() => window.location.reload(), seconds * 1000);
}
