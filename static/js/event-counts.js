// Live counts on an event page: poll the event's counts.json (session cookie) and update the figures.
// Polls every 10 s while the page is visible; a failed poll just waits for the next one.

const box = document.querySelector("[data-counts-url]");
const EVERY_MS = 10000;

async function poll() {
  if (document.hidden) return;
  try {
    const response = await fetch(box.dataset.countsUrl, {
      credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" },
    });
    if (!response.ok || !(response.headers.get("Content-Type") || "").includes("json")) return;
    const counts = await response.json();
    box.querySelectorAll("[data-count]").forEach((el) => {
      const value = counts[el.dataset.count];
      if (value !== undefined && String(value) !== el.textContent) {
        el.textContent = String(value);
        el.classList.remove("bumped");
        void el.offsetWidth; // restart the highlight
        el.classList.add("bumped");
      }
    });
  } catch (_error) {
    // Offline for a moment: the next poll tries again.
  }
}

if (box) {
  setInterval(poll, EVERY_MS);
  document.addEventListener("visibilitychange", poll);
}
