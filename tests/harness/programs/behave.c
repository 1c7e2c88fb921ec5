/*
 * behave.c - one program, several behaviours chosen by argv[1] (QEMU passes the
 * semihosting command line, host the real argv):
 *   exit3       print a token and return 3
 *   spin        loop forever (the harness must time out and kill it)
 *   fault-jump  call through a pointer to an invalid address (INVSTATE/HardFault; SIGSEGV)
 *   fault-read  read unmapped memory (BusFault/HardFault; SIGSEGV); argv[2], if given,
 *               is the address in hex
 *   overflow    unbounded recursion until the stack runs out of RAM
 *   args        print argc and each argument
 *   past-end    read one element past a heap array (wrong, but no fault without a
 *               sanitizer; host-sanitize must report it)
 * Each token line is flushed at once: on the host stdout is a pipe, fully buffered, and a
 * program killed by a signal or a timeout loses what it had not flushed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*behave_fn)(void);

static void behave_say(const char *mode)
{
    printf("DKGEN_BEHAVE %s\n", mode);
    fflush(stdout);
}

static volatile uintptr_t behave_bad_code = 0xFFFFFFF0u;
#if defined(__arm__)
static volatile uintptr_t behave_bad_data = 0xEFFF0000u; /* faults on all six machines */
#else
static volatile uintptr_t behave_bad_data = 0x10u;
#endif
static volatile uint32_t behave_sink;
static volatile uint32_t behave_depth_limit = 0xFFFFFFFFu;
static volatile uint32_t behave_past_end = 4u; /* unknown to the compiler: no bounds warning */

/* Not a tail call: frame[] is still needed after the recursive call returns. */
static uint32_t behave_recurse(uint32_t depth) __attribute__((noinline));

static uint32_t behave_recurse(uint32_t depth)
{
    volatile uint32_t frame[64];
    uint32_t i;
    uint32_t r;
    for (i = 0u; i < 64u; i++) {
        frame[i] = depth + i;
    }
    if (depth >= behave_depth_limit) {
        return frame[0];
    }
    r = behave_recurse(depth + 1u);
    return frame[r % 64u] + r;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    int i;

    if (strcmp(mode, "exit3") == 0) {
        behave_say("exit3");
        return 3;
    }
    if (strcmp(mode, "spin") == 0) {
        behave_say("spin");
        for (;;) {
            behave_sink = behave_sink + 1u;
        }
    }
    if (strcmp(mode, "fault-jump") == 0) {
        behave_say("fault-jump");
        ((behave_fn)behave_bad_code)();
        return 0;
    }
    if (strcmp(mode, "fault-read") == 0) {
        behave_say("fault-read");
        if (argc > 2) {
            behave_bad_data = (uintptr_t)strtoul(argv[2], NULL, 16);
        }
        behave_sink = *(volatile uint32_t *)behave_bad_data;
        printf("DKGEN_BEHAVE read 0x%lx\n", (unsigned long)behave_sink);
        return 0;
    }
    if (strcmp(mode, "overflow") == 0) {
        behave_say("overflow");
        behave_sink = behave_recurse(0u);
        return 0;
    }
    if (strcmp(mode, "past-end") == 0) {
        volatile uint32_t *arr = (volatile uint32_t *)malloc(4u * sizeof(uint32_t));
        behave_say("past-end");
        if (arr != NULL) {
            for (i = 0; i < 4; i++) {
                arr[i] = (uint32_t)i;
            }
            behave_sink = arr[behave_past_end];
            free((void *)arr);
        }
        return 0;
    }
    if (strcmp(mode, "args") == 0) {
        printf("DKGEN_BEHAVE argc=%d", argc);
        for (i = 1; i < argc; i++) {
            printf(" [%s]", argv[i]);
        }
        printf("\n");
        return 0;
    }
    printf("DKGEN_BEHAVE unknown mode '%s'\n", mode);
    return 2;
}
