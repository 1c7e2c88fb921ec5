/*
 * dkgen runtime, int8 path: the integer arithmetic every int8 kernel shares.
 *
 * Header only: small static inline helpers, so that each kernel file stays
 * self-contained and the compiler can inline them into the inner loops.
 * The numpy reference (dkgen/quant/arith.py) defines the same operations;
 * docs/quantization.md gives the formulas.
 *
 * One rounding rule everywhere: round half up, floor(v / 2^r + 1/2), computed as
 * (v + 2^(r-1)) >> r. `>>` of a negative signed value is implementation-defined in
 * C99; every compiler dkgen supports (gcc, clang, arm-none-eabi-gcc) shifts
 * arithmetically, and dkgen_requant_s8.c fails the build if one does not.
 */
#ifndef DKGEN_QMATH_S32_H
#define DKGEN_QMATH_S32_H

#include "dkgen_common.h"

/* Faster paths for whole runs of accumulators (the requantisation kernels), under the
 * compiler's own feature macros; DKGEN_PORTABLE forces plain C, DKGEN_NO_MVE keeps a
 * Helium core on the scalar DSP path. All paths give the same integers: each one
 * computes exactly the formulas below. */
#if !defined(DKGEN_PORTABLE)
#if defined(__ARM_FEATURE_MVE) && ((__ARM_FEATURE_MVE & 1) != 0) && !defined(DKGEN_NO_MVE)
#include <arm_mve.h>
#define DKGEN_QMATH_MVE 1
#endif
#if defined(__ARM_FEATURE_DSP)
#include <arm_acle.h>
#define DKGEN_QMATH_DSP 1
#endif
/* SSAT (Armv7-M and up: Cortex-M3 and later, not M0): a saturation in one instruction
 * where the C form compiles to two compares, two branches and an extension. The builtin
 * rather than ACLE's __ssat, whose macro in arm-none-eabi-gcc 12 trips -Wsign-conversion. */
#if defined(__ARM_FEATURE_SAT) && (defined(__GNUC__) || defined(__clang__))
#define DKGEN_QMATH_SAT 1
#endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Which index picks a row's multiplier in a dkgen_requant_t (rows = outer * inner). */
#define DKGEN_PER_TENSOR 0 /* mult[0] for every row */
#define DKGEN_PER_OUTER 1  /* mult[row / inner] */
#define DKGEN_PER_INNER 2  /* mult[row % inner] */

/*
 * Requantisation of outer*inner int32 accumulators: real multiplier
 * mult[k] * 2^-shift[k], mult a Q31 mantissa (< 2^31), shift in [1, 62].
 * A Kronecker product's accumulator scale is (per-A-row) x (per-B-row), so
 * PER_OUTER / PER_INNER need m1 or m2 multipliers rather than m1*m2.
 */
typedef struct {
    const int32_t *mult;
    const int8_t *shift;
    uint16_t outer;
    uint16_t inner;
    uint8_t per; /* DKGEN_PER_* */
} dkgen_requant_t;

static inline int32_t dkgen_sat_s32(int64_t v)
{
    if (v > (int64_t)INT32_MAX) {
        return INT32_MAX;
    }
    if (v < (int64_t)INT32_MIN) {
        return INT32_MIN;
    }
    return (int32_t)v;
}

static inline int16_t dkgen_sat_s16(int32_t v)
{
#if defined(DKGEN_QMATH_SAT)
    return (int16_t)(int32_t)__builtin_arm_ssat((int)v, 16u);
#else
    if (v > (int32_t)INT16_MAX) {
        return INT16_MAX;
    }
    if (v < (int32_t)INT16_MIN) {
        return INT16_MIN;
    }
    return (int16_t)v;
#endif
}

/* v saturated to int8. */
static inline int8_t dkgen_sat_s8(int32_t v)
{
#if defined(DKGEN_QMATH_SAT)
    return (int8_t)(int32_t)__builtin_arm_ssat((int)v, 8u);
#else
    return (int8_t)(v > INT8_MAX ? INT8_MAX : (v < INT8_MIN ? INT8_MIN : v));
#endif
}

static inline int16_t dkgen_sat64_s16(int64_t v)
{
    if (v > (int64_t)INT16_MAX) {
        return INT16_MAX;
    }
    if (v < (int64_t)INT16_MIN) {
        return INT16_MIN;
    }
    return (int16_t)v;
}

static inline int8_t dkgen_sat64_s8(int64_t v)
{
    if (v > (int64_t)INT8_MAX) {
        return INT8_MAX;
    }
    if (v < (int64_t)INT8_MIN) {
        return INT8_MIN;
    }
    return (int8_t)v;
}

/* v clamped to [lo, hi], lo <= hi. */
static inline int32_t dkgen_clamp_s32(int32_t v, int32_t lo, int32_t hi)
{
    return (v > hi) ? hi : ((v < lo) ? lo : v);
}

/* floor(v / 2^r + 1/2) for 1 <= r <= 30, |v| < 2^30 (products of two Q15 values). */
static inline int32_t dkgen_rshift_round_s32(int32_t v, int32_t r)
{
    return (v + ((int32_t)1 << (r - 1))) >> r;
}

/*
 * floor(acc * mult / 2^shift + 1/2), exact (|acc * mult| < 2^62), not saturated.
 * For shift > 32 (most multipliers) only the high word of the product matters:
 * with prod = hi * 2^32 + lo (0 <= lo < 2^32), adding 2^(shift-1) = 2^(shift-33) * 2^32
 * touches hi only, and lo / 2^shift < 1 cannot carry into the result, so
 * (hi + 2^(shift-33)) >> (shift-32) is the same value in 32-bit arithmetic
 * (a 32x32->64 multiply, one add, one shift on Cortex-M3 and up).
 */
static inline int64_t dkgen_requantize_s64(int32_t acc, int32_t mult, int32_t shift)
{
    const int64_t prod = (int64_t)acc * (int64_t)mult;
    if (shift > 32) {
        const int32_t hi = (int32_t)(prod >> 32); /* |hi| <= 2^30 */
        return (int64_t)((hi + ((int32_t)1 << (shift - 33))) >> (shift - 32));
    }
    return (prod + ((int64_t)1 << (shift - 1))) >> shift;
}

/*
 * floor(a * b / 2^32), the high word of the 64-bit product. Where the core has a 32 x 32 ->
 * 64-bit multiply (SMULL: Armv7-M and up) the compiler emits it for the int64 form; a
 * Thumb-1-only core (Cortex-M0/M0+/M23: __ARM_ARCH_ISA_THUMB == 1) has none, and the int64
 * form becomes a call to a 64 x 64 multiply routine, so there it is built from four
 * 16 x 16 products (Hacker's Delight, "mulhs"): the same integer, exactly.
 */
static inline int32_t dkgen_mul_hi_s32(int32_t a, int32_t b)
{
#if defined(__ARM_ARCH_ISA_THUMB) && (__ARM_ARCH_ISA_THUMB == 1)
    const int32_t a1 = a >> 16;
    const int32_t b1 = b >> 16;
    const int32_t a0 = (int32_t)((uint32_t)a & 0xFFFFu);
    const int32_t b0 = (int32_t)((uint32_t)b & 0xFFFFu);
    const uint32_t w0 = (uint32_t)a0 * (uint32_t)b0;
    /* |a1 * b0| + (w0 >> 16) < 2^31 and |a0 * b1| + (t & 0xFFFF) < 2^31: no overflow */
    const int32_t t = a1 * b0 + (int32_t)(w0 >> 16);
    const int32_t w1 = a0 * b1 + (t & 0xFFFF);
    return a1 * b1 + (t >> 16) + (w1 >> 16);
#else
    return (int32_t)(((int64_t)a * (int64_t)b) >> 32);
#endif
}

/*
 * The same value as dkgen_requantize_s64 for shift > 32 only, in 32 bits: the high word
 * of the 64-bit product (one SMULL), the rounding constant, one arithmetic shift. The
 * result lies within +-2^30 (|hi| <= 2^30), so callers can saturate it in 32 bits.
 */
static inline int32_t dkgen_requantize_hi_s32(int32_t acc, int32_t mult, int32_t shift)
{
    const int32_t hi = dkgen_mul_hi_s32(acc, mult);
    return (hi + ((int32_t)1 << (shift - 33))) >> (shift - 32);
}

/* sat32(requantize(acc)): the 32-bit form for shift > 32, the 64-bit one otherwise. */
static inline int32_t dkgen_requantize_sat_s32(int32_t acc, int32_t mult, int32_t shift)
{
    if (shift > 32) {
        return dkgen_requantize_hi_s32(acc, mult, shift);
    }
    return dkgen_sat_s32(dkgen_requantize_s64(acc, mult, shift));
}

#if defined(DKGEN_QMATH_MVE)
/* Each lane clamped to [lo, hi]. */
static inline int32x4_t dkgen_clamp_x4(int32x4_t v, int32_t lo, int32_t hi)
{
    return vmaxq_s32(vminq_s32(v, vdupq_n_s32(hi)), vdupq_n_s32(lo));
}

/*
 * requantize(acc[0..4)) with per-lane multipliers mult[0..4) and shifts shift[0..4),
 * all > 32 (the caller checks), four lanes at a time: VMULH is exactly the high word of
 * each 64-bit product, VSHL by a positive lane amount a left shift (the rounding
 * constants 2^(shift-33)) and by a negative one an arithmetic right shift.
 */
static inline int32x4_t dkgen_requantize_hi_x4(int32x4_t acc, int32x4_t mult, int32x4_t shift)
{
    const int32x4_t round = vshlq_s32(vdupq_n_s32(1), vsubq_s32(shift, vdupq_n_s32(33)));
    const int32x4_t v = vaddq_s32(vmulhq_s32(acc, mult), round);
    return vshlq_s32(v, vsubq_s32(vdupq_n_s32(32), shift));
}
#endif

/* sat32(a + b): QADD where the core has it; in C, a 32-bit add whose overflow (both
 * operands of one sign, the sum of the other) saturates towards a's sign. */
static inline int32_t dkgen_add_sat_s32(int32_t a, int32_t b)
{
#if defined(DKGEN_QMATH_DSP)
    return __qadd(a, b);
#else
    const uint32_t s = (uint32_t)a + (uint32_t)b;
    if ((int32_t)((s ^ (uint32_t)a) & (s ^ (uint32_t)b)) < 0) {
        return (a < 0) ? INT32_MIN : INT32_MAX;
    }
    return (int32_t)s;
#endif
}

#ifdef __cplusplus
}
#endif

#endif /* DKGEN_QMATH_S32_H */
