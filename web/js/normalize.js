// MNIST-faithful normalization, a port of edge_digits/runtime/normalize.py: ink fitted into 20x20
// keeping aspect ratio, centred by centre of mass in 28x28, strokes nudged towards MNIST's width.
import { dilate, ellipse, erode, plane, pyRound } from "./image.js";
import { resizeArea, resizeLinear, warpAffine } from "./resize.js";

const BOX = 20;
export const SIZE = 28;
const STROKE_TARGET = 2.6;
const STROKE_MIN = 1.8, STROKE_MAX = 4.5;
const NARROW = 0.45;
const STRUCTURE = 3.0;

/** Ink pixels of a mask (ink > level) and its outline pixels (ink with paper among its 8 neighbours, the
 *  image edge counting as paper): strays.outline and the boundary of stroke_width. */
export function inkAndOutline(mask, level = 0) {
  const { width, height, data } = mask;
  let area = 0, inner = 0;
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < width; x++) {
      if (!(data[row + x] > level)) continue;
      area++;
      if (y === 0 || x === 0 || y === height - 1 || x === width - 1) continue;
      const up = row - width, down = row + width;
      if (data[up + x - 1] > level && data[up + x] > level && data[up + x + 1] > level && data[row + x - 1] > level
        && data[row + x + 1] > level && data[down + x - 1] > level && data[down + x] > level && data[down + x + 1] > level) inner++;
    }
  }
  return [area, area - inner];
}

/** Mean stroke width of a mask (ink > level): 2 * area / boundary length. */
export function strokeWidth(mask, level = 0) {
  const [area, boundary] = inkAndOutline(mask, level);
  return area === 0 ? 0 : (2 * area) / Math.max(boundary, 1);
}

function crop(source, x, y, width, height) {
  const out = new source.data.constructor(width * height);
  for (let row = 0; row < height; row++) {
    out.set(source.data.subarray((y + row) * source.width + x, (y + row) * source.width + x + width), row * width);
  }
  return plane(width, height, out);
}

/** Bounding box [x, y, w, h] of pixels above `level` (cv2.boundingRect of the mask). */
export function boundingBox(source, level) {
  let x0 = Infinity, y0 = Infinity, x1 = -1, y1 = -1;
  for (let y = 0; y < source.height; y++) {
    for (let x = 0; x < source.width; x++) {
      if (source.data[y * source.width + x] > level) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        y1 = y;
      }
    }
  }
  return x1 < 0 ? [0, 0, 0, 0] : [x0, y0, x1 - x0 + 1, y1 - y0 + 1];
}

function trim(ink) {
  const [x, y, w, h] = boundingBox(ink, 0.05);
  return crop(ink, x, y, w, h);
}

function widen(ink) {
  const { width, height, data } = ink;
  if (width >= NARROW * height) return ink;
  let widest = -1;
  for (let y = 0; y < height; y++) {
    let first = -1, last = -1;
    for (let x = 0; x < width; x++) if (data[y * width + x] > 0.5) { if (first < 0) first = x; last = x; }
    if (first >= 0) widest = Math.max(widest, last + 1 - first);
  }
  if (widest < 0 || widest < STRUCTURE * strokeWidth(ink, 0.5)) return ink;
  return resizeLinear(ink, Math.max(1, pyRound(NARROW * height)), height);
}

function fixStroke(ink) {
  const { width, height } = ink;
  const scale = BOX / Math.max(height, width);
  const current = strokeWidth(ink, 0.5) * scale;
  if ((STROKE_MIN <= current && current <= STROKE_MAX) || current === 0) return ink;
  const change = (STROKE_TARGET - current) / scale;
  const radius = pyRound(Math.abs(change) / 2);
  if (radius < 1) return ink;
  const kernel = ellipse(2 * radius + 1);
  if (change > 0) {
    const padded = plane(width + 2 * radius, height + 2 * radius, new Float32Array((width + 2 * radius) * (height + 2 * radius)));
    for (let y = 0; y < height; y++) padded.data.set(ink.data.subarray(y * width, (y + 1) * width), (y + radius) * padded.width + radius);
    return trim(dilate(padded, kernel));
  }
  const thinned = erode(ink, kernel);
  return Math.max(...thinned.data) > 0.5 ? trim(thinned) : ink;
}

/** An ink mask (any typed plane, ink > 0) -> Float32Array(784), white ink on black in [0, 1]. */
export function normalizeMask(mask) {
  const empty = new Float32Array(SIZE * SIZE);
  let peak = 0;
  for (const v of mask.data) if (v > peak) peak = v;
  if (mask.data.length === 0 || peak <= 0) return empty;
  let ink = plane(mask.width, mask.height, Float32Array.from(mask.data, (v) => v * (1 / peak)));
  ink = fixStroke(widen(trim(ink)));
  const { width, height } = ink;
  const scale = BOX / Math.max(height, width);
  const newWidth = Math.max(1, pyRound(width * scale)), newHeight = Math.max(1, pyRound(height * scale));
  const small = scale < 1 ? resizeArea(ink, newWidth, newHeight) : resizeLinear(ink, newWidth, newHeight);
  let total = 0, cx = 0, cy = 0;
  for (let y = 0; y < newHeight; y++) {
    for (let x = 0; x < newWidth; x++) {
      const v = small.data[y * newWidth + x];
      total += v; cx += v * x; cy += v * y;
    }
  }
  if (total <= 0) return empty;
  const shifted = warpAffine(small, [[1, 0, SIZE / 2 - cx / total], [0, 1, SIZE / 2 - cy / total]], SIZE, SIZE);
  return shifted.data.map((v) => Math.min(1, Math.max(0, v)));
}

/** `mask` turned `degrees` counter-clockwise on a canvas that holds all of it (normalize.rotate). */
export function rotate(mask, degrees) {
  const { width, height } = mask;
  const angle = (degrees * Math.PI) / 180;
  const a = Math.cos(angle), b = Math.sin(angle);
  const cx = width / 2, cy = height / 2;
  const matrix = [[a, b, (1 - a) * cx - b * cy], [-b, a, b * cx + (1 - a) * cy]];
  const cos = Math.abs(a), sin = Math.abs(b);
  const newWidth = Math.ceil(width * cos + height * sin - 1e-6), newHeight = Math.ceil(width * sin + height * cos - 1e-6);
  matrix[0][2] += (newWidth - width) / 2;
  matrix[1][2] += (newHeight - height) / 2;
  return warpAffine(mask, matrix, newWidth, newHeight);
}

/** Normalize masks into one Float32Array batch of N x 28 x 28 x 1 (NHWC). */
export function batch(masks) {
  const out = new Float32Array(masks.length * SIZE * SIZE);
  masks.forEach((mask, index) => out.set(normalizeMask(mask), index * SIZE * SIZE));
  return out;
}
