// The market's pickup counter: staff scan a resident's pickup QR code (or type its 8 characters) and the reward
// is handed over once the server says so.
//
// The camera and the decoding are qr-camera.js's. A pickup QR code holds the pickup URL (…/market/pickup/CODE),
// so a staff phone's own camera app lands on the same counter; here only the code at its end is sent, as JSON to
// pickup.json. Unlike check-in there is no offline queue: goods must not leave the counter before the server
// has checked the code, so without network the page says "nothing was handed over".

import { qrCamera } from "./qr-camera.js";

const root = document.querySelector("[data-pickup-scanner]");

const TIMEOUT_MS = 8000; // a request slower than this counts as offline
const LOG_LENGTH = 12;
const CODE = /^[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{8}$/;

class Offline extends Error {}
class SignedOut extends Error {}

// "…/market/pickup/ABCD2345", "abcd 2345", "ABCD-2345" → "ABCD2345"; anything else → null.
function codeOf(text) {
  const last = String(text || "").trim().replace(/\/+$/, "").split("/").pop();
  const code = last.toUpperCase().replace(/[^0-9A-Z]/g, "");
  return CODE.test(code) ? code : null;
}

function setUp() {
  const data = root.dataset;
  const text = {
    ready: data.textReady, starting: data.textStarting, noCamera: data.textNoCamera, denied: data.textDenied,
    sending: data.textSending, offline: data.textOffline, signedOut: data.textSignedOut,
    notACode: data.textNotACode, refused: data.textRefused,
  };
  const answer = root.querySelector("[data-answer]");
  const headline = root.querySelector("[data-headline]");
  const detail = root.querySelector("[data-detail]");
  const log = root.querySelector("[data-log]");
  const typed = root.querySelector("form[data-typed]");
  let csrf = data.csrf;

  function tone(status) {
    if (status === "fulfilled") return "ok";
    if (status === "already_fulfilled") return "warn";
    if (status === "sending" || status === "idle") return "idle";
    return "bad";
  }

  function show(status, title, line) {
    answer.dataset.status = status;
    answer.dataset.tone = tone(status);
    headline.textContent = title;
    detail.textContent = line || "";
    if (status === "sending") return;
    const item = document.createElement("li");
    item.dataset.tone = tone(status);
    item.dataset.status = status;
    const strong = document.createElement("strong");
    strong.textContent = title;
    item.append(new Date().toTimeString().slice(0, 5) + " ", strong, line ? " · " + line : "");
    log.prepend(item);
    while (log.children.length > LOG_LENGTH) log.lastElementChild.remove();
  }

  async function request(options) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
    try {
      return await fetch(data.pickupUrl, {
        credentials: "same-origin", cache: "no-store", signal: controller.signal, ...options,
      });
    } catch (_error) {
      throw new Offline();
    } finally {
      clearTimeout(timer);
    }
  }

  function isJson(response) {
    return !response.redirected && (response.headers.get("Content-Type") || "").includes("json");
  }

  // POST the code; a refused CSRF token (a page open all day) is renewed once. Throws Offline or SignedOut.
  async function send(code, renewed) {
    if (navigator.onLine === false) throw new Offline();
    const response = await request({
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify({ pickup_code: code }),
    });
    if (response.status >= 500) throw new Offline();
    if (!isJson(response)) throw new SignedOut();
    const body = await response.json();
    if (response.status === 400 && body.error && body.error.code === "csrf_invalid" && !renewed) {
      const fresh = await request({ headers: { Accept: "application/json" } });
      if (!isJson(fresh)) throw new SignedOut();
      csrf = (await fresh.json()).csrf_token || csrf;
      return send(code, true);
    }
    return { response, body };
  }

  async function handOver(raw) {
    const code = codeOf(raw);
    if (!code) {
      show("not_a_code", text.refused, text.notACode);
      return;
    }
    show("sending", text.sending, "");
    try {
      const { response, body } = await send(code, false);
      if (response.ok) {
        show(body.status, body.headline, body.detail);
      } else {
        const error = body.error || {};
        show(error.code || "refused", text.refused, error.message || "");
      }
    } catch (error) {
      show(error instanceof SignedOut ? "signed_out" : "offline", text.refused,
        error instanceof SignedOut ? text.signedOut : text.offline);
    }
  }

  const camera = qrCamera({
    root, video: root.querySelector("[data-video]"), canvas: root.querySelector("[data-canvas]"),
    statusLine: root.querySelector("[data-status-line]"), startButton: root.querySelector("[data-start-camera]"),
  }, text, handOver);

  // A typed code goes the same way as a scanned one; without JavaScript the form posts as a page.
  typed.addEventListener("submit", (event) => {
    event.preventDefault();
    const input = typed.querySelector("input[name=pickup_code]");
    handOver(input.value).then(() => {
      input.value = "";
      camera.forget();
    });
  });
  root.dataset.ready = "true"; // the typed form now goes through the script (tests wait for this)
}

if (root) setUp();
