#ifndef DKGEN_ACTIVATION_F32_H
#define DKGEN_ACTIVATION_F32_H

#include "dkgen_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 1 / (1 + e^-x), without overflow for any x (including +-inf): e^-|x| <= 1.
 * Keeps full relative precision for large negative x, where it is tiny. */
float dkgen_sigmoid_f32(float x);

/* tanh(x). */
float dkgen_tanh_f32(float x);

/* y[i] = e^(x[i] - max x) / sum_j e^(x[j] - max x), i < n. Subtracting the maximum
 * keeps every exponent <= 0, so nothing overflows. x and y may be the same
 * buffer (in-place); partial overlap is not allowed. n == 0 does nothing. */
void dkgen_softmax_f32(const float *x, float *y, uint32_t n);

/* Index of the largest x[i]; the first one wins ties. 0 when n == 0.
 * NaNs are never chosen unless x[0] is NaN. */
uint32_t dkgen_argmax_f32(const float *x, uint32_t n);

#ifdef __cplusplus
}
#endif

#endif /* DKGEN_ACTIVATION_F32_H */
