#include "dkgen_csr_matvec_f32.h"

#include "dkgen_gemm_f32.h"

/*
 * y += S x over row pointers `rp` (uint16_t or uint32_t; rows, col, val, x and y are the
 * caller's). A dope has well under one entry per row, so the cost is in walking the rows,
 * not in the MACs. Three things keep that walk short:
 *   - an empty row costs one load and one compare: the row ending at `*next` is empty
 *     when that end equals the current entry index, and the search needs no bound
 *     because the last row pointer (the entry count) exceeds every index still to do;
 *   - the walk stops after the last entry instead of visiting the empty rows after it;
 *   - the row's index (for y) is worked out only for non-empty rows.
 * Each non-empty row reads and writes y once, adding its entries to y in order.
 */
#define DKGEN_CSR_ROWS(rp)                                                                   \
    do {                                                                                    \
        const uint32_t nnz = (rp)[rows];                                                    \
        uint32_t i = (rp)[0];                                                               \
        next_row = 1u;                                                                      \
        while (i < nnz) {                                                                   \
            uint32_t end;                                                                   \
            float acc;                                                                      \
            while ((rp)[next_row] == i) {                                                   \
                next_row++;                                                                 \
            }                                                                               \
            end = (rp)[next_row];                                                           \
            acc = y[next_row - 1u];                                                         \
            for (; i < end; i++) {                                                          \
                acc = DKGEN_MACF(acc, val[i], x[col[i]]);                                   \
            }                                                                               \
            y[next_row - 1u] = acc;                                                         \
            next_row++;                                                                     \
        }                                                                                   \
    } while (0)

void dkgen_csr_matvec_f32(const dkgen_csr_f32_t *s, const float *DKGEN_RESTRICT x,
                          float *DKGEN_RESTRICT y)
{
    const uint16_t *col = s->col;
    const float *val = s->val;
    const uint32_t rows = s->rows;
    uint32_t next_row;

    /* One loop per index width, so the width is decided once, not per row. */
    if (s->row_ptr16 != NULL) {
        const uint16_t *rp16 = s->row_ptr16;
        DKGEN_CSR_ROWS(rp16);
    } else if (s->row_ptr32 != NULL) {
        const uint32_t *rp32 = s->row_ptr32;
        DKGEN_CSR_ROWS(rp32);
    }
}
