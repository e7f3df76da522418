// The ink map of an image, a port of segment.ink_map and segment.shrink: each channel divided by its paper
// (the background estimated on a small copy by opening, closing and a box blur, upsampled bilinearly),
// the darkest channel's ratio turned into ink strength (0 = paper). The division goes through a table.
import { boxBlur5, dilate, ellipse, erode, plane, pyRound } from "./image.js";
import * as kernels from "./kernels.js";
import { alongRowsFixed, downFixed, fixedLinearTaps, resizeArea, resizeLinear, roundHalfEven } from "./resize.js";

const BACKGROUND_SIDE = 128;

/** Downscale to (w, h): area average by the largest whole factor, then bilinear for the rest (segment.shrink). */
export function shrink(source, width, height) {
  const factor = Math.min(Math.floor(source.width / width), Math.floor(source.height / height));
  let out = source;
  if (factor >= 2) {
    const w = source.width - (source.width % factor), h = source.height - (source.height % factor);
    const cropped = w === source.width && h === source.height ? source : plane(w, h, new source.data.constructor(w * h));
    if (cropped !== source) for (let y = 0; y < h; y++) cropped.data.set(source.data.subarray(y * source.width, y * source.width + w), y * w);
    out = resizeArea(cropped, w / factor, h / factor);
  }
  if (out.width !== width || out.height !== height) out = resizeLinear(out, width, height);
  return out;
}

// RATIO[background * 256 + value] = cv2.divide(value, background, scale=255) for background >= 1: OpenCV
// divides in float32 and rounds halves to even
const RATIO = new Uint8Array(256 * 256);
for (let background = 1; background < 256; background++) {
  for (let value = 0; value < 256; value++) {
    RATIO[background * 256 + value] = Math.min(255, roundHalfEven(Math.fround((value * 255) / background)));
  }
}
const OPENING = ellipse(5), CLOSING = ellipse(11);

/** A channel's paper (background) estimate on a small copy: opening, closing, 5x5 box blur, at least 1. */
function paper(channel, smallWidth, smallHeight) {
  const small = shrink(channel, smallWidth, smallHeight);
  const closed = erode(dilate(dilate(erode(small, OPENING), OPENING), CLOSING), CLOSING);
  const blurred = boxBlur5(closed);
  for (let i = 0; i < blurred.data.length; i++) if (blurred.data[i] < 1) blurred.data[i] = 1;
  return blurred;
}

/** uint8 ink strength (0 = paper) of an image given as a list of uint8 planes (1 gray or 3 colour):
 *  255 - the darkest channel divided by its paper, the paper upsampled (as cv2.resize INTER_LINEAR does,
 *  in fixed point) one row at a time. */
export function inkMap(image) {
  const { width, height } = image[0];
  const factor = Math.min(1, BACKGROUND_SIDE / Math.max(height, width));
  const smallWidth = Math.max(1, pyRound(width * factor)), smallHeight = Math.max(1, pyRound(height * factor));
  const papers = image.map((channel) => paper(channel, smallWidth, smallHeight));
  const { columns, rows } = fixedLinearTaps(smallWidth, smallHeight, width, height);
  let ink;
  if (kernels.enabled) {
    ink = kernels.darkestRatio(image.map((channel) => channel.data), papers.map((p) => p.data), smallWidth, smallHeight,
      columns, rows, RATIO, width, height);
  } else {
    ink = new Uint8Array(width * height).fill(255);  // the darkest ratio so far, turned into ink below
    const background = new Uint8Array(width);
    papers.forEach((small, c) => {
      const along = alongRowsFixed(small.data, smallWidth, smallHeight, columns), data = image[c].data;
      for (let y = 0; y < height; y++) {
        downFixed(along, width, rows, y, background, 0);
        for (let x = 0, i = y * width; x < width; x++, i++) {
          const ratio = RATIO[(background[x] << 8) | data[i]];
          if (ratio < ink[i]) ink[i] = ratio;
        }
      }
    });
  }
  for (let i = 0; i < ink.length; i++) ink[i] = 255 - ink[i];
  return plane(width, height, ink);
}
