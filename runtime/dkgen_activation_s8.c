#include "dkgen_activation_s8.h"

#include "dkgen_activation_s16.h"
#include "dkgen_qmath_s32.h"

static int16_t dkgen_act_q12(int8_t x, int32_t mult, int32_t shift)
{
    return dkgen_sat64_s16(dkgen_requantize_s64((int32_t)x, mult, shift));
}

/* Q0.15 to int8 of scale 2^-7, rounded half up: |r| <= 32767, so the sum cannot overflow. */
static int8_t dkgen_act_out(int16_t r)
{
    return dkgen_sat64_s8((int64_t)dkgen_rshift_round_s32((int32_t)r, 8));
}

void dkgen_tanh_s8(const int8_t *x, int8_t *y, uint32_t n, int32_t mult, int32_t shift)
{
    uint32_t i;

    for (i = 0u; i < n; i++) {
        y[i] = dkgen_act_out(dkgen_tanh_s16_inline(dkgen_act_q12(x[i], mult, shift)));
    }
}

void dkgen_sigmoid_s8(const int8_t *x, int8_t *y, uint32_t n, int32_t mult, int32_t shift)
{
    uint32_t i;

    for (i = 0u; i < n; i++) {
        y[i] = dkgen_act_out(dkgen_sigmoid_s16_inline(dkgen_act_q12(x[i], mult, shift)));
    }
}
