#include "dkgen_requant_s16.h"

/* out[i] = clamp(requant(acc[i]), lo, hi) for i < n. With `each`, row i has its own
 * multiplier mult[i], shift[i] (DKGEN_PER_INNER); otherwise mult[0], shift[0] serve the
 * whole run. */
static void requant_s16_run(const int32_t *DKGEN_RESTRICT acc, int16_t *DKGEN_RESTRICT out,
                            uint32_t n, const int32_t *mult, const int8_t *shift, int each,
                            int32_t lo, int32_t hi)
{
    uint32_t i = 0u;

#if defined(DKGEN_QMATH_MVE)
    /* Four rows per instruction whenever their shifts are all > 32 (nearly always):
     * then every value fits 32 bits. */
    const int32x4_t vlo = vdupq_n_s32(lo);
    const int32x4_t vhi = vdupq_n_s32(hi);
    if (!each && shift[0] > 32) {
        const int32x4_t m = vdupq_n_s32(mult[0]);
        const int32x4_t sh = vdupq_n_s32(shift[0]);
        for (; i + 4u <= n; i += 4u) {
            const int32x4_t v = dkgen_requantize_hi_x4(vld1q_s32(&acc[i]), m, sh);
            vstrhq_s32(&out[i], vminq_s32(vmaxq_s32(v, vlo), vhi)); /* low halves of lanes */
        }
    } else if (each) {
        for (; i + 4u <= n; i += 4u) {
            const int32x4_t sh = vldrbq_s32(&shift[i]); /* int8 widened to lanes */
            int32x4_t v;
            if (vminvq_s32(INT32_MAX, sh) <= 32) {
                break; /* the rest one at a time */
            }
            v = dkgen_requantize_hi_x4(vld1q_s32(&acc[i]), vld1q_s32(&mult[i]), sh);
            vstrhq_s32(&out[i], vminq_s32(vmaxq_s32(v, vlo), vhi)); /* low halves of lanes */
        }
    }
#endif
    if (each) {
        for (; i < n; i++) {
            const int32_t v = dkgen_requantize_sat_s32(acc[i], mult[i], shift[i]);
            out[i] = (int16_t)(v > hi ? hi : (v < lo ? lo : v));
        }
    } else if (shift[0] > 32) {
        /* The test hoisted out of the loop: 32-bit arithmetic only. */
        const int32_t m0 = mult[0];
        const int32_t s0 = shift[0];
        for (; i < n; i++) {
            const int32_t v = dkgen_requantize_hi_s32(acc[i], m0, s0);
            out[i] = (int16_t)(v > hi ? hi : (v < lo ? lo : v));
        }
    } else {
        const int32_t m0 = mult[0];
        const int32_t s0 = shift[0];
        for (; i < n; i++) {
            const int32_t v = dkgen_sat_s32(dkgen_requantize_s64(acc[i], m0, s0));
            out[i] = (int16_t)(v > hi ? hi : (v < lo ? lo : v));
        }
    }
}

void dkgen_requant_s16_block(const dkgen_requant_t *rq, uint32_t first, uint32_t count,
                             const int32_t *DKGEN_RESTRICT acc, int16_t *DKGEN_RESTRICT out,
                             int16_t lo, int16_t hi)
{
    const uint32_t inner = rq->inner;
    uint32_t o;

    if (rq->per == DKGEN_PER_TENSOR) {
        requant_s16_run(acc, out, count * inner, rq->mult, rq->shift, 0, lo, hi);
        return;
    }
    for (o = first; o < first + count; o++) {
        if (rq->per == DKGEN_PER_INNER) {
            requant_s16_run(acc, out, inner, rq->mult, rq->shift, 1, lo, hi);
        } else {
            requant_s16_run(acc, out, inner, &rq->mult[o], &rq->shift[o], 0, lo, hi);
        }
        acc += inner;
        out += inner;
    }
}

void dkgen_requant_s16(const dkgen_requant_t *rq, const int32_t *DKGEN_RESTRICT acc,
                       int16_t *DKGEN_RESTRICT out, int16_t lo, int16_t hi)
{
    dkgen_requant_s16_block(rq, 0u, rq->outer, acc, out, lo, hi);
}
