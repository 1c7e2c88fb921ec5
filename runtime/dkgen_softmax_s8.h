#ifndef DKGEN_SOFTMAX_S8_H
#define DKGEN_SOFTMAX_S8_H

#include "dkgen_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Softmax of n int8 logits of scale `scale` into Q0.15 probabilities (int16,
 * real = y / 32768), integer only:
 *   e_i = exp(-(max(x) - x_i) * scale) in Q0.15, as 2^-(d * beta / 2^16) with
 *         beta = round(scale * log2(e) * 2^16) (0 <= beta < 2^23), from a 257-entry
 *         table of 2^(-k/256) with linear interpolation (docs/quantization.md);
 *   y_i = min(32767, floor((65536 * e_i + S) / (2 * S))),  S = sum_i e_i,
 * i.e. 32768 * e_i / S rounded half up. 1 <= n < 65536.
 */
void dkgen_softmax_s8(const int8_t *DKGEN_RESTRICT x, uint32_t n, int32_t beta,
                      int16_t *DKGEN_RESTRICT y);

#ifdef __cplusplus
}
#endif

#endif /* DKGEN_SOFTMAX_S8_H */
