#ifndef DKGEN_LOG_SOFTMAX_F32_H
#define DKGEN_LOG_SOFTMAX_F32_H

#include "dkgen_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* y[i] = x[i] - max x - log(sum_j e^(x[j] - max x)), i < n: a log-softmax layer. With the
 * maximum subtracted nothing overflows, and an unlikely class gets a large negative value
 * rather than log(0). x and y may be the same buffer. n == 0 does nothing. */
void dkgen_log_softmax_f32(const float *x, float *y, uint32_t n);

#ifdef __cplusplus
}
#endif

#endif /* DKGEN_LOG_SOFTMAX_F32_H */
