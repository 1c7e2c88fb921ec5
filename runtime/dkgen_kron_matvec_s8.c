#include "dkgen_kron_matvec_s8.h"

#include "dkgen_dot_s8.h"
#include "dkgen_qmath_s32.h"

uint32_t dkgen_kron_matvec_s8_get_buffer_size(const dkgen_kron_s8_t *k)
{
    uint32_t elems;

    /* Widen before multiplying: uint16_t operands would promote to signed int. */
    if (k->order == DKGEN_KRON_ORDER_AX) {
        elems = (uint32_t)k->m1 * (uint32_t)k->n2;
    } else {
        elems = (uint32_t)k->n1 * (uint32_t)k->m2;
    }
    return elems * (uint32_t)sizeof(int16_t);
}

/* The intermediate: requantised, saturated to [-t_max, t_max]. */
static inline int16_t kron_t(int32_t acc, int32_t mult, int32_t shift, int32_t t_max)
{
    const int64_t v = dkgen_requantize_s64(acc, mult, shift);
    if (v > (int64_t)t_max) {
        return (int16_t)t_max;
    }
    if (v < -(int64_t)t_max) {
        return (int16_t)(-t_max);
    }
    return (int16_t)v;
}

void dkgen_kron_matvec_s8(const dkgen_kron_s8_t *k, const int8_t *DKGEN_RESTRICT x,
                          int32_t *DKGEN_RESTRICT acc, int16_t *DKGEN_RESTRICT scratch)
{
    const int8_t *a = k->a;
    const int8_t *b = k->b;
    const uint32_t m1 = k->m1;
    const uint32_t n1 = k->n1;
    const uint32_t m2 = k->m2;
    const uint32_t n2 = k->n2;
    const int32_t t_max = k->t_max;
    /* Length of the contractions over j2 (the columns of B). */
    uint32_t kn2 = n2;
    uint32_t i1, i2, j1, j2;

#ifdef DKGEN_TEST_WRONG_KERNEL
    kn2 = (n2 > 0u) ? n2 - 1u : 0u; /* test-only: drop the last column of B */
#endif

    if (k->order == DKGEN_KRON_ORDER_AX) {
        /* T = A * X (m1 x n2): X read down its columns, which saves a transposed
         * copy of x in scratch. */
        int16_t *t_row = scratch;
        for (i1 = 0u; i1 < m1; i1++) {
            const int8_t *a_row = a + i1 * n1;
            const uint32_t row = k->t_per_row ? i1 : 0u;
            const int32_t mult = k->t_mult[row];
            const int32_t shift = k->t_shift[row];
            for (j2 = 0u; j2 < n2; j2++) {
                t_row[j2] = kron_t(dkgen_dot_s8_strided(a_row, x + j2, n1, n2), mult, shift, t_max);
            }
            t_row += n2;
        }
        /* acc += T * B^T: dot products of contiguous rows of T and B. */
        t_row = scratch;
        for (i1 = 0u; i1 < m1; i1++) {
            int32_t *acc_row = acc + i1 * m2;
            const int8_t *b_row = b;
            for (i2 = 0u; i2 < m2; i2++) {
                acc_row[i2] += dkgen_dot_s8s16(b_row, t_row, kn2);
                b_row += n2;
            }
            t_row += n2;
        }
    } else {
        /* T = X * B^T (n1 x m2), kept transposed as Tt = B * X^T (m2 x n1) so that
         * both passes are dot products of contiguous rows. */
        int16_t *tt_row = scratch;
        const int8_t *b_row = b;
        for (i2 = 0u; i2 < m2; i2++) {
            const int8_t *x_row = x;
            const uint32_t row = k->t_per_row ? i2 : 0u;
            const int32_t mult = k->t_mult[row];
            const int32_t shift = k->t_shift[row];
            for (j1 = 0u; j1 < n1; j1++) {
                tt_row[j1] = kron_t(dkgen_dot_s8(b_row, x_row, kn2), mult, shift, t_max);
                x_row += n2;
            }
            tt_row += n1;
            b_row += n2;
        }
        /* acc[i1][i2] += A[i1,:] . Tt[i2,:] */
        for (i1 = 0u; i1 < m1; i1++) {
            const int8_t *a_row = a + i1 * n1;
            int32_t *acc_row = acc + i1 * m2;
            tt_row = scratch;
            for (i2 = 0u; i2 < m2; i2++) {
                acc_row[i2] += dkgen_dot_s8s16(a_row, tt_row, n1);
                tt_row += n1;
            }
        }
    }
}
