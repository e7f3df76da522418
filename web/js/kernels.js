// WebAssembly (SIMD) twins of the page's hottest image kernels: web/wasm/kernels.c, built into
// web/wasm/kernels.wasm by scripts/build-wasm. Each gives exactly what its JavaScript version gives
// (tests/test_web_kernels.py compares them); where WebAssembly cannot load, the JavaScript ones run.
// Planes are copied into the module's memory, worked on there, and copied out.

let exports = null;
export let backend = "javascript";

/** Whether the WebAssembly kernels are in use (the callers ask before each call). */
export let enabled = false;

/** Resolves once the module is loaded (or failed to load: the JavaScript kernels stay in use). */
export const loaded = (async () => {
  try {
    const response = await fetch(new URL("../wasm/kernels.wasm", import.meta.url));
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    ({ exports } = (await WebAssembly.instantiate(await response.arrayBuffer(), {})).instance);
    backend = "webassembly";
    enabled = true;
  } catch (error) {
    console.warn(`image kernels in JavaScript: ${error.message}`);
  }
  return backend;
})();

const ALIGN = 16;
let top = 0;

/** Free every buffer of the previous call; the next allocations start at the module's heap base. */
function reset() {
  top = exports.__heap_base.value;
}

/** Byte offset of `bytes` fresh bytes in the module's memory (grown as needed; views must be made after). */
function allocate(bytes) {
  const at = Math.ceil(top / ALIGN) * ALIGN;
  top = at + bytes;
  const missing = top - exports.memory.buffer.byteLength;
  if (missing > 0) exports.memory.grow(Math.ceil(missing / 65536));
  return at;
}

const bytesAt = (at, length) => new Uint8Array(exports.memory.buffer, at, length);

/** Use the WebAssembly kernels (when they loaded) or the JavaScript ones: for tests and comparisons. */
export function useWebAssembly(on) {
  enabled = Boolean(on) && exports !== null;
  return enabled;
}

/** Erosion (dilation) of uint8 `data` (width x height) by a kernel given per row: reach.get(dy) = half-width. */
export function morphologyBytes(data, width, height, reach, dilation) {
  reset();
  const radius = Math.max(...[...reach.keys()].map(Math.abs)), widest = Math.max(...reach.values());
  const size = width * height;
  const source = allocate(size), out = allocate(size), levels = allocate(size * (widest + 1)), rows = allocate(4 * (2 * radius + 1));
  const table = new Int32Array(exports.memory.buffer, rows, 2 * radius + 1).fill(-1);
  for (const [dy, k] of reach) table[dy + radius] = k;
  bytesAt(source, size).set(data);
  exports.morphology(source, out, levels, width, height, rows, radius, widest, dilation ? 1 : 0);
  return bytesAt(out, size).slice();
}

/** Mean of factor x factor blocks of uint8 `data`, rounded half up. */
export function blockMeanBytes(data, width, newWidth, newHeight, factor) {
  reset();
  const source = allocate(data.length), out = allocate(newWidth * newHeight);
  bytesAt(source, data.length).set(data);
  exports.block_mean(source, out, width, newWidth, newHeight, factor);
  return bytesAt(out, newWidth * newHeight).slice();
}

/** The darkest ratio of each pixel to its channel's paper over `channels` (uint8 planes' data, width x height):
 *  each paper (uint8, paperWidth x paperHeight) upsampled as cv2.resize INTER_LINEAR does in fixed point, by
 *  `columns` and `rows` ({first, second, weight0, weight1}, resize.fixedLinearTaps), looked up in `ratio`. */
export function darkestRatio(channels, papers, paperWidth, paperHeight, columns, rows, ratio, width, height) {
  reset();
  const size = width * height;
  const table = allocate(ratio.length), ink = allocate(size), pixels = allocate(size), paperRow = allocate(width);
  const small = allocate(paperWidth * paperHeight), along = allocate(4 * paperHeight * width);
  const [columnsAt, rowsAt] = [columns, rows].map((taps) => ["first", "second", "weight0", "weight1"].map((name) => {
    const at = allocate(4 * taps[name].length);
    new Int32Array(exports.memory.buffer, at, taps[name].length).set(taps[name]);
    return at;
  }));
  bytesAt(table, ratio.length).set(ratio);
  bytesAt(ink, size).fill(255);
  for (let c = 0; c < channels.length; c++) {
    bytesAt(small, paperWidth * paperHeight).set(papers[c]);
    exports.linear_rows(small, paperWidth, paperHeight, width, ...columnsAt, along);
    bytesAt(pixels, size).set(channels[c]);
    exports.ink_channel(pixels, ink, along, ...rowsAt, table, width, height, paperRow);
  }
  return bytesAt(ink, size).slice();
}

/** RGBA bytes -> [red, green, blue, state]: state 1 all opaque and gray, 2 opaque in colour, 0 not all opaque. */
export function splitRgba(rgba, count) {
  reset();
  const source = allocate(4 * count), red = allocate(count), green = allocate(count), blue = allocate(count);
  bytesAt(source, 4 * count).set(rgba);
  const state = exports.split_rgba(source, red, green, blue, count);
  return [bytesAt(red, count).slice(), bytesAt(green, count).slice(), bytesAt(blue, count).slice(), state];
}

/** 3x3 Gaussian blur of a uint8 plane at least 2 x 2 (image.gaussian3). */
export function gaussian3(data, width, height) {
  reset();
  const source = allocate(data.length), out = allocate(data.length), rows = allocate(2 * data.length);
  bytesAt(source, data.length).set(data);
  exports.gaussian3(source, out, rows, width, height);
  return bytesAt(out, data.length).slice();
}

/** 255 where uint8 `data` is above `level`, else 0. */
export function threshold(data, level) {
  reset();
  const source = allocate(data.length), out = allocate(data.length);
  bytesAt(source, data.length).set(data);
  exports.threshold(source, out, data.length, level);
  return bytesAt(out, data.length).slice();
}
