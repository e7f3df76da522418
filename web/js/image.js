// Image primitives the reader needs, ported from the OpenCV calls of edge_digits/runtime (same
// border rules, pixel centres and rounding where it matters). A plane is {width, height, data}
// with data a Uint8Array (0..255) or Float32Array; colour images are arrays of planes.
import * as kernels from "./kernels.js";

/** Python's round(): halves go to the even neighbour (sizes must match the Python reader's). */
export function pyRound(value) {
  const floor = Math.floor(value);
  const rest = value - floor;
  if (rest > 0.5) return floor + 1;
  if (rest < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

export function plane(width, height, data) {
  return { width, height, data: data || new Uint8Array(width * height) };
}

export function saturate(value) {
  return value <= 0 ? 0 : value >= 255 ? 255 : Math.round(value);
}

/** cv2.getStructuringElement(MORPH_ELLIPSE, (size, size)) as a list of [dx, dy] offsets from the centre. */
export function ellipse(size) {
  const r = Math.floor(size / 2);
  const offsets = [];
  for (let i = 0; i < size; i++) {
    const dy = i - r;
    if (Math.abs(dy) > r) continue;
    const dx = r ? Math.round(r * Math.sqrt((r * r - dy * dy) / (r * r))) : 0;
    for (let j = Math.max(r - dx, 0); j < Math.min(r + dx + 1, size); j++) offsets.push([j - r, dy]);
  }
  return offsets;
}


/** rows[i] = min (or max) of rows[i] and from[j], for `count` pixels from i = at, j = source (uint8 planes;
 *  floats have their own copy below, so each stays monomorphic and fast in the JIT). */
function combineBytes(rows, at, from, source, count, dilation) {
  if (dilation) for (let i = 0; i < count; i++) rows[at + i] = Math.max(rows[at + i], from[source + i]);
  else for (let i = 0; i < count; i++) rows[at + i] = Math.min(rows[at + i], from[source + i]);
}

function combineFloats(rows, at, from, source, count, dilation) {
  if (dilation) for (let i = 0; i < count; i++) rows[at + i] = Math.max(rows[at + i], from[source + i]);
  else for (let i = 0; i < count; i++) rows[at + i] = Math.min(rows[at + i], from[source + i]);
}

/** The row windows min (max) over [x - k, x + k] for k = 0..widest, each from the one before (3 taps). */
function windows(data, width, height, widest, dilation, combine) {
  const levels = [data];
  for (let k = 1; k <= widest; k++) {
    const previous = levels[k - 1], next = new data.constructor(data.length);
    next.set(previous);
    for (let y = 0; y < height; y++) {
      const base = y * width;
      combine(next, base, previous, base + 1, width - 1, dilation);
      combine(next, base + 1, previous, base, width - 1, dilation);
    }
    levels.push(next);
  }
  return levels;
}

/** Erosion (or dilation) with a kernel symmetric in each row (ellipses, squares) given as [dx, dy]
 *  offsets; outside pixels never win (OpenCV's default border). Row windows grow one pixel at a time,
 *  then each kernel row's window is combined in, a whole row per step. */
function morphology(source, offsets, dilation) {
  const { width, height, data } = source;
  const reach = new Map();  // dy -> k
  for (const [dx, dy] of offsets) reach.set(dy, Math.max(reach.get(dy) ?? 0, Math.abs(dx)));
  if (kernels.enabled && data instanceof Uint8Array && reach.has(0)) {
    return plane(width, height, kernels.morphologyBytes(data, width, height, reach, dilation));
  }
  const combine = data instanceof Uint8Array ? combineBytes : combineFloats;
  const levels = windows(data, width, height, Math.max(...reach.values()), dilation, combine);
  const result = new data.constructor(levels[reach.get(0) ?? 0]);
  for (const [dy, k] of reach) {
    if (dy === 0) continue;
    const first = Math.max(0, -dy), last = Math.min(height, height - dy);
    if (last > first) combine(result, first * width, levels[k], (first + dy) * width, (last - first) * width, dilation);
  }
  return plane(width, height, result);
}

/** Erosion by a kernel of [dx, dy] offsets symmetric in each row; outside pixels never win. */
export const erode = (source, offsets) => morphology(source, offsets, false);

/** Dilation by a kernel of [dx, dy] offsets symmetric in each row; outside pixels never win. */
export const dilate = (source, offsets) => morphology(source, offsets, true);

function reflect101(index, size) {
  if (size === 1) return 0;
  while (index < 0 || index >= size) index = index < 0 ? -index : 2 * size - 2 - index;
  return index;
}

/** Separable uint8 filter with integer kernel and divisor (cv2.blur, 3x3 GaussianBlur), border reflect-101. */
export function filterInteger(source, kernel, divisor) {
  const { width, height, data } = source;
  const half = (kernel.length - 1) / 2, taps = kernel.length;
  const xs = Int32Array.from({ length: width * taps }, (_, i) => reflect101(Math.floor(i / taps) + (i % taps) - half, width));
  const ys = Int32Array.from({ length: height * taps }, (_, i) => reflect101(Math.floor(i / taps) + (i % taps) - half, height));
  const rows = new Int32Array(width * height);
  for (let y = 0; y < height; y++) {
    const base = y * width;
    for (let x = 0; x < width; x++) {
      let sum = 0;
      for (let k = 0; k < taps; k++) sum += kernel[k] * data[base + xs[x * taps + k]];
      rows[base + x] = sum;
    }
  }
  const out = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let sum = 0;
      for (let k = 0; k < taps; k++) sum += kernel[k] * rows[ys[y * taps + k] * width + x];
      out[y * width + x] = saturate(sum / divisor);
    }
  }
  return plane(width, height, out);
}

/** cv2.blur(source, (5, 5)) of a uint8 plane (border reflect-101): filterInteger's result, edges aside in one pass. */
export function boxBlur5(source) {
  const { width, height, data } = source;
  if (width < 5 || height < 5) return filterInteger(source, [1, 1, 1, 1, 1], 25);
  const rows = new Uint16Array(width * height);
  for (let y = 0; y < height; y++) {
    const base = y * width;
    for (const x of [0, 1, width - 2, width - 1]) {
      let sum = 0;
      for (let k = -2; k <= 2; k++) sum += data[base + reflect101(x + k, width)];
      rows[base + x] = sum;
    }
    for (let x = base + 2; x < base + width - 2; x++) rows[x] = data[x - 2] + data[x - 1] + data[x] + data[x + 1] + data[x + 2];
  }
  const out = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    const r0 = reflect101(y - 2, height) * width, r1 = reflect101(y - 1, height) * width, r2 = y * width;
    const r3 = reflect101(y + 1, height) * width, r4 = reflect101(y + 2, height) * width;
    for (let x = 0; x < width; x++) out[r2 + x] = Math.round((rows[r0 + x] + rows[r1 + x] + rows[r2 + x] + rows[r3 + x] + rows[r4 + x]) / 25);
  }
  return plane(width, height, out);
}

/** cv2.GaussianBlur(source, (3, 3), 0) of a uint8 plane: kernel [1, 2, 1] / 4 both ways, border reflect-101. */
export function gaussian3(source) {
  const { width, height, data } = source;
  if (width < 2 || height < 2) return filterInteger(source, [1, 2, 1], 16);
  if (kernels.enabled) return plane(width, height, kernels.gaussian3(data, width, height));
  const rows = new Uint16Array(width * height);
  for (let y = 0; y < height; y++) {
    const base = y * width;
    rows[base] = 2 * data[base] + 2 * data[base + 1];
    for (let x = 1; x < width - 1; x++) rows[base + x] = data[base + x - 1] + 2 * data[base + x] + data[base + x + 1];
    rows[base + width - 1] = 2 * data[base + width - 1] + 2 * data[base + width - 2];
  }
  const out = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    const above = (y === 0 ? 1 : y - 1) * width, here = y * width, below = (y === height - 1 ? height - 2 : y + 1) * width;
    for (let x = 0; x < width; x++) out[here + x] = (rows[above + x] + 2 * rows[here + x] + rows[below + x] + 8) >> 4;
  }
  return plane(width, height, out);
}

/** Connected components of pixels != 0 (8- or 4-connected), labels in raster order of first pixel;
 *  stats[label] = [x, y, w, h, area] like cv2.connectedComponentsWithStats (label 0 is the background). */
export function components(source, connectivity = 8) {
  const { width, height, data } = source;
  const labels = new Int32Array(width * height);
  let parent = new Int32Array(1024), used = 1;
  const find = (i) => { while (parent[i] !== i) { parent[i] = parent[parent[i]]; i = parent[i]; } return i; };
  const attach = (label, other) => {
    if (!other || other === label) return label || other;
    if (!label) return other;
    const a = find(label), b = find(other);
    if (a !== b) parent[Math.max(a, b)] = Math.min(a, b);
    return label;
  };
  const eight = connectivity === 8;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      if (!data[i]) continue;
      let label = x > 0 ? labels[i - 1] : 0;
      if (y > 0) {
        label = attach(label, labels[i - width]);
        if (eight && x > 0) label = attach(label, labels[i - width - 1]);
        if (eight && x + 1 < width) label = attach(label, labels[i - width + 1]);
      }
      if (!label) {
        if (used === parent.length) { const grown = new Int32Array(2 * used); grown.set(parent); parent = grown; }
        label = used;
        parent[used++] = label;
      }
      labels[i] = label;
    }
  }
  const final = new Int32Array(used);
  let count = 1;
  for (let i = 1; i < used; i++) final[i] = find(i) === i ? count++ : final[find(i)];
  const left = new Int32Array(count).fill(width), top = new Int32Array(count).fill(height);
  const right = new Int32Array(count).fill(-1), bottom = new Int32Array(count).fill(-1), area = new Int32Array(count);
  for (let y = 0; y < height; y++) {
    for (let x = 0, i = y * width; x < width; x++, i++) {
      if (!labels[i]) continue;  // the background's box is the whole image: set below
      const label = final[labels[i]];
      labels[i] = label;
      if (x < left[label]) left[label] = x;
      if (y < top[label]) top[label] = y;
      if (x > right[label]) right[label] = x;
      bottom[label] = y;
      area[label]++;
    }
  }
  const stats = Array.from({ length: count }, (_, l) => [left[l], top[l], right[l] - left[l] + 1, bottom[l] - top[l] + 1, area[l]]);
  stats[0] = [0, 0, width, height, width * height - area.reduce((sum, a) => sum + a, 0)];  // (never asked for)
  return { count, labels, stats };
}

/** Otsu's threshold of a uint8 plane (cv2.THRESH_OTSU): pixels above it are the bright class. */
export function otsu(source) {
  const histogram = new Float64Array(256);
  for (const value of source.data) histogram[value]++;
  const total = source.data.length;
  let mu = 0;
  for (let i = 0; i < 256; i++) mu += i * histogram[i] / total;
  let q1 = 0, mu1 = 0, best = 0, threshold = 0;
  const epsilon = 1.1920929e-7;
  for (let i = 0; i < 256; i++) {
    const p = histogram[i] / total;
    mu1 *= q1;
    q1 += p;
    const q2 = 1 - q1;
    if (Math.min(q1, q2) < epsilon || Math.max(q1, q2) > 1 - epsilon) continue;
    mu1 = (mu1 + i * p) / q1;
    const mu2 = (mu - q1 * mu1) / q2;
    const between = q1 * q2 * (mu1 - mu2) * (mu1 - mu2);
    if (between > best) { best = between; threshold = i; }
  }
  return threshold;
}

/** numpy's median of a list of numbers. */
export function median(values) {
  const sorted = Float64Array.from(values).sort();
  const n = sorted.length;
  return n % 2 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
}

/** Indices that sort `values` ascending (stable). */
export function argsort(values) {
  return Array.from(values, (_, i) => i).sort((i, j) => values[i] - values[j] || i - j);
}
