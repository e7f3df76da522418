// Stray marks beside a row of digits, a port of edge_digits/runtime/strays.py: one straight stroke far
// smaller or thinner than the digits level with it and near it (a tick, a dash, a hairline) is not a digit.
import { median } from "./image.js";

const STRAY_SIZE = 0.5, STRAY_STROKE = 0.3, NEAR = 1.5, STRAIGHT = 1.3, ELONGATED = 3.0;

/** Which blobs (boxes [x, y, w, h] and ink areas in working pixels) are stray marks; `outlineOf(i)` gives
 *  blob i's outline pixels and is asked only of the few blobs that may be marks and their neighbours. */
export function strayMarks(boxes, areas, outlineOf) {
  const n = boxes.length;
  const found = new Array(n).fill(false);
  if (n < 2) return found;
  const near = boxes.map(([xi, yi, wi, hi], i) => {
    const centre = yi + hi / 2;
    const out = [];
    boxes.forEach(([x, y, w, h], j) => {
      const gap = Math.max(x - (xi + wi), xi - (x + w));
      if (j !== i && centre >= y && centre <= y + h && gap <= NEAR * h) out.push(j);
    });
    return out;
  });
  const diagonal = boxes.map(([, , w, h]) => Math.hypot(w, h));
  const thin = areas.map((area, i) => area / diagonal[i]);
  const edges = new Map();
  const edge = (i) => { if (!edges.has(i)) edges.set(i, Math.max(outlineOf(i), 1)); return edges.get(i); };
  for (let i = 0; i < n; i++) {
    if (!near[i].length) continue;
    const small = Math.max(boxes[i][2], boxes[i][3]) < STRAY_SIZE * median(near[i].map((j) => boxes[j][3]));
    const hairline = thin[i] < STRAY_STROKE * median(near[i].map((j) => thin[j]));
    if (!small && !hairline) continue;
    if (edge(i) > STRAIGHT * 2 * diagonal[i] || edge(i) ** 2 < 4 * ELONGATED * areas[i]) continue;
    found[i] = small || (2 * areas[i]) / edge(i) < STRAY_STROKE * median(near[i].map((j) => (2 * areas[j]) / edge(j)));
  }
  return found;
}
