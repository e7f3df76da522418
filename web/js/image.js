// Image primitives the reader needs, ported from the OpenCV calls of edge_digits/runtime (same
// border rules, pixel centres and rounding where it matters). A plane is {width, height, data}
// with data a Uint8Array (0..255) or Float32Array; colour images are arrays of planes.

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

function saturate(value) {
  return value <= 0 ? 0 : value >= 255 ? 255 : Math.round(value);
}

function finish(out, values, uint8) {
  if (uint8) for (let i = 0; i < values.length; i++) out[i] = saturate(values[i]);
  else out.set(values);
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

/** A separable resize: column taps along each row, then row taps down each column. */
function separable(source, newWidth, newHeight, columnTaps, rowTaps) {
  const { width, height, data } = source;
  const uint8 = data instanceof Uint8Array;
  const cols = flatten(columnTaps), rowsTaps = flatten(rowTaps);
  const rows = new Float64Array(newWidth * height);
  for (let y = 0; y < height; y++) {
    const base = y * width, outBase = y * newWidth;
    for (let x = 0; x < newWidth; x++) {
      let sum = 0;
      for (let k = cols.starts[x]; k < cols.starts[x + 1]; k++) sum += cols.weights[k] * data[base + cols.indices[k]];
      rows[outBase + x] = sum;
    }
  }
  const values = new Float64Array(newWidth * newHeight);
  for (let y = 0; y < newHeight; y++) {
    const outBase = y * newWidth;
    for (let k = rowsTaps.starts[y]; k < rowsTaps.starts[y + 1]; k++) {
      const base = rowsTaps.indices[k] * newWidth, weight = rowsTaps.weights[k];
      for (let x = 0; x < newWidth; x++) values[outBase + x] += weight * rows[base + x];
    }
  }
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

/** cv2.resize with INTER_LINEAR (half-pixel centres, edge replicated). */
export function resizeLinear(source, newWidth, newHeight) {
  return separable(source, newWidth, newHeight, linearTaps(source.width, newWidth), linearTaps(source.height, newHeight));
}

/** cv2.resize with INTER_CUBIC (a = -0.75). */
export function resizeCubic(source, newWidth, newHeight) {
  return separable(source, newWidth, newHeight, cubicTaps(source.width, newWidth), cubicTaps(source.height, newHeight));
}

/** cv2.resize with INTER_AREA for downscaling: each output pixel averages the source area it covers. */
export function resizeArea(source, newWidth, newHeight) {
  const factor = source.width / newWidth;
  if (Number.isInteger(factor) && factor === source.height / newHeight) return blockMean(source, factor);
  return separable(source, newWidth, newHeight, areaTaps(source.width, newWidth), areaTaps(source.height, newHeight));
}

/** Mean of factor x factor blocks (INTER_AREA by a whole factor), uint8 rounded. */
function blockMean(source, factor) {
  const { width, data } = source;
  const newWidth = width / factor, newHeight = source.height / factor;
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
  const area = factor * factor;
  const uint8 = data instanceof Uint8Array;
  const out = uint8 ? new Uint8Array(sums.length) : new Float32Array(sums.length);
  for (let i = 0; i < sums.length; i++) out[i] = uint8 ? saturate(sums[i] / area) : sums[i] / area;
  return plane(newWidth, newHeight, out);
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

export const SQUARE3 = [-1, 0, 1].flatMap((dy) => [-1, 0, 1].map((dx) => [dx, dy]));

/** Erosion with a kernel symmetric in each row (ellipses, squares) given as [dx, dy] offsets; outside
 *  pixels never win (OpenCV's default border). Row minima over [x - k, x + k] grow one k at a time. */
export function erode(source, offsets) {
  const { width, height, data } = source;
  const reach = new Map();  // dy -> k
  for (const [dx, dy] of offsets) reach.set(dy, Math.max(reach.get(dy) ?? 0, Math.abs(dx)));
  const widest = Math.max(...reach.values());
  const levels = [data];
  for (let k = 1; k <= widest; k++) {
    const next = new data.constructor(levels[k - 1]);
    for (let y = 0; y < height; y++) {
      const base = y * width;
      for (let x = k; x < width; x++) if (data[base + x - k] < next[base + x]) next[base + x] = data[base + x - k];
      for (let x = 0; x + k < width; x++) if (data[base + x + k] < next[base + x]) next[base + x] = data[base + x + k];
    }
    levels.push(next);
  }
  const result = new data.constructor(levels[reach.get(0) ?? 0]);
  for (const [dy, k] of reach) {
    if (dy === 0) continue;
    const level = levels[k];
    for (let y = Math.max(0, -dy); y < Math.min(height, height - dy); y++) {
      const out = y * width, from = (y + dy) * width;
      for (let x = 0; x < width; x++) if (level[from + x] < result[out + x]) result[out + x] = level[from + x];
    }
  }
  return plane(width, height, result);
}

/** Dilation: the erosion of the negative (255 - v for uint8, -v for floats). */
export function dilate(source, offsets) {
  const flip = source.data instanceof Uint8Array ? (v) => 255 - v : (v) => -v;
  const eroded = erode(plane(source.width, source.height, source.data.map(flip)), offsets);
  return plane(source.width, source.height, eroded.data.map(flip));
}

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

/** Connected components of pixels != 0 (8- or 4-connected), labels in raster order of first pixel;
 *  stats[label] = [x, y, w, h, area] like cv2.connectedComponentsWithStats (label 0 is the background). */
export function components(source, connectivity = 8) {
  const { width, height, data } = source;
  const labels = new Int32Array(width * height);
  const parent = [0];
  const find = (i) => { while (parent[i] !== i) { parent[i] = parent[parent[i]]; i = parent[i]; } return i; };
  const join = (a, b) => { a = find(a); b = find(b); if (a !== b) parent[Math.max(a, b)] = Math.min(a, b); };
  const eight = connectivity === 8;
  const attach = (label, other) => { if (!other) return label; if (!label) return other; join(label, other); return label; };
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
      if (!label) { label = parent.length; parent.push(label); }
      labels[i] = label;
    }
  }
  const final = new Int32Array(parent.length);
  let count = 1;
  for (let i = 1; i < parent.length; i++) final[i] = find(i) === i ? count++ : final[find(i)];
  const stats = Array.from({ length: count }, () => [Infinity, Infinity, -1, -1, 0]);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      const label = final[labels[i]];
      labels[i] = label;
      const s = stats[label];
      if (x < s[0]) s[0] = x;
      if (y < s[1]) s[1] = y;
      if (x > s[2]) s[2] = x;
      if (y > s[3]) s[3] = y;
      s[4]++;
    }
  }
  for (const s of stats) { s[2] = s[2] - s[0] + 1; s[3] = s[3] - s[1] + 1; }
  return { count, labels, stats };
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
