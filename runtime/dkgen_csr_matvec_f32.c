#include "dkgen_csr_matvec_f32.h"

void dkgen_csr_matvec_f32(const dkgen_csr_f32_t *s, const float *DKGEN_RESTRICT x,
                          float *DKGEN_RESTRICT y)
{
    const uint16_t *col = s->col;
    const float *val = s->val;
    const uint32_t rows = s->rows;
    uint32_t r;

    /* One loop per index width, so the width is decided once, not per row: a dope
     * has well under one entry per row, so per-row overhead dominates its cost. */
    if (s->row_ptr16 != NULL) {
        const uint16_t *rp = s->row_ptr16;
        uint32_t end_prev = rp[0];
        for (r = 0u; r < rows; r++) {
            const uint32_t end = rp[r + 1u];
            if (end != end_prev) {
                float acc = 0.0f;
                uint32_t i;
                for (i = end_prev; i < end; i++) {
                    acc += val[i] * x[col[i]];
                }
                y[r] += acc;
            }
            end_prev = end;
        }
    } else if (s->row_ptr32 != NULL) {
        const uint32_t *rp = s->row_ptr32;
        uint32_t end_prev = rp[0];
        for (r = 0u; r < rows; r++) {
            const uint32_t end = rp[r + 1u];
            if (end != end_prev) {
                float acc = 0.0f;
                uint32_t i;
                for (i = end_prev; i < end; i++) {
                    acc += val[i] * x[col[i]];
                }
                y[r] += acc;
            }
            end_prev = end;
        }
    }
}
