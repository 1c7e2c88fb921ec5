#ifndef DKGEN_GRU_RESET_S16_H
#define DKGEN_GRU_RESET_S16_H

#include "dkgen_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The first pointwise half of an int8 GRU step with ONNX's linear_before_reset=0, where
 * the reset gate scales h before the candidate's recurrent product R_h (r * h); then
 * gh = Rb + R rh (the same requantisation as R h: rh is in h's units), then
 * dkgen_gru_update_s16.
 *
 * gx and gh are the input and recurrent parts of the 3*hidden pre-activations (int32,
 * Q3.12 units, biases included), ONNX gate order z, r, h. For each j < hidden:
 *   z = sigmoid(sat16(gx_z + gh_z)), r = sigmoid(sat16(gx_r + gh_r))   (Q0.15)
 *   gx_z = z   (the input part's z block is not needed again)
 *   rh = r * h >> 15   (>> rounds half up; |r| < 2^15, so rh stays in int8)
 * rh must not overlap gx, gh or h.
 */
void dkgen_gru_reset_s16(uint32_t hidden, int32_t *DKGEN_RESTRICT gx,
                         const int32_t *DKGEN_RESTRICT gh, const int8_t *DKGEN_RESTRICT h,
                         int8_t *DKGEN_RESTRICT rh);

#ifdef __cplusplus
}
#endif

#endif /* DKGEN_GRU_RESET_S16_H */
