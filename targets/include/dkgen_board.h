/*
 * dkgen_board.h - the tiny board API that programs dkgen builds for a target may use.
 *
 * Every target links one implementation of it (the target file's board_sources):
 *   - Cortex-M under QEMU: SysTick on the processor clock (targets/board/board_systick.c).
 *     With QEMU's -icount shift=0 one guest instruction takes exactly 1 ns of virtual
 *     time, so ticks are proportional to executed instructions and repeat exactly from
 *     run to run; Target.ticks_to_instructions() converts.
 *   - host: no timer (targets/board/board_host.c); ticks are always 0.
 *
 * C99, no dynamic memory.
 */
#ifndef DKGEN_BOARD_H
#define DKGEN_BOARD_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Start, or restart from 0, the instruction-proportional counter. */
void dkgen_board_timer_start(void);

/* Ticks since the last dkgen_board_timer_start(); 64-bit, wrap-safe. */
uint64_t dkgen_board_timer_ticks(void);

/* 1 when dkgen_board_timer_ticks() counts something, 0 when it always returns 0. */
int dkgen_board_has_timer(void);

#ifdef __cplusplus
}
#endif

#endif /* DKGEN_BOARD_H */
