// 扫一扫 on the volunteer's home: the phone's camera in the page (qr-camera.js, frames decoded by the vendored jsQR).
// An event's check-in code is a link to /c on this site: the page follows it, and the person lands checked in.
// Anything else (another site's link, a personal code, a pickup code) is named and left alone: nothing is opened.

import { qrCamera } from "./qr-camera.js";

const root = document.querySelector("[data-my-scanner]");

// A same-origin link to the check-in page, or null.
function checkinLink(text, prefix) {
  let url;
  try {
    url = new URL(String(text || "").trim(), window.location.href);
  } catch (_error) {
    return null;
  }
  const wanted = new URL(prefix, window.location.href);
  if (url.origin !== window.location.origin || url.pathname !== wanted.pathname || !url.searchParams.get("t")) {
    return null;
  }
  return url.href;
}

function setUp() {
  const data = root.dataset;
  const text = {
    ready: data.textReady, starting: data.textStarting, noCamera: data.textNoCamera, denied: data.textDenied,
  };
  const answer = root.querySelector("[data-answer]");
  const headline = root.querySelector("[data-headline]");
  const detail = root.querySelector("[data-detail]");
  const fallback = document.querySelector("[data-fallback]");
  const statusLine = root.querySelector("[data-status-line]");

  function show(status, tone, title, line) {
    answer.dataset.status = status;
    answer.dataset.tone = tone;
    headline.textContent = title;
    detail.textContent = line || "";
  }

  const camera = qrCamera({
    root, video: root.querySelector("[data-video]"), canvas: root.querySelector("[data-canvas]"),
    statusLine, startButton: root.querySelector("[data-start-camera]"),
  }, text, (code) => {
    const link = checkinLink(code, data.checkinPrefix);
    if (link) {
      show("opening", "ok", data.textOpening, "");
      window.location.assign(link);
      return;
    }
    show("not_a_checkin_code", "bad", data.textNotCheckin, data.textNotCheckinDetail);
    setTimeout(() => camera.forget(), 3000);
  });

  // Without a camera (or without permission) the other ways in are shown at once.
  new MutationObserver(() => {
    const line = statusLine.textContent;
    if (line === text.denied || line === text.noCamera) {
      fallback.hidden = false;
      show("no_camera", "warn", line, "");
    }
  }).observe(statusLine, { childList: true, characterData: true, subtree: true });
}

if (root) setUp();
