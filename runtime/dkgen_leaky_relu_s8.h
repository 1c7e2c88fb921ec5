#ifndef DKGEN_LEAKY_RELU_S8_H
#define DKGEN_LEAKY_RELU_S8_H

#include "dkgen_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * An ONNX LeakyRelu layer on int8, i < n:
 *   y[i] = x[i]                                   where x[i] >= 0
 *   y[i] = sat8((x[i] * alpha_q15 + 2^14) >> 15)  below
 * alpha_q15 is round(alpha * 2^15), |alpha| <= 255 (so |product| < 2^30); the output
 * keeps the input's scale. dkgen.quant.reference.leaky_relu_q is the same in numpy. x and
 * y may be the same buffer.
 */
void dkgen_leaky_relu_s8(const int8_t *x, int8_t *y, uint32_t n, int32_t alpha_q15);

#ifdef __cplusplus
}
#endif

#endif /* DKGEN_LEAKY_RELU_S8_H */
