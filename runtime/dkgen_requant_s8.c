#include "dkgen_requant_s8.h"

/* The int8 arithmetic relies on `>>` of negative values shifting arithmetically
 * (floor division); refuse to build where it does not. */
typedef char dkgen_requires_arithmetic_shift[((-8 >> 1) == -4) ? 1 : -1];

/* out[i] = sat8(requant(acc[i])) for i < n. With `each`, row i has its own
 * multiplier mult[i], shift[i] (DKGEN_PER_INNER); otherwise mult[0], shift[0] serve the
 * whole run. */
static void requant_s8_run(const int32_t *DKGEN_RESTRICT acc, int8_t *DKGEN_RESTRICT out,
                           uint32_t n, const int32_t *mult, const int8_t *shift, int each)
{
    uint32_t i = 0u;

#if defined(DKGEN_QMATH_MVE)
    /* Four rows per instruction whenever their shifts are all > 32 (nearly always):
     * then every value fits 32 bits. */
    const int32x4_t lo = vdupq_n_s32(INT8_MIN);
    const int32x4_t hi = vdupq_n_s32(INT8_MAX);
    if (!each && shift[0] > 32) {
        const int32x4_t m = vdupq_n_s32(mult[0]);
        const int32x4_t sh = vdupq_n_s32(shift[0]);
        for (; i + 4u <= n; i += 4u) {
            const int32x4_t v = dkgen_requantize_hi_x4(vld1q_s32(&acc[i]), m, sh);
            vstrbq_s32(&out[i], vminq_s32(vmaxq_s32(v, lo), hi)); /* low bytes of lanes */
        }
    } else if (each) {
        for (; i + 4u <= n; i += 4u) {
            const int32x4_t sh = vldrbq_s32(&shift[i]); /* int8 widened to lanes */
            int32x4_t v;
            if (vminvq_s32(INT32_MAX, sh) <= 32) {
                break; /* the rest one at a time */
            }
            v = dkgen_requantize_hi_x4(vld1q_s32(&acc[i]), vld1q_s32(&mult[i]), sh);
            vstrbq_s32(&out[i], vminq_s32(vmaxq_s32(v, lo), hi)); /* low bytes of lanes */
        }
    }
#endif
    if (each) {
        for (; i < n; i++) {
            const int32_t v = dkgen_requantize_sat_s32(acc[i], mult[i], shift[i]);
            out[i] = dkgen_sat_s8(v);
        }
    } else if (shift[0] > 32) {
        /* The test hoisted out of the loop: 32-bit arithmetic only. */
        const int32_t m0 = mult[0];
        const int32_t s0 = shift[0];
        for (; i < n; i++) {
            const int32_t v = dkgen_requantize_hi_s32(acc[i], m0, s0);
            out[i] = dkgen_sat_s8(v);
        }
    } else {
        const int32_t m0 = mult[0];
        const int32_t s0 = shift[0];
        for (; i < n; i++) {
            const int32_t v = dkgen_sat_s32(dkgen_requantize_s64(acc[i], m0, s0));
            out[i] = dkgen_sat_s8(v);
        }
    }
}

void dkgen_requant_s8_block(const dkgen_requant_t *rq, uint32_t first, uint32_t count,
                            const int32_t *DKGEN_RESTRICT acc, int8_t *DKGEN_RESTRICT out)
{
    const uint32_t inner = rq->inner;
    uint32_t o;

    if (rq->per == DKGEN_PER_TENSOR) {
        requant_s8_run(acc, out, count * inner, rq->mult, rq->shift, 0);
        return;
    }
    for (o = first; o < first + count; o++) {
        if (rq->per == DKGEN_PER_INNER) {
            requant_s8_run(acc, out, inner, rq->mult, rq->shift, 1);
        } else {
            requant_s8_run(acc, out, inner, &rq->mult[o], &rq->shift[o], 0);
        }
        acc += inner;
        out += inner;
    }
}

void dkgen_requant_s8(const dkgen_requant_t *rq, const int32_t *DKGEN_RESTRICT acc,
                      int8_t *DKGEN_RESTRICT out)
{
    dkgen_requant_s8_block(rq, 0u, rq->outer, acc, out);
}
