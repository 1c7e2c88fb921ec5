#include "dkgen_kron_matvec_f32.h"

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
    uint32_t i1, i2, j1, j2;

#ifdef DKGEN_TEST_WRONG_KERNEL
    kn2 = (n2 > 0u) ? n2 - 1u : 0u; /* test-only: drop the last column of B */
#endif

    if (k->order == DKGEN_KRON_ORDER_AX) {
        /* T = A * X, m1 x n2 row-major. X is read down its columns (stride n2);
         * that is cheaper than a transposed copy of x, which would need n1*n2
         * more scratch. */
        float *t_row = scratch;
        for (i1 = 0u; i1 < m1; i1++) {
            const float *a_row = a + i1 * n1;
            for (j2 = 0u; j2 < n2; j2++) {
                const float *x_col = x + j2;
                float acc = 0.0f;
                for (j1 = 0u; j1 < n1; j1++) {
                    acc += a_row[j1] * *x_col;
                    x_col += n2;
                }
                t_row[j2] = acc;
            }
            t_row += n2;
        }

        /* Y += T * B^T: each output is a dot product of a row of T with a row of B,
         * both contiguous. */
        t_row = scratch;
        for (i1 = 0u; i1 < m1; i1++) {
            float *y_row = y + i1 * m2;
            const float *b_row = b;
            for (i2 = 0u; i2 < m2; i2++) {
                float acc = 0.0f;
                for (j2 = 0u; j2 < kn2; j2++) {
                    acc += t_row[j2] * b_row[j2];
                }
                y_row[i2] += acc;
                b_row += n2;
            }
            t_row += n2;
        }
    } else {
        /* T = X * B^T (n1 x m2) is stored transposed, as Tt = B * X^T (m2 x n1):
         * then both passes are dot products of contiguous rows, and each output
         * of y is loaded and stored once. Same n1*m2 floats of scratch. */
        float *tt_row = scratch;
        const float *b_row = b;
        for (i2 = 0u; i2 < m2; i2++) {
            const float *x_row = x;
            for (j1 = 0u; j1 < n1; j1++) {
                float acc = 0.0f;
                for (j2 = 0u; j2 < kn2; j2++) {
                    acc += b_row[j2] * x_row[j2];
                }
                tt_row[j1] = acc;
                x_row += n2;
            }
            tt_row += n1;
            b_row += n2;
        }

        /* Y += A * T, i.e. Y[i1][i2] += A[i1,:] . Tt[i2,:]. */
        for (i1 = 0u; i1 < m1; i1++) {
            const float *a_row = a + i1 * n1;
            float *y_row = y + i1 * m2;
            tt_row = scratch;
            for (i2 = 0u; i2 < m2; i2++) {
                float acc = 0.0f;
                for (j1 = 0u; j1 < n1; j1++) {
                    acc += a_row[j1] * tt_row[j1];
                }
                y_row[i2] += acc;
                tt_row += n1;
            }
        }
    }
}
