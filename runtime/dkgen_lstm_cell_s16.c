#include "dkgen_lstm_cell_s16.h"

#include "dkgen_activation_s16.h"
#include "dkgen_qmath_s32.h"

/* Helium: units in blocks of DKGEN_LSTM_BLOCK, every step of the cell four units per
 * instruction (the activations by gather loads from their tables, in
 * dkgen_activation_s16.c); elsewhere one unit at a time, which is cheaper there than
 * passing blocks through memory. */
#define DKGEN_LSTM_BLOCK 16u

/* c_new and c12 (c in Q3.12, tanh's input) of one unit: the scalar reference form. */
static inline int16_t lstm_c(int32_t i, int32_t f, int32_t g, int32_t c, int32_t cf,
                             int32_t *c12)
{
    /* |f*c|, |i*g| < 2^30: both fit int32 before the rounding shift. */
    const int32_t fc = dkgen_rshift_round_s32(f * c, 15);
    const int32_t ig = dkgen_rshift_round_s32(i * g, 30 - cf);
    const int16_t c_new = dkgen_sat_s16(fc + ig);

    if (cf > 12) {
        *c12 = dkgen_rshift_round_s32(c_new, cf - 12);
    } else {
        *c12 = dkgen_sat_s16((int32_t)c_new * ((int32_t)1 << (12 - cf)));
    }
    return c_new;
}

#if defined(DKGEN_QMATH_MVE)
void dkgen_lstm_cell_s16(const dkgen_lstm_s16_t *p, const int32_t *DKGEN_RESTRICT gates,
                         int16_t *DKGEN_RESTRICT c, int8_t *DKGEN_RESTRICT h)
{
    const uint32_t hidden = p->hidden;
    const int32_t cf = (int32_t)p->cell_frac;
    /* Read once: the stores to c and h could otherwise alias p for the compiler. */
    const int32_t h_mult = p->h_mult;
    const int32_t h_shift = p->h_shift;
    int16_t ig[DKGEN_LSTM_BLOCK];
    int16_t og[DKGEN_LSTM_BLOCK];
    int16_t fg[DKGEN_LSTM_BLOCK];
    int16_t gg[DKGEN_LSTM_BLOCK];
    int16_t th[DKGEN_LSTM_BLOCK];
    int32_t c12[DKGEN_LSTM_BLOCK];
    uint32_t j0, k;

    for (j0 = 0u; j0 < hidden; j0 += DKGEN_LSTM_BLOCK) {
        const uint32_t n = (hidden - j0 < DKGEN_LSTM_BLOCK) ? hidden - j0 : DKGEN_LSTM_BLOCK;
        int16_t *cb = c + j0;
        int8_t *hb = h + j0;

        dkgen_sigmoid_s16_array(gates + j0, ig, n);
        dkgen_sigmoid_s16_array(gates + hidden + j0, og, n);
        dkgen_sigmoid_s16_array(gates + 2u * hidden + j0, fg, n);
        dkgen_tanh_s16_array(gates + 3u * hidden + j0, gg, n);
        k = 0u;
        /* Four units per instruction: the same integer formulas, lane by lane
         * (VSHL by a negative amount is an arithmetic right shift). */
        for (; k + 4u <= n; k += 4u) {
            const int32x4_t fc = vshrq_n_s32(
                vaddq_n_s32(vmulq_s32(vldrhq_s32(&fg[k]), vldrhq_s32(&cb[k])), 1 << 14), 15);
            const int32x4_t igv = vmulq_s32(vldrhq_s32(&ig[k]), vldrhq_s32(&gg[k]));
            const int32x4_t ic = vshlq_r_s32(vaddq_n_s32(igv, (int32_t)1 << (29 - cf)), cf - 30);
            const int32x4_t c_new = dkgen_clamp_x4(vaddq_s32(fc, ic), INT16_MIN, INT16_MAX);
            int32x4_t v12;
            vstrhq_s32(&cb[k], c_new);
            if (cf > 12) {
                v12 = vshlq_r_s32(vaddq_n_s32(c_new, (int32_t)1 << (cf - 13)), 12 - cf);
            } else {
                v12 = dkgen_clamp_x4(vshlq_r_s32(c_new, 12 - cf), INT16_MIN, INT16_MAX);
            }
            vst1q_s32(&c12[k], v12);
        }
        for (; k < n; k++) {
            cb[k] = lstm_c(ig[k], fg[k], gg[k], cb[k], cf, &c12[k]);
        }
        dkgen_tanh_s16_array(c12, th, n);
        /* h = sat8(requant(o * tanh(c))): o * tanh(c) is Q0.30 (|.| < 2^30), so with
         * h_shift > 32 (the usual case) the 32-bit form applies (dkgen_qmath_s32.h). */
        k = 0u;
        if (h_shift > 32) {
            const int32x4_t m = vdupq_n_s32(h_mult);
            const int32x4_t sh = vdupq_n_s32(h_shift);
            for (; k + 4u <= n; k += 4u) {
                const int32x4_t oh = vmulq_s32(vldrhq_s32(&og[k]), vldrhq_s32(&th[k]));
                const int32x4_t v = dkgen_requantize_hi_x4(oh, m, sh);
                vstrbq_s32(&hb[k], dkgen_clamp_x4(v, INT8_MIN, INT8_MAX));
            }
            for (; k < n; k++) {
                const int32_t v = dkgen_requantize_hi_s32((int32_t)og[k] * th[k], h_mult, h_shift);
                hb[k] = dkgen_sat_s8(v);
            }
        } else {
            for (; k < n; k++) {
                const int32_t oh = (int32_t)og[k] * th[k];
                hb[k] = dkgen_sat64_s8(dkgen_requantize_s64(oh, h_mult, h_shift));
            }
        }
    }
}
#else
void dkgen_lstm_cell_s16(const dkgen_lstm_s16_t *p, const int32_t *DKGEN_RESTRICT gates,
                         int16_t *DKGEN_RESTRICT c, int8_t *DKGEN_RESTRICT h)
{
    const uint32_t hidden = p->hidden;
    const int32_t cf = (int32_t)p->cell_frac;
    /* Read once: the stores to c and h could otherwise alias p for the compiler. */
    const int32_t h_mult = p->h_mult;
    const int32_t h_shift = p->h_shift;
    uint32_t j;

    for (j = 0u; j < hidden; j++) {
        const int32_t i = dkgen_sigmoid_s16_inline(dkgen_sat_s16(gates[j]));
        const int32_t o = dkgen_sigmoid_s16_inline(dkgen_sat_s16(gates[hidden + j]));
        const int32_t f = dkgen_sigmoid_s16_inline(dkgen_sat_s16(gates[2u * hidden + j]));
        const int32_t g = dkgen_tanh_s16_inline(dkgen_sat_s16(gates[3u * hidden + j]));
        int32_t c12;
        int32_t oh;

        c[j] = lstm_c(i, f, g, c[j], cf, &c12);
        /* o * tanh(c) is Q0.30 (|.| < 2^30), so with h_shift > 32 (the usual case) the
         * 32-bit form of the requantisation applies (dkgen_qmath_s32.h). */
        oh = o * (int32_t)dkgen_tanh_s16_inline((int16_t)c12);
        if (h_shift > 32) {
            const int32_t v = dkgen_requantize_hi_s32(oh, h_mult, h_shift);
            h[j] = dkgen_sat_s8(v);
        } else {
            h[j] = dkgen_sat64_s8(dkgen_requantize_s64(oh, h_mult, h_shift));
        }
    }
}
#endif
