/*
 * dkgen runtime: definitions shared by every kernel and by generated code.
 *
 * The kernels are float32, C99, allocation-free and reentrant: all mutable
 * memory (outputs, state, scratch) is owned and sized by the caller, which is
 * the generated model code whose sizes are fixed when it is generated.
 */
#ifndef DKGEN_COMMON_H
#define DKGEN_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    DKGEN_OK = 0,
    DKGEN_ERR_NULL = 1,
    DKGEN_ERR_BAD_INPUT = 2
} dkgen_status_t;

/* C++ and C90 have no `restrict`; defining DKGEN_RESTRICT first lets a toolchain
 * substitute its own spelling (e.g. __restrict). */
#ifndef DKGEN_RESTRICT
#if defined(__cplusplus)
#define DKGEN_RESTRICT
#elif defined(__STDC_VERSION__) && (__STDC_VERSION__ >= 199901L)
#define DKGEN_RESTRICT restrict
#else
#define DKGEN_RESTRICT
#endif
#endif

/* Word-or-wider alignment lets weight tables feed SIMD loads (DSP, Helium) later. */
#ifndef DKGEN_ALIGNED
#if defined(__GNUC__)
#define DKGEN_ALIGNED(n) __attribute__((aligned(n)))
#else
#define DKGEN_ALIGNED(n)
#endif
#endif

/* Firmware may define this (e.g. __attribute__((section(".weights")))) to place
 * the generated weight tables in a chosen linker section; empty by default. */
#ifndef DKGEN_WEIGHTS_SECTION
#define DKGEN_WEIGHTS_SECTION
#endif

#ifdef __cplusplus
}
#endif

#endif /* DKGEN_COMMON_H */
