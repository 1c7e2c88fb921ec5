#ifndef DKGEN_GRU_RESET_F32_H
#define DKGEN_GRU_RESET_F32_H

#include "dkgen_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The first pointwise half of a GRU timestep with ONNX's linear_before_reset=0 (ONNX's
 * default, Keras' reset_after=False), where the reset gate scales h before the
 * candidate's recurrent product: n = tanh(gx_h + R_h (r*h) + Rb_h). That product needs
 * r first, so the step is: this kernel, then gh = Rb + R (r*h), then
 * dkgen_gru_update_f32.
 *
 * gx = W x + Wb and gh = R h + Rb, each 3*hidden in ONNX gate order z, r, h. For each
 * j < hidden it overwrites the input part's first two blocks, which are not needed again:
 *   gx_z = z = sigmoid(gx_z + gh_z),  gx_r = r*h = sigmoid(gx_r + gh_r) * h
 * so that &gx[hidden] is the vector r*h the second recurrent product takes.
 */
void dkgen_gru_reset_f32(uint32_t hidden, float *DKGEN_RESTRICT gx,
                         const float *DKGEN_RESTRICT gh, const float *DKGEN_RESTRICT h);

#ifdef __cplusplus
}
#endif

#endif /* DKGEN_GRU_RESET_F32_H */
