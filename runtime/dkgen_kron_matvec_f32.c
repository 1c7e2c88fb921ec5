#include "dkgen_kron_matvec_f32.h"

#include "dkgen_gemm_f32.h"

uint32_t dkgen_kron_matvec_f32_get_buffer_size(const dkgen_kron_f32_t *k)
{
    uint32_t elems;

    /* Widen before multiplying: uint16_t operands would promote to signed int. */
    if (k->order == DKGEN_KRON_ORDER_AX) {
        elems = (uint32_t)k->m1 * (uint32_t)k->n2;
    } else {
        elems = (uint32_t)k->n1 * (uint32_t)k->m2;
    }
    return elems * (uint32_t)sizeof(float);
}

void dkgen_kron_matvec_f32(const dkgen_kron_f32_t *k, const float *DKGEN_RESTRICT x,
                           float *DKGEN_RESTRICT y, float *DKGEN_RESTRICT scratch)
{
    const float *a = k->a;
    const float *b = k->b;
    const uint32_t m1 = k->m1;
    const uint32_t n1 = k->n1;
    const uint32_t m2 = k->m2;
    const uint32_t n2 = k->n2;
    /* Length of the contractions over j2 (the columns of B). */
    uint32_t kn2 = n2;

#ifdef DKGEN_TEST_WRONG_KERNEL
    kn2 = (n2 > 0u) ? n2 - 1u : 0u; /* test-only: drop the last column of B */
#endif

    /* Both passes are small matrix products, done in register blocks of 4 x 4 outputs
     * (dkgen_gemm_f32.h): each factor entry loaded feeds four MACs, and each output is
     * read and written once, however short the factors are. */
    if (k->order == DKGEN_KRON_ORDER_AX) {
        /* T = A * X (m1 x n2), X read down its columns (row stride n2): cheaper than a
         * transposed copy of x, which would need n1*n2 more scratch. */
        dkgen_gemm_nn_f32(a, n1, x, n2, m1, n2, n1, scratch, n2, 0);
        /* Y += T * B^T: rows of T against rows of B. */
        dkgen_gemm_nt_f32(scratch, n2, b, n2, m1, m2, kn2, y, m2, 1);
    } else {
        /* T = X * B^T (n1 x m2) is stored transposed, Tt = B * X^T (m2 x n1), so that
         * both passes read rows: Tt[i2][j1] = B[i2,:] . X[j1,:]. Same n1*m2 floats. */
        dkgen_gemm_nt_f32(b, n2, x, n2, m2, n1, kn2, scratch, n1, 0);
        /* Y[i1][i2] += A[i1,:] . Tt[i2,:] */
        dkgen_gemm_nt_f32(a, n1, scratch, n1, m1, m2, n1, y, m2, 1);
    }
}
