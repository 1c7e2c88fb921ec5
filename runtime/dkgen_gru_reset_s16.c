#include "dkgen_gru_reset_s16.h"

#include "dkgen_activation_s16.h"
#include "dkgen_qmath_s32.h"

void dkgen_gru_reset_s16(uint32_t hidden, int32_t *DKGEN_RESTRICT gx,
                         const int32_t *DKGEN_RESTRICT gh, const int8_t *DKGEN_RESTRICT h,
                         int8_t *DKGEN_RESTRICT rh)
{
    uint32_t j;

    for (j = 0u; j < hidden; j++) {
        const int32_t z = dkgen_sigmoid_s16(dkgen_sat64_s16((int64_t)gx[j] + (int64_t)gh[j]));
        const int32_t r = dkgen_sigmoid_s16(
            dkgen_sat64_s16((int64_t)gx[hidden + j] + (int64_t)gh[hidden + j]));
        gx[j] = z;
        rh[j] = (int8_t)dkgen_rshift_round_s32(r * (int32_t)h[j], 15);
    }
}
