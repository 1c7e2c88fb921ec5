#include "dkgen_log_softmax_f32.h"

#include "dkgen_math_f32.h"

void dkgen_log_softmax_f32(const float *x, float *y, uint32_t n)
{
    float max_val;
    float sum = 0.0f;
    float log_sum;
    uint32_t i;

    if (n == 0u) {
        return;
    }
    max_val = dkgen_max_f32(x, n);
    for (i = 0u; i < n; i++) {
        sum += dkgen_exp_nonpositive_f32(x[i] - max_val);
    }
    log_sum = logf(sum); /* sum >= 1: the maximum contributes e^0 */
    for (i = 0u; i < n; i++) {
        y[i] = (x[i] - max_val) - log_sum;
    }
}
