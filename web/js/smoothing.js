// Temporal smoothing for camera readings, a port of edge_digits/runtime/smoothing.py: the most common
// text over the last few frames of an unchanged scene; a new layout restarts the history.

function iou([ax, ay, aw, ah], [bx, by, bw, bh]) {
  const width = Math.min(ax + aw, bx + bw) - Math.max(ax, bx);
  const height = Math.min(ay + ah, by + bh) - Math.max(ay, by);
  if (width <= 0 || height <= 0) return 0;
  return (width * height) / (aw * ah + bw * bh - width * height);
}

/** Most boxes of both frames overlap a box of the other (the same page, roughly still). */
export function sameLayout(previous, current, minIou = 0.5, minMatched = 0.75) {
  if (!previous.length && !current.length) return true;
  if (!previous.length || !current.length) return false;
  const matched = current.filter((box) => previous.some((other) => iou(box, other) >= minIou)).length;
  return matched >= minMatched * Math.max(previous.length, current.length);
}

/** Majority vote of the reading text over the last `window` frames (ReadingSmoother). */
export class ReadingSmoother {
  constructor(window = 5) {
    if (window < 1) throw new RangeError(`window must be at least 1 frame, got ${window}`);
    this.window = window;
    this.history = [];
    this.shown = null;
  }

  /** Add this frame's reading ({text, digits}) and return the reading to show. */
  update(reading) {
    const boxes = (r) => r.digits.map((d) => d.box);
    if (this.history.length && !sameLayout(boxes(this.history[this.history.length - 1]), boxes(reading))) this.reset();
    this.history.push(reading);
    if (this.history.length > this.window) this.history.shift();
    const counts = new Map();
    for (const item of this.history) counts.set(item.text, (counts.get(item.text) || 0) + 1);
    const best = Math.max(...counts.values());
    const newest = [...this.history].reverse();
    if (counts.get(this.shown) !== best) this.shown = newest.find((item) => counts.get(item.text) === best).text;
    return newest.find((item) => item.text === this.shown);
  }

  reset() {
    this.history = [];
    this.shown = null;
  }
}
