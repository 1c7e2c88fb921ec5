/*
 * main.c - the smallest useful firmware around a dkgen library: initialise the model's
 * state, feed it one input vector per timestep, print each output and the board timer's
 * ticks per step. Any model with vector input fits: the build names it
 * (DKGEN_MODEL=digits gives digits_init, digits_step, DIGITS_INPUT_SIZE, ...).
 *
 * The inputs are exact binary fractions, so that a host can compute the same ones and
 * hold the printed outputs to dkgen's reference (tests/codegen/test_firmware_example.py).
 */
#include <stdio.h>

#include "dkgen_board.h"
#include DKGEN_MODEL_HEADER

#define DKGEN_PASTE2(a, b) a##b
#define DKGEN_PASTE(a, b) DKGEN_PASTE2(a, b)
#define MODEL_FN(suffix) DKGEN_PASTE(DKGEN_MODEL, suffix)
#define MODEL_CONST(suffix) DKGEN_PASTE(DKGEN_MODEL_UPPER, suffix)

#define STEPS 8u

static MODEL_FN(_state_t) model_state;

int main(void)
{
    float x[MODEL_CONST(_INPUT_SIZE)];
    float y[MODEL_CONST(_OUTPUT_SIZE)];
    uint32_t t, i;

    if (MODEL_FN(_init)(&model_state) != DKGEN_OK) {
        printf("FIRMWARE init failed\n");
        return 1;
    }
    for (t = 0u; t < STEPS; t++) {
        uint64_t ticks;
        for (i = 0u; i < MODEL_CONST(_INPUT_SIZE); i++) {
            x[i] = (float)((t * 7u + i * 3u) % 17u) / 8.0f - 1.0f;
        }
        dkgen_board_timer_start();
        if (MODEL_FN(_step)(&model_state, x, y) != DKGEN_OK) {
            printf("FIRMWARE step failed\n");
            return 1;
        }
        ticks = dkgen_board_timer_ticks();
        printf("FIRMWARE step %lu ticks %lu y", (unsigned long)t, (unsigned long)ticks);
        for (i = 0u; i < MODEL_CONST(_OUTPUT_SIZE); i++) {
            printf(" %.8e", (double)y[i]);
        }
        printf("\n");
    }
    printf("FIRMWARE done\n");
    return 0;
}
