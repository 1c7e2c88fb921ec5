/*
 * dkgen runtime: definitions shared by every kernel and by generated code.
 *
 * The kernels are float32, C99, allocation-free and reentrant: all mutable
 * memory (outputs, state, scratch) is owned and sized by the caller, which is
 * the generated model code whose sizes are fixed when it is generated.
 */
#ifndef DKGEN_COMMON_H
#define DKGEN_COMMON_H

/* Before any declaration: a generated library renames its kernels here. */
#include "dkgen_namespace.h"

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

/* For small helpers that must be inlined to be worth having (a call would cost more
 * than the work); a plain `static inline` is only a hint that GCC declines for helpers
 * it sees called several times. */
#if defined(__GNUC__)
#define DKGEN_INLINE static inline __attribute__((always_inline))
#else
#define DKGEN_INLINE static inline
#endif

/* A branch that is rarely taken (a sparse walk leaving its row): the compiler lays the
 * common path out straight and keeps the rare path's work off it. */
#if defined(__GNUC__)
#define DKGEN_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define DKGEN_UNLIKELY(x) (x)
#endif

/* acc + a * b. Where the FPU has a fused multiply-add that is as fast as a multiply (the
 * compiler's __FP_FAST_FMAF: Cortex-M4F, M7, M33, M55), one VFMA instruction and one
 * rounding instead of VMUL + VADD and two; elsewhere (soft float, x86-64 without FMA) a
 * multiply and an add, which ISO C mode never contracts. Define DKGEN_NO_FMA to force the
 * unfused form. */
#if defined(__FP_FAST_FMAF) && defined(__GNUC__) && !defined(DKGEN_NO_FMA)
#define DKGEN_MACF(acc, a, b) __builtin_fmaf((a), (b), (acc))
#else
#define DKGEN_MACF(acc, a, b) ((acc) + (a) * (b))
#endif

#ifdef __cplusplus
}
#endif

#endif /* DKGEN_COMMON_H */
