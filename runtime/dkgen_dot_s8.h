/*
 * dkgen runtime, int8 path: dot products of int8 rows with int8 or int16 rows, into
 * int32. Header only (static inline), shared by the matrix kernels.
 *
 * Three implementations that agree bit for bit: integer addition is exact and
 * associative, and the generator proves at generation time that no partial sum can
 * overflow int32 (docs/quantization.md), so neither the order of the additions nor how
 * many products one instruction adds matters. (SMLAD and VMLADAVA wrap modulo 2^32, so
 * even an intermediate overflow would cancel out; the portable C never has one.)
 *   - portable C99, the reference path;
 *   - Arm SIMD32 (Cortex-M4/M7/M33, and M55 without Helium; the compiler defines
 *     __ARM_FEATURE_SIMD32): SXTB16 sign-extends two int8 to int16 halves, SMLAD adds
 *     two 16x16 products per instruction;
 *   - Arm Helium / MVE (Cortex-M55; __ARM_FEATURE_MVE): VMLADAVA adds 16 int8 products
 *     (or 8 int16 products) into a scalar per instruction; the last partial vector is
 *     loaded and added under a tail predicate (VCTP), so no element past the end is read.
 * Define DKGEN_PORTABLE to force the portable path and DKGEN_NO_MVE to keep a Helium core
 * on the SIMD32 path (the tests hold every path to the portable one).
 *
 * The "dot2" form computes two dot products that share one operand row, loaded (and, for
 * SIMD32, sign-extended) once for both.
 */
#ifndef DKGEN_DOT_S8_H
#define DKGEN_DOT_S8_H

#include <string.h>

#include "dkgen_common.h"

#if !defined(DKGEN_PORTABLE)
#if defined(__ARM_FEATURE_MVE) && ((__ARM_FEATURE_MVE & 1) != 0) && !defined(DKGEN_NO_MVE)
#include <arm_mve.h>
#define DKGEN_DOT_MVE 1
#elif defined(__ARM_FEATURE_SIMD32)
#include <arm_acle.h>
#define DKGEN_DOT_SIMD32 1
#endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

#if defined(DKGEN_DOT_SIMD32)
/* A 32-bit load from any alignment (LDR allows unaligned addresses; LDRD and LDM do
 * not, so the compiler must not merge these, and memcpy keeps it from assuming). */
static inline int32_t dkgen_load_s32(const void *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return (int32_t)v;
}

/* Bytes 1 and 3 of w sign-extended to the two halves: SXTB16 with its built-in
 * rotation. GCC 12 does not fold a rotate into SXTB16 (it emits a separate ROR), so
 * GCC gets the one instruction spelled out; clang folds the C rotate itself. */
static inline int32_t dkgen_sxtb16_odd(int32_t w)
{
#if defined(__GNUC__) && !defined(__clang__)
    int32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(w));
    return r;
#else
    const uint32_t u = (uint32_t)w;
    return __sxtb16((int32_t)((u >> 8) | (u << 24)));
#endif
}
#endif

/* sum_j a[j] * b[j], int8 x int8. */
static inline int32_t dkgen_dot_s8(const int8_t *a, const int8_t *b, uint32_t n)
{
    int32_t acc = 0;
#if defined(DKGEN_DOT_MVE)
    for (; n >= 16u; n -= 16u) {
        acc = vmladavaq_s8(acc, vld1q_s8(a), vld1q_s8(b));
        a += 16;
        b += 16;
    }
    if (n != 0u) {
        const mve_pred16_t p = vctp8q(n);
        acc = vmladavaq_p_s8(acc, vldrbq_z_s8(a, p), vldrbq_z_s8(b, p), p);
    }
#else
    uint32_t j;
#if defined(DKGEN_DOT_SIMD32)
    const int8_t *const a_end = a + (n & ~3u);
    while (a != a_end) {
        const int32_t wa = dkgen_load_s32(a);
        const int32_t wb = dkgen_load_s32(b);
        /* bytes 0,2 and 1,3 sign-extended to halfword pairs */
        acc = __smlad(__sxtb16(wa), __sxtb16(wb), acc);
        acc = __smlad(dkgen_sxtb16_odd(wa), dkgen_sxtb16_odd(wb), acc);
        a += 4;
        b += 4;
    }
    n &= 3u;
#endif
    for (j = 0u; j < n; j++) {
        acc += (int32_t)a[j] * (int32_t)b[j];
    }
#endif
    return acc;
}

/* s[0] += a . b0 and s[1] += a . b1 (int8 x int8), a loaded once for both. */
static inline void dkgen_dot2_s8(const int8_t *a, const int8_t *b0, const int8_t *b1, uint32_t n,
                                 int32_t *s)
{
    int32_t s0 = s[0];
    int32_t s1 = s[1];
#if defined(DKGEN_DOT_MVE)
    for (; n >= 16u; n -= 16u) {
        const int8x16_t va = vld1q_s8(a);
        s0 = vmladavaq_s8(s0, va, vld1q_s8(b0));
        s1 = vmladavaq_s8(s1, va, vld1q_s8(b1));
        a += 16;
        b0 += 16;
        b1 += 16;
    }
    if (n != 0u) {
        const mve_pred16_t p = vctp8q(n);
        const int8x16_t va = vldrbq_z_s8(a, p);
        s0 = vmladavaq_p_s8(s0, va, vldrbq_z_s8(b0, p), p);
        s1 = vmladavaq_p_s8(s1, va, vldrbq_z_s8(b1, p), p);
    }
#else
    uint32_t j;
#if defined(DKGEN_DOT_SIMD32)
    /* Pointers stepped by 4 and compared with an end: GCC addresses a[j] by an add per
     * array and iteration. */
    const int8_t *const a_end = a + (n & ~3u);
    while (a != a_end) {
        const int32_t wa = dkgen_load_s32(a);
        const int32_t w0 = dkgen_load_s32(b0);
        const int32_t w1 = dkgen_load_s32(b1);
        const int32_t ae = __sxtb16(wa);
        const int32_t ao = dkgen_sxtb16_odd(wa);
        s0 = __smlad(ae, __sxtb16(w0), s0);
        s0 = __smlad(ao, dkgen_sxtb16_odd(w0), s0);
        s1 = __smlad(ae, __sxtb16(w1), s1);
        s1 = __smlad(ao, dkgen_sxtb16_odd(w1), s1);
        a += 4;
        b0 += 4;
        b1 += 4;
    }
    n &= 3u;
#endif
    for (j = 0u; j < n; j++) {
        const int32_t v = a[j];
        s0 += v * (int32_t)b0[j];
        s1 += v * (int32_t)b1[j];
    }
#endif
    s[0] = s0;
    s[1] = s1;
}

/* sum_j a[j] * b[j], int8 x int16, both in natural order. */
static inline int32_t dkgen_dot_s8s16(const int8_t *a, const int16_t *b, uint32_t n)
{
    int32_t acc = 0;
#if defined(DKGEN_DOT_MVE)
    for (; n >= 8u; n -= 8u) {
        acc = vmladavaq_s16(acc, vldrbq_s16(a), vld1q_s16(b));
        a += 8;
        b += 8;
    }
    if (n != 0u) {
        const mve_pred16_t p = vctp16q(n);
        acc = vmladavaq_p_s16(acc, vldrbq_z_s16(a, p), vldrhq_z_s16(b, p), p);
    }
#else
    uint32_t j = 0u;
#if defined(DKGEN_DOT_SIMD32)
    for (; j + 4u <= n; j += 4u) {
        const int32_t wa = dkgen_load_s32(&a[j]);
        const uint32_t b01 = (uint32_t)dkgen_load_s32(&b[j]);
        const uint32_t b23 = (uint32_t)dkgen_load_s32(&b[j + 2u]);
        /* a as (a0, a2), (a1, a3); b regrouped to match (little-endian halfwords) */
        const int32_t b02 = (int32_t)((b01 & 0xFFFFu) | (b23 << 16));
        const int32_t b13 = (int32_t)((b01 >> 16) | (b23 & 0xFFFF0000u));
        acc = __smlad(__sxtb16(wa), b02, acc);
        acc = __smlad(dkgen_sxtb16_odd(wa), b13, acc);
    }
#endif
    for (; j < n; j++) {
        acc += (int32_t)a[j] * (int32_t)b[j];
    }
#endif
    return acc;
}

/*
 * Where entry j of an int16 row goes when it is stored for SIMD32 dot products with int8
 * rows (the Kronecker kernel's intermediate): each full group of four entries as
 * (0, 2, 1, 3), the lanes SXTB16 gives the int8 side (bytes 0,2 then 1,3), so that a word
 * load of the int16 row pairs up with no repacking; entries past the last full group keep
 * their place. Elsewhere the natural order. `full` is the row length rounded down to a
 * multiple of four.
 */
static inline uint32_t dkgen_s16x_index(uint32_t j, uint32_t full)
{
#if defined(DKGEN_DOT_SIMD32)
    if (j < full) {
        return (j & ~3u) | ((j & 1u) << 1) | ((j >> 1) & 1u);
    }
#else
    (void)full;
#endif
    return j;
}

#ifdef __cplusplus
}
#endif

#endif /* DKGEN_DOT_S8_H */
