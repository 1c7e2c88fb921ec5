#ifndef DKGEN_GRU_CELL_F32_H
#define DKGEN_GRU_CELL_F32_H

#include "dkgen_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The pointwise half of one GRU timestep, ONNX GRU with linear_before_reset=1
 * (the PyTorch GRU): the reset gate multiplies R_h h + Rb_h, not h.
 *
 * gx = W x + Wb and gh = R h + Rb, each 3*hidden in ONNX gate order z, r, h.
 * gh must be computed from the old h before this call. For each j < hidden:
 *   z = sigmoid(gx_z + gh_z), r = sigmoid(gx_r + gh_r),
 *   n = tanh(gx_h + r*gh_h),  h = (1 - z)*n + z*h
 * h is updated in place and must not overlap gx or gh.
 */
void dkgen_gru_cell_f32(uint32_t hidden, const float *DKGEN_RESTRICT gx,
                        const float *DKGEN_RESTRICT gh, float *DKGEN_RESTRICT h);

#ifdef __cplusplus
}
#endif

#endif /* DKGEN_GRU_CELL_F32_H */
