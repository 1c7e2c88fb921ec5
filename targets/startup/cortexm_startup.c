/*
 * cortexm_startup.c - vector table and reset handler for every Cortex-M target dkgen runs
 * under QEMU (M0, M3, M4F, M7, M33, M55), with newlib + semihosting (librdimon).
 *
 * newlib's rdimon _start is not used (the image is linked with -nostartfiles): it would
 * move the stack to the top of whatever RAM QEMU reports and does not copy .data.  This
 * reset handler instead
 *   0. fences the stack (see below);
 *   1. enables CP10/CP11 (FPU, and MVE on the M55) on cores built with an FPU, before
 *      anything else can run a floating-point or vector instruction;
 *   2. copies .data from its load address in flash and zeroes .bss;
 *   3. calls initialise_monitor_handles() and __libc_init_array();
 *   4. fetches the semihosting command line (qemu -append) into argc/argv and calls
 *      exit(main(argc, argv)); main's return value becomes QEMU's exit status.
 * The stack is the linker script's [__StackLimit, __StackTop) at the bottom of RAM; the
 * heap runs from the linker's `end` to __HeapLimit, the end of RAM (see _sbrk below).
 *
 * Stack overflow is caught where the core allows it: MSPLIM = __StackLimit on Armv8-M
 * Mainline (M33, M55); an MPU no-access region over the lowest 32 bytes of the stack on
 * Armv7-M (M3, M4, M7).  On Armv6-M (M0) an overflow runs off the start of RAM into
 * unmapped memory, and QEMU stops with "Lockup: can't escalate 3 to HardFault".
 *
 * Any fault (NMI, HardFault, MemManage, BusFault, UsageFault, SecureFault) prints one line
 * "DKGEN_FAULT <exception> pc=0x... lr=0x... ..." on QEMU's stderr through raw semihosting
 * calls (no libc, no heap; on a stack of its own) and exits QEMU with status
 * DKGEN_FAULT_EXIT_STATUS.
 *
 * C99 plus GCC attributes and inline assembly; compiles cleanly with the strict flags.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#define DKGEN_FAULT_EXIT_STATUS 134u

/* Linker script symbols (targets/ld/cortexm_sections.ld). */
extern uint32_t __data_load__;
extern uint32_t __data_start__;
extern uint32_t __data_end__;
extern uint32_t __bss_start__;
extern uint32_t __bss_end__;
extern uint32_t __StackTop;
extern uint32_t __StackLimit;
extern char end;         /* heap start */
extern char __HeapLimit; /* heap end (the end of RAM) */

/* newlib / librdimon. */
extern void initialise_monitor_handles(void);
extern void __libc_init_array(void);
extern int main(int argc, char **argv);

/* __libc_init_array() calls _init(); crti.o, which normally defines it, is not linked. */
void _init(void);
void _fini(void);

/* The heap for malloc: [end, __HeapLimit); replaces librdimon's weak _sbrk, which bounds
 * the heap by the stack pointer and assumes the stack sits above it. */
void *_sbrk(ptrdiff_t incr);

void Reset_Handler(void);
void dkgen_fault_entry(void);
void dkgen_fault_report(uint32_t pc, uint32_t lr, uint32_t xpsr, uint32_t exc_return);

/* The fault reporter's own stack: the faulting one may be exhausted. */
uint32_t dkgen_fault_stack[64] __attribute__((aligned(8)));

/* Exceptions nobody expects are reported like faults (the board code overrides SysTick). */
void SVC_Handler(void) __attribute__((weak, alias("dkgen_fault_entry")));
void DebugMon_Handler(void) __attribute__((weak, alias("dkgen_fault_entry")));
void PendSV_Handler(void) __attribute__((weak, alias("dkgen_fault_entry")));
void SysTick_Handler(void) __attribute__((weak, alias("dkgen_fault_entry")));

typedef void (*dkgen_handler_t)(void);

struct dkgen_vector_table {
    uint32_t *initial_sp;
    dkgen_handler_t handlers[15];
};

/* Exceptions 1..15; external interrupts are never enabled, so none are listed. */
__attribute__((section(".vectors"), used))
const struct dkgen_vector_table dkgen_vector_table = {
    &__StackTop,
    {
        Reset_Handler,     /*  1 Reset */
        dkgen_fault_entry, /*  2 NMI */
        dkgen_fault_entry, /*  3 HardFault */
        dkgen_fault_entry, /*  4 MemManage */
        dkgen_fault_entry, /*  5 BusFault */
        dkgen_fault_entry, /*  6 UsageFault */
        dkgen_fault_entry, /*  7 SecureFault (v8-M) */
        NULL,              /*  8 */
        NULL,              /*  9 */
        NULL,              /* 10 */
        SVC_Handler,       /* 11 SVCall */
        DebugMon_Handler,  /* 12 DebugMonitor */
        NULL,              /* 13 */
        PendSV_Handler,    /* 14 PendSV */
        SysTick_Handler,   /* 15 SysTick */
    },
};

/* ---- semihosting, raw (usable from a fault handler) -------------------------------- */

#define DKGEN_SYS_OPEN 0x01u
#define DKGEN_SYS_WRITE 0x05u
#define DKGEN_SYS_GET_CMDLINE 0x15u
#define DKGEN_SYS_EXIT 0x18u
#define DKGEN_SYS_EXIT_EXTENDED 0x20u
#define DKGEN_ADP_STOPPED_APPLICATION_EXIT 0x20026u
#define DKGEN_ADP_STOPPED_RUNTIME_ERROR 0x20023u

static uint32_t dkgen_semihost(uint32_t op, const void *arg)
{
    register uint32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

static size_t dkgen_strlen(const char *s)
{
    size_t n = 0u;
    while (s[n] != '\0') {
        n++;
    }
    return n;
}

/* ---- reset ------------------------------------------------------------------------- */

#define DKGEN_MAX_ARGS 16
#define DKGEN_CMDLINE_BYTES 256

void _init(void)
{
}

void _fini(void)
{
}

void *_sbrk(ptrdiff_t incr)
{
    static uintptr_t heap_end = 0u;
    uintptr_t previous;
    if (heap_end == 0u) {
        heap_end = (uintptr_t)&end;
    }
    previous = heap_end;
    if ((incr >= 0 && (uintptr_t)incr > (uintptr_t)&__HeapLimit - heap_end) ||
        (incr < 0 && (uintptr_t)(-incr) > heap_end - (uintptr_t)&end)) {
        errno = ENOMEM;
        return (void *)-1;
    }
    heap_end = (uintptr_t)((intptr_t)heap_end + incr);
    return (void *)previous;
}

__attribute__((noreturn)) void Reset_Handler(void)
{
#if defined(__ARM_ARCH_8M_MAIN__)
    /* Armv8-M Mainline: the core itself faults (UsageFault STKOF) below __StackLimit. */
    __asm__ volatile("msr msplim, %0" : : "r"(&__StackLimit) : "memory");
#elif defined(__ARM_ARCH_7M__) || defined(__ARM_ARCH_7EM__)
    /* Armv7-M: MPU region 0 = no access, execute never, over the lowest 32 bytes of the
     * stack; the default memory map elsewhere (PRIVDEFENA); off in HardFault (HFNMIENA=0)
     * so that the fault handler can read the stacked frame. */
    *(volatile uint32_t *)0xE000ED98u = 0u;                                 /* MPU_RNR */
    *(volatile uint32_t *)0xE000ED9Cu = (uint32_t)(uintptr_t)&__StackLimit; /* RBAR */
    *(volatile uint32_t *)0xE000EDA0u = (1u << 28) | (4u << 1) | 1u;        /* RASR */
    *(volatile uint32_t *)0xE000ED94u = (1u << 2) | 1u;                     /* CTRL */
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
#if defined(__ARM_FP) || defined(__ARM_FEATURE_MVE)
    /* CPACR: full access to CP10 and CP11 (FPU; MVE on the M55). */
    *(volatile uint32_t *)0xE000ED88u |= (0xFu << 20);
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
    {
        volatile uint32_t *dst = &__data_start__;
        const volatile uint32_t *src = &__data_load__;
        while (dst < &__data_end__) {
            *dst++ = *src++;
        }
        for (dst = &__bss_start__; dst < &__bss_end__; dst++) {
            *dst = 0u;
        }
    }

    initialise_monitor_handles();
    __libc_init_array();

    {
        /* argv from the semihosting command line: "<image> <qemu -append text>". */
        char cmdline[DKGEN_CMDLINE_BYTES];
        char *argv[DKGEN_MAX_ARGS + 1];
        int argc = 0;
        uint32_t block[2];
        block[0] = (uint32_t)(uintptr_t)cmdline;
        block[1] = (uint32_t)(sizeof cmdline - 1u);
        if (dkgen_semihost(DKGEN_SYS_GET_CMDLINE, block) == 0u) {
            char *p = cmdline;
            cmdline[block[1] < sizeof cmdline ? block[1] : sizeof cmdline - 1u] = '\0';
            while (*p != '\0' && argc < DKGEN_MAX_ARGS) {
                while (*p == ' ') {
                    *p++ = '\0';
                }
                if (*p == '\0') {
                    break;
                }
                argv[argc++] = p;
                while (*p != '\0' && *p != ' ') {
                    p++;
                }
            }
        }
        if (argc == 0) {
            cmdline[0] = '\0';
            argv[argc++] = cmdline;
        }
        argv[argc] = NULL;
        exit(main(argc, argv));
    }
}

/* ---- faults ------------------------------------------------------------------------ */

#if defined(__ARM_ARCH_8M_MAIN__)
#define DKGEN_CLEAR_MSPLIM "movs r1, #0\n\tmsr msplim, r1\n\t"
#else
#define DKGEN_CLEAR_MSPLIM ""
#endif

/*
 * Finds the stacked exception frame (MSP or PSP, from EXC_RETURN bit 2), loads the
 * stacked pc, lr and xPSR into argument registers, moves MSP to dkgen_fault_stack (and
 * lifts MSPLIM) so that a fault caused by an exhausted stack can still be reported, and
 * jumps to dkgen_fault_report(pc, lr, xpsr, exc_return).  Thumb-1 only (runs on v6-M).
 */
__attribute__((naked)) void dkgen_fault_entry(void)
{
    __asm__ volatile(
        "movs r0, #4\n\t"
        "mov r3, lr\n\t"
        "tst r0, r3\n\t"
        "beq 1f\n\t"
        "mrs r0, psp\n\t"
        "b 2f\n"
        "1:\n\t"
        "mrs r0, msp\n"
        "2:\n\t"
        DKGEN_CLEAR_MSPLIM
        "ldr r1, [r0, #20]\n\t"
        "ldr r2, [r0, #28]\n\t"
        "ldr r0, [r0, #24]\n\t"
        "ldr r4, =dkgen_fault_stack + 256\n\t"
        "msr msp, r4\n\t"
        "ldr r4, =dkgen_fault_report\n\t"
        "bx r4\n\t"
        ".ltorg\n");
}

static char *dkgen_put_str(char *p, const char *s)
{
    while (*s != '\0') {
        *p++ = *s++;
    }
    return p;
}

static char *dkgen_put_hex(char *p, const char *label, uint32_t value)
{
    static const char digits[] = "0123456789abcdef";
    int shift;
    p = dkgen_put_str(p, label);
    *p++ = '0';
    *p++ = 'x';
    for (shift = 28; shift >= 0; shift -= 4) {
        *p++ = digits[(value >> (uint32_t)shift) & 0xFu];
    }
    return p;
}

__attribute__((noreturn, used)) void dkgen_fault_report(uint32_t pc, uint32_t lr,
                                                         uint32_t xpsr, uint32_t exc_return)
{
    static const char *const names[8] = {
        "Exception", "Reset", "NMI", "HardFault",
        "MemManage", "BusFault", "UsageFault", "SecureFault",
    };
    char line[160];
    char *p = line;
    uint32_t ipsr;
    uint32_t handle;
    uint32_t block[3];
    static const char tty[] = ":tt";

    __asm__ volatile("mrs %0, ipsr" : "=r"(ipsr));
    ipsr &= 0x1FFu;

    p = dkgen_put_str(p, "DKGEN_FAULT ");
    p = dkgen_put_str(p, ipsr < 8u ? names[ipsr] : names[0]);
    p = dkgen_put_hex(p, " pc=", pc);
    p = dkgen_put_hex(p, " lr=", lr);
    p = dkgen_put_hex(p, " xpsr=", xpsr);
    p = dkgen_put_hex(p, " exc_return=", exc_return);
    p = dkgen_put_hex(p, " ipsr=", ipsr);
#if !defined(__ARM_ARCH_6M__) && !defined(__ARM_ARCH_8M_BASE__)
    {
        uint32_t cfsr = *(volatile uint32_t *)0xE000ED28u;
        uint32_t mmfar = *(volatile uint32_t *)0xE000ED34u;
        uint32_t guard = (uint32_t)(uintptr_t)&__StackLimit;
        p = dkgen_put_hex(p, " cfsr=", cfsr);
        p = dkgen_put_hex(p, " hfsr=", *(volatile uint32_t *)0xE000ED2Cu);
        p = dkgen_put_hex(p, " mmfar=", mmfar);
        p = dkgen_put_hex(p, " bfar=", *(volatile uint32_t *)0xE000ED38u);
        /* STKOF (v8-M stack limit), MSTKERR/STKERR (stacking failed), or a data access
         * in the MPU guard at the bottom of the stack. */
        if ((cfsr & ((1u << 20) | (1u << 4) | (1u << 12))) != 0u ||
            ((cfsr & (1u << 7)) != 0u && mmfar - guard < 32u)) {
            p = dkgen_put_str(p, " stack_overflow");
        }
    }
#endif
    *p++ = '\n';
    *p = '\0';

    /* ":tt" opened for append is QEMU's stderr. */
    block[0] = (uint32_t)(uintptr_t)tty;
    block[1] = 8u; /* "a" */
    block[2] = (uint32_t)dkgen_strlen(tty);
    handle = dkgen_semihost(DKGEN_SYS_OPEN, block);
    if (handle != 0xFFFFFFFFu) {
        block[0] = handle;
        block[1] = (uint32_t)(uintptr_t)line;
        block[2] = (uint32_t)(p - line);
        (void)dkgen_semihost(DKGEN_SYS_WRITE, block);
    }

    block[0] = DKGEN_ADP_STOPPED_APPLICATION_EXIT;
    block[1] = DKGEN_FAULT_EXIT_STATUS;
    (void)dkgen_semihost(DKGEN_SYS_EXIT_EXTENDED, block);
    /* Without SYS_EXIT_EXTENDED: a runtime-error stop, exit status 1. */
    (void)dkgen_semihost(DKGEN_SYS_EXIT, (const void *)(uintptr_t)DKGEN_ADP_STOPPED_RUNTIME_ERROR);
    for (;;) {
    }
}
