// The phone's camera and the QR decoding loop, shared by the scanner pages (an event's check-in, the market's
// pickup counter).
//
// Frames of the <video> are drawn (scaled down) into a <canvas> and decoded by the vendored jsQR, loaded before
// this module as a classic script. Each code found is handed to `onCode` once: the same code is ignored while it
// stays in view and for a few seconds after (`forget()` makes it count again at once).

const SAME_CODE_MS = 5000; // a code seen again within this time (while it stays in view) is not handed on again
const FRAME_MS = 150; // between two decodes: old phones need the breath
const MAX_WIDTH = 640; // frames are scaled down to this width before decoding
const MAX_TEXT = 512; // longer texts are not our codes

// parts: {root, video, canvas, statusLine, startButton}; text: {starting, ready, noCamera, denied}; onCode(text).
export function qrCamera(parts, text, onCode) {
  const { root, video, canvas, statusLine, startButton } = parts;
  const context = canvas.getContext("2d", { willReadFrequently: true });
  const lastSeen = new Map();

  function spotted(code) {
    const now = Date.now();
    const before = lastSeen.get(code);
    lastSeen.set(code, now);
    if (before !== undefined && now - before < SAME_CODE_MS) return;
    if (!code || code.length > MAX_TEXT) return;
    if (navigator.vibrate) navigator.vibrate(60);
    onCode(code);
  }

  function forgetOld() {
    const now = Date.now();
    lastSeen.forEach((at, code) => { if (now - at > 120000) lastSeen.delete(code); });
  }

  function decode() {
    if (!document.hidden && video.readyState >= 2 && video.videoWidth && window.jsQR) {
      const scale = Math.min(1, MAX_WIDTH / video.videoWidth);
      const width = Math.round(video.videoWidth * scale);
      const height = Math.round(video.videoHeight * scale);
      if (canvas.width !== width || canvas.height !== height) {
        canvas.width = width;
        canvas.height = height;
      }
      context.drawImage(video, 0, 0, width, height);
      const frame = context.getImageData(0, 0, width, height);
      const found = window.jsQR(frame.data, width, height, { inversionAttempts: "dontInvert" });
      if (found && found.data) spotted(found.data);
    }
    setTimeout(decode, FRAME_MS);
  }

  async function start() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      statusLine.textContent = text.noCamera;
      return;
    }
    statusLine.textContent = text.starting;
    startButton.hidden = true;
    try {
      const stream = await navigator.mediaDevices.getUserMedia({
        audio: false, video: { facingMode: { ideal: "environment" }, width: { ideal: 1280 }, height: { ideal: 720 } },
      });
      video.srcObject = stream;
      await video.play();
    } catch (error) {
      statusLine.textContent = error && error.name === "NotAllowedError" ? text.denied : text.noCamera;
      startButton.hidden = false;
      return;
    }
    root.classList.add("camera-on");
    statusLine.textContent = text.ready;
  }

  startButton.addEventListener("click", start);
  setInterval(forgetOld, 60000);
  start();
  decode();
  return { forget: () => lastSeen.clear() };
}
