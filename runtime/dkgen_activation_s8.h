#ifndef DKGEN_ACTIVATION_S8_H
#define DKGEN_ACTIVATION_S8_H

#include "dkgen_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Element-wise tanh and sigmoid layers on int8, i < n:
 *   v    = sat16(requantize(x[i], mult, shift))   x[i] * in_scale in Q3.12
 *   r    = dkgen_tanh_s16(v) or dkgen_sigmoid_s16(v)            Q0.15
 *   y[i] = sat8((r + 2^7) >> 8)                    scale 2^-7
 * (mult, shift) is in_scale * 2^12 as a Q31 multiplier; dkgen.quant.reference does the
 * same in numpy. x and y may be the same buffer.
 */
void dkgen_tanh_s8(const int8_t *x, int8_t *y, uint32_t n, int32_t mult, int32_t shift);
void dkgen_sigmoid_s8(const int8_t *x, int8_t *y, uint32_t n, int32_t mult, int32_t shift);

#ifdef __cplusplus
}
#endif

#endif /* DKGEN_ACTIVATION_S8_H */
