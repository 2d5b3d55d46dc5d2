// A QR code that changes every 30 s (the event's code on a screen, or my own code).
//
// The server says how many seconds are left in this step (`rotates_in`): we count down from that, then fetch
// the next code's JSON and swap the image once it has loaded, so the screen never shows a blank square.
// Client clocks are not trusted: only durations measured here count. A code stays valid for one more step,
// so a failed fetch is retried every 3 s; after that the code is marked stale (dimmed, with a note).

const STEP_MS = 30000;
const RETRY_MS = 3000;

function setUp(root) {
  const image = root.querySelector("img.qr");
  const countdown = root.querySelector("[data-countdown]");
  const error = root.querySelector("[data-error]");
  let rotatesAt = Date.now() + Number(root.dataset.rotatesIn) * 1000;
  let validUntil = rotatesAt + STEP_MS;
  let busy = false;
  let stopped = false;

  function load(url) {
    return new Promise((resolve, reject) => {
      const next = new Image();
      next.onload = () => resolve(url);
      next.onerror = reject;
      next.src = url;
    });
  }

  async function refresh() {
    try {
      const response = await fetch(root.dataset.jsonUrl, {
        credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" },
      });
      const type = response.headers.get("Content-Type") || "";
      if (!type.includes("json")) throw new Error("not json"); // signed out: redirected to the sign-in page
      const data = await response.json();
      if (!response.ok) {
        stopped = true;
        error.textContent = (data.error && data.error.message) || "";
        root.classList.add("stopped");
        return;
      }
      await load(data.image);
      image.src = data.image;
      image.dataset.step = String(data.step);
      rotatesAt = Date.now() + data.rotates_in * 1000;
      validUntil = rotatesAt + STEP_MS;
      root.classList.remove("stale");
    } catch (_error) {
      rotatesAt = Date.now() + RETRY_MS;
      if (Date.now() >= validUntil) root.classList.add("stale");
    }
  }

  function tick() {
    if (stopped) return;
    const left = Math.max(0, Math.ceil((rotatesAt - Date.now()) / 1000));
    if (countdown.textContent !== String(left)) countdown.textContent = String(left);
    if (Date.now() >= validUntil) root.classList.add("stale");
    if (left <= 0 && !busy) {
      busy = true;
      refresh().finally(() => { busy = false; });
    }
  }

  setInterval(tick, 250);
  // Coming back to a phone that slept: fetch at once rather than show an old code.
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && !busy) {
      busy = true;
      refresh().finally(() => { busy = false; });
    }
  });
}

document.querySelectorAll("[data-rotating-code]").forEach(setUp);

// Keep the screen awake while a code is shown, where the browser allows it.
async function keepAwake() {
  try {
    if (navigator.wakeLock && !document.hidden) await navigator.wakeLock.request("screen");
  } catch (_error) {
    // Not allowed (battery saver, old browser): the screen may dim, nothing else changes.
  }
}
keepAwake();
document.addEventListener("visibilitychange", keepAwake);

// A button to fill the screen with the code, where the browser can.
const fullscreenRoot = document.querySelector("[data-fullscreen-root]");
const fullscreenButton = document.querySelector("[data-fullscreen]");
if (fullscreenRoot && fullscreenButton && document.fullscreenEnabled) {
  fullscreenButton.hidden = false;
  fullscreenButton.addEventListener("click", () => {
    if (document.fullscreenElement) document.exitFullscreen();
    else fullscreenRoot.requestFullscreen().catch(() => {});
  });
}
