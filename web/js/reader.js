// The one JavaScript reader of the page (draw pad and camera alike), a port of
// edge_digits/runtime/reader.py: segment, normalize, classify every crop in ONE batch with the
// int8 ONNX model (onnxruntime-web), choose touching-digit splits by confidence, order into lines.
import * as ort from "../node_modules/onnxruntime-web/dist/ort.wasm.min.mjs";
import { CROP_SIDE, MIN_SIDE, fromImageData, inkOnFrame, prepare, reframe, toInput } from "./canvas.js";
import { median } from "./image.js";
import * as kernels from "./kernels.js";
import { SIZE, batch, rotate } from "./normalize.js";
import { findCandidates } from "./segment.js";

const SPLIT_MARGIN = 0.2, SPLIT_WIDE = 1.3, STROKE_FREE = 1.5, STROKE_COST = 0.1;
const DESKEW_FROM = 6.0, DESKEW_DIGITS = 3, GROUP_GAP = 1.0, LEVEL = 0.5, FRAGMENTS = 4;
export const INPUT_NAME = "image";

/** Load the ONNX model at `url` into a WebAssembly session. One thread by default: a camera frame's batch
 *  is a dozen 28x28 crops, and spinning worker threads slow the main thread's segmentation more than they
 *  speed the model; more (threads > 1) need a cross-origin isolated page (COOP/COEP headers). */
export async function loadSession(url, threads = 1) {
  ort.env.wasm.wasmPaths = new URL("../node_modules/onnxruntime-web/dist/", import.meta.url).href;
  ort.env.wasm.numThreads = globalThis.crossOriginIsolated ? threads : 1;
  const [session] = await Promise.all([ort.InferenceSession.create(url, { executionProviders: ["wasm"] }), kernels.loaded]);
  return session;
}

/** (N * 784 floats) -> N rows of 10 probabilities, one session run for the whole batch. */
async function classify(session, images, count) {
  const input = new ort.Tensor("float32", images, [count, SIZE, SIZE, 1]);
  const outputs = await session.run({ [INPUT_NAME]: input });
  const values = outputs[session.outputNames[0]].data;
  return Array.from({ length: count }, (_, i) => Array.from(values.subarray(10 * i, 10 * i + 10)));
}

/** Digits of an ImageData in reading order: {text, digits: [{digit, confidence, box, line}]} (Reading.to_dict). */
export async function readImage(session, imageData, minConfidence = 0.5, timings = null) {
  const image = fromImageData(imageData);
  const canvas = prepare(image);
  let [digits, blobs] = await readCanvas(session, canvas, minConfidence, timings);
  const { width, height } = imageData;
  const crop = MIN_SIDE <= Math.min(width, height) && Math.max(width, height) <= CROP_SIDE;
  // every crop gets the framed second look: a faint pencil digit reaches its frame too lightly for inkOnFrame
  if (blobs <= FRAGMENTS && canvas.offset[0] === 0 && canvas.offset[1] === 0 && (crop || inkOnFrame(canvas.image))) {
    const [framed] = await readCanvas(session, reframe(canvas), minConfidence, null);
    if (framed.length === 1 && area(framed) > 2 * area(digits) && contains(framed[0].box, digits)) digits = framed;
  }
  return toDict(digits);
}

export function toDict(digits) {
  const lines = new Map();
  for (const d of digits) lines.set(d.line, (lines.get(d.line) || "") + String(d.digit));
  const text = [...lines.keys()].sort((a, b) => a - b).map((k) => lines.get(k)).join("\n");
  return { text, digits };
}

/** [digits in reading order, how many blobs read as a digit without splitting] of a canvas (DigitReader._read). */
async function readCanvas(session, canvas, minConfidence, timings) {
  let mark = performance.now();
  const lap = (stage) => { if (timings) { const now = performance.now(); timings[stage] = now - mark; mark = now; } };
  const candidates = findCandidates(canvas.image);
  lap("segmentation");
  if (!candidates.length) return [[], 0];
  let masks = [];
  const owners = [];
  candidates.forEach((candidate, index) => {
    masks.push(candidate.mask);
    owners.push(`${index},-1,-1`);
    candidate.splits.forEach((split, s) => split.forEach((piece, p) => { masks.push(piece.mask); owners.push(`${index},${s},${p}`); }));
  });
  const tilt = pageTilt(candidates.map((c) => c.box));
  if (tilt) masks = masks.map((mask) => rotate(mask, tilt));
  const images = batch(masks);
  lap("normalization");
  const probabilities = await classify(session, images, masks.length);
  lap("classification");
  const results = new Map();
  probabilities.forEach((row, i) => {
    let best = 0;
    for (let k = 1; k < 10; k++) if (row[k] > row[best]) best = k;
    results.set(owners[i], [best, row[best]]);
  });
  const found = candidates.flatMap((candidate, index) => choose(index, candidate, results));
  const kept = found.filter(([, confidence]) => confidence >= minConfidence)
    .map(([digit, confidence, box]) => [digit, confidence, toInput(canvas, box)]);
  let blobs = 0;
  candidates.forEach((_, index) => { if (results.get(`${index},-1,-1`)[1] >= minConfidence) blobs++; });
  const ordered = orderLines(kept);
  lap("ordering");
  return [ordered, blobs];
}

/** Whole candidate or its best split (DigitReader._choose). */
function choose(index, candidate, results) {
  const [digit, confidence] = results.get(`${index},-1,-1`);
  let best = [[digit, confidence, candidate.box]];
  let bestScore = confidence / Math.max(1, candidate.wide / SPLIT_WIDE);
  candidate.splits.forEach((split, s) => {
    const pieces = split.map((_, p) => results.get(`${index},${s},${p}`));
    const crossed = s < candidate.splitCosts.length ? candidate.splitCosts[s] : 0;
    const score = Math.min(...pieces.map(([, c]) => c)) - SPLIT_MARGIN - STROKE_COST * Math.max(0, crossed - STROKE_FREE);
    if (score > bestScore) {
      bestScore = score;
      best = pieces.map(([d, c], p) => [d, c, split[p].box]);
    }
  });
  return best;
}

function area(digits) {
  return digits.reduce((sum, d) => sum + d.box[2] * d.box[3], 0);
}

function contains([x, y, w, h], digits) {
  return digits.every((d) => x <= d.box[0] + d.box[2] / 2 && d.box[0] + d.box[2] / 2 <= x + w
    && y <= d.box[1] + d.box[3] / 2 && d.box[1] + d.box[3] / 2 <= y + h);
}

/** Dominant row slope dy/dx from each digit's nearest neighbour: near-horizontal pairs within a group
 *  (at most 1 + GROUP_GAP digit heights apart) only. */
export function estimateSlope(cx, cy, heights) {
  const n = cx.length;
  if (n < 3) return 0;
  const slopes = [];
  for (let i = 0; i < n; i++) {
    let nearest = -1, distance = Infinity;
    for (let j = 0; j < n; j++) {
      if (j === i) continue;
      const d = Math.hypot(cx[j] - cx[i], cy[j] - cy[i]);
      if (d < distance) { distance = d; nearest = j; }
    }
    let vx = cx[nearest] - cx[i], vy = cy[nearest] - cy[i];
    if (vx < 0) vy = -vy;
    vx = Math.abs(vx);
    const within = distance <= (1 + GROUP_GAP) * Math.max(heights[i], heights[nearest]);
    if (vx > 0 && within && Math.abs(vy / vx) < Math.tan((40 * Math.PI) / 180)) slopes.push(vy / vx);
  }
  return slopes.length >= Math.max(2, Math.floor(n / 3)) ? median(slopes) : 0;
}

function pageTilt(boxes) {
  if (boxes.length < DESKEW_DIGITS) return 0;
  const slope = estimateSlope(boxes.map(([x, , w]) => x + w / 2), boxes.map(([, y, , h]) => y + h / 2), boxes.map((b) => b[3]));
  const degrees = (Math.atan(slope) * 180) / Math.PI;
  return Math.abs(degrees) >= DESKEW_FROM ? degrees : 0;
}

/** Group [digit, confidence, box] items into lines by chaining nearest right neighbours (reader.order_lines). */
export function orderLines(items) {
  const n = items.length;
  if (!n) return [];
  const boxes = items.map((item) => item[2]);
  const h = boxes.map((b) => b[3]);
  const cx = boxes.map((b) => b[0] + b[2] / 2);
  const slope = estimateSlope(cx, boxes.map((b) => b[1] + b[3] / 2), h);
  const shift = cx.map((x) => slope * x);
  const cy = boxes.map((b, i) => b[1] + b[3] / 2 - shift[i]);
  const top = boxes.map((b, i) => b[1] - shift[i]), bottom = boxes.map((b, i) => b[1] + b[3] - shift[i]);
  const parent = Array.from({ length: n }, (_, i) => i);
  const find = (i) => { while (parent[i] !== i) { parent[i] = parent[parent[i]]; i = parent[i]; } return i; };
  for (let i = 0; i < n; i++) {
    let nearest = -1, cost = Infinity;
    for (let j = 0; j < n; j++) {
      const overlap = Math.min(bottom[i], bottom[j]) - Math.max(top[i], top[j]);
      const smaller = Math.min(h[i], h[j]);
      if (!(cx[j] > cx[i] && overlap / smaller > 0.35)) continue;
      // across a gap wider than a digit (another group of a scattered page), only a level neighbour continues the line
      const gap = boxes[j][0] - (boxes[i][0] + boxes[i][2]);
      if (!(gap <= GROUP_GAP * Math.max(h[i], h[j]) || Math.abs(cy[j] - cy[i]) < LEVEL * smaller)) continue;
      const c = cx[j] - cx[i] + 0.5 * Math.abs(cy[j] - cy[i]);
      if (c < cost) { cost = c; nearest = j; }
    }
    if (nearest >= 0) parent[find(i)] = find(nearest);
  }
  const lines = new Map();
  for (let i = 0; i < n; i++) {
    const root = find(i);
    if (!lines.has(root)) lines.set(root, []);
    lines.get(root).push(i);
  }
  const ordered = [...lines.values()].map((members) => [members, median(members.map((k) => cy[k]))])
    .sort((a, b) => a[1] - b[1]).map(([members]) => members);
  return ordered.flatMap((members, line) => [...members].sort((a, b) => cx[a] - cx[b]).map((i) => {
    const [digit, confidence, box] = items[i];
    return { digit, confidence: Math.round(confidence * 1e4) / 1e4, box: box.map((v) => Math.trunc(v)), line };
  }));
}
