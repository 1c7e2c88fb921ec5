#include "dkgen_requant_add_s32.h"

void dkgen_requant_add_s32(const dkgen_requant_t *rq, const int32_t *DKGEN_RESTRICT acc,
                           int32_t *DKGEN_RESTRICT out)
{
    const uint32_t outer = rq->outer;
    const uint32_t inner = rq->inner;
    uint32_t o, i;
    uint32_t r = 0u;

    for (o = 0u; o < outer; o++) {
        if (rq->per == DKGEN_PER_INNER) {
            for (i = 0u; i < inner; i++) {
                const int64_t v = dkgen_requantize_s64(acc[r], rq->mult[i], rq->shift[i]);
                out[r] = dkgen_sat_s32((int64_t)out[r] + (int64_t)dkgen_sat_s32(v));
                r++;
            }
        } else {
            /* One multiplier for the whole run: kept in registers. */
            const uint32_t k = (rq->per == DKGEN_PER_OUTER) ? o : 0u;
            const int32_t mult = rq->mult[k];
            const int32_t shift = rq->shift[k];
            for (i = 0u; i < inner; i++) {
                const int64_t v = dkgen_requantize_s64(acc[r], mult, shift);
                out[r] = dkgen_sat_s32((int64_t)out[r] + (int64_t)dkgen_sat_s32(v));
                r++;
            }
        }
    }
}
