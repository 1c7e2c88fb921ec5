/*
 * board_host.c - dkgen_board.h for the host target: there is no deterministic
 * instruction counter on a native build, so the timer reads 0 and says so.
 */
#include "dkgen_board.h"

void dkgen_board_timer_start(void)
{
}

uint64_t dkgen_board_timer_ticks(void)
{
    return 0u;
}

int dkgen_board_has_timer(void)
{
    return 0;
}
