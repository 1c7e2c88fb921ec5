/*
 * calibrate.c - runs a loop of exactly 2 instructions per iteration (subs; bne) N times
 * between timer start and read, so that ticks * 1e9 / clock_hz must come out at
 * 2 * N instructions plus a small constant overhead.  Cortex-M only (Thumb assembly).
 * Build with -DCALIBRATE_N=<iterations>.
 */
#include <stdint.h>
#include <stdio.h>

#include "dkgen_board.h"

#ifndef CALIBRATE_N
#define CALIBRATE_N 1000000u
#endif

int main(void)
{
    uint32_t n = CALIBRATE_N;
    uint64_t ticks;

    dkgen_board_timer_start();
    __asm__ volatile(
        ".syntax unified\n"
        "1:\n\t"
        "subs %0, %0, #1\n\t"
        "bne 1b\n"
        : "+l"(n)
        :
        : "cc");
    ticks = dkgen_board_timer_ticks();
    printf("DKGEN_CALIBRATE n=%lu ticks=%lu\n", (unsigned long)CALIBRATE_N, (unsigned long)ticks);
    return 0;
}
