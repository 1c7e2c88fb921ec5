#include "dkgen_gru_cell_s16.h"

#include "dkgen_activation_s16.h"
#include "dkgen_qmath_s32.h"

#if defined(DKGEN_QMATH_MVE)
void dkgen_gru_cell_s16(const dkgen_gru_s16_t *p, const int32_t *DKGEN_RESTRICT gx,
                        const int32_t *DKGEN_RESTRICT gh, int8_t *DKGEN_RESTRICT h)
{
    const uint32_t hidden = p->hidden;
    /* Read once: the stores to h could otherwise alias p for the compiler. */
    const int32_t n_mult = p->n_mult;
    const int32_t n_shift = p->n_shift;
    int32_t in[DKGEN_GRU_BLOCK];
    int16_t z[DKGEN_GRU_BLOCK];
    int16_t r[DKGEN_GRU_BLOCK];
    int16_t nn[DKGEN_GRU_BLOCK];
    uint32_t j0, k;

    for (j0 = 0u; j0 < hidden; j0 += DKGEN_GRU_BLOCK) {
        const uint32_t n = (hidden - j0 < DKGEN_GRU_BLOCK) ? hidden - j0 : DKGEN_GRU_BLOCK;
        const int32_t *gxh = gx + 2u * hidden + j0;
        const int32_t *ghh = gh + 2u * hidden + j0;
        int8_t *hb = h + j0;

        /* z = sigmoid(sat16(gx_z + gh_z)), r likewise (VQADD: the saturating add) */
        dkgen_gru_zr_block(gx + j0, gh + j0, hidden, n, in, z, r);
        /* n = tanh(sat16(gx_h + (r * sat16(gh_h) >> 15))) */
        k = 0u;
        for (; k + 4u <= n; k += 4u) {
            const int32x4_t g16 = dkgen_clamp_x4(vld1q_s32(&ghh[k]), INT16_MIN, INT16_MAX);
            const int32x4_t rg = vmulq_s32(vldrhq_s32(&r[k]), g16);
            const int32x4_t rgh = vshrq_n_s32(vaddq_n_s32(rg, 1 << 14), 15);
            vst1q_s32(&in[k], vqaddq_s32(vld1q_s32(&gxh[k]), rgh));
        }
        for (; k < n; k++) {
            const int32_t rg = (int32_t)r[k] * (int32_t)dkgen_sat_s16(ghh[k]);
            const int32_t rgh = dkgen_rshift_round_s32(rg, 15);
            in[k] = dkgen_sat_s32((int64_t)gxh[k] + (int64_t)rgh);
        }
        dkgen_tanh_s16_array(in, nn, n);
        /* h = blend of n and h by z (dkgen_gru_s16.h), four units at a time when the
         * 32-bit requantisation applies */
        k = 0u;
        if (n_shift > 32) {
            const int32x4_t m = vdupq_n_s32(n_mult);
            const int32x4_t sh = vdupq_n_s32(n_shift);
            for (; k + 4u <= n; k += 4u) {
                dkgen_gru_blend_x4(vldrhq_s32(&z[k]), &nn[k], &hb[k], m, sh);
            }
        }
        for (; k < n; k++) {
            hb[k] = dkgen_gru_blend_s16(z[k], nn[k], hb[k], n_mult, n_shift);
        }
    }
}
#else
void dkgen_gru_cell_s16(const dkgen_gru_s16_t *p, const int32_t *DKGEN_RESTRICT gx,
                        const int32_t *DKGEN_RESTRICT gh, int8_t *DKGEN_RESTRICT h)
{
    const uint32_t hidden = p->hidden;
    /* Read once: the stores to h could otherwise alias p for the compiler. */
    const int32_t n_mult = p->n_mult;
    const int32_t n_shift = p->n_shift;
    uint32_t j;

    for (j = 0u; j < hidden; j++) {
        const int32_t z = dkgen_gru_gate_s16(gx[j], gh[j]);
        const int32_t r = dkgen_gru_gate_s16(gx[hidden + j], gh[hidden + j]);
        const int32_t rg = r * (int32_t)dkgen_sat_s16(gh[2u * hidden + j]);
        const int32_t rgh = dkgen_rshift_round_s32(rg, 15);
        const int32_t n = dkgen_tanh_s16_inline(dkgen_sat64_s16((int64_t)gx[2u * hidden + j] + rgh));
        h[j] = dkgen_gru_blend_s16(z, n, h[j], n_mult, n_shift);
    }
}
#endif
