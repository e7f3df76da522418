// The page's hot image kernels in C for WebAssembly (wasm32 + SIMD128), built by scripts/build-wasm.
// Each returns exactly what its JavaScript twin in web/js returns (tests/test_web_kernels.py checks both
// against each other); web/js/kernels.js moves the planes in and out of this module's memory.
// No libc, no allocator: the module imports nothing and exports its memory, __heap_base (where the
// caller's buffers may start) and the kernels.
#include <stdint.h>

static inline uint8_t min8(uint8_t a, uint8_t b) { return a < b ? a : b; }
static inline uint8_t max8(uint8_t a, uint8_t b) { return a > b ? a : b; }

// rows[i] = min (max) of rows[i] and from[i] over count pixels (vectorized by clang).
static void combine(uint8_t *restrict rows, const uint8_t *restrict from, uint32_t count, int dilation) {
  if (dilation) for (uint32_t i = 0; i < count; i++) rows[i] = max8(rows[i], from[i]);
  else for (uint32_t i = 0; i < count; i++) rows[i] = min8(rows[i], from[i]);
}

static void copy(uint8_t *restrict to, const uint8_t *restrict from, uint32_t count) {
  for (uint32_t i = 0; i < count; i++) to[i] = from[i];
}

// Erosion (dilation) of a uint8 plane by a kernel symmetric in each row: reach[r] (r = 0..2 * radius) is
// the half-width of kernel row dy = r - radius, or -1 where the kernel has no pixel; outside pixels never win.
// levels: scratch of (widest + 1) planes; the result goes to out. As image.js's morphology.
__attribute__((export_name("morphology"))) void morphology(const uint8_t *data, uint8_t *out, uint8_t *levels,
    uint32_t width, uint32_t height, const int32_t *reach, int32_t radius, int32_t widest, int32_t dilation) {
  uint32_t size = width * height;
  copy(levels, data, size);
  for (int32_t k = 1; k <= widest; k++) {
    const uint8_t *previous = levels + (uint32_t)(k - 1) * size;
    uint8_t *next = levels + (uint32_t)k * size;
    copy(next, previous, size);
    for (uint32_t y = 0; y < height; y++) {
      uint32_t base = y * width;
      if (width < 2) continue;
      combine(next + base, previous + base + 1, width - 1, dilation);
      combine(next + base + 1, previous + base, width - 1, dilation);
    }
  }
  int32_t centre = reach[radius] < 0 ? 0 : reach[radius];
  copy(out, levels + (uint32_t)centre * size, size);
  for (int32_t r = 0; r <= 2 * radius; r++) {
    int32_t dy = r - radius, k = reach[r];
    if (dy == 0 || k < 0) continue;
    int32_t first = dy < 0 ? -dy : 0, last = dy < 0 ? (int32_t)height : (int32_t)height - dy;
    if (last > first) combine(out + (uint32_t)first * width, levels + (uint32_t)k * size + (uint32_t)(first + dy) * width,
                              (uint32_t)(last - first) * width, dilation);
  }
}

// Mean of factor x factor blocks of a uint8 plane as cv2.resize INTER_AREA rounds it: a 2x2 sum half up,
// larger blocks cvRound(sum * (1.f / area)) in float32 (halves to even; f32.nearest).
__attribute__((export_name("block_mean"))) void block_mean(const uint8_t *data, uint8_t *out, uint32_t width,
    uint32_t new_width, uint32_t new_height, uint32_t factor) {
  float scale = 1.0f / (float)(factor * factor);
  for (uint32_t y = 0; y < new_height; y++) {
    const uint8_t *top_row = data + y * factor * width;
    uint8_t *row = out + y * new_width;
    if (factor == 2) {
      const uint8_t *below = top_row + width;
      for (uint32_t x = 0; x < new_width; x++) {
        uint32_t sum = (uint32_t)top_row[2 * x] + top_row[2 * x + 1] + below[2 * x] + below[2 * x + 1];
        row[x] = (uint8_t)((sum + 2) >> 2);
      }
      continue;
    }
    for (uint32_t x = 0; x < new_width; x++) {
      uint32_t sum = 0;
      for (uint32_t line = 0; line < factor; line++)
        for (uint32_t k = 0; k < factor; k++) sum += top_row[line * width + x * factor + k];
      row[x] = (uint8_t)__builtin_rintf((float)sum * scale);
    }
  }
}

// One channel of the ink map: the paper upsampled as cv2.resize INTER_LINEAR does in fixed point (its SIMD
// rounding; `along` holds the column taps already applied, linear_rows), each pixel divided by it through the
// ratio table, the darkest ratio kept in `ink`. Row taps: first/second source rows, 11-bit weights; paper:
// scratch of width bytes.
__attribute__((export_name("ink_channel"))) void ink_channel(const uint8_t *data, uint8_t *ink, const int32_t *along,
    const int32_t *first, const int32_t *second, const int32_t *weight0, const int32_t *weight1, const uint8_t *ratio,
    uint32_t width, uint32_t height, uint8_t *paper) {
  for (uint32_t y = 0; y < height; y++) {
    const int32_t *above = along + (uint32_t)first[y] * width, *below = along + (uint32_t)second[y] * width;
    int32_t b0 = weight0[y], b1 = weight1[y];
    for (uint32_t x = 0; x < width; x++) paper[x] = (uint8_t)((((b0 * (above[x] >> 4)) >> 16) + ((b1 * (below[x] >> 4)) >> 16) + 2) >> 2);
    const uint8_t *pixels = data + y * width;
    uint8_t *darkest = ink + y * width;
    for (uint32_t x = 0; x < width; x++) {
      uint8_t r = ratio[((uint32_t)paper[x] << 8) | pixels[x]];
      darkest[x] = r < darkest[x] ? r : darkest[x];
    }
  }
}

// RGBA bytes -> three planes; returns 1 when every pixel is opaque and gray (R = G = B), 2 when opaque and
// in colour, 0 when some pixel is not opaque (the caller composites those on white).
__attribute__((export_name("split_rgba"))) int32_t split_rgba(const uint8_t *rgba, uint8_t *red, uint8_t *green,
    uint8_t *blue, uint32_t count) {
  uint32_t alpha = 255, colour = 0;
  for (uint32_t i = 0; i < count; i++) {
    uint8_t r = rgba[4 * i], g = rgba[4 * i + 1], b = rgba[4 * i + 2];
    red[i] = r; green[i] = g; blue[i] = b;
    alpha &= rgba[4 * i + 3];
    colour |= (uint32_t)(r ^ g) | (uint32_t)(g ^ b);
  }
  return alpha != 255 ? 0 : colour ? 2 : 1;
}

// The fixed-point column taps of cv2.resize INTER_LINEAR applied along every row of a uint8 plane: out
// (height x new_width int32) = pixel[first] * weight0 + pixel[second] * weight1 (resize.js alongRowsFixed).
__attribute__((export_name("linear_rows"))) void linear_rows(const uint8_t *data, uint32_t width, uint32_t height,
    uint32_t new_width, const int32_t *first, const int32_t *second, const int32_t *weight0, const int32_t *weight1,
    int32_t *out) {
  for (uint32_t y = 0; y < height; y++) {
    const uint8_t *row = data + y * width;
    int32_t *to = out + y * new_width;
    for (uint32_t x = 0; x < new_width; x++) to[x] = row[first[x]] * weight0[x] + row[second[x]] * weight1[x];
  }
}

// cv2.GaussianBlur(3x3) of a uint8 plane at least 2 x 2: [1, 2, 1] both ways, border reflect-101, rounded.
__attribute__((export_name("gaussian3"))) void gaussian3(const uint8_t *data, uint8_t *out, uint16_t *rows,
    uint32_t width, uint32_t height) {
  for (uint32_t y = 0; y < height; y++) {
    const uint8_t *in = data + y * width;
    uint16_t *to = rows + y * width;
    to[0] = 2 * in[0] + 2 * in[1];
    for (uint32_t x = 1; x + 1 < width; x++) to[x] = in[x - 1] + 2 * in[x] + in[x + 1];
    to[width - 1] = 2 * in[width - 1] + 2 * in[width - 2];
  }
  for (uint32_t y = 0; y < height; y++) {
    const uint16_t *above = rows + (y == 0 ? 1 : y - 1) * width, *here = rows + y * width;
    const uint16_t *below = rows + (y == height - 1 ? height - 2 : y + 1) * width;
    uint8_t *to = out + y * width;
    for (uint32_t x = 0; x < width; x++) to[x] = (uint8_t)((above[x] + 2 * here[x] + below[x] + 8) >> 4);
  }
}

// 255 where a uint8 value is above `level`, else 0 (cv2.threshold THRESH_BINARY).
__attribute__((export_name("threshold"))) void threshold(const uint8_t *data, uint8_t *out, uint32_t count, double level) {
  for (uint32_t i = 0; i < count; i++) out[i] = (double)data[i] > level ? 255 : 0;
}
