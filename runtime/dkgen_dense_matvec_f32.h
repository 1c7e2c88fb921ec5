#ifndef DKGEN_DENSE_MATVEC_F32_H
#define DKGEN_DENSE_MATVEC_F32_H

#include "dkgen_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * y[r] += sum_c w[r*cols + c] * x[c]   for r < rows   (w row-major, rows x cols)
 *
 * Accumulates, so that a bias copied into y beforehand, or the contributions of
 * several weight blocks (Kronecker part, dope), add up in one output buffer.
 * y must not overlap w or x. No scratch.
 */
void dkgen_dense_matvec_f32(const float *DKGEN_RESTRICT w, uint32_t rows, uint32_t cols,
                            const float *DKGEN_RESTRICT x, float *DKGEN_RESTRICT y);

#ifdef __cplusplus
}
#endif

#endif /* DKGEN_DENSE_MATVEC_F32_H */
