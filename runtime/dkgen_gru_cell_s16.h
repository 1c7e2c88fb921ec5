#ifndef DKGEN_GRU_CELL_S16_H
#define DKGEN_GRU_CELL_S16_H

#include "dkgen_common.h"
#include "dkgen_gru_s16.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * One pointwise GRU step (ONNX gate order z, r, h; linear_before_reset = 1) from
 * the input part gx and the recurrent part gh of the 3*hidden pre-activations
 * (int32, Q3.12 units, biases included):
 *   z = sigmoid(sat16(gx_z + gh_z)), r = sigmoid(sat16(gx_r + gh_r))   (Q0.15)
 *   n = tanh(sat16(gx_h + (r * sat16(gh_h) >> 15)))
 *   h = sat8(sat32(requantize((32768 - z) * n)) + (z * h >> 15))  (>> rounds half up)
 * h (int8) is updated in place; gx and gh must not overlap it.
 */
void dkgen_gru_cell_s16(const dkgen_gru_s16_t *p, const int32_t *DKGEN_RESTRICT gx,
                        const int32_t *DKGEN_RESTRICT gh, int8_t *DKGEN_RESTRICT h);

#ifdef __cplusplus
}
#endif

#endif /* DKGEN_GRU_CELL_S16_H */
