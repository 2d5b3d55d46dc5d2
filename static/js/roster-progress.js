// A roster imported in the background: ask the server every second how far it is, move the bar and say it in
// words (role=status is read out as it changes); when it is over, show the page again with the result or the
// rows to correct, as the server renders them.

const box = document.querySelector("[data-import-status]");
const EVERY_MS = 1000;

function grouped(n) {
  return Number(n).toLocaleString("en-US");
}

async function poll() {
  try {
    const response = await fetch(box.dataset.statusUrl, {
      credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" },
    });
    if (!response.ok || !(response.headers.get("Content-Type") || "").includes("json")) return;
    const body = await response.json();
    if (body.status === "done" || body.status === "failed") {
      window.location.reload();
      return;
    }
    const bar = box.querySelector("progress");
    const text = box.querySelector("[role=status]");
    bar.max = body.rows_total;
    bar.value = body.rows_done;
    text.textContent = body.rows_done
      ? text.dataset.writing.replace("{done}", grouped(body.rows_done)).replace("{total}", grouped(body.rows_total))
      : text.dataset.checking;
  } catch (_error) {
    // Offline for a moment: the next poll tries again.
  }
}

if (box) setInterval(poll, EVERY_MS);
