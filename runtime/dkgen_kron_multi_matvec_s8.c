#include "dkgen_kron_multi_matvec_s8.h"

#include "dkgen_dot_s8.h"
#include "dkgen_requant_s16.h"
#include "dkgen_vector_s8.h"

/* Entries of Tt: m_r rows of n0. */
DKGEN_INLINE uint32_t kron_multi_t_entries(const dkgen_kron_multi_s8_t *k)
{
    return (uint32_t)k->outer.m2 * (uint32_t)k->outer.n1;
}

uint32_t dkgen_kron_multi_matvec_s8_get_buffer_size(const dkgen_kron_multi_s8_t *k)
{
    const uint32_t t = kron_multi_t_entries(k);
    const uint32_t row = k->outer.m2;
    return (t + row) * (uint32_t)sizeof(int16_t) + dkgen_kron_matvec_s8_get_buffer_size(&k->inner);
}

void dkgen_kron_multi_matvec_s8_prepare(const dkgen_kron_multi_s8_t *k, const int8_t *DKGEN_RESTRICT x,
                                        int16_t *DKGEN_RESTRICT scratch,
                                        int32_t *DKGEN_RESTRICT inner_acc)
{
    const uint32_t n0 = k->outer.n1;
    const uint32_t m_r = k->outer.m2;
    const uint32_t n_r = k->outer.n2;
    /* Rows of Tt are what the second step contracts over (n0 long), stored as it reads
     * them fastest (dkgen_s16x_index). */
    const uint32_t full = n0 & ~3u;
    const int16_t t_max = k->outer.t_max;
    int16_t *t = scratch;
    int16_t *row = scratch + kron_multi_t_entries(k);
    int16_t *inner_scratch = row + m_r;
    uint32_t j;
    uint32_t r;

    for (j = 0u; j < n0; j++) {
        dkgen_zero_s32(inner_acc, m_r);
        dkgen_kron_matvec_s8(&k->inner, x + j * n_r, inner_acc, inner_scratch);
        dkgen_requant_s16(&k->t, inner_acc, row, (int16_t)-t_max, t_max);
        for (r = 0u; r < m_r; r++) {
            t[r * n0 + dkgen_s16x_index(j, full)] = row[r];
        }
    }
}

void dkgen_kron_multi_matvec_s8(const dkgen_kron_multi_s8_t *k, const int8_t *DKGEN_RESTRICT x,
                                int32_t *DKGEN_RESTRICT acc, int16_t *DKGEN_RESTRICT scratch,
                                int32_t *DKGEN_RESTRICT inner_acc)
{
    dkgen_kron_multi_matvec_s8_prepare(k, x, scratch, inner_acc);
    dkgen_kron_matvec_s8_block(&k->outer, scratch, 0u, k->outer.m1, acc);
}
