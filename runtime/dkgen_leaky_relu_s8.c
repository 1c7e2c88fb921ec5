#include "dkgen_leaky_relu_s8.h"

#include "dkgen_qmath_s32.h"

void dkgen_leaky_relu_s8(const int8_t *x, int8_t *y, uint32_t n, int32_t alpha_q15)
{
    uint32_t i;
    for (i = 0u; i < n; i++) {
        if (x[i] < 0) {
            const int32_t v = dkgen_rshift_round_s32((int32_t)x[i] * alpha_q15, 15);
            y[i] = (int8_t)dkgen_clamp_s32(v, -128, 127);
        } else {
            y[i] = x[i];
        }
    }
}
