#include "dkgen_gru_cell_s16.h"

#include "dkgen_activation_s16.h"
#include "dkgen_qmath_s32.h"

void dkgen_gru_cell_s16(const dkgen_gru_s16_t *p, const int32_t *DKGEN_RESTRICT gx,
                        const int32_t *DKGEN_RESTRICT gh, int8_t *DKGEN_RESTRICT h)
{
    const uint32_t hidden = p->hidden;
    uint32_t j;

    for (j = 0u; j < hidden; j++) {
        const int32_t z = dkgen_sigmoid_s16(dkgen_sat64_s16((int64_t)gx[j] + (int64_t)gh[j]));
        const int32_t r = dkgen_sigmoid_s16(
            dkgen_sat64_s16((int64_t)gx[hidden + j] + (int64_t)gh[hidden + j]));
        const int32_t rgh = dkgen_rshift_round_s32(r * (int32_t)dkgen_sat_s16(gh[2u * hidden + j]), 15);
        const int32_t n = dkgen_tanh_s16(dkgen_sat64_s16((int64_t)gx[2u * hidden + j] + (int64_t)rgh));
        /* (32768 - z) * n and z * h both fit int32: |.| <= 2^30. */
        const int32_t keep = dkgen_sat_s32(dkgen_requantize_s64((32768 - z) * n, p->n_mult, p->n_shift));
        const int32_t carry = dkgen_rshift_round_s32(z * (int32_t)h[j], 15);
        h[j] = dkgen_sat64_s8((int64_t)keep + (int64_t)carry);
    }
}
