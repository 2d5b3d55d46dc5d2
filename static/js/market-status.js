// A pickup code on the resident's phone: while it waits for pickup, ask the server every few seconds whether
// it has been handed over (or cancelled); when the status changes, show the page again in its new state.

const box = document.querySelector("[data-redemption-status]");
const EVERY_MS = 4000;

async function poll() {
  if (document.hidden) return;
  try {
    const response = await fetch(box.dataset.statusUrl, {
      credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" },
    });
    if (!response.ok || !(response.headers.get("Content-Type") || "").includes("json")) return;
    const body = await response.json();
    if (body.status && body.status !== box.dataset.status) window.location.reload();
  } catch (_error) {
    // Offline for a moment: the next poll tries again.
  }
}

if (box && box.dataset.status === "reserved") {
  setInterval(poll, EVERY_MS);
  document.addEventListener("visibilitychange", poll);
}
