// Bring any input to what the segmenter expects (dark ink on lighter paper, digits inside the frame),
// a port of edge_digits/runtime/canvas.py; images are lists of uint8 planes (1 gray or 3 colour, RGB).
import { dilate, ellipse, erode, median, otsu, plane, pyRound } from "./image.js";
import * as kernels from "./kernels.js";
import { resizeArea, resizeCubic, resizeLinear } from "./resize.js";

const SMALL_SIDE = 64, TARGET_SIDE = 160, SMALL_MARGIN = 1.5, MARGIN = 0.5, TINY_SIDE = 16, DARK_FRAME = 160;
const CROP_INK_SHARE = 0.6, POLARITY_SIDE = 160, STROKE_DIVISOR = 40, LIGHT_RATIO = 2.0, FRAME_INK_SHARE = 0.02;
export const CROP_SIDE = 256, MIN_SIDE = 4, CLOSEUP_INK = 0.08;
const CLOSEUP_MARGIN = 1.0;
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** RGBA ImageData -> planes: transparent areas composited on white (imageio.as_uint8); gray when R = G = B. */
export function fromImageData({ width, height, data }) {
  const count = width * height;
  let red = new Uint8Array(count), green = new Uint8Array(count), blue = new Uint8Array(count);
  let gray = true, opaque = true;
  if (kernels.enabled) {
    let state;
    [red, green, blue, state] = kernels.splitRgba(data, count);
    gray = state === 1;
    opaque = state !== 0;
  } else if (LITTLE_ENDIAN && data.byteOffset % 4 === 0) {  // one 32-bit load per pixel: R | G << 8 | B << 16 | A << 24
    const words = new Uint32Array(data.buffer, data.byteOffset, count);
    let alpha = 255, colour = 0;
    for (let i = 0; i < count; i++) {
      const v = words[i], r = v & 255, g = (v >>> 8) & 255, b = (v >>> 16) & 255;
      red[i] = r; green[i] = g; blue[i] = b;
      alpha &= v >>> 24;
      colour |= (r ^ g) | (g ^ b);
    }
    gray = colour === 0;
    opaque = alpha === 255;
  } else {
    for (let i = 0, j = 0; i < count; i++, j += 4) {
      red[i] = data[j]; green[i] = data[j + 1]; blue[i] = data[j + 2];
      if (data[j + 3] !== 255) opaque = false;
      if (red[i] !== green[i] || green[i] !== blue[i]) gray = false;
    }
  }
  const channels = [red, green, blue];
  if (!opaque) {  // composite on white, then look again for colour
    gray = true;
    for (let i = 0; i < count; i++) {
      const alpha = data[4 * i + 3];
      if (alpha !== 255) for (let c = 0; c < 3; c++) channels[c][i] = Math.floor((data[4 * i + c] * alpha) / 255 + 255 * (1 - alpha / 255) + 0.5);
      if (gray && (red[i] !== green[i] || green[i] !== blue[i])) gray = false;
    }
  }
  return (gray ? [red] : channels).map((values) => plane(width, height, values));
}

/** OpenCV's gray conversion (fixed point, as cv2.COLOR_BGR2GRAY) of a planes image. */
export function toGray(image) {
  if (image.length === 1) return image[0];
  const [red, green, blue] = image.map((p) => p.data);
  const out = new Uint8Array(red.length);
  for (let i = 0; i < out.length; i++) out[i] = (blue[i] * 1868 + green[i] * 9617 + red[i] * 4899 + 8192) >> 14;
  return plane(image[0].width, image[0].height, out);
}

function grayAt(image, i) {
  return image.length === 1 ? image[0].data[i]
    : (image[2].data[i] * 1868 + image[1].data[i] * 9617 + image[0].data[i] * 4899 + 8192) >> 14;
}

/** The outermost rows' and columns' pixel indices (only the four corners of a tiny image). */
function frameIndices(width, height) {
  if (Math.min(width, height) < TINY_SIDE) return [0, width - 1, (height - 1) * width, height * width - 1];
  const indices = [];
  for (let x = 0; x < width; x++) indices.push(x);
  for (let x = 0; x < width; x++) indices.push((height - 1) * width + x);
  for (let y = 0; y < height; y++) indices.push(y * width);
  for (let y = 0; y < height; y++) indices.push(y * width + width - 1);
  return indices;
}

function lightStrokes(gray) {
  const scale = POLARITY_SIDE / Math.max(gray.width, gray.height);
  const small = resizeArea(gray, Math.max(1, pyRound(gray.width * scale)), Math.max(1, pyRound(gray.height * scale)));
  const kernel = ellipse(Math.max(3, Math.floor(POLARITY_SIDE / STROKE_DIVISOR) | 1));
  const opened = dilate(erode(small, kernel), kernel).data, closed = erode(dilate(small, kernel), kernel).data;
  const bright = small.data.map((v, i) => v - opened[i]), dark = small.data.map((v, i) => closed[i] - v);
  const strong = 0.5 * Math.max(Math.max(...bright), Math.max(...dark), 1);
  const count = (values) => values.reduce((n, v) => n + (v > strong), 0);
  return count(bright) > LIGHT_RATIO * count(dark);
}

/** True when the ink is lighter than its background (white-on-black datasets, chalk on a board). */
export function lightInk(image) {
  const { width, height } = image[0];
  const large = Math.max(width, height) > CROP_SIDE;
  const frame = frameIndices(width, height).map((i) => grayAt(image, i));
  const sparse = () => { const v = []; for (let y = 0; y < height; y += 8) for (let x = 0; x < width; x += 8) v.push(grayAt(image, y * width + x)); return v; };
  if (median(frame) >= DARK_FRAME && !(large && median(sparse()) < DARK_FRAME)) return false;
  const gray = toGray(image);
  if (large) return lightStrokes(gray);
  const threshold = otsu(gray);
  const share = gray.data.reduce((n, v) => n + (v > threshold), 0) / gray.data.length;
  return share > 0 && share < CROP_INK_SHARE;
}

/** At least FRAME_INK_SHARE of the outer frame is ink (darker than 0.6 of its median): a digit may fill the image. */
export function inkOnFrame(image) {
  const { width, height } = image[0];
  if (Math.min(width, height) < MIN_SIDE) return false;
  const frame = frameIndices(width, height).map((i) => Math.min(...image.map((p) => p.data[i])));
  const level = 0.6 * median(frame);
  return frame.reduce((n, v) => n + (v < level), 0) / frame.length >= FRAME_INK_SHARE;
}

/** Share of the pixels (every 4th row and column) darker than 0.6 of the frame's median (canvas.ink_share). */
export function inkShare(image) {
  const { width, height } = image[0];
  if (Math.min(width, height) < MIN_SIDE) return 0;
  const darkest = (i) => Math.min(...image.map((p) => p.data[i]));
  const level = Math.fround(Math.fround(0.6) * Math.fround(median(frameIndices(width, height).map(darkest))));  // float32, as NumPy
  let inked = 0, count = 0;
  for (let y = 0; y < height; y += 4) for (let x = 0; x < width; x += 4) { inked += darkest(y * width + x) < level; count++; }
  return inked / count;
}

function framed(image, factor, margin) {
  const { width, height } = image[0];
  let planes = image;
  if (factor > 1) {
    const resize = Math.min(width, height) < TINY_SIDE ? resizeCubic : resizeLinear;
    planes = image.map((p) => resize(p, width * factor, height * factor));
  }
  const pad = Math.ceil(margin * Math.min(width, height) * factor);
  const indices = frameIndices(planes[0].width, planes[0].height);
  const out = planes.map((p) => {
    const paper = Math.trunc(median(indices.map((i) => p.data[i])));
    const w = p.width + 2 * pad, h = p.height + 2 * pad;
    const data = new Uint8Array(w * h).fill(paper);
    for (let y = 0; y < p.height; y++) data.set(p.data.subarray(y * p.width, (y + 1) * p.width), (y + pad) * w + pad);
    return plane(w, h, data);
  });
  return { image: out, factor, offset: [pad, pad], inputShape: [height, width] };
}

/** The canvas the segmenter sees: {image, factor, offset, inputShape} (canvas.prepare). */
export function prepare(image) {
  const { width, height } = image[0];
  if (Math.min(width, height) < MIN_SIDE) return { image, factor: 1, offset: [0, 0], inputShape: [height, width] };
  if (lightInk(image)) image = image.map((p) => plane(p.width, p.height, p.data.map((v) => 255 - v)));
  if (Math.min(width, height) < SMALL_SIDE) return framed(image, Math.max(1, Math.ceil(TARGET_SIDE / Math.max(height, width))), SMALL_MARGIN);
  if (Math.max(width, height) <= CROP_SIDE && inkOnFrame(image)) return framed(image, 1, MARGIN);
  return { image, factor: 1, offset: [0, 0], inputShape: [height, width] };
}

/** An unframed canvas framed in paper CLOSEUP_MARGIN wide: for a close-up. */
export const reframe = (canvas) => framed(canvas.image, 1, CLOSEUP_MARGIN);

/** A canvas box in input pixels, clipped to the input (Canvas.to_input). */
export function toInput(canvas, box) {
  const [height, width] = canvas.inputShape;
  const { factor, offset } = canvas;
  const x0 = Math.min(Math.max((box[0] - offset[0]) / factor, 0), width - 1);
  const y0 = Math.min(Math.max((box[1] - offset[1]) / factor, 0), height - 1);
  const x1 = Math.min(Math.max((box[0] + box[2] - offset[0]) / factor, x0 + 1), width);
  const y1 = Math.min(Math.max((box[1] + box[3] - offset[1]) / factor, y0 + 1), height);
  const left = Math.floor(x0), top = Math.floor(y0);
  return [left, top, Math.max(1, Math.ceil(x1) - left), Math.max(1, Math.ceil(y1) - top)];
}
