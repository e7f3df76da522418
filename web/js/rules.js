// Erase printed lines, a port of edge_digits/runtime/rules.py: the rules of lined and squared paper
// (long straight runs found in a fainter mask, tilted up to 6 degrees, in families of thin ones;
// strokes crossing a rule stay) and the boxes of forms drawn around digits. Masks are 0/255 planes.
import { components, median, plane } from "./image.js";
import { resizeArea } from "./resize.js";

const RULE_SPAN = 1 / 3, RULE_FAMILY = 3, CROSS_MARGIN = 2, MIN_RULE = 40, FRAME_SIDES = 3, FRAME_COVER = 0.9;
const FRAME_BAND = 4, MIN_FRAME = 12, RULE_GAP = 3, SLOPE_POINTS = 1024, DARKER_THAN_RULE = 2.0, MAX_THICKNESS = 6.0;
const RULE_SLOPES = Array.from({ length: 17 }, (_, i) => Math.tan(((-6 + 0.75 * i) * Math.PI) / 180));

function transpose({ width, height, data }) {
  const out = new data.constructor(data.length);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) out[x * height + y] = data[y * width + x];
  return plane(height, width, out);
}

/** Row-wise erosion (all) or dilation (any) of a 0/255 mask over the window [x - anchor, x - anchor + length - 1]
 *  (a cv2 MORPH_RECT (length, 1) kernel; pixels outside the image are ignored). */
function rowWindow(mask, length, any) {
  const { width, height, data } = mask;
  const anchor = Math.floor(length / 2);
  const out = new Uint8Array(data.length);
  const prefix = new Int32Array(width + 1);
  for (let y = 0; y < height; y++) {
    const base = y * width;
    for (let x = 0; x < width; x++) prefix[x + 1] = prefix[x] + (data[base + x] ? 1 : 0);
    for (let x = 0; x < width; x++) {
      const from = Math.max(0, x - anchor), to = Math.min(width, x - anchor + length);
      const inked = prefix[to] - prefix[from];
      out[base + x] = (any ? inked > 0 : inked === to - from) ? 255 : 0;
    }
  }
  return plane(width, height, out);
}

const openRows = (mask, length) => rowWindow(rowWindow(mask, length, false), length, true);
const and = (a, b) => plane(a.width, a.height, a.data.map((v, i) => v & b.data[i]));

/** cv2.warpAffine with INTER_NEAREST of the shear (x, y) -> (x, y - slope * x + lift), or its inverse. */
function shear(mask, slope, lift, width, height, inverse) {
  const out = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const fixed = inverse ? Math.round((y + lift) * 1024) + Math.round(-slope * x * 1024) : Math.round((y - lift) * 1024) + Math.round(slope * x * 1024);
      const sy = (fixed + 512) >> 10;
      if (sy >= 0 && sy < mask.height && x < mask.width) out[y * width + x] = mask.data[sy * mask.width + x];
    }
  }
  return plane(width, height, out);
}

function ruleSlope(small, length) {
  const rows = [], cols = [];
  for (let y = 0; y < small.height; y++) for (let x = 0; x < small.width; x++) if (small.data[y * small.width + x]) { rows.push(y); cols.push(x); }
  if (rows.length < Math.floor(length / 4)) return null;
  const every = Math.max(1, Math.floor(rows.length / SLOPE_POINTS));
  const r = rows.filter((_, i) => i % every === 0), c = cols.filter((_, i) => i % every === 0);
  const roundEven = (v) => { const f = Math.floor(v), d = v - f; return d > 0.5 || (d === 0.5 && f % 2) ? f + 1 : f; };
  const sheared = RULE_SLOPES.map((slope) => { const s = r.map((row, i) => roundEven(row - slope * c[i])); const low = Math.min(...s); return s.map((v) => v - low); });
  const span = Math.max(...sheared.map((s) => Math.max(...s))) + 1;
  const profiles = sheared.map((s) => { const p = new Float64Array(span); for (const v of s) p[v]++; return p; });
  const energy = profiles.map((p) => p.reduce((sum, v) => sum + v * v, 0));
  const best = energy.indexOf(Math.max(...energy));
  const top = Math.max(...sheared[best]) + 1;
  const window = Array.from({ length: top + 1 }, (_, i) => every * ((i < top ? profiles[best][i] : 0) + (i > 0 ? profiles[best][i - 1] : 0)));
  const at = (i) => (i >= 0 && i < window.length ? window[i] : 0);
  let seen = 0, previous = false;
  window.forEach((value, i) => {
    let above = Infinity, below = Infinity;
    for (let step = 2; step <= RULE_GAP; step++) { above = Math.min(above, at(i - step)); below = Math.min(below, at(i + step)); }
    const thin = value >= (0.8 * length) / 4 && value - Math.max(above, below) >= (0.5 * length) / 4;
    if (thin && !previous) seen++;
    previous = thin;
  });
  return seen >= RULE_FAMILY ? RULE_SLOPES[best] : null;
}

function keepComponents(mask, keep) {
  const { labels, stats } = components(mask, 8);
  const kept = stats.map((s, id) => id > 0 && keep(s));
  return [plane(mask.width, mask.height, Uint8Array.from(labels, (id) => (kept[id] ? 255 : 0))), stats.filter((s, id) => kept[id])];
}

function ruleFamily(mask, length, slope) {
  const { width, height } = mask;
  const lift = Math.ceil(Math.abs(slope) * width) + 1, offset = slope > 0 ? lift : 0;
  const level = shear(mask, slope, offset, width, height + lift, false);
  const thick = plane(width, height + lift, level.data.map((_, i) => {
    const y = Math.floor(i / width);
    return level.data[i] | (y > 0 ? level.data[i - width] : 0) | (y + 1 < height + lift ? level.data[i + width] : 0);
  }));
  const [runs, rules] = keepComponents(and(openRows(thick, length), level), (s) => s[2] >= length);
  const thickness = rules.map((s) => s[4] / Math.max(s[2], 1));
  if (rules.length < RULE_FAMILY || median(thickness) > MAX_THICKNESS) return null;
  const typical = median(thickness), short = Math.max(3, Math.floor(length / 3));
  const [pieces] = keepComponents(and(openRows(thick, short), level), (s) => s[2] >= short && s[4] / Math.max(s[2], 1) <= typical + 1);
  const all = plane(width, height + lift, runs.data.map((v, i) => v | pieces.data[i]));
  return [and(shear(all, slope, offset, width, height, true), mask), Math.ceil(typical) + CROSS_MARGIN];
}

function inkBeside(rest, reach) {
  const { width, height, data } = rest;
  const before = new Uint8Array(data.length), after = new Uint8Array(data.length);
  for (let step = 1; step <= reach; step++) {
    for (let i = step * width; i < data.length; i++) before[i] |= data[i - step * width];
    for (let i = 0; i < (height - step) * width; i++) after[i] |= data[i + step * width];
  }
  return [before, after];
}

/** The 0/255 ink mask without its horizontal and vertical rule families, rules looked for in `faint`;
 *  `ink` (strength) keeps pen strokes lying on a rule. Returns `mask` itself when there are none. */
export function eraseRules(mask, ink, faint) {
  const { width, height } = mask;
  const length = Math.floor(Math.max(height, width) * RULE_SPAN);
  if (length < MIN_RULE) return mask;
  const small = resizeArea(faint, Math.max(1, Math.floor(width / 4)), Math.max(1, Math.floor(height / 4)));
  const families = [];
  for (const transposed of [false, true]) {
    const slope = ruleSlope(transposed ? transpose(small) : small, length);
    const found = slope === null ? null : ruleFamily(transposed ? transpose(faint) : faint, length, slope);
    if (found) families.push([transposed ? transpose(found[0]) : found[0], found[1], transposed]);
  }
  if (!families.length) return mask;
  const allRules = families.length === 1 ? families[0][0].data : families[0][0].data.map((v, i) => v | families[1][0].data[i]);
  const rest = plane(width, height, mask.data.map((v, i) => v & ~allRules[i] & 255));
  if (!mask.data.some((v, i) => v & allRules[i])) return mask;
  const erase = new Uint8Array(mask.data.length);
  for (const [runs, reach, transposed] of families) {
    const [before, after] = inkBeside(transposed ? transpose(rest) : rest, reach);
    let crossing = plane(transposed ? height : width, transposed ? width : height, before.map((v, i) => v & after[i]));
    if (transposed) crossing = transpose(crossing);
    for (let i = 0; i < erase.length; i++) erase[i] |= runs.data[i] & ~crossing.data[i] & 255;
  }
  const onRule = median(ink.data.filter((_, i) => allRules[i]));
  const limit = Math.floor(DARKER_THAN_RULE * onRule);
  let any = false;
  for (let i = 0; i < erase.length; i++) { if (ink.data[i] > limit) erase[i] = 0; any ||= erase[i] > 0; }
  return any ? plane(width, height, mask.data.map((v, i) => v & ~erase[i] & 255)) : mask;
}

/** `weak` with the sides of drawn boxes erased (components inked along FRAME_SIDES sides of their box), or null. */
export function eraseFrames(weak, labels, stats) {
  let out = null;
  stats.forEach(([x, y, w, h, area], id) => {
    if (id === 0 || Math.min(w, h) < MIN_FRAME || area >= 0.5 * w * h) return;
    const inside = (row, col) => labels[(y + row) * weak.width + x + col] === id;
    const bands = frameBands(inside, w, h);
    if (!bands) return;
    out ||= plane(weak.width, weak.height, weak.data.slice());
    for (let row = 0; row < h; row++) for (let col = 0; col < w; col++) if (bands[row * w + col] && inside(row, col)) out.data[(y + row) * weak.width + x + col] = 0;
  });
  return out;
}

function frameBands(inside, width, height) {
  const band = Math.min(FRAME_BAND, Math.floor(height / 4), Math.floor(width / 4));
  const share = (along, test) => { let n = 0; for (let i = 0; i < along; i++) n += test(i) ? 1 : 0; return n / along; };
  const anyIn = (rows, col) => rows.some((row) => inside(row, col));
  const range = (from, to) => Array.from({ length: to - from }, (_, i) => from + i);
  const sides = [
    () => share(width, (col) => anyIn(range(0, band), col)),
    () => share(width, (col) => anyIn(range(height - band, height), col)),
    () => share(height, (row) => range(0, band).some((col) => inside(row, col))),
    () => share(height, (row) => range(width - band, width).some((col) => inside(row, col))),
  ];
  let missing = 0;
  for (const side of sides) {
    missing += side() < FRAME_COVER ? 1 : 0;
    if (missing > 4 - FRAME_SIDES) return null;
  }
  const bands = new Uint8Array(width * height);
  const full = (test, length) => { const raw = range(0, length).map(test); return raw.map((_, i) => raw[i - 1] || raw[i] || raw[i + 1]); };
  const columns = full((col) => share(height, (row) => inside(row, col)) >= FRAME_COVER, width);
  const rows = full((row) => share(width, (col) => inside(row, col)) >= FRAME_COVER, height);
  for (let row = 0; row < height; row++) {
    for (let col = 0; col < width; col++) {
      const edge = row < band || row >= height - band || col < band || col >= width - band;
      if (edge || columns[col] || rows[row]) bands[row * width + col] = 1;
    }
  }
  return bands;
}
