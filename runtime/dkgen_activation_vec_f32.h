#ifndef DKGEN_ACTIVATION_VEC_F32_H
#define DKGEN_ACTIVATION_VEC_F32_H

#include "dkgen_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Element-wise activation layers: y[i] = max(x[i], 0), tanh(x[i]), 1 / (1 + e^-x[i]) for
 * i < n. x and y may be the same buffer. A file of their own, so that a model without
 * such layers does not carry them. */
void dkgen_relu_vec_f32(const float *x, float *y, uint32_t n);
void dkgen_tanh_vec_f32(const float *x, float *y, uint32_t n);
void dkgen_sigmoid_vec_f32(const float *x, float *y, uint32_t n);

/* y[i] = min(max(x[i], lo), hi): ONNX Clip (ReLU6, Hardtanh). A NaN stays NaN. */
void dkgen_clip_vec_f32(const float *x, float *y, uint32_t n, float lo, float hi);

/* y[i] = x[i] < 0 ? alpha * x[i] : x[i]: ONNX LeakyRelu. */
void dkgen_leaky_relu_vec_f32(const float *x, float *y, uint32_t n, float alpha);

#ifdef __cplusplus
}
#endif

#endif /* DKGEN_ACTIVATION_VEC_F32_H */
