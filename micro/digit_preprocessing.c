/* digit_preprocessing.c: the reader's normalization (edge_digits/runtime/normalize.py), step for step.
 *
 * Written line for line like DigitPreprocessing.kt (docs/mobile.md): the same float and double
 * operations in the same order, so it reproduces export/golden_vectors.json byte for byte. Portable C99,
 * no malloc: every buffer is in the caller's DigitWorkspace.
 */
#include "digit_preprocessing.h"

/* Every multiply and add rounds on its own, as in Kotlin and numpy: GNU C modes (Arduino's -std=gnu11, say)
 * would otherwise let GCC fuse a * b + c into one rounding on FPUs with fused multiply-add. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include <math.h>
#include <stddef.h>
#include <string.h>

#define STROKE_TARGET 2.6 /* MNIST's stroke width at the 20x20 scale */
#define STROKE_MIN 1.8
#define STROKE_MAX 4.5
#define NARROW 0.45 /* narrower digits with a bar or loop are widened to this aspect */
#define STRUCTURE 3.0
#define FLT_EPSILON_OPENCV 1.1920929e-7

/* A gray float image, row by row from the top-left, in one of the workspace's planes. */
typedef struct {
    float *data;
    int width;
    int height;
    int capacity;
} Plane;

static int min_int(int a, int b) { return a < b ? a : b; }
static int max_int(int a, int b) { return a > b ? a : b; }
static double min_double(double a, double b) { return a < b ? a : b; }
static double max_double(double a, double b) { return a > b ? a : b; }
static float clamp_unit(float value) { return value < 0.0f ? 0.0f : (value > 1.0f ? 1.0f : value); }

/* The value at (x, y), 0 outside the image. */
static float plane_at(const Plane *plane, int x, int y) {
    return (x >= 0 && x < plane->width && y >= 0 && y < plane->height) ? plane->data[y * plane->width + x] : 0.0f;
}

static float plane_peak(const Plane *plane) {
    float best = 0.0f;
    int count = plane->width * plane->height;
    for (int i = 0; i < count; i++) {
        if (plane->data[i] > best) best = plane->data[i];
    }
    return best;
}

/* Give `plane` a new size; 0 when it would not fit its buffer (never for crops up to DIGIT_MAX_SIDE). */
static int plane_resize(Plane *plane, int width, int height) {
    if (width < 0 || height < 0 || (long)width * height > plane->capacity) return 0;
    plane->width = width;
    plane->height = height;
    return 1;
}

static float gray_of(int pixel, int dark_ink) {
    float value = (float)pixel / 255.0f;
    return dark_ink ? 1.0f - value : value;
}

/* The k-th smallest gray value (0-based), read from the pixels' histogram: gray is monotonic in the pixel. */
static float kth_gray(const uint32_t histogram[256], uint32_t k, int dark_ink) {
    uint32_t seen = 0;
    for (int step = 0; step < 256; step++) {
        int pixel = dark_ink ? 255 - step : step;
        seen += histogram[pixel];
        if (seen > k) return gray_of(pixel, dark_ink);
    }
    return gray_of(dark_ink ? 0 : 255, dark_ink);
}

/* numpy's default (linear) percentile of the crop's gray values. */
static float percentile(const uint32_t histogram[256], uint32_t count, double q, int dark_ink) {
    double position = q / 100.0 * (double)(count - 1);
    int below = (int)floor(position);
    int above = min_int(below + 1, (int)count - 1);
    float low = kth_gray(histogram, (uint32_t)below, dark_ink);
    float high = kth_gray(histogram, (uint32_t)above, dark_ink);
    float fraction = (float)(position - below);
    float step = (high - low) * fraction;
    return low + step;
}

/* Otsu's threshold of the values' 0..255 histogram, as OpenCV computes it. */
static int otsu(const Plane *plane, uint32_t histogram[256]) {
    int count = plane->width * plane->height;
    memset(histogram, 0, 256 * sizeof(uint32_t));
    for (int i = 0; i < count; i++) {
        float scaled = plane->data[i] * 255.0f;
        histogram[(int)scaled]++;
    }
    double scale = 1.0 / count;
    double mu = 0.0;
    for (int i = 0; i < 256; i++) mu += i * (double)histogram[i];
    mu *= scale;
    double mu1 = 0.0, q1 = 0.0, max_sigma = 0.0;
    int best = 0;
    for (int i = 0; i < 256; i++) {
        double p = histogram[i] * scale;
        mu1 *= q1;
        q1 += p;
        double q2 = 1.0 - q1;
        if (min_double(q1, q2) < FLT_EPSILON_OPENCV || max_double(q1, q2) > 1.0 - FLT_EPSILON_OPENCV) continue;
        double weighted = i * p;
        mu1 = (mu1 + weighted) / q1;
        double mass = q1 * mu1;
        double mu2 = (mu - mass) / q2;
        double gap = mu1 - mu2;
        double sigma = q1 * q2 * gap * gap;
        if (sigma > max_sigma) {
            max_sigma = sigma;
            best = i;
        }
    }
    return best;
}

/* Crop the plane, in place, to the bounding box of the pixels above 0.05 (0x0 when there are none). */
static void trim(Plane *ink) {
    int left = ink->width, top = ink->height, right = -1, bottom = -1;
    for (int y = 0; y < ink->height; y++) {
        for (int x = 0; x < ink->width; x++) {
            if (ink->data[y * ink->width + x] > 0.05f) {
                left = min_int(left, x);
                right = max_int(right, x);
                top = min_int(top, y);
                bottom = max_int(bottom, y);
            }
        }
    }
    if (right < 0) {
        ink->width = ink->height = 0;
        return;
    }
    int width = right - left + 1, height = bottom - top + 1;
    for (int y = 0; y < height; y++) {  /* each target row starts at or before its source row: safe in place */
        memmove(ink->data + y * width, ink->data + (top + y) * ink->width + left, (size_t)width * sizeof(float));
    }
    ink->width = width;
    ink->height = height;
}

/* Mean stroke width of the pixels above 0.5: 2 * area / boundary (ink pixels with a non-ink 8-neighbour). */
static double stroke_width(const Plane *ink) {
    int area = 0, inner = 0;
    for (int y = 0; y < ink->height; y++) {
        for (int x = 0; x < ink->width; x++) {
            if (ink->data[y * ink->width + x] <= 0.5f) continue;
            area++;
            int surrounded = 1;
            for (int dy = -1; dy <= 1; dy++) {
                for (int dx = -1; dx <= 1; dx++) {
                    if (plane_at(ink, x + dx, y + dy) <= 0.5f) surrounded = 0;
                }
            }
            inner += surrounded;
        }
    }
    return area == 0 ? 0.0 : 2.0 * area / max_int(area - inner, 1);
}

/* OpenCV's INTER_LINEAR taps along one axis: the left source index and the right neighbour's weight. */
static void linear_taps(int source, int target, int32_t *index, float *weight) {
    double scale = 1.0 / ((double)target / source);
    for (int d = 0; d < target; d++) {
        float f = (float)((d + 0.5) * scale - 0.5);
        int s = (int)floorf(f);
        f -= (float)s;
        if (s < 0) {
            s = 0;
            f = 0.0f;
        }
        if (s >= source - 1) {
            s = source - 1;
            f = 0.0f;
        }
        index[d] = s;
        weight[d] = f;
    }
}

/* Bilinear resize with pixel centres aligned, edges clamped (OpenCV INTER_LINEAR); 0 if `out` is too small. */
static int resize_bilinear(const Plane *src, Plane *out, int width, int height, DigitWorkspace *workspace) {
    if (!plane_resize(out, width, height) || width > DIGIT_PLANE_SIDE || height > DIGIT_PLANE_SIDE) return 0;
    int32_t *xs = workspace->tap_index[0], *ys = workspace->tap_index[1];
    float *ax = workspace->tap_weight[0], *ay = workspace->tap_weight[1];
    linear_taps(src->width, width, xs, ax);
    linear_taps(src->height, height, ys, ay);
    for (int y = 0; y < height; y++) {
        for (int x = 0; x < width; x++) {
            int x1 = min_int(xs[x] + 1, src->width - 1);
            int y1 = min_int(ys[y] + 1, src->height - 1);
            const float *row0 = src->data + ys[y] * src->width, *row1 = src->data + y1 * src->width;
            float left0 = row0[xs[x]] * (1.0f - ax[x]), right0 = row0[x1] * ax[x];
            float left1 = row1[xs[x]] * (1.0f - ax[x]), right1 = row1[x1] * ax[x];
            float upper = left0 + right0, lower = left1 + right1;
            float top = upper * (1.0f - ay[y]), bottom = lower * ay[y];
            out->data[y * width + x] = top + bottom;
        }
    }
    return 1;
}

/* OpenCV's INTER_AREA weights for one target index: an optional partial head cell, whole cells, a partial tail. */
typedef struct {
    int first;   /* source index of the first tap */
    int count;   /* number of taps */
    int has_head, has_tail;
    float head, body, tail;
} AreaSpan;

static AreaSpan area_span(int source, int target, int d) {
    AreaSpan span;
    double scale = 1.0 / ((double)target / source);
    double start = d * scale;
    double end = start + scale;
    double cell = min_double(scale, source - start);
    int s2 = min_int((int)floor(end), source - 1);
    int s1 = min_int((int)ceil(start), s2);
    span.has_head = s1 - start > 1e-3;
    span.has_tail = end - s2 > 1e-3;
    span.first = span.has_head ? s1 - 1 : s1;
    span.count = span.has_head + (s2 - s1) + span.has_tail;
    span.head = (float)((s1 - start) / cell);
    span.body = (float)(1.0 / cell);
    span.tail = (float)(min_double(min_double(end - s2, 1.0), cell) / cell);
    return span;
}

/* The weight of the k-th tap of a span (its source index is span.first + k). */
static float area_weight(const AreaSpan *span, int k) {
    if (span->has_head && k == 0) return span->head;
    if (span->has_tail && k == span->count - 1) return span->tail;
    return span->body;
}

/* Shrink by averaging the source area under each target pixel (OpenCV INTER_AREA) into a <= 20x20 plane. */
static void resize_area(const Plane *src, float *out, int width, int height) {
    for (int y = 0; y < height; y++) {
        AreaSpan rows = area_span(src->height, height, y);
        for (int x = 0; x < width; x++) {
            AreaSpan columns = area_span(src->width, width, x);  /* recomputed: a few flops, no stack arrays */
            float sum = 0.0f;
            for (int ky = 0; ky < rows.count; ky++) {
                const float *line = src->data + (rows.first + ky) * src->width;
                float row = 0.0f;
                for (int kx = 0; kx < columns.count; kx++) {
                    float term = line[columns.first + kx] * area_weight(&columns, kx);
                    row += term;
                }
                float weighted = row * area_weight(&rows, ky);
                sum += weighted;
            }
            out[y * width + x] = sum;
        }
    }
}

/* Grey dilation (max) or erosion (min) with OpenCV's elliptic (2r+1)x(2r+1) kernel; outside pixels are ignored. */
static int morphology(const Plane *ink, Plane *out, int radius, int dilate) {
    int reach[2 * DIGIT_PAD + 1];
    if (radius > DIGIT_PAD || !plane_resize(out, ink->width, ink->height)) return 0;
    for (int i = 0; i <= 2 * radius; i++) {
        int dy = i - radius;
        reach[i] = (int)rint(radius * sqrt((double)(radius * radius - dy * dy) / (radius * radius)));
    }
    for (int y = 0; y < ink->height; y++) {
        for (int x = 0; x < ink->width; x++) {
            float value = dilate ? -INFINITY : INFINITY;
            for (int i = 0; i <= 2 * radius; i++) {
                int sy = y + i - radius;
                if (sy < 0 || sy >= ink->height) continue;
                int last = min_int(x + reach[i], ink->width - 1);
                for (int sx = max_int(x - reach[i], 0); sx <= last; sx++) {
                    float sample = ink->data[sy * ink->width + sx];
                    if (dilate ? sample > value : sample < value) value = sample;
                }
            }
            out->data[y * ink->width + x] = value;
        }
    }
    return 1;
}

/* A narrow digit whose widest row spans 3 stroke widths (the bar of a 7) is stretched to aspect 0.45.
 * Returns the plane now holding the ink (`ink` or `spare`), or NULL when a buffer is too small. */
static Plane *widen(Plane *ink, Plane *spare, DigitWorkspace *workspace) {
    if (ink->width >= NARROW * ink->height) return ink;
    int widest = -1;
    for (int y = 0; y < ink->height; y++) {
        int first = -1, last = -1;
        for (int x = 0; x < ink->width; x++) {
            if (ink->data[y * ink->width + x] > 0.5f) {
                if (first < 0) first = x;
                last = x;
            }
        }
        if (first >= 0) widest = max_int(widest, last + 1 - first);
    }
    if (widest < 0 || widest < STRUCTURE * stroke_width(ink)) return ink;
    int width = max_int(1, (int)rint(NARROW * ink->height));
    return resize_bilinear(ink, spare, width, ink->height, workspace) ? spare : NULL;
}

/* Thicken a pen stroke or thin a marker stroke so that it is 1.8..4.5 px wide at the 20x20 scale.
 * Returns the plane now holding the ink (`ink` or `spare`), or NULL when a buffer is too small. */
static Plane *fix_stroke(Plane *ink, Plane *spare) {
    double scale = (double)DIGIT_BOX / max_int(ink->width, ink->height);
    double current = stroke_width(ink) * scale;
    if (current == 0.0 || (current >= STROKE_MIN && current <= STROKE_MAX)) return ink;
    double change = (STROKE_TARGET - current) / scale;
    int radius = (int)rint(fabs(change) / 2.0);
    if (radius < 1) return ink;
    if (change > 0) {
        if (!plane_resize(spare, ink->width + 2 * radius, ink->height + 2 * radius)) return NULL;
        memset(spare->data, 0, (size_t)spare->width * spare->height * sizeof(float));
        for (int y = 0; y < ink->height; y++) {
            memcpy(spare->data + (y + radius) * spare->width + radius, ink->data + y * ink->width,
                   (size_t)ink->width * sizeof(float));
        }
        if (!morphology(spare, ink, radius, 1)) return NULL;
        trim(ink);
        return ink;
    }
    if (!morphology(ink, spare, radius, 0)) return NULL;
    if (plane_peak(spare) > 0.5f) {
        trim(spare);
        return spare;
    }
    return ink;
}

/* out(x, y) = small(x - dx, y - dy), bilinear, black outside (OpenCV warpAffine, INTER_LINEAR), as bytes. */
static void shift_to_bytes(const Plane *small, float dx, float dy, uint8_t *out) {
    for (int y = 0; y < DIGIT_SIZE; y++) {
        for (int x = 0; x < DIGIT_SIZE; x++) {
            double sx = x - (double)dx;
            double sy = y - (double)dy;
            int x0 = (int)floor(sx);
            int y0 = (int)floor(sy);
            float ax = (float)(sx - x0);
            float ay = (float)(sy - y0);
            float a = (1.0f - ax) * plane_at(small, x0, y0), b = ax * plane_at(small, x0 + 1, y0);
            float c = (1.0f - ax) * plane_at(small, x0, y0 + 1), d = ax * plane_at(small, x0 + 1, y0 + 1);
            float upper = a + b, lower = c + d;
            float top = (1.0f - ay) * upper, bottom = ay * lower;
            float value = clamp_unit(top + bottom);
            float scaled = value * 255.0f;  /* bytes = round half to even of 255 x value */
            int level = (int)rint((double)scaled);
            out[y * DIGIT_SIZE + x] = (uint8_t)(level < 0 ? 0 : (level > 255 ? 255 : level));
        }
    }
}

/* An ink plane (ink > 0) -> the 28x28 bytes; DIGIT_BLANK when there is no ink to place. */
static int normalize_mask(Plane *mask, Plane *spare, DigitWorkspace *workspace, uint8_t *out) {
    float peak = plane_peak(mask);
    if (peak <= 0.0f) return DIGIT_BLANK;
    float inverse = (float)(1.0 / (double)peak);
    for (int i = 0; i < mask->width * mask->height; i++) mask->data[i] *= inverse;
    /* 4. Crop to the ink, widen a narrow 7 or 9, bring the stroke width near MNIST's. */
    trim(mask);
    if (mask->width == 0) return DIGIT_BLANK;
    Plane *ink = widen(mask, spare, workspace);
    if (ink == NULL) return DIGIT_TOO_LARGE;
    ink = fix_stroke(ink, ink == mask ? spare : mask);
    if (ink == NULL) return DIGIT_TOO_LARGE;
    /* 5. Fit the longest side to 20 px keeping the aspect ratio: area filter to shrink, bilinear to enlarge. */
    double scale = (double)DIGIT_BOX / max_int(ink->width, ink->height);
    int width = max_int(1, (int)rint(ink->width * scale));
    int height = max_int(1, (int)rint(ink->height * scale));
    Plane small = {workspace->small, 0, 0, DIGIT_BOX * DIGIT_BOX};
    if (width > DIGIT_BOX || height > DIGIT_BOX) return DIGIT_TOO_LARGE;
    if (scale < 1.0) {
        plane_resize(&small, width, height);
        resize_area(ink, small.data, width, height);
    } else if (!resize_bilinear(ink, &small, width, height, workspace)) {
        return DIGIT_TOO_LARGE;
    }
    /* 6. Move the centre of mass to the centre (14, 14) of a black 28x28 image. */
    double total = 0.0, sum_x = 0.0, sum_y = 0.0;
    for (int y = 0; y < small.height; y++) {
        for (int x = 0; x < small.width; x++) {
            double value = small.data[y * small.width + x];
            double moment_x = value * x, moment_y = value * y;
            total += value;
            sum_x += moment_x;
            sum_y += moment_y;
        }
    }
    if (total <= 0.0) return DIGIT_BLANK;
    shift_to_bytes(&small, (float)(DIGIT_SIZE / 2.0 - sum_x / total), (float)(DIGIT_SIZE / 2.0 - sum_y / total), out);
    return DIGIT_OK;
}

int digit_normalize_crop(const uint8_t *pixels, int width, int height, int stride, int dark_ink,
                         DigitWorkspace *workspace, uint8_t out[DIGIT_SIZE * DIGIT_SIZE]) {
    if (pixels == NULL || workspace == NULL || out == NULL || width < 1 || height < 1 || stride < width) {
        return DIGIT_BAD_ARGUMENT;
    }
    if (width > DIGIT_MAX_SIDE || height > DIGIT_MAX_SIDE) return DIGIT_TOO_LARGE;
    dark_ink = dark_ink != 0;
    Plane soft = {workspace->planes[0], width, height, DIGIT_PLANE_CAPACITY};
    Plane spare = {workspace->planes[1], 0, 0, DIGIT_PLANE_CAPACITY};
    /* 1. MNIST polarity: ink bright on a dark background (gray_of); 2. stretch the contrast between the
     * background (20th percentile) and the ink (99.5th percentile), read from the pixel histogram. */
    uint32_t count = (uint32_t)width * (uint32_t)height;
    memset(workspace->histogram, 0, sizeof(workspace->histogram));
    for (int y = 0; y < height; y++) {
        for (int x = 0; x < width; x++) workspace->histogram[pixels[(long)y * stride + x]]++;
    }
    float background = percentile(workspace->histogram, count, 20.0, dark_ink);
    float level = percentile(workspace->histogram, count, 99.5, dark_ink);
    memset(out, 0, DIGIT_SIZE * DIGIT_SIZE);
    if (level - background < 0.05f) return DIGIT_BLANK;  /* a blank crop: no digit to classify */
    for (int y = 0; y < height; y++) {
        for (int x = 0; x < width; x++) {
            float gray = gray_of(pixels[(long)y * stride + x], dark_ink);
            soft.data[y * width + x] = clamp_unit((gray - background) / (level - background));
        }
    }
    /* 3. Drop paper texture: pixels below half the Otsu threshold (at most 64 of 255). */
    float cut = (float)min_int(otsu(&soft, workspace->histogram), 128) * 0.5f;
    for (int i = 0; i < width * height; i++) {
        float scaled = soft.data[i] * 255.0f;
        if (scaled < cut) soft.data[i] = 0.0f;
    }
    int status = normalize_mask(&soft, &spare, workspace, out);
    if (status != DIGIT_OK) memset(out, 0, DIGIT_SIZE * DIGIT_SIZE);
    return status;
}
