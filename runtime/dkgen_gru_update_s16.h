#ifndef DKGEN_GRU_UPDATE_S16_H
#define DKGEN_GRU_UPDATE_S16_H

#include "dkgen_common.h"
#include "dkgen_gru_s16.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The second pointwise half of an int8 GRU step with ONNX's linear_before_reset=0 (see
 * dkgen_gru_reset_s16.h): gx as dkgen_gru_reset_s16 left it (gx_z holds z, Q0.15), gh =
 * Rb + R (r * h) in Q3.12, of which only the candidate block gh_h is read. For each
 * j < hidden:
 *   n = tanh(sat16(gx_h + gh_h))
 *   h = sat8(sat32(requantize((32768 - z) * n)) + (z * h >> 15))  (>> rounds half up)
 * h (int8) is updated in place; gx and gh must not overlap it.
 */
void dkgen_gru_update_s16(const dkgen_gru_s16_t *p, const int32_t *DKGEN_RESTRICT gx,
                          const int32_t *DKGEN_RESTRICT gh, int8_t *DKGEN_RESTRICT h);

#ifdef __cplusplus
}
#endif

#endif /* DKGEN_GRU_UPDATE_S16_H */
