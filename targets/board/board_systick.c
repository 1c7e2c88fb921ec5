/*
 * board_systick.c - dkgen_board.h on any Cortex-M core, with SysTick.
 *
 * SysTick counts down on the processor clock (CLKSOURCE = 1) with a period of
 * P = DKGEN_SYSTICK_PERIOD ticks (default 2^24, the most its 24-bit reload allows); its
 * interrupt counts the wraps.  dkgen_board_timer_start() restarts the counter from
 * VAL = 0 (writing VAL clears it); it reloads P - 1 on the next tick, and every later
 * 1 -> 0 step is one wrap.  So the elapsed time is
 *
 *     wraps * P + ((P - VAL) mod P)
 *
 * which is 0 for the first read after enabling (QEMU returns VAL = 0 there).
 * A small DKGEN_SYSTICK_PERIOD (-DDKGEN_SYSTICK_PERIOD=4096) exercises the wrap path.
 *
 * Reads are wrap-safe with interrupts enabled (the wrap count is re-read until it is
 * stable around the VAL read) and also with interrupts masked: a wrap that is pending
 * but not yet serviced is folded in by hand.
 *
 * Under QEMU with -icount shift=0 one instruction takes 1 ns of virtual time, so
 * ticks * 1e9 / clock_hz is the number of instructions executed.
 */
#include <stdint.h>

#include "dkgen_board.h"

#define DKGEN_SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define DKGEN_SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define DKGEN_SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define DKGEN_SCB_ICSR (*(volatile uint32_t *)0xE000ED04u)

#define DKGEN_SYST_CSR_ENABLE 0x1u
#define DKGEN_SYST_CSR_TICKINT 0x2u
#define DKGEN_SYST_CSR_CLKSOURCE 0x4u
#define DKGEN_ICSR_PENDSTSET 0x04000000u
#define DKGEN_ICSR_PENDSTCLR 0x02000000u

#ifndef DKGEN_SYSTICK_PERIOD
#define DKGEN_SYSTICK_PERIOD 0x01000000u
#endif
#if DKGEN_SYSTICK_PERIOD < 2 || DKGEN_SYSTICK_PERIOD > 0x01000000
#error "DKGEN_SYSTICK_PERIOD must be in [2, 2^24]"
#endif
#define DKGEN_PERIOD ((uint32_t)(DKGEN_SYSTICK_PERIOD))

static volatile uint32_t dkgen_systick_wraps;

/* Overrides the startup code's weak SysTick_Handler. */
void SysTick_Handler(void);

void SysTick_Handler(void)
{
    dkgen_systick_wraps = dkgen_systick_wraps + 1u;
}

void dkgen_board_timer_start(void)
{
    DKGEN_SYST_CSR = 0u;                     /* stop */
    DKGEN_SCB_ICSR = DKGEN_ICSR_PENDSTCLR;   /* drop a wrap left pending */
    DKGEN_SYST_RVR = DKGEN_PERIOD - 1u;
    DKGEN_SYST_CVR = 0u;                     /* clears VAL and COUNTFLAG */
    dkgen_systick_wraps = 0u;
    DKGEN_SYST_CSR = DKGEN_SYST_CSR_CLKSOURCE | DKGEN_SYST_CSR_TICKINT | DKGEN_SYST_CSR_ENABLE;
}

uint64_t dkgen_board_timer_ticks(void)
{
    for (;;) {
        uint32_t wraps = dkgen_systick_wraps;
        uint32_t val = DKGEN_SYST_CVR;
        if ((DKGEN_SCB_ICSR & DKGEN_ICSR_PENDSTSET) != 0u) {
            /* A wrap happened while interrupts are masked: account for it here. */
            DKGEN_SCB_ICSR = DKGEN_ICSR_PENDSTCLR;
            dkgen_systick_wraps = dkgen_systick_wraps + 1u;
            continue;
        }
        if (wraps == dkgen_systick_wraps) {
            uint32_t in_period = (val == 0u) ? 0u : DKGEN_PERIOD - val;
            return (uint64_t)wraps * DKGEN_PERIOD + in_period;
        }
    }
}

int dkgen_board_has_timer(void)
{
    return 1;
}
