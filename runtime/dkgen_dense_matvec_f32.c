#include "dkgen_dense_matvec_f32.h"

#include "dkgen_gemm_f32.h"

/* y[0..8) += rows w[0..8) . x over K: eight rows at a time, so that each x[k] loaded
 * feeds eight MACs and the loads are single post-incrementing VLDMs. */
static void dense_rows8(const float *w, uint32_t ldw, const float *x, uint32_t K, float *y)
{
    const float *w0 = w;
    const float *w1 = w0 + ldw;
    const float *w2 = w1 + ldw;
    const float *w3 = w2 + ldw;
    const float *w4 = w3 + ldw;
    const float *w5 = w4 + ldw;
    const float *w6 = w5 + ldw;
    const float *w7 = w6 + ldw;
    float s0 = y[0], s1 = y[1], s2 = y[2], s3 = y[3];
    float s4 = y[4], s5 = y[5], s6 = y[6], s7 = y[7];
    uint32_t k;

    for (k = 0u; k < K; k++) {
        const float b = x[k];
        s0 = DKGEN_MACF(s0, w0[k], b); s1 = DKGEN_MACF(s1, w1[k], b);
        s2 = DKGEN_MACF(s2, w2[k], b); s3 = DKGEN_MACF(s3, w3[k], b);
        s4 = DKGEN_MACF(s4, w4[k], b); s5 = DKGEN_MACF(s5, w5[k], b);
        s6 = DKGEN_MACF(s6, w6[k], b); s7 = DKGEN_MACF(s7, w7[k], b);
    }
    y[0] = s0; y[1] = s1; y[2] = s2; y[3] = s3;
    y[4] = s4; y[5] = s5; y[6] = s6; y[7] = s7;
}

void dkgen_dense_matvec_f32(const float *DKGEN_RESTRICT w, uint32_t rows, uint32_t cols,
                            const float *DKGEN_RESTRICT x, float *DKGEN_RESTRICT y)
{
    uint32_t used_cols = cols;
    uint32_t r = 0u;

#ifdef DKGEN_TEST_WRONG_KERNEL
    used_cols = (cols > 0u) ? cols - 1u : 0u; /* test-only: drop the last column */
#endif

    /* Eight rows at a time (each x[c] loaded feeds eight MACs, y read and written once
     * per row, the sums kept in registers, one rounding chain per row starting from y),
     * then the remaining rows four and one at a time (dkgen_gemm_f32.h, one column). */
    for (; r + 8u <= rows; r += 8u) {
        dense_rows8(w + r * cols, cols, x, used_cols, y + r);
    }
    dkgen_gemm_nt_f32(w + r * cols, cols, x, cols, rows - r, 1u, used_cols, y + r, 1u, 1);
}
