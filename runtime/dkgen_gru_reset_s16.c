#include "dkgen_gru_reset_s16.h"

#include "dkgen_activation_s16.h"
#include "dkgen_gru_s16.h"
#include "dkgen_qmath_s32.h"

#if defined(DKGEN_QMATH_MVE)
void dkgen_gru_reset_s16(uint32_t hidden, int32_t *DKGEN_RESTRICT gx,
                         const int32_t *DKGEN_RESTRICT gh, const int8_t *DKGEN_RESTRICT h,
                         int8_t *DKGEN_RESTRICT rh)
{
    int32_t in[DKGEN_GRU_BLOCK];
    int16_t z[DKGEN_GRU_BLOCK];
    int16_t r[DKGEN_GRU_BLOCK];
    uint32_t j0, k;

    for (j0 = 0u; j0 < hidden; j0 += DKGEN_GRU_BLOCK) {
        const uint32_t n = (hidden - j0 < DKGEN_GRU_BLOCK) ? hidden - j0 : DKGEN_GRU_BLOCK;
        int32_t *gxz = gx + j0;
        const int8_t *hb = h + j0;
        int8_t *rhb = rh + j0;

        /* z = sigmoid(sat16(gx_z + gh_z)), r likewise (VQADD: the saturating add) */
        dkgen_gru_zr_block(gxz, gh + j0, hidden, n, in, z, r);
        /* gx_z = z; rh = r * h >> 15 (rounding half up; |r * h| < 2^22, in int8 after) */
        k = 0u;
        for (; k + 4u <= n; k += 4u) {
            const int32x4_t rhv = vmulq_s32(vldrhq_s32(&r[k]), vldrbq_s32(&hb[k]));
            vst1q_s32(&gxz[k], vldrhq_s32(&z[k]));
            vstrbq_s32(&rhb[k], vshrq_n_s32(vaddq_n_s32(rhv, 1 << 14), 15));
        }
        for (; k < n; k++) {
            gxz[k] = z[k];
            rhb[k] = (int8_t)dkgen_rshift_round_s32((int32_t)r[k] * (int32_t)hb[k], 15);
        }
    }
}
#else
void dkgen_gru_reset_s16(uint32_t hidden, int32_t *DKGEN_RESTRICT gx,
                         const int32_t *DKGEN_RESTRICT gh, const int8_t *DKGEN_RESTRICT h,
                         int8_t *DKGEN_RESTRICT rh)
{
    uint32_t j;

    for (j = 0u; j < hidden; j++) {
        const int32_t z = dkgen_gru_gate_s16(gx[j], gh[j]);
        const int32_t r = dkgen_gru_gate_s16(gx[hidden + j], gh[hidden + j]);
        gx[j] = z;
        rh[j] = (int8_t)dkgen_rshift_round_s32(r * (int32_t)h[j], 15);
    }
}
#endif
