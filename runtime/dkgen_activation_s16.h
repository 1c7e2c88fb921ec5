#ifndef DKGEN_ACTIVATION_S16_H
#define DKGEN_ACTIVATION_S16_H

#include "dkgen_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Sigmoid and tanh in fixed point: input Q3.12 (real = q / 4096, so [-8, 8)),
 * output Q0.15 (real = q / 32768): sigmoid in [0, 32767], tanh in [-32767, 32767].
 * A 513-entry table with linear interpolation; within 3 units of the last place of
 * the exact function. No floating point, no libm.
 */
int16_t dkgen_sigmoid_s16(int16_t q12);
int16_t dkgen_tanh_s16(int16_t q12);

/* The tables behind them: f(-8 + k/32), k = 0..512, in Q0.15 (dkgen_activation_s16.c). */
extern const int16_t dkgen_sigmoid_lut_s16[513];
extern const int16_t dkgen_tanh_lut_s16[513];

/*
 * table[i] + ((table[i+1] - table[i]) * w + 64) >> 7 with u = q12 + 32768, i = u >> 7,
 * w = u & 127: linear interpolation between entries 1/32 apart, rounded half up. Inline,
 * for the cells' per-unit loops, where a call per activation (five a unit in an LSTM)
 * costs about a quarter of the work.
 */
DKGEN_INLINE int16_t dkgen_lut_interpolate_s16(const int16_t *table, int16_t q12)
{
    const uint32_t u = (uint32_t)((int32_t)q12 + 32768);
    const uint32_t i = u >> 7;
    const int32_t w = (int32_t)(u & 127u);
    const int32_t lo = table[i];
    const int32_t hi = table[i + 1u];
    return (int16_t)(lo + (((hi - lo) * w + 64) >> 7));
}

/* dkgen_sigmoid_s16 and dkgen_tanh_s16, inline: on Thumb-2 cores 2-3% fewer instructions
 * a step of an int8 LSTM. Cortex-M0 keeps the calls: with its eight low registers the
 * inlined form spills, and takes 0.5% more. */
#if defined(__ARM_ARCH_ISA_THUMB) && (__ARM_ARCH_ISA_THUMB == 1)
#define dkgen_sigmoid_s16_inline(q12) dkgen_sigmoid_s16(q12)
#define dkgen_tanh_s16_inline(q12) dkgen_tanh_s16(q12)
#else
DKGEN_INLINE int16_t dkgen_sigmoid_s16_inline(int16_t q12)
{
    return dkgen_lut_interpolate_s16(dkgen_sigmoid_lut_s16, q12);
}

DKGEN_INLINE int16_t dkgen_tanh_s16_inline(int16_t q12)
{
    return dkgen_lut_interpolate_s16(dkgen_tanh_lut_s16, q12);
}
#endif

/*
 * The same functions over an array: y[k] = f(sat16(x[k])) for k < n, the int32 inputs
 * saturated to Q3.12 first (what the cells do with their gate sums). Bit-identical to
 * calling the scalar functions; cheaper per value (and vectorised on Helium). x and y
 * must not overlap.
 */
void dkgen_sigmoid_s16_array(const int32_t *DKGEN_RESTRICT x, int16_t *DKGEN_RESTRICT y,
                             uint32_t n);
void dkgen_tanh_s16_array(const int32_t *DKGEN_RESTRICT x, int16_t *DKGEN_RESTRICT y,
                          uint32_t n);

#ifdef __cplusplus
}
#endif

#endif /* DKGEN_ACTIVATION_S16_H */
