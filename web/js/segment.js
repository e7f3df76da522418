// Digit candidates in an image, a port of edge_digits/runtime/segment.py and split.py: ink map
// against the estimated paper, hysteresis threshold from the image's own noise and ink level,
// connected components, fragment grouping, size limits relative to the typical digit, split
// proposals for touching digits (split.js), all at a working scale chosen from the digits' size.
import { argsort, components, gaussian3, plane, pyRound } from "./image.js";
import { inkMap, shrink } from "./inkmap.js";
import * as kernels from "./kernels.js";
import { inkAndOutline } from "./normalize.js";
import { resizeCubic } from "./resize.js";
import { eraseFrames, eraseRules } from "./rules.js";
import { splitProposals, toImage } from "./split.js";
import { strayMarks } from "./strays.js";

const WORK_MAX_SIDE = 1024, COARSE_SIDE = 320, MIN_DIGIT = 28, TARGET_DIGIT = 40, SMALL_DIGIT = 20;
const UPSCALED_SIDE = 2048, SPLIT_WIDE = 1.4, DIGIT_ASPECT = 0.8, LONE_ASPECT = 1.2, FRAGMENT_MIN = 0.12, MIN_SIDE = 6;
const FAINT_RULES = 0.5, HUGE_SPAN = 0.6, HUGE_SHARE = 0.1, HOLDS_ONE = 0.35, HOLDS_SEVERAL = 3, LARGEST_CHECKED = 16, LOOP_SHARE = 0.02;

const mapPlanes = (image, f) => image.map(f);

function searchSorted(cumulative, value) {
  let i = 0;
  while (i < cumulative.length && cumulative[i] < value) i++;
  return i;
}

function cumsum(values) {
  let total = 0;
  return values.map((v) => (total += v));
}

/** [low, high] hysteresis thresholds from the ink histogram, or null when the image is blank. */
export function inkLevels(ink) {
  const counts = new Int32Array(256), data = ink.data;
  for (let i = 0; i < data.length; i++) counts[data[i]]++;
  const hist = Float64Array.from(counts);
  const cumulative = cumsum(hist);
  const total = cumulative[255];
  const median = searchSorted(cumulative, total / 2);
  const deviation = new Float64Array(256);
  for (let v = 0; v < 256; v++) deviation[Math.abs(v - median)] += hist[v];
  const mad = searchSorted(cumsum(deviation), total / 2);
  const noiseFloor = median + Math.max(5 * (1.4826 * mad + 1), 14);
  const above = hist.map((count, v) => (v > noiseFloor ? count : 0));
  const aboveTotal = above.reduce((a, b) => a + b, 0);
  if (aboveTotal < 8) return null;
  const level = searchSorted(cumsum(above), 0.9 * aboveTotal);
  return [Math.max(noiseFloor, median + 0.25 * (level - median)), Math.max(noiseFloor, median + 0.5 * (level - median))];
}

function binarize(ink) {
  const levels = inkLevels(ink);
  if (!levels) return null;
  const [low, high] = levels;
  const threshold = (level) => {
    if (kernels.enabled) return plane(ink.width, ink.height, kernels.threshold(ink.data, level));
    const out = new Uint8Array(ink.data.length);
    for (let i = 0; i < out.length; i++) if (ink.data[i] > level) out[i] = 255;
    return plane(ink.width, ink.height, out);
  };
  const weak = threshold(low);
  let { labels, stats } = components(weak, 8);
  // the rules of the paper (looked for in a fainter mask), then boxes drawn around digits
  const unruled = eraseRules(weak, ink, threshold(FAINT_RULES * low));
  if (unruled !== weak) ({ labels, stats } = components(unruled, 8));
  const unboxed = eraseFrames(unruled, labels, stats);
  if (unboxed) ({ labels, stats } = components(unboxed, 8));
  const strong = new Uint8Array(stats.length);
  for (let i = 0; i < ink.data.length; i++) if (ink.data[i] > high) strong[labels[i]] = 1;
  const ids = [];
  for (let id = 1; id < stats.length; id++) if (strong[id]) ids.push(id);
  return { labels, stats, ids };
}

function weightedMedian(values, weights) {
  const order = argsort(values);
  const cumulative = cumsum(order.map((i) => weights[i]));
  return values[order[searchSorted(cumulative, cumulative[cumulative.length - 1] / 2)]];
}

function detect(image, scale) {
  const { width, height } = image[0];
  const w = Math.max(1, pyRound(width * scale)), h = Math.max(1, pyRound(height * scale));
  const work = scale > 1 ? mapPlanes(image, (p) => resizeCubic(p, w, h)) : scale === 1 ? image : mapPlanes(image, (p) => shrink(p, w, h));
  const found = binarize(gaussian3(inkMap(work)));
  if (!found) return null;
  const ids = plausible(found.stats, found.ids, h, w);
  if (!ids.length) return null;
  return { scale, width: w, height: h, labels: found.labels, stats: found.stats, ids, typical: typicalHeight(ids.map((i) => found.stats[i]), h, w) };
}

function typicalHeight(stats, height, width) {
  const huge = stats.map(([, , w, h]) => Math.max(w / width, h / height) > HUGE_SPAN);
  let chosen = stats;
  const area = (keep) => stats.reduce((sum, s, i) => sum + (huge[i] === keep ? s[4] : 0), 0);
  if (huge.some((v) => v) && huge.some((v) => !v) && area(false) >= HUGE_SHARE * area(true)) chosen = stats.filter((_, i) => !huge[i]);
  return weightedMedian(chosen.map((s) => s[3]), chosen.map((s) => s[4]));
}

function plausible(stats, ids, height, width) {
  const minArea = Math.max(4, Math.floor(height * width * 2e-6));
  const kept = ids.filter((id) => {
    const [x, y, w, h, area] = stats[id];
    const touches = x <= 1 || y <= 1 || x + w >= width - 1 || y + h >= height - 1;
    return area >= minArea && Math.max(w, h) >= 3 && !touches && h < 0.9 * height && w < 0.9 * width;
  });
  const boxes = kept.map((id) => stats[id]);
  const big = argsort(boxes.map(([, , w, h]) => -w * h)).slice(0, LARGEST_CHECKED);
  const enclosing = new Set();
  for (const b of big) {
    const [bx, by, bw, bh] = boxes[b];
    let one = false, several = 0;
    for (const [x, y, w, h] of boxes) {
      if (x > bx && y > by && x + w < bx + bw && y + h < by + bh) {
        if (h >= HOLDS_ONE * bh) one = true;
        if (h >= MIN_SIDE) several++;
      }
    }
    if (one || several >= HOLDS_SEVERAL) enclosing.add(b);
  }
  return kept.filter((_, i) => !enclosing.has(i));
}

function wholeFactor(scale, finest) {
  return Math.min(finest, 1 / Math.max(1, Math.floor(1 / scale + 1e-9)));
}

function finerScale(wanted, longest) {
  const limit = UPSCALED_SIDE / longest;
  if (wanted > 1 && limit >= 2) return Math.min(Math.ceil(wanted), Math.floor(limit));
  return wholeFactor(Math.min(wanted, limit), Math.min(1, limit));
}

function downscaledBlobs(image) {
  const longest = Math.max(image[0].width, image[0].height);
  const finest = Math.min(1, WORK_MAX_SIDE / longest);
  const coarse = wholeFactor(COARSE_SIDE / longest, finest);
  const blobs = detect(image, coarse);
  if (coarse >= finest || (blobs && blobs.typical >= MIN_DIGIT)) return blobs;
  const scale = blobs ? wholeFactor((coarse * TARGET_DIGIT) / blobs.typical, finest) : finest;
  return scale > coarse ? detect(image, scale) : blobs;
}

function findBlobs(image) {
  const blobs = downscaledBlobs(image);
  if (!blobs || !(MIN_SIDE <= blobs.typical && blobs.typical < SMALL_DIGIT)) return blobs;
  const scale = finerScale((blobs.scale * TARGET_DIGIT) / blobs.typical, Math.max(image[0].width, image[0].height));
  if (scale <= blobs.scale) return blobs;
  return detect(image, scale) || blobs;
}

function groupMask(labels, width, box, group) {
  const [x, y, w, h] = box;
  const members = new Set(group);
  const out = new Uint8Array(w * h);
  for (let row = 0; row < h; row++) {
    for (let col = 0; col < w; col++) out[row * w + col] = members.has(labels[(y + row) * width + x + col]) ? 255 : 0;
  }
  return plane(w, h, out);
}

function hasLoop(blobs, index) {
  const [x, y, w, h] = blobs.stats[index];
  const paper = plane(w + 2, h + 2, new Uint8Array((w + 2) * (h + 2)).fill(1));
  for (let row = 0; row < h; row++) {
    for (let col = 0; col < w; col++) paper.data[(row + 1) * (w + 2) + col + 1] = blobs.labels[(y + row) * blobs.width + x + col] !== index ? 1 : 0;
  }
  const { count, stats } = components(paper, 4);
  if (count <= 2) return false;
  return Math.max(...stats.slice(2).map((s) => s[4])) >= Math.max(2, LOOP_SHARE * w * h);
}

function union(stats, group) {
  const x0 = Math.min(...group.map((i) => stats[i][0])), y0 = Math.min(...group.map((i) => stats[i][1]));
  const x1 = Math.max(...group.map((i) => stats[i][0] + stats[i][2])), y1 = Math.max(...group.map((i) => stats[i][1] + stats[i][3]));
  return [x0, y0, x1 - x0, y1 - y0];
}

function groupFragments(blobs) {
  const { stats, typical } = blobs;
  const ids = blobs.ids.filter((i) => Math.max(stats[i][2], stats[i][3]) >= FRAGMENT_MIN * typical);
  let groups = ids.map((i) => [i]);
  let boxes = ids.map((i) => stats[i].slice(0, 4));
  let areas = ids.map((i) => stats[i][4]);
  let merged = true;
  while (merged && groups.length > 1) {
    merged = false;
    for (const i of argsort(boxes.map((b) => b[3]))) {
      const [xi, yi, wi, hi] = boxes[i];
      if (hi > 0.8 * typical && wi > 0.8 * typical) break;
      let best = -1, bestGap = Infinity, anyBesideOnly = false;
      const ok = boxes.map(([x, y, w, h], j) => {
        if (j === i) return [false, false];
        const overlap = Math.min(xi + wi, x + w) - Math.max(xi, x);
        const gap = Math.max(yi, y) - Math.min(yi + hi, y + h);
        const spanY = Math.max(yi + hi, y + h) - Math.min(yi, y), spanX = Math.max(xi + wi, x + w) - Math.min(xi, x);
        const stacked = (overlap >= 0.3 * Math.min(wi, w) || overlap >= 0.5 * wi) && gap <= 0.3 * typical;
        const beside = Math.max(wi, hi) < 0.5 * typical && hi >= 0.25 * typical && gap < 0 && -overlap <= 0.15 * typical && h > hi;
        const fits = (stacked || beside) && spanY <= 1.35 * typical && spanX <= 1.4 * typical;
        if (fits && !stacked) anyBesideOnly = true;
        return [fits, stacked, gap];
      });
      const loopOnly = anyBesideOnly && groups[i].length === 1 && hasLoop(blobs, groups[i][0]);
      ok.forEach(([fits, stacked, gap], j) => {
        if (fits && (!loopOnly || stacked) && gap < bestGap) { best = j; bestGap = gap; }
      });
      if (best >= 0) {
        groups[i] = groups[i].concat(groups[best]);
        boxes[i] = union(stats, groups[i]);
        areas[i] += areas[best];
        groups = groups.filter((_, k) => k !== best);
        boxes = boxes.filter((_, k) => k !== best);
        areas = areas.filter((_, k) => k !== best);
        merged = true;
        break;
      }
    }
  }
  return { groups, boxes, areas };
}

function reject({ groups, boxes, areas }, typical) {
  const keep = boxes.map(([, , w, h]) => {
    const long = Math.max(w, h);
    return long >= Math.max(0.3 * typical, typical >= MIN_SIDE ? MIN_SIDE : 2 * MIN_SIDE)
      && h <= 2.2 * typical && w <= 4.0 * typical
      && !(long > 1.6 * typical && Math.min(w, h) < 0.25 * long && w > h)
      && !(h > 1.8 * typical && w < 0.2 * h);
  });
  return { groups: groups.filter((_, i) => keep[i]), boxes: boxes.filter((_, i) => keep[i]), areas: areas.filter((_, i) => keep[i]) };
}

/** Digit candidates of an image (list of uint8 planes): [{box, mask, wide, splits, splitCosts}], boxes in image pixels. */
export function findCandidates(image) {
  if (Math.min(image[0].width, image[0].height) < 8) return [];
  const blobs = findBlobs(image);
  if (!blobs) return [];
  const { groups, boxes, areas } = reject(groupFragments(blobs), blobs.typical);
  if (!groups.length) return [];
  const typicalWidth = weightedMedian(boxes.map((b) => b[2]), areas);
  const typicalAspect = weightedMedian(boxes.map((b) => b[2] / b[3]), areas);
  const masks = groups.map((group, index) => groupMask(blobs.labels, blobs.width, boxes[index], group));
  const several = groups.length > 1;
  const stray = several ? strayMarks(boxes, areas, (index) => inkAndOutline(masks[index])[1]) : [];
  const candidates = [];
  const lone = groups.length - stray.filter(Boolean).length === 1;  // one blob left once stray marks are gone
  groups.forEach((group, index) => {
    if (stray[index]) return;
    const [x, y, w, h] = boxes[index];
    const mask = masks[index];
    // wider than usual both absolutely and for its height; or, beside other blobs, wider than a digit of the typical
    // height can be; a lone blob sets the typical width itself, so only its own shape tells a cluster of touching digits
    let wide = Math.min(w / Math.max(typicalWidth, 1), w / h / Math.max(typicalAspect, 1e-3));
    wide = Math.max(wide, lone ? w / (LONE_ASPECT * h) : w / (DIGIT_ASPECT * Math.max(blobs.typical, h)));
    const candidate = { box: toImage(boxes[index], blobs.scale), mask, wide, splits: [], splitCosts: [] };
    const pieces = Math.max(wide, w / typicalWidth, w / (DIGIT_ASPECT * h));  // how many digits it may hold
    if (wide > SPLIT_WIDE) Object.assign(candidate, splitProposals(mask, [x, y], pieces, blobs.scale));
    candidates.push(candidate);
  });
  return candidates;
}
