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
