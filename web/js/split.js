// Split proposals for touching digits, a port of edge_digits/runtime/split.py: cuts at column-profile
// minima, each scored by the strokes it crosses (touching digits join in one thin stroke).
import { argsort, plane } from "./image.js";
import { strokeWidth } from "./normalize.js";

const PIECE_HEIGHT = 0.6;  // every piece of a split spans at least this share of the blob's height
const MAX_PIECES = 5, MINIMA_CHECKED = 12, NARROWEST = 0.3;  // clusters of touching digits (split.py)

/** Working-resolution box -> the image pixels it covers (split.to_image). */
export function toImage([x, y, w, h], scale) {
  const left = Math.floor(x / scale + 1e-6), top = Math.floor(y / scale + 1e-6);
  const right = Math.ceil((x + w) / scale - 1e-6), bottom = Math.ceil((y + h) / scale - 1e-6);
  return [left, top, Math.max(1, right - left), Math.max(1, bottom - top)];
}

/** Touching-digit alternatives: cuts at column-profile minima, each with the strokes it crosses (split.py). */
export function splitProposals(mask, origin, pieces, scale) {
  const { width, height, data } = mask;
  const columns = new Float64Array(width);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) if (data[y * width + x]) columns[x]++;
  const profile = Array.from(columns, (_, x) => ((columns[x - 1] || 0) + columns[x] + (columns[x + 1] || 0)) / 3);
  const stroke = Math.max(strokeWidth(mask), 1);
  const argmin = (lo, hi) => { let best = lo; for (let c = lo; c < hi; c++) if (profile[c] < profile[best]) best = c; return best; };
  const splits = [], splitCosts = [];
  for (let parts = 2; parts <= Math.min(MAX_PIECES, Math.ceil(pieces + 0.5)); parts++) {
    const cuts = [];
    for (let k = 1; k < parts; k++) {
      const centre = (width * k) / parts;
      const lo = Math.max(Math.trunc(centre - (0.25 * width) / parts), 1), hi = Math.min(Math.trunc(centre + (0.25 * width) / parts) + 1, width - 1);
      if (hi <= lo) break;
      cuts.push(argmin(lo, hi));
    }
    if (cuts.length !== parts - 1) continue;
    const alternatives = [cuts];
    if (parts === 2) {
      const lo = Math.max(Math.trunc(0.3 * width), 1), hi = Math.min(Math.trunc(0.7 * width) + 1, width - 1);
      const order = argsort(profile.slice(lo, Math.max(lo, hi))).map((c) => c + lo);
      const other = order.find((c) => Math.abs(c - cuts[0]) > 0.08 * width);
      if (other !== undefined) alternatives.push([other]);
    } else {  // digits of a cluster differ in width: the thinnest joins wherever they are
      const uneven = thinnestCuts(profile, parts);
      if (uneven && uneven.some((c, k) => c !== cuts[k])) alternatives.push(uneven);
    }
    for (const cutList of alternatives) {
      const out = cut(mask, origin, cutList, scale);
      if (out) { splits.push(out); splitCosts.push(Math.max(...cutList.map((c) => profile[c])) / stroke); }
    }
  }
  return { splits, splitCosts };
}

/** The parts - 1 cuts among the lowest local minima whose thickest cut is thinnest (split._thinnest_cuts). */
function thinnestCuts(profile, parts) {
  const width = profile.length;
  const ink = profile.map((v) => Math.round(3 * v));  // the whole 3-column counts: ties are ties on every platform
  let minima = [];
  for (let c = 1; c < width - 1; c++) if (ink[c] <= ink[c - 1] && ink[c] < ink[c + 1]) minima.push(c);
  minima = argsort(minima.map((c) => ink[c])).slice(0, MINIMA_CHECKED).map((k) => minima[k]).sort((a, b) => a - b);
  const narrowest = (NARROWEST * width) / parts;
  let best = null, bestCost = Infinity;
  const choose = (start, chosen) => {  // combinations in itertools.combinations' order
    if (chosen.length === parts - 1) {
      const edges = [0, ...chosen, width];
      for (let k = 0; k + 1 < edges.length; k++) if (edges[k + 1] - edges[k] < narrowest) return;
      const cost = Math.max(...chosen.map((c) => ink[c]));
      if (cost < bestCost) { best = [...chosen]; bestCost = cost; }
      return;
    }
    for (let k = start; k < minima.length; k++) choose(k + 1, [...chosen, minima[k]]);
  };
  choose(0, []);
  return best;
}

function cut(mask, origin, cuts, scale) {
  const edges = [0, ...cuts, mask.width];
  const out = [];
  for (let k = 0; k + 1 < edges.length; k++) {
    const a = edges[k], b = edges[k + 1];
    const rows = [], cols = new Set();
    for (let y = 0; y < mask.height; y++) {
      let any = false;
      for (let x = a; x < b; x++) if (mask.data[y * mask.width + x]) { any = true; cols.add(x - a); }
      if (any) rows.push(y);
    }
    if (rows.length < 2 || rows[rows.length - 1] - rows[0] + 1 < PIECE_HEIGHT * mask.height || cols.size < 2) return null;
    const c0 = Math.min(...cols), c1 = Math.max(...cols), r0 = rows[0], r1 = rows[rows.length - 1];
    const piece = plane(c1 - c0 + 1, r1 - r0 + 1);
    for (let y = r0; y <= r1; y++) for (let x = c0; x <= c1; x++) piece.data[(y - r0) * piece.width + x - c0] = mask.data[y * mask.width + a + x];
    out.push({ box: toImage([origin[0] + a + c0, origin[1] + r0, piece.width, piece.height], scale), mask: piece });
  }
  return out;
}
