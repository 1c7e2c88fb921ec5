#ifndef DKGEN_LOG_SOFTMAX_S8_H
#define DKGEN_LOG_SOFTMAX_S8_H

#include "dkgen_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Parameters of an int8 log-softmax: beta as in dkgen_softmax_s8, and the two
 * requantisations to the int16 output scale s_out: d_mult * 2^-d_shift = scale / s_out
 * (a logit's distance below the largest) and l_mult * 2^-l_shift = ln 2 / (2^16 s_out)
 * (the log2 of the sum, in Q16).
 */
typedef struct {
    int32_t beta;
    int32_t d_mult;
    int32_t l_mult;
    int8_t d_shift;
    int8_t l_shift;
} dkgen_log_softmax_s8_t;

/*
 * Log-softmax of n int8 logits into int16 log-probabilities (real = y * s_out), integer
 * only:
 *   d_i = max(x) - x_i;  S = sum_i e_i, e_i = exp(-d_i * scale) in Q0.15 as in
 *         dkgen_softmax_s8 (the largest logit gives 2^15, so S >= 2^15)
 *   L   = log2(S) - 15 in Q16, by a 257-entry table of log2(1 + j/256) with linear
 *         interpolation
 *   y_i = sat16(-(requantize(d_i; d_mult, d_shift) + requantize(L; l_mult, l_shift)))
 * dkgen.quant.reference.log_softmax_q is the same in numpy. 1 <= n < 65536.
 */
void dkgen_log_softmax_s8(const int8_t *DKGEN_RESTRICT x, uint32_t n,
                          const dkgen_log_softmax_s8_t *p, int16_t *DKGEN_RESTRICT y);

#ifdef __cplusplus
}
#endif

#endif /* DKGEN_LOG_SOFTMAX_S8_H */
