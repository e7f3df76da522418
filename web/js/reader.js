// The one JavaScript reader of the page (draw pad and camera alike), a port of
// edge_digits/runtime/reader.py: segment, normalize, classify every crop in ONE batch with the
// int8 ONNX model (onnxruntime-web), choose touching-digit splits by confidence, order into lines.
import * as ort from "../node_modules/onnxruntime-web/dist/ort.wasm.min.mjs";
import { CLOSEUP_INK, CROP_SIDE, MIN_SIDE, fromImageData, inkOnFrame, inkShare, prepare, reframe, toInput } from "./canvas.js";
import { argsort, median } from "./image.js";
import * as kernels from "./kernels.js";
import { SIZE, batch, rotate } from "./normalize.js";
import { findCandidates } from "./segment.js";

const SPLIT_MARGIN = 0.2, SPLIT_WIDE = 1.3, STROKE_FREE = 1.5, STROKE_COST = 0.1;
const DESKEW_FROM = 6.0, DESKEW_DIGITS = 3, GROUP_GAP = 1.0, LEVEL = 0.5, FRAGMENTS = 4, CLOSEUP_HEIGHT = 0.5;
const CHAIN_OVERLAP = 0.35, BAND_MEMBERS = 3, JOIN_OVERLAP = 0.05, STACKED = 0.3;  // runtime/lines.py
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
  // every crop gets the framed second look: a faint pencil digit reaches its frame too lightly for inkOnFrame;
  // so does a close-up inked all over or read as one piece half its height (DigitReader.read)
  const few = MIN_SIDE <= Math.min(width, height) && blobs <= FRAGMENTS && canvas.offset[0] === 0 && canvas.offset[1] === 0;
  const cut = few && (crop || inkOnFrame(canvas.image));
  const close = few && !cut && (tallest(digits) >= CLOSEUP_HEIGHT * height || inkShare(canvas.image) >= CLOSEUP_INK);
  if (cut || close) {
    const [framed] = await readCanvas(session, reframe(canvas), minConfidence, null);
    if (framed.length === 1 && area(framed) > 2 * area(digits) && contains(framed[0].box, digits)
        && (cut || tallest(framed) >= CLOSEUP_HEIGHT * height)) digits = framed;
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

function tallest(digits) {
  return digits.reduce((most, d) => Math.max(most, d.box[3]), 0);
}

function area(digits) {
  return digits.reduce((sum, d) => sum + d.box[2] * d.box[3], 0);
}

function contains([x, y, w, h], digits) {
  return digits.every((d) => x <= d.box[0] + d.box[2] / 2 && d.box[0] + d.box[2] / 2 <= x + w
    && y <= d.box[1] + d.box[3] / 2 && d.box[1] + d.box[3] / 2 <= y + h);
}

/** Dominant row slope dy/dx (lines.row_slope): each digit linked to its nearest neighbour when near-horizontal
 *  and within a group; the median over every pair of linked digits, each weighted by its run squared. */
export function rowSlope(cx, cy, heights) {
  const n = cx.length;
  if (n < 3) return 0;
  const tan40 = Math.tan((40 * Math.PI) / 180);
  const sets = new Sets(n);
  let links = 0;
  for (let i = 0; i < n; i++) {
    let nearest = -1, distance = Infinity;
    for (let j = 0; j < n; j++) {
      if (j === i) continue;
      const d = Math.hypot(cx[j] - cx[i], cy[j] - cy[i]);
      if (d < distance) { distance = d; nearest = j; }
    }
    const vx = cx[nearest] - cx[i], vy = cy[nearest] - cy[i];
    if (vx !== 0 && distance <= (1 + GROUP_GAP) * Math.max(heights[i], heights[nearest]) && Math.abs(vy) < tan40 * Math.abs(vx)) {
      links++;
      sets.join(i, nearest);
    }
  }
  if (links < Math.max(2, Math.floor(n / 3))) return 0;
  const roots = sets.roots(), slopes = [], weights = [];
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
    const run = cx[j] - cx[i];
    if (roots[i] !== roots[j] || !(run > 0)) continue;
    const slope = (cy[j] - cy[i]) / run;
    if (Math.abs(slope) < tan40) { slopes.push(slope); weights.push(run * run); }
  }
  if (!slopes.length) return 0;
  const order = argsort(slopes);  // NumPy's searchsorted on the cumulative weights, summed in sorted order
  const cumulative = [];
  order.forEach((k, r) => cumulative.push((r ? cumulative[r - 1] : 0) + weights[k]));
  const half = cumulative[cumulative.length - 1] / 2;
  return slopes[order[cumulative.findIndex((c) => c >= half)]];
}

function pageTilt(boxes) {
  if (boxes.length < DESKEW_DIGITS) return 0;
  const [x, y, w, h] = [0, 1, 2, 3].map((k) => boxes.map((b) => b[k]));
  const slope = rowSlope(x.map((v, i) => v + w[i] / 2), y.map((v, i) => v + h[i] / 2), h);
  if (Math.abs((Math.atan(slope) * 180) / Math.PI) < DESKEW_FROM) return 0;
  return (Math.atan(fitRows(x, y, w, h)[0]) * 180) / Math.PI;
}

/** The page's slope and lines (lines.fit_rows): the estimate, unless read level the rows make fewer lines, or
 *  as many whose centres lie closer to their line's. */
function fitRows(x, y, w, h) {
  const cx = x.map((v, i) => v + w[i] / 2), centres = y.map((v, i) => v + h[i] / 2);
  const slope = rowSlope(cx, centres, h);
  const lines = groupLines(x, y, w, h, slope);
  if (slope) {
    const level = groupLines(x, y, w, h, 0);
    const flat = spread(level, centres), tilted = spread(lines, centres.map((c, i) => c - slope * cx[i]));
    if (level.length < lines.length || (level.length === lines.length && flat <= tilted)) return [0, level];
  }
  return [slope, lines];
}

function spread(lines, centres) {
  return lines.reduce((sum, members) => {
    const middle = median(members.map((k) => centres[k]));
    return sum + members.reduce((s, k) => s + Math.abs(centres[k] - middle), 0);
  }, 0);
}

class Sets {
  constructor(n) { this.parent = Array.from({ length: n }, (_, i) => i); }
  find(i) { const p = this.parent; while (p[i] !== i) { p[i] = p[p[i]]; i = p[i]; } return i; }
  join(i, j) { this.parent[this.find(i)] = this.find(j); }
  roots() { return this.parent.map((_, i) => this.find(i)); }
}

/** Lines (lists of indices) once `slope` is undone: chains of nearest right neighbours overlapping in height, then
 *  fragments of one row joined (lines.group_lines). */
function groupLines(x, y, w, h, slope) {
  const n = x.length;
  const sets = new Sets(n);
  const cx = x.map((v, i) => v + w[i] / 2), shift = cx.map((v) => slope * v);
  const cy = y.map((v, i) => v + h[i] / 2 - shift[i]);
  const top = y.map((v, i) => v - shift[i]), bottom = y.map((v, i) => v + h[i] - shift[i]);
  for (let i = 0; i < n; i++) {
    let nearest = -1, cost = Infinity;
    for (let j = 0; j < n; j++) {
      const overlap = Math.min(bottom[i], bottom[j]) - Math.max(top[i], top[j]);
      const smaller = Math.min(h[i], h[j]);
      if (!(cx[j] > cx[i] && overlap / smaller > CHAIN_OVERLAP)) continue;
      // across a gap wider than a digit (another group of a scattered page), only a level neighbour continues the line
      const gap = x[j] - (x[i] + w[i]);
      if (!(gap <= GROUP_GAP * Math.max(h[i], h[j]) || Math.abs(cy[j] - cy[i]) < LEVEL * smaller)) continue;
      const c = cx[j] - cx[i] + 0.5 * Math.abs(cy[j] - cy[i]);
      if (c < cost) { cost = c; nearest = j; }
    }
    if (nearest >= 0) sets.join(i, nearest);
  }
  joinFragments(sets, x, w, top, bottom);
  const lines = new Map();
  for (let i = 0; i < n; i++) {
    const root = sets.find(i);
    if (!lines.has(root)) lines.set(root, []);
    lines.get(root).push(i);
  }
  return [...lines.values()];
}

/** Join lines that are fragments of one row where their local bands overlap and no digit of one stands above a
 *  digit of the other (lines._join_fragments). */
function joinFragments(sets, x, w, top, bottom) {
  const n = x.length;
  if (n < 2) return;
  const right = x.map((v, i) => v + w[i]), cx = x.map((v, i) => v + w[i] / 2), centre = top.map((v, i) => (v + bottom[i]) / 2);
  const beside = (i, j) => Math.min(right[i], right[j]) - Math.max(x[i], x[j]);
  const stacked = (i, j) => beside(i, j) > STACKED * Math.min(w[i], w[j]);
  const pairs = [];
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) {
    const near = -beside(i, j) <= GROUP_GAP * Math.max(bottom[i] - top[i], bottom[j] - top[j]);
    if (near && !stacked(i, j)) pairs.push([i, j]);
  }
  const order = argsort(pairs.map(([i, j]) => Math.abs(centre[i] - centre[j])));
  for (const [i, j] of order.map((k) => pairs[k])) {
    const a = sets.find(i), b = sets.find(j);
    if (a === b) continue;
    const roots = sets.roots();
    const first = [], second = [];
    roots.forEach((root, k) => { if (root === a) first.push(k); else if (root === b) second.push(k); });
    if (first.some((p) => second.some((q) => stacked(p, q)))) continue;
    const nearestTo = (members, k) => argsort(members.map((m) => Math.abs(cx[m] - cx[k]))).slice(0, BAND_MEMBERS).map((q) => members[q]);
    const bandOf = (members) => [Math.min(...members.map((m) => top[m])), Math.max(...members.map((m) => bottom[m]))];
    const [a0, a1] = bandOf(nearestTo(first, j)), [b0, b1] = bandOf(nearestTo(second, i));
    const overlap = Math.min(a1, b1) - Math.max(a0, b0);
    if (overlap > JOIN_OVERLAP * Math.min(a1 - a0, b1 - b0)) sets.join(b, a);
  }
}

/** Group [digit, confidence, box] items into lines (lines.order_lines): top to bottom, left to right. */
export function orderLines(items) {
  if (!items.length) return [];
  const boxes = items.map((item) => item[2]);
  const [x, y, w, h] = [0, 1, 2, 3].map((k) => boxes.map((b) => b[k]));
  const [slope, lines] = fitRows(x, y, w, h);
  const cx = x.map((v, i) => v + w[i] / 2), cy = y.map((v, i) => v + h[i] / 2 - slope * cx[i]);
  const ordered = lines.map((members) => [members, median(members.map((k) => cy[k]))])
    .sort((a, b) => a[1] - b[1]).map(([members]) => members);
  return ordered.flatMap((members, line) => [...members].sort((a, b) => cx[a] - cx[b]).map((i) => {
    const [digit, confidence, box] = items[i];
    return { digit, confidence: Math.round(confidence * 1e4) / 1e4, box: box.map((v) => Math.trunc(v)), line };
  }));
}
