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
        h[j] = dkgen_gru_blend_s16(z, n, h[j], n_mult, n_shift);
    }
}
