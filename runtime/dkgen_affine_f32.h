#ifndef DKGEN_AFFINE_F32_H
#define DKGEN_AFFINE_F32_H

#include "dkgen_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* y[i] = x[i] * mul[i] + add[i], i < n: an affine layer, a factor and an offset per
 * feature (what Mul / Div / Add / Sub by constants become, such as an input
 * normalisation (x - mean) / std). x and y may be the same buffer. */
void dkgen_affine_f32(const float *x, float *y, uint32_t n, const float *mul, const float *add);

#ifdef __cplusplus
}
#endif

#endif /* DKGEN_AFFINE_F32_H */
