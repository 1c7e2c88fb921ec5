/* hello.c - the harness smoke test: float maths, the board timer, printf, exit 0. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>

#include "dkgen_board.h"

static volatile float sink;

int main(void)
{
    float acc = 0.0f;
    uint64_t ticks;
    int i;

    dkgen_board_timer_start();
    for (i = 1; i <= 1000; i++) {
        float x = (float)i * 0.001f;
        acc += x * x + sqrtf(x);
    }
    ticks = dkgen_board_timer_ticks();
    sink = acc;

    printf("DKGEN_HELLO acc=%.3f has_timer=%d\n", (double)acc, dkgen_board_has_timer());
    printf("DKGEN_HELLO ok ticks=%lu\n", (unsigned long)ticks);
    return 0;
}
