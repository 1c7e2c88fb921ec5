#ifndef DKGEN_GRU_UPDATE_F32_H
#define DKGEN_GRU_UPDATE_F32_H

#include "dkgen_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The second pointwise half of a GRU timestep with ONNX's linear_before_reset=0 (see
 * dkgen_gru_reset_f32.h): gx as dkgen_gru_reset_f32 left it (gx_z holds z), gh = R (r*h)
 * + Rb, of which only the candidate block gh_h is read. For each j < hidden:
 *   n = tanh(gx_h + gh_h),  h = (1 - z)*n + z*h
 * h is updated in place and must not overlap gx or gh.
 */
void dkgen_gru_update_f32(uint32_t hidden, const float *DKGEN_RESTRICT gx,
                          const float *DKGEN_RESTRICT gh, float *DKGEN_RESTRICT h);

#ifdef __cplusplus
}
#endif

#endif /* DKGEN_GRU_UPDATE_F32_H */
