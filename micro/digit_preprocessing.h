/* digit_preprocessing.h: the reader's single-digit normalization (edge_digits/runtime/normalize.py) in C99.
 *
 * A gray crop of one digit in, the 28x28 bytes the int8 model takes out (white ink on black, the ink fitted
 * into 20x20 keeping its aspect ratio, its centre of mass at (14, 14)): the same algorithm, step for step,
 * as DigitPreprocessing.kt in docs/mobile.md, checked byte for byte against export/golden_vectors.json.
 * No malloc: every buffer lives in a DigitWorkspace the caller declares (static or global, not on a small
 * stack). The .c file keeps GCC and Clang from fusing multiply-adds, whatever the C mode, so the bytes
 * match the golden vectors on any FPU (docs/microcontrollers.md).
 */
#ifndef DIGIT_PREPROCESSING_H
#define DIGIT_PREPROCESSING_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DIGIT_SIZE 28 /* the model's input is DIGIT_SIZE x DIGIT_SIZE bytes ... */
#define DIGIT_BOX 20  /* ... with the ink fitted into DIGIT_BOX x DIGIT_BOX */

/* The largest crop width or height accepted; define it before including this header (or with -D) to trade
 * RAM for larger crops: the workspace holds two float planes of (side + 2 * pad)^2. */
#ifndef DIGIT_MAX_SIDE
#define DIGIT_MAX_SIDE 64
#endif
/* Thickening a thin stroke pads the trimmed ink by at most 0.065 * side on each edge. */
#define DIGIT_PAD ((DIGIT_MAX_SIDE * 13) / 200 + 1)
#define DIGIT_PLANE_SIDE (DIGIT_MAX_SIDE + 2 * DIGIT_PAD)
#define DIGIT_PLANE_CAPACITY (DIGIT_PLANE_SIDE * DIGIT_PLANE_SIDE)

/* Every buffer the normalization needs. Declare one (e.g. `static DigitWorkspace workspace;`) and reuse it;
 * one workspace serves one call at a time. */
typedef struct {
    float planes[2][DIGIT_PLANE_CAPACITY]; /* the crop's ink, and the target of each resize or morphology */
    float small[DIGIT_BOX * DIGIT_BOX];    /* the ink fitted into 20x20 */
    uint32_t histogram[256];               /* pixel counts (percentiles) and Otsu's histogram */
    int32_t tap_index[2][DIGIT_PLANE_SIDE];
    float tap_weight[2][DIGIT_PLANE_SIDE];
} DigitWorkspace;

enum {
    DIGIT_OK = 0,            /* out holds a digit */
    DIGIT_BLANK = 1,         /* no ink (contrast under 5% of the range): out is 784 zeros; do not classify it */
    DIGIT_BAD_ARGUMENT = -1, /* a NULL pointer, a size under 1, or a stride under the width: out untouched */
    DIGIT_TOO_LARGE = -2     /* width or height above DIGIT_MAX_SIDE: out untouched (a buffer found too small
                              * later, which the padding bound rules out, leaves out all zeros) */
};

/* Normalize one digit's gray crop, row by row from the top-left: `stride` bytes from one row to the next
 * (the frame's width for a crop inside a camera frame, `width` for a packed crop). dark_ink: 1 for a dark
 * digit on light paper, 0 for a light digit on a dark background (as MNIST). Returns one of the codes above. */
int digit_normalize_crop(const uint8_t *pixels, int width, int height, int stride, int dark_ink,
                         DigitWorkspace *workspace, uint8_t out[DIGIT_SIZE * DIGIT_SIZE]);

#ifdef __cplusplus
}
#endif

#endif /* DIGIT_PREPROCESSING_H */
