// The page: Draw mode (a pad read as the user writes) and Camera mode (live view read each frame,
// smoothed over frames), both through reader.js; window.edgeDigits is the API for embedding and tests.
import * as kernels from "./kernels.js";
import { loadSession, readImage } from "./reader.js";
import { normalizeMask } from "./normalize.js";
import { plane } from "./image.js";
import { ReadingSmoother } from "./smoothing.js";

const params = new URLSearchParams(location.search);
const modelUrl = params.get("model") || "models/digits_int8.onnx";
const threads = Math.max(1, Number.parseInt(params.get("threads") || "1", 10) || 1);
const pad = document.getElementById("pad");
const overlay = document.getElementById("overlay");
const video = document.getElementById("video");
const status = document.getElementById("status");
const output = document.getElementById("text");
const padContext = pad.getContext("2d", { willReadFrequently: true });
const overlayContext = overlay.getContext("2d");
const PEN_WIDTH = 14;

let session = null;
let mode = "draw";
let framesRead = 0;
let cameraStream = null;

const ready = loadSession(modelUrl, threads).then((loaded) => {
  session = loaded;
  const used = crossOriginIsolated ? threads : 1;
  status.textContent = `model ready (${used} WebAssembly thread${used > 1 ? "s" : ""}${crossOriginIsolated ? "" : ", page not cross-origin isolated"}; `
    + `image kernels in ${kernels.backend === "webassembly" ? "WebAssembly" : "JavaScript"})`;
}).catch((error) => {
  status.textContent = `could not load ${modelUrl}: ${error.message}`;
  throw error;
});

/** Read an ImageData -> {text, digits: [{digit, confidence, box: [x, y, w, h], line}]}. */
async function read(imageData, timings = null) {
  await ready;
  if (!(imageData && imageData.width && imageData.height && imageData.data)) {
    throw new TypeError("edgeDigits.read expects an ImageData (width, height, RGBA data)");
  }
  return readImage(session, imageData, 0.5, timings);
}

/** The page's normalization of one ink mask ({width, height, data}, ink > 0) -> 784 floats in [0, 1]. */
function normalize(mask) {
  return Array.from(normalizeMask(plane(mask.width, mask.height, Float32Array.from(mask.data))));
}

window.edgeDigits = {
  ready,
  read,
  normalize,
  get framesRead() { return framesRead; },
  get mode() { return mode; },
  setMode: (next) => (next === "camera" ? startCamera() : startDraw()),
};

function drawReading(reading, scale = 1) {
  overlayContext.clearRect(0, 0, overlay.width, overlay.height);
  overlayContext.lineWidth = 3;
  overlayContext.font = `bold ${Math.max(13, Math.round(overlay.width / 40))}px system-ui, sans-serif`;
  for (const { digit, confidence, box } of reading.digits) {
    const [x, y, w, h] = box.map((v) => v * scale);
    overlayContext.strokeStyle = "#0a8f3c";
    overlayContext.strokeRect(x, y, w, h);
    const label = `${digit} ${(100 * confidence).toFixed(0)}%`;
    overlayContext.fillStyle = "rgba(255, 255, 255, 0.85)";
    overlayContext.fillRect(x, Math.max(0, y - 20), overlayContext.measureText(label).width + 6, 19);
    overlayContext.fillStyle = "#0a5f2c";
    overlayContext.fillText(label, x + 3, Math.max(15, y - 5));
  }
  output.textContent = reading.text || " ";
}

// ---- Draw mode: read the pad as the user writes (one read at a time, the latest strokes win) ----
let reading = false, dirty = false, last = null;

async function readPad() {
  if (reading || mode !== "draw") { dirty = true; return; }
  reading = true;
  dirty = false;
  try {
    drawReading(await read(padContext.getImageData(0, 0, pad.width, pad.height)));
  } finally {
    reading = false;
    if (dirty) readPad();
  }
}

function clearPad() {
  padContext.fillStyle = "#fff";
  padContext.fillRect(0, 0, pad.width, pad.height);
  overlayContext.clearRect(0, 0, overlay.width, overlay.height);
  output.textContent = " ";
}

function point(event) {
  const rect = pad.getBoundingClientRect();
  return [(event.clientX - rect.left) * (pad.width / rect.width), (event.clientY - rect.top) * (pad.height / rect.height)];
}

pad.addEventListener("pointerdown", (event) => {
  if (mode !== "draw") return;
  pad.setPointerCapture(event.pointerId);
  last = point(event);
  padContext.fillStyle = "#111";
  padContext.beginPath();
  padContext.arc(last[0], last[1], PEN_WIDTH / 2, 0, 2 * Math.PI);
  padContext.fill();
});
pad.addEventListener("pointermove", (event) => {
  if (!last || mode !== "draw") return;
  const next = point(event);
  padContext.strokeStyle = "#111";
  padContext.lineWidth = PEN_WIDTH;
  padContext.lineCap = "round";
  padContext.lineJoin = "round";
  padContext.beginPath();
  padContext.moveTo(...last);
  padContext.lineTo(...next);
  padContext.stroke();
  last = next;
  readPad();
});
const penUp = () => { if (last) { last = null; readPad(); } };
pad.addEventListener("pointerup", penUp);
pad.addEventListener("pointercancel", penUp);

function setPressed(active) {
  document.getElementById("mode-draw").setAttribute("aria-pressed", String(active === "draw"));
  document.getElementById("mode-camera").setAttribute("aria-pressed", String(active === "camera"));
  document.getElementById("clear").hidden = active !== "draw";
}

function stopCamera() {
  if (cameraStream) cameraStream.getTracks().forEach((track) => track.stop());
  cameraStream = null;
  video.srcObject = null;
}

function startDraw() {
  stopCamera();
  mode = "draw";
  setPressed(mode);
  resize(640, 360);
  clearPad();
}

function resize(width, height) {
  for (const canvas of [pad, overlay]) { canvas.width = width; canvas.height = height; }
}

// ---- Camera mode: every frame read, the reading smoothed over frames, frames per second shown ----
// Between frames the loop yields one task (the page repaints, clicks get through) by a message, not by
// setTimeout(0), which browsers clamp to 4 ms once timers nest.
const yielder = new MessageChannel();
const nextTask = () => new Promise((resolve) => { yielder.port1.onmessage = () => resolve(); yielder.port2.postMessage(null); });

async function startCamera() {
  mode = "camera";
  setPressed(mode);
  try {
    cameraStream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480, facingMode: "environment" }, audio: false });
  } catch (error) {
    status.textContent = `no camera: ${error.message} (the camera needs HTTPS or localhost)`;
    return;
  }
  video.srcObject = cameraStream;
  await video.play();
  resize(video.videoWidth || 640, video.videoHeight || 480);
  const smoother = new ReadingSmoother(5);
  let fps = 0, previous = performance.now();
  await ready;
  while (mode === "camera" && cameraStream) {
    padContext.drawImage(video, 0, 0, pad.width, pad.height);
    const shown = smoother.update(await read(padContext.getImageData(0, 0, pad.width, pad.height)));
    drawReading(shown);
    framesRead += 1;
    const now = performance.now();
    fps = fps ? 0.9 * fps + 0.1 * (1000 / (now - previous)) : 1000 / (now - previous);
    previous = now;
    status.textContent = `camera: ${fps.toFixed(1)} frames/s, ${framesRead} frames read`;
    await nextTask();
  }
}

// ---- Installable and offline: the service worker caches the page, onnxruntime-web and the model ----
// (secure contexts only: https or localhost; ?offline=0 leaves it unregistered)
/** Resolves true once a service worker holds the page's files, false when it cannot (it never hangs). */
function activated(registration) {
  return new Promise((resolve) => {
    const worker = registration.installing || registration.waiting;
    if (!worker) { resolve(Boolean(registration.active)); return; }
    worker.addEventListener("statechange", () => {
      if (worker.state === "activated") resolve(true);
      if (worker.state === "redundant") {
        console.warn("no offline copy: the service worker could not cache the page's files");
        resolve(Boolean(registration.active));
      }
    });
  });
}
const offline = ("serviceWorker" in navigator && params.get("offline") !== "0")
  ? navigator.serviceWorker.register("sw.js").then(activated, (error) => {
    console.warn(`no offline copy: ${error.message}`);
    return false;
  })
  : Promise.resolve(false);
window.edgeDigits.offline = offline;

document.getElementById("mode-draw").addEventListener("click", startDraw);
document.getElementById("mode-camera").addEventListener("click", startCamera);
document.getElementById("clear").addEventListener("click", clearPad);

if (params.get("source") === "camera") startCamera(); else startDraw();
