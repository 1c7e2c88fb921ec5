#include "dkgen_softmax_s8.h"

#include "dkgen_exp_q15.h"

void dkgen_softmax_s8(const int8_t *DKGEN_RESTRICT x, uint32_t n, int32_t beta,
                      int16_t *DKGEN_RESTRICT y)
{
    int32_t top = INT8_MIN;
    uint32_t sum = 0u;
    uint32_t i;

    for (i = 0u; i < n; i++) {
        if (x[i] > top) {
            top = x[i];
        }
    }
    for (i = 0u; i < n; i++) {
        sum += dkgen_exp_neg_q15((uint32_t)(top - (int32_t)x[i]), beta);
    }
    for (i = 0u; i < n; i++) {
        /* e <= 32768, so 65536 * e + sum < 2^32 for n < 65536 */
        const uint32_t e = dkgen_exp_neg_q15((uint32_t)(top - (int32_t)x[i]), beta);
        const uint32_t p = (65536u * e + sum) / (2u * sum);
        y[i] = (int16_t)(p > 32767u ? 32767u : p);
    }
}
