/* golden_harness.c: run digit_normalize_crop on golden-vector cases read from standard input.
 *
 * Each input line: "WIDTH HEIGHT dark|light HEX" (the crop's bytes as hex, row by row); each output line:
 * the status code and the 784 normalized bytes as hex. tests/test_micro.py feeds it every case of
 * export/golden_vectors.json, built with the host `cc` and, under qemu-system-arm, for Cortex-M4F.
 * Standard input and output only, so the same file runs on Linux and over Arm semihosting.
 */
#include <stdio.h>
#include <string.h>

#include "digit_preprocessing.h"

static DigitWorkspace workspace;
static uint8_t crop[DIGIT_MAX_SIDE * DIGIT_MAX_SIDE];
static uint8_t digit[DIGIT_SIZE * DIGIT_SIZE];
static char line[2 * DIGIT_MAX_SIDE * DIGIT_MAX_SIDE + 64];

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

int main(void) {
    int cases = 0;
    while (fgets(line, sizeof(line), stdin) != NULL) {
        int width = 0, height = 0, used = 0;
        char ink[8];
        if (sscanf(line, "%d %d %7s %n", &width, &height, ink, &used) != 3) continue;
        if (width < 1 || height < 1 || width > DIGIT_MAX_SIDE || height > DIGIT_MAX_SIDE) {
            printf("error: crop %dx%d is outside 1..%d\n", width, height, DIGIT_MAX_SIDE);
            return 1;
        }
        const char *hex = line + used;
        for (int i = 0; i < width * height; i++) {
            int high = hex_value(hex[2 * i]), low = high < 0 ? -1 : hex_value(hex[2 * i + 1]);
            if (low < 0) {
                printf("error: case %d has fewer than %d hex bytes\n", cases, width * height);
                return 1;
            }
            crop[i] = (uint8_t)(high * 16 + low);
        }
        int status = digit_normalize_crop(crop, width, height, width, strcmp(ink, "dark") == 0, &workspace, digit);
        printf("%d ", status);
        for (int i = 0; i < DIGIT_SIZE * DIGIT_SIZE; i++) printf("%02x", digit[i]);
        printf("\n");
        cases++;
    }
    return 0;
}
