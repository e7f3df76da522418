// Geometric resampling the reader needs, ported from OpenCV (cv2.resize's area, linear and cubic
// interpolation with half-pixel centres and replicated edges; warpAffine as OpenCV 5 does it).
import { plane, saturate } from "./image.js";
import * as kernels from "./kernels.js";

function finish(out, values, uint8) {
  if (!uint8) out.set(values);
  else for (let i = 0; i < values.length; i++) { const v = values[i]; out[i] = v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v); }
  return out;
}

/** Flattened taps: for output d, weights[k] of source indices[k] for k in [starts[d], starts[d + 1]). */
function flatten(taps) {
  const starts = new Int32Array(taps.length + 1);
  taps.forEach((row, d) => { starts[d + 1] = starts[d] + row.length; });
  const indices = new Int32Array(starts[taps.length]), weights = new Float64Array(starts[taps.length]);
  taps.forEach((row, d) => row.forEach(([index, weight], k) => { indices[starts[d] + k] = index; weights[starts[d] + k] = weight; }));
  return { starts, indices, weights };
}

/** The column taps applied along every row of `source`: Float64Array of height x newWidth. */
function alongRows(source, newWidth, cols) {
  if (!(source.data instanceof Uint8Array)) return alongFloatRows(source, newWidth, cols);
  return alongByteRows(source, newWidth, cols);
}

// alongRows for uint8 and for float planes: two copies of one loop, so each stays monomorphic in the JIT
function alongByteRows(source, newWidth, cols) {
  const { width, height, data } = source;
  const rows = new Float64Array(newWidth * height);
  const { starts, indices, weights } = cols;
  for (let y = 0; y < height; y++) {
    const base = y * width, outBase = y * newWidth;
    for (let x = 0; x < newWidth; x++) {
      let sum = 0;
      for (let k = starts[x]; k < starts[x + 1]; k++) sum += weights[k] * data[base + indices[k]];
      rows[outBase + x] = sum;
    }
  }
  return rows;
}

function alongFloatRows(source, newWidth, cols) {
  const { width, height, data } = source;
  const rows = new Float64Array(newWidth * height);
  const { starts, indices, weights } = cols;
  for (let y = 0; y < height; y++) {
    const base = y * width, outBase = y * newWidth;
    for (let x = 0; x < newWidth; x++) {
      let sum = 0;
      for (let k = starts[x]; k < starts[x + 1]; k++) sum += weights[k] * data[base + indices[k]];
      rows[outBase + x] = sum;
    }
  }
  return rows;
}

/** Output row y of a separable resize (row taps down the columns of `rows`) into values[at..at + newWidth). */
function downColumns(rows, newWidth, rowTaps, y, values, at) {
  const { starts, indices, weights } = rowTaps;
  values.fill(0, at, at + newWidth);
  for (let k = starts[y]; k < starts[y + 1]; k++) {
    const base = indices[k] * newWidth, weight = weights[k];
    for (let x = 0; x < newWidth; x++) values[at + x] += weight * rows[base + x];
  }
}

const tapCache = new Map();
const flatLinearTaps = (size, newSize) => flatten(linearTaps(size, newSize));
const flatCubicTaps = (size, newSize) => flatten(cubicTaps(size, newSize));
const flatAreaTaps = (size, newSize) => flatten(areaTaps(size, newSize));

/** kind(size, newSize), made once per kind and sizes (a camera's frames all have the same sizes). */
function cached(kind, size, newSize) {
  const key = `${kind.name} ${size} ${newSize}`;
  let taps = tapCache.get(key);
  if (!taps) {
    if (tapCache.size >= 256) tapCache.clear();
    taps = kind(size, newSize);
    tapCache.set(key, taps);
  }
  return taps;
}

/** A separable resize: column taps along each row, then row taps down each column (flattened taps). */
function separable(source, newWidth, newHeight, columns, down) {
  const uint8 = source.data instanceof Uint8Array;
  const rows = alongRows(source, newWidth, columns);
  const values = new Float64Array(newWidth * newHeight);
  for (let y = 0; y < newHeight; y++) downColumns(rows, newWidth, down, y, values, y * newWidth);
  const out = uint8 ? new Uint8Array(values.length) : new Float32Array(values.length);
  return plane(newWidth, newHeight, finish(out, values, uint8));
}

function linearTaps(size, newSize) {
  const scale = size / newSize;
  const taps = [];
  for (let d = 0; d < newSize; d++) {
    let position = (d + 0.5) * scale - 0.5;
    let left = Math.floor(position);
    let fraction = position - left;
    if (left < 0) { left = 0; fraction = 0; }
    if (left >= size - 1) { left = size - 1; fraction = 0; }
    taps.push(fraction === 0 ? [[left, 1]] : [[left, 1 - fraction], [left + 1, fraction]]);
  }
  return taps;
}

function cubicTaps(size, newSize) {
  const scale = size / newSize;
  const a = -0.75;
  const taps = [];
  for (let d = 0; d < newSize; d++) {
    const position = (d + 0.5) * scale - 0.5;
    const left = Math.floor(position);
    const t = position - left;
    const weights = [
      ((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a,
      ((a + 2) * t - (a + 3)) * t * t + 1,
      ((a + 2) * (1 - t) - (a + 3)) * (1 - t) * (1 - t) + 1,
    ];
    weights.push(1 - weights[0] - weights[1] - weights[2]);
    taps.push(weights.map((weight, k) => [Math.min(size - 1, Math.max(0, left - 1 + k)), weight]));
  }
  return taps;
}

function areaTaps(size, newSize) {
  const scale = size / newSize;
  const taps = [];
  for (let d = 0; d < newSize; d++) {
    const start = d * scale;
    const end = Math.min(size, start + scale);
    const cell = end - start;
    const row = [];
    for (let s = Math.floor(start); s < Math.ceil(end - 1e-9); s++) {
      const overlap = Math.min(end, s + 1) - Math.max(start, s);
      if (overlap > 1e-9) row.push([s, overlap / cell]);
    }
    taps.push(row);
  }
  return taps;
}

/** cv2.resize with INTER_LINEAR (half-pixel centres, edge replicated); uint8 planes in OpenCV's fixed point. */
export function resizeLinear(source, newWidth, newHeight) {
  if (source.data instanceof Uint8Array) return plane(newWidth, newHeight, linearBytes(source, newWidth, newHeight));
  return separable(source, newWidth, newHeight, cached(flatLinearTaps, source.width, newWidth), cached(flatLinearTaps, source.height, newHeight));
}

const COEF_SCALE = 2048;  // OpenCV's INTER_RESIZE_COEF_SCALE: 11-bit fixed-point weights

/** cvRound: the nearest integer, halves to the even one. */
export function roundHalfEven(value) {
  const floor = Math.floor(value), rest = value - floor;
  return rest > 0.5 || (rest === 0.5 && floor % 2 !== 0) ? floor + 1 : floor;
}

/** OpenCV's fixed-point INTER_LINEAR taps along one axis of `size` pixels resized to `newSize`: per output
 *  pixel two source indices and two weights summing to about 2048, from float32 positions as OpenCV computes
 *  them. Columns clamp the fraction at the edges; rows keep it and only clamp the indices (as cv2.resize does). */
function fixedTaps(size, newSize, clampFraction) {
  const scale = 1 / (newSize / size);
  const first = new Int32Array(newSize), second = new Int32Array(newSize);
  const weight0 = new Int32Array(newSize), weight1 = new Int32Array(newSize);
  for (let d = 0; d < newSize; d++) {
    let fraction = Math.fround((d + 0.5) * scale - 0.5);
    let start = Math.floor(fraction);
    fraction = Math.fround(fraction - start);
    if (clampFraction && start < 0) { start = 0; fraction = 0; }
    if (clampFraction && start >= size - 1) { start = size - 1; fraction = 0; }
    first[d] = Math.min(Math.max(start, 0), size - 1);
    second[d] = Math.min(Math.max(start + 1, 0), size - 1);
    weight0[d] = roundHalfEven(Math.fround(Math.fround(1 - fraction) * COEF_SCALE));
    weight1[d] = roundHalfEven(Math.fround(fraction * COEF_SCALE));
  }
  return { first, second, weight0, weight1 };
}

const columnTaps = (size, newSize) => fixedTaps(size, newSize, true);
const rowTaps = (size, newSize) => fixedTaps(size, newSize, false);

/** Cached fixed-point taps {columns, rows} for a width x height plane resized to newWidth x newHeight. */
export function fixedLinearTaps(width, height, newWidth, newHeight) {
  return { columns: cached(columnTaps, width, newWidth), rows: cached(rowTaps, height, newHeight) };
}

/** The column taps applied along every row of uint8 `data` (width x height): Int32Array of height x newWidth. */
export function alongRowsFixed(data, width, height, { first, second, weight0, weight1 }) {
  const newWidth = first.length, out = new Int32Array(newWidth * height);
  for (let y = 0; y < height; y++) {
    const row = y * width, to = y * newWidth;
    for (let x = 0; x < newWidth; x++) out[to + x] = data[row + first[x]] * weight0[x] + data[row + second[x]] * weight1[x];
  }
  return out;
}

/** Output row y of OpenCV's fixed-point vertical pass (its SIMD rounding) over `rows` into out[at..at + newWidth). */
export function downFixed(rows, newWidth, taps, y, out, at) {
  const above = taps.first[y] * newWidth, below = taps.second[y] * newWidth, b0 = taps.weight0[y], b1 = taps.weight1[y];
  for (let x = 0; x < newWidth; x++) {
    out[at + x] = (((b0 * (rows[above + x] >> 4)) >> 16) + ((b1 * (rows[below + x] >> 4)) >> 16) + 2) >> 2;
  }
}

/** cv2.resize INTER_LINEAR of uint8 data, bit for bit: 11-bit weights, integer sums, OpenCV's rounding. */
function linearBytes(source, newWidth, newHeight) {
  const { columns, rows } = fixedLinearTaps(source.width, source.height, newWidth, newHeight);
  const along = alongRowsFixed(source.data, source.width, source.height, columns);
  const out = new Uint8Array(newWidth * newHeight);
  for (let y = 0; y < newHeight; y++) downFixed(along, newWidth, rows, y, out, y * newWidth);
  return out;
}


/** cv2.resize with INTER_CUBIC (a = -0.75). */
export function resizeCubic(source, newWidth, newHeight) {
  return separable(source, newWidth, newHeight, cached(flatCubicTaps, source.width, newWidth), cached(flatCubicTaps, source.height, newHeight));
}

/** cv2.resize with INTER_AREA for downscaling: each output pixel averages the source area it covers. */
export function resizeArea(source, newWidth, newHeight) {
  const factor = source.width / newWidth;
  if (Number.isInteger(factor) && factor === source.height / newHeight) return blockMean(source, factor);
  return separable(source, newWidth, newHeight, cached(flatAreaTaps, source.width, newWidth), cached(flatAreaTaps, source.height, newHeight));
}

/** Mean of factor x factor blocks (INTER_AREA by a whole factor), uint8 rounded. */
function blockMean(source, factor) {
  const { width, data } = source;
  const newWidth = width / factor, newHeight = source.height / factor;
  if (data instanceof Uint8Array) {
    const mean = kernels.enabled ? kernels.blockMeanBytes : blockMeanBytes;
    return plane(newWidth, newHeight, mean(data, width, newWidth, newHeight, factor));
  }
  const sums = new Float64Array(newWidth * newHeight);
  for (let y = 0; y < newHeight * factor; y++) {
    const out = Math.floor(y / factor) * newWidth;
    let index = y * width;
    for (let block = 0; block < newWidth; block++) {
      let sum = 0;
      for (let k = 0; k < factor; k++) sum += data[index++];
      sums[out + block] += sum;
    }
  }
  return plane(newWidth, newHeight, Float32Array.from(sums, (sum) => sum / (factor * factor)));
}

/** blockMean of uint8 data as OpenCV rounds it: a 2x2 block's sum half up ((sum + 2) >> 2), larger blocks
 *  by cvRound(sum * (1.f / area)) in float32 (halves to even). */
function blockMeanBytes(data, width, newWidth, newHeight, factor) {
  const out = new Uint8Array(newWidth * newHeight), scale = Math.fround(1 / (factor * factor));
  for (let y = 0; y < newHeight; y++) {
    const top = y * factor * width, row = y * newWidth;
    if (factor === 2) {
      for (let x = 0, i = top; x < newWidth; x++, i += 2) out[row + x] = (data[i] + data[i + 1] + data[i + width] + data[i + width + 1] + 2) >> 2;
      continue;
    }
    for (let x = 0; x < newWidth; x++) {
      let sum = 0;
      for (let line = top + x * factor; line < top + factor * width; line += width) {
        for (let k = line; k < line + factor; k++) sum += data[k];
      }
      out[row + x] = roundHalfEven(Math.fround(sum * scale));
    }
  }
  return out;
}

/** cv2.warpAffine(source, matrix, size) with INTER_LINEAR and a zero border, as OpenCV 5 does it:
 *  exact (unquantized) source coordinates; uint8 results are rounded. */
export function warpAffine(source, matrix, newWidth, newHeight) {
  const [[a, b, c], [d, e, f]] = matrix;
  const det = a * e - b * d;
  const ia = e / det, ib = -b / det, id = -d / det, ie = a / det;
  const ic = -(ia * c + ib * f), iff = -(id * c + ie * f);
  const { width, height, data } = source;
  const uint8 = data instanceof Uint8Array;
  const out = uint8 ? new Uint8Array(newWidth * newHeight) : new Float32Array(newWidth * newHeight);
  const at = (x, y) => (x < 0 || y < 0 || x >= width || y >= height ? 0 : data[y * width + x]);
  for (let y = 0; y < newHeight; y++) {
    for (let x = 0; x < newWidth; x++) {
      const X = ia * x + ib * y + ic, Y = id * x + ie * y + iff;
      const sx = Math.floor(X), sy = Math.floor(Y), fx = X - sx, fy = Y - sy;
      const value = (1 - fx) * (1 - fy) * at(sx, sy) + fx * (1 - fy) * at(sx + 1, sy)
        + (1 - fx) * fy * at(sx, sy + 1) + fx * fy * at(sx + 1, sy + 1);
      out[y * newWidth + x] = uint8 ? saturate(value) : value;
    }
  }
  return plane(newWidth, newHeight, out);
}
