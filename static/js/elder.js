// 长辈版 (elder mode) only. A table or strip too wide for the phone scrolls inside its own box, never the page:
// say so above it in words, and let the keyboard reach it (a focusable region with a name).

const hint = document.documentElement.dataset.scrollHint || "";

function markScrolling() {
  for (const box of document.querySelectorAll(".table-wrap")) {
    const scrolls = box.scrollWidth > box.clientWidth + 1;
    box.classList.toggle("scrolls", scrolls);
    if (!scrolls || box.hasAttribute("tabindex")) continue;
    box.tabIndex = 0;
    box.setAttribute("role", "region");
    box.setAttribute("aria-label", hint);
    const note = document.createElement("p");
    note.className = "scroll-hint";
    note.setAttribute("aria-hidden", "true");
    note.textContent = `⇆ ${hint}`;
    box.before(note);
  }
}

markScrolling();
