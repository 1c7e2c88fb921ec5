#include "dkgen_dope_matvec_s8.h"

void dkgen_dope_matvec_s8(const dkgen_dope_s8_t *s, const int8_t *DKGEN_RESTRICT x,
                          int32_t *DKGEN_RESTRICT acc)
{
    const uint32_t cols = s->cols;
    const int32_t unit = (int32_t)1 << s->shift;
    uint32_t row = 0u;
    uint32_t col = 0u;
    uint32_t e;

    if (cols == 0u) {
        return;
    }
    for (e = 0u; e < s->count; e++) {
        col += (s->step8 != NULL) ? (uint32_t)s->step8[e] : (uint32_t)s->step16[e];
        /* No division: Cortex-M0 has none, and gaps rarely span more than a row. */
        while (col >= cols) {
            col -= cols;
            row++;
        }
        acc[row] += (int32_t)s->val[e] * (int32_t)x[col] * unit;
    }
}
