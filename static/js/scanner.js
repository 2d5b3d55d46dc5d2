// The scanner page: staff or a head at an event scan volunteers' personal codes with the phone's camera.
//
// The camera and the decoding are qr-camera.js's (frames decoded by the vendored jsQR). Each new
// code is POSTed to the page's scan.json with a random nonce, so a retry counts once on the server. The same
// code is ignored while it stays in view and for a few seconds after. When the network is gone (offline, a
// timeout, a server error) the scan {token, nonce, action, scanned_at} is kept in localStorage and uploaded to
// batch.json when the network is back (the `online` event, or a retry timer): the server checks each at the
// time it was made, deduplicates by nonce and reports conflicts, which are shown here one by one.

import { qrCamera } from "./qr-camera.js";

const root = document.querySelector("[data-scanner]");

const TIMEOUT_MS = 8000; // a request slower than this counts as offline
const RETRY_MS = 15000; // saved scans are retried this often
const BATCH = 500; // the most scans uploaded in one request
const LOG_LENGTH = 12;

class Offline extends Error {}
class SignedOut extends Error {}

function setUp() {
  const data = root.dataset;
  const text = {
    ready: data.textReady, starting: data.textStarting, noCamera: data.textNoCamera, denied: data.textDenied,
    sending: data.textSending, saved: data.textSaved, savedDetail: data.textSavedDetail, waiting: data.textWaiting,
    uploading: data.textUploading, uploaded: data.textUploaded, uploadedCount: data.textUploadedCount,
    signedOut: data.textSignedOut,
    refused: data.textRefused,
  };
  const queueKey = "sanzhang.scans." + data.eventId;
  const video = root.querySelector("[data-video]");
  const canvas = root.querySelector("[data-canvas]");
  const answer = root.querySelector("[data-answer]");
  const headline = root.querySelector("[data-headline]");
  const detail = root.querySelector("[data-detail]");
  const statusLine = root.querySelector("[data-status-line]");
  const queueLine = root.querySelector("[data-queue]");
  const log = root.querySelector("[data-log]");
  const startButton = root.querySelector("[data-start-camera]");
  let csrf = data.csrf;

  // --- showing answers --------------------------------------------------------------------------------------

  function tone(status) {
    if (status === "checked_in" || status === "checked_out") return "ok";
    if (status === "already_checked_in" || status === "already_checked_out") return "warn";
    if (status === "saved" || status === "uploaded") return "info";
    if (status === "sending" || status === "idle") return "idle";
    return "bad";
  }

  function show(status, title, line) {
    answer.dataset.status = status;
    answer.dataset.tone = tone(status);
    headline.textContent = title;
    detail.textContent = line || "";
  }

  // One line of the log: the server's time of the answer (Beijing time) when there is one, else this phone's.
  function remember(status, title, line, at) {
    const item = document.createElement("li");
    item.dataset.tone = tone(status);
    item.dataset.status = status;
    const time = at || new Date().toTimeString().slice(0, 5);
    const strong = document.createElement("strong");
    strong.textContent = title;
    item.append(time + " ", strong, line ? " · " + line : "");
    log.prepend(item);
    while (log.children.length > LOG_LENGTH) log.lastElementChild.remove();
  }

  // --- the offline queue ------------------------------------------------------------------------------------

  function readQueue() {
    try {
      const saved = JSON.parse(localStorage.getItem(queueKey) || "[]");
      return Array.isArray(saved) ? saved : [];
    } catch (_error) {
      return [];
    }
  }

  function showQueue() {
    const waiting = readQueue().length;
    queueLine.hidden = waiting === 0;
    queueLine.textContent = text.waiting.replace("{n}", String(waiting));
  }

  function writeQueue(queue) {
    localStorage.setItem(queueKey, JSON.stringify(queue));
    showQueue();
  }

  function keep(scan) {
    const queue = readQueue();
    if (!queue.some((saved) => saved.nonce === scan.nonce)) queue.push(scan);
    writeQueue(queue);
  }

  // --- talking to the server --------------------------------------------------------------------------------

  function nonce() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  async function request(url, options) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
    try {
      return await fetch(url, { credentials: "same-origin", cache: "no-store", signal: controller.signal, ...options });
    } catch (_error) {
      throw new Offline();
    } finally {
      clearTimeout(timer);
    }
  }

  function isJson(response) {
    return !response.redirected && (response.headers.get("Content-Type") || "").includes("json");
  }

  async function freshToken() {
    const response = await request(data.scanUrl, { headers: { Accept: "application/json" } });
    if (!isJson(response)) throw new SignedOut();
    const body = await response.json();
    if (body.csrf_token) csrf = body.csrf_token;
  }

  // POST JSON; a refused CSRF token (a page open for hours) is renewed once. Throws Offline or SignedOut.
  async function send(url, body, renewed) {
    if (navigator.onLine === false) throw new Offline();
    const response = await request(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify(body),
    });
    if (response.status >= 500) throw new Offline();
    if (!isJson(response)) throw new SignedOut();
    const answerBody = await response.json();
    if (response.status === 400 && answerBody.error && answerBody.error.code === "csrf_invalid" && !renewed) {
      await freshToken();
      return send(url, body, true);
    }
    return { response, body: answerBody };
  }

  function action() {
    const checked = root.querySelector("input[name=scan-action]:checked");
    return checked ? checked.value : "in";
  }

  async function submit(token) {
    const scan = { token, nonce: nonce(), action: action(), scanned_at: new Date().toISOString() };
    show("sending", text.sending, "");
    try {
      const { response, body } = await send(data.scanUrl, { token: scan.token, nonce: scan.nonce, action: scan.action });
      if (response.ok) {
        show(body.status, body.headline, body.detail);
        // The log line has the time in front already: a check-in names the person only.
        remember(body.status, body.headline, body.status === "checked_in" ? body.name : body.detail, body.time);
      } else {
        const error = body.error || {};
        show(error.code || "refused", text.refused, error.message || "");
        remember(error.code || "refused", text.refused, error.message || "");
      }
    } catch (error) {
      keep(scan);
      if (error instanceof SignedOut) {
        show("signed_out", text.refused, text.signedOut);
      } else {
        show("saved", text.saved, text.savedDetail);
        remember("saved", text.saved, "");
      }
    }
  }

  let uploading = false;

  async function upload() {
    const queue = readQueue();
    if (uploading || queue.length === 0 || navigator.onLine === false) return;
    uploading = true;
    const batch = queue.slice(0, BATCH);
    statusLine.textContent = text.uploading.replace("{n}", String(batch.length));
    try {
      const { response, body } = await send(data.batchUrl, { scans: batch });
      if (response.ok || response.status === 400 || response.status === 422) {
        // Answered: each scan has its result, or the batch can never be taken as it is. Either way it is done.
        const sent = new Set(batch.map((scan) => scan.nonce));
        writeQueue(readQueue().filter((scan) => !sent.has(scan.nonce)));
      }
      if (response.ok) {
        body.results.forEach((result) => {
          remember(result.status, result.ok ? result.headline : text.refused,
            result.ok ? result.name : [result.name, result.detail].filter(Boolean).join(": "), result.time);
        });
        show("uploaded", text.uploaded, text.uploadedCount.replace("{n}", String(body.results.length)));
      } else {
        const error = body.error || {};
        show(error.code || "refused", text.refused, error.message || "");
      }
    } catch (error) {
      if (error instanceof SignedOut) show("signed_out", text.refused, text.signedOut);
      // Offline still: the timer tries again.
    } finally {
      uploading = false;
      statusLine.textContent = video.srcObject ? text.ready : statusLine.textContent;
      showQueue();
    }
  }

  // --- the camera ---------------------------------------------------------------------------------------------

  const camera = qrCamera({ root, video, canvas, statusLine, startButton }, text, submit);

  root.querySelectorAll("input[name=scan-action]").forEach((input) => {
    // Switching between in and out: the code in front of the camera counts again at once.
    input.addEventListener("change", () => camera.forget());
  });
  window.addEventListener("online", upload);
  setInterval(upload, RETRY_MS);
  showQueue();
  upload();
}

if (root) setUp();
