#include "dkgen_gru_update_s16.h"

#include "dkgen_activation_s16.h"
#include "dkgen_qmath_s32.h"

void dkgen_gru_update_s16(const dkgen_gru_s16_t *p, const int32_t *DKGEN_RESTRICT gx,
                          const int32_t *DKGEN_RESTRICT gh, int8_t *DKGEN_RESTRICT h)
{
    const uint32_t hidden = p->hidden;
    /* Read once: the stores to h could otherwise alias p for the compiler. */
    const int32_t n_mult = p->n_mult;
    const int32_t n_shift = p->n_shift;
    uint32_t j;

    for (j = 0u; j < hidden; j++) {
        const int32_t z = gx[j];
        const int32_t n = dkgen_tanh_s16(
            dkgen_sat64_s16((int64_t)gx[2u * hidden + j] + (int64_t)gh[2u * hidden + j]));
        /* (32768 - z) * n and z * h both fit int32: |.| <= 2^30 (so the 32-bit form of the
         * requantisation applies when n_shift > 32, dkgen_qmath_s32.h). */
        const int32_t keep = dkgen_requantize_sat_s32((32768 - z) * n, n_mult, n_shift);
        const int32_t carry = dkgen_rshift_round_s32(z * (int32_t)h[j], 15);
        h[j] = dkgen_sat64_s8((int64_t)keep + (int64_t)carry);
    }
}
