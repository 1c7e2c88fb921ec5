#include "dkgen_requant_s8.h"

/* The int8 arithmetic relies on `>>` of negative values shifting arithmetically
 * (floor division); refuse to build where it does not. */
typedef char dkgen_requires_arithmetic_shift[((-8 >> 1) == -4) ? 1 : -1];

void dkgen_requant_s8(const dkgen_requant_t *rq, const int32_t *DKGEN_RESTRICT acc,
                      int8_t *DKGEN_RESTRICT out)
{
    const uint32_t outer = rq->outer;
    const uint32_t inner = rq->inner;
    uint32_t o, i;
    uint32_t r = 0u;

    for (o = 0u; o < outer; o++) {
        if (rq->per == DKGEN_PER_INNER) {
            for (i = 0u; i < inner; i++) {
                const int64_t v = dkgen_requantize_s64(acc[r], rq->mult[i], rq->shift[i]);
                out[r] = dkgen_sat64_s8(v);
                r++;
            }
        } else {
            /* One multiplier for the whole run: kept in registers. */
            const uint32_t k = (rq->per == DKGEN_PER_OUTER) ? o : 0u;
            const int32_t mult = rq->mult[k];
            const int32_t shift = rq->shift[k];
            for (i = 0u; i < inner; i++) {
                const int64_t v = dkgen_requantize_s64(acc[r], mult, shift);
                out[r] = dkgen_sat64_s8(v);
                r++;
            }
        }
    }
}
