/* footprint.c: what the preprocessing and the model add to a Cortex-M4F image, measured by linking.
 *
 * The Makefile links this file three times: -DBASELINE (startup only), with the preprocessing, and with the
 * preprocessing and the model array; arm-none-eabi-size's differences are their flash and RAM, the C
 * library's floor, rint, sqrt and soft double arithmetic included. The TFLM interpreter is not linked.
 */
#include <stdint.h>

#include "digit_preprocessing.h"
#ifdef WITH_MODEL
#include "digits_model.h"
#endif

volatile uint8_t frame[DIGIT_MAX_SIDE * DIGIT_MAX_SIDE];  /* stands for the camera's crop */

#ifndef BASELINE
static DigitWorkspace workspace;
static uint8_t digit[DIGIT_SIZE * DIGIT_SIZE];
#endif

int main(void) {
    int result = frame[0];
#ifndef BASELINE
    result += digit_normalize_crop((const uint8_t *)frame, DIGIT_MAX_SIDE, DIGIT_MAX_SIDE, DIGIT_MAX_SIDE, 1,
                                   &workspace, digit);
    result += digit[DIGIT_SIZE * DIGIT_SIZE / 2];
#endif
#ifdef WITH_MODEL
    result += digits_model[frame[1] % digits_model_len];  /* keeps the whole array in the image */
#endif
    return result;
}
