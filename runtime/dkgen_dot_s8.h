/*
 * dkgen runtime, int8 path: dot products of int8 rows with int8 or int16 vectors,
 * into int32. Header only (static inline), shared by the matrix kernels.
 *
 * Two implementations that agree bit for bit: integer addition is exact and
 * associative, and the generator proves at generation time that no partial sum
 * can overflow int32 (docs/quantization.md), so the order of the additions does
 * not matter.
 *   - portable C99, the reference path;
 *   - Arm SIMD32 (Cortex-M4/M7/M33/M55, where the compiler defines
 *     __ARM_FEATURE_SIMD32): two 16x16 multiply-accumulates per SMLAD.
 * Define DKGEN_PORTABLE to force the portable path (tests compare the two).
 */
#ifndef DKGEN_DOT_S8_H
#define DKGEN_DOT_S8_H

#include <string.h>

#include "dkgen_common.h"

#if defined(__ARM_FEATURE_SIMD32) && !defined(DKGEN_PORTABLE)
#include <arm_acle.h>
#define DKGEN_DOT_SIMD32 1
#endif

#ifdef __cplusplus
extern "C" {
#endif

#if defined(DKGEN_DOT_SIMD32)
static inline int32_t dkgen_load_u32(const void *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v); /* an unaligned-safe word load */
    return (int32_t)v;
}

static inline int32_t dkgen_ror8(int32_t v)
{
    const uint32_t u = (uint32_t)v;
    return (int32_t)((u >> 8) | (u << 24));
}
#endif

/* sum_j a[j] * b[j], int8 x int8. */
static inline int32_t dkgen_dot_s8(const int8_t *a, const int8_t *b, uint32_t n)
{
    int32_t acc = 0;
    uint32_t j = 0u;
#if defined(DKGEN_DOT_SIMD32)
    for (; j + 4u <= n; j += 4u) {
        const int32_t wa = dkgen_load_u32(&a[j]);
        const int32_t wb = dkgen_load_u32(&b[j]);
        /* bytes 0,2 and 1,3 sign-extended to halfword pairs */
        acc = __smlad(__sxtb16(wa), __sxtb16(wb), acc);
        acc = __smlad(__sxtb16(dkgen_ror8(wa)), __sxtb16(dkgen_ror8(wb)), acc);
    }
#endif
    for (; j < n; j++) {
        acc += (int32_t)a[j] * (int32_t)b[j];
    }
    return acc;
}

/* sum_j a[j] * b[j * stride], int8 x int8 with a strided second operand. */
static inline int32_t dkgen_dot_s8_strided(const int8_t *a, const int8_t *b, uint32_t n,
                                           uint32_t stride)
{
    int32_t acc = 0;
    uint32_t j;
    for (j = 0u; j < n; j++) {
        acc += (int32_t)a[j] * (int32_t)*b;
        b += stride;
    }
    return acc;
}

/* sum_j a[j] * b[j], int8 x int16. */
static inline int32_t dkgen_dot_s8s16(const int8_t *a, const int16_t *b, uint32_t n)
{
    int32_t acc = 0;
    uint32_t j = 0u;
#if defined(DKGEN_DOT_SIMD32)
    for (; j + 4u <= n; j += 4u) {
        const int32_t wa = dkgen_load_u32(&a[j]);
        const uint32_t b01 = (uint32_t)dkgen_load_u32(&b[j]);
        const uint32_t b23 = (uint32_t)dkgen_load_u32(&b[j + 2u]);
        /* a as (a0, a2), (a1, a3); b regrouped to match (little-endian halfwords) */
        const int32_t b02 = (int32_t)((b01 & 0xFFFFu) | (b23 << 16));
        const int32_t b13 = (int32_t)((b01 >> 16) | (b23 & 0xFFFF0000u));
        acc = __smlad(__sxtb16(wa), b02, acc);
        acc = __smlad(__sxtb16(dkgen_ror8(wa)), b13, acc);
    }
#endif
    for (; j < n; j++) {
        acc += (int32_t)a[j] * (int32_t)b[j];
    }
    return acc;
}

#ifdef __cplusplus
}
#endif

#endif /* DKGEN_DOT_S8_H */
