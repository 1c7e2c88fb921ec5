#ifndef DKGEN_CSR_MATVEC_F32_H
#define DKGEN_CSR_MATVEC_F32_H

#include "dkgen_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A sparse matrix in compressed sparse row (CSR) form: the dope S of a DKP
 * weight, or a pruned matrix. Row r holds the entries
 * k in [row_ptr[r], row_ptr[r+1]) with column col[k] and value val[k].
 * Exactly one of row_ptr16 / row_ptr32 is non-NULL, holding rows+1 entries;
 * the 16-bit form halves the index table and is used when nnz < 65536.
 * Columns are 16-bit, so S has at most 65536 columns.
 */
typedef struct {
    const uint16_t *row_ptr16;
    const uint32_t *row_ptr32;
    const uint16_t *col;
    const float *val;
    uint16_t rows;
} dkgen_csr_f32_t;

/*
 * y += S x. Accumulates into the same y as the dense or Kronecker part.
 * y must not overlap x or the matrix. Does nothing if both row pointers are NULL.
 */
void dkgen_csr_matvec_f32(const dkgen_csr_f32_t *s, const float *DKGEN_RESTRICT x,
                          float *DKGEN_RESTRICT y);

#ifdef __cplusplus
}
#endif

#endif /* DKGEN_CSR_MATVEC_F32_H */
