#include "dkgen_lstm_cell_s16.h"

#include "dkgen_activation_s16.h"
#include "dkgen_qmath_s32.h"

void dkgen_lstm_cell_s16(const dkgen_lstm_s16_t *p, const int32_t *DKGEN_RESTRICT gates,
                         int16_t *DKGEN_RESTRICT c, int8_t *DKGEN_RESTRICT h)
{
    const uint32_t hidden = p->hidden;
    const int32_t cf = (int32_t)p->cell_frac;
    uint32_t j;

    for (j = 0u; j < hidden; j++) {
        const int32_t i = dkgen_sigmoid_s16(dkgen_sat_s16(gates[j]));
        const int32_t o = dkgen_sigmoid_s16(dkgen_sat_s16(gates[hidden + j]));
        const int32_t f = dkgen_sigmoid_s16(dkgen_sat_s16(gates[2u * hidden + j]));
        const int32_t g = dkgen_tanh_s16(dkgen_sat_s16(gates[3u * hidden + j]));
        /* |f*c|, |i*g| < 2^30: both fit int32 before the rounding shift. */
        const int32_t fc = dkgen_rshift_round_s32(f * (int32_t)c[j], 15);
        const int32_t ig = dkgen_rshift_round_s32(i * g, 30 - cf);
        const int16_t c_new = dkgen_sat_s16(fc + ig);
        int16_t c12;

        if (cf > 12) {
            c12 = (int16_t)dkgen_rshift_round_s32(c_new, cf - 12);
        } else {
            c12 = dkgen_sat_s16((int32_t)c_new * ((int32_t)1 << (12 - cf)));
        }
        c[j] = c_new;
        h[j] = dkgen_sat64_s8(dkgen_requantize_s64(o * (int32_t)dkgen_tanh_s16(c12), p->h_mult,
                                                   p->h_shift));
    }
}
