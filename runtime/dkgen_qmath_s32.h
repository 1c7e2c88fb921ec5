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
    if (v > (int32_t)INT16_MAX) {
        return INT16_MAX;
    }
    if (v < (int32_t)INT16_MIN) {
        return INT16_MIN;
    }
    return (int16_t)v;
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

#ifdef __cplusplus
}
#endif

#endif /* DKGEN_QMATH_S32_H */
