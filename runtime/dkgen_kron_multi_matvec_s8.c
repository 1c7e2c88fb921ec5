#include "dkgen_kron_multi_matvec_s8.h"

#include "dkgen_dot_s8.h"
#include "dkgen_requant_s16.h"
#include "dkgen_vector_s8.h"

/* Entries of the outer product's intermediate: Tt (m2 x n1) in order XBT, T (m1 x n2) in
 * order AX. Either way the inner product's rows times the pieces of x it is applied to. */
DKGEN_INLINE uint32_t kron_multi_t_entries(const dkgen_kron_multi_s8_t *k)
{
    const dkgen_kron_s8_t *o = &k->outer;
    return (o->order == DKGEN_KRON_ORDER_AX) ? (uint32_t)o->m1 * (uint32_t)o->n2
                                             : (uint32_t)o->m2 * (uint32_t)o->n1;
}

/* int16 entries after the intermediate: one piece's requantised sums (the inner
 * product's rows) and, in order AX, the gathered column of x (int8, two to an entry). */
DKGEN_INLINE uint32_t kron_multi_piece_entries(const dkgen_kron_multi_s8_t *k)
{
    const dkgen_kron_s8_t *o = &k->outer;
    if (o->order == DKGEN_KRON_ORDER_AX) {
        return (uint32_t)o->m1 + ((uint32_t)o->n1 + 1u) / 2u;
    }
    return o->m2;
}

uint32_t dkgen_kron_multi_matvec_s8_get_buffer_size(const dkgen_kron_multi_s8_t *k)
{
    const uint32_t entries = kron_multi_t_entries(k) + kron_multi_piece_entries(k);
    return entries * (uint32_t)sizeof(int16_t) + dkgen_kron_matvec_s8_get_buffer_size(&k->inner);
}

/* The inner product of one piece of x (n_in int8), requantised and clamped into `piece`
 * (n_out int16, n_out = the inner product's rows). */
static void kron_multi_piece(const dkgen_kron_multi_s8_t *k, const int8_t *x, uint32_t n_out,
                             int16_t *piece, int16_t *inner_scratch, int32_t *inner_acc)
{
    const int16_t t_max = k->outer.t_max;

    dkgen_zero_s32(inner_acc, n_out);
    dkgen_kron_matvec_s8(&k->inner, x, inner_acc, inner_scratch);
    dkgen_requant_s16(&k->t, inner_acc, piece, (int16_t)-t_max, t_max);
}

void dkgen_kron_multi_matvec_s8_prepare(const dkgen_kron_multi_s8_t *k, const int8_t *DKGEN_RESTRICT x,
                                        int16_t *DKGEN_RESTRICT scratch,
                                        int32_t *DKGEN_RESTRICT inner_acc)
{
    const dkgen_kron_s8_t *o = &k->outer;
    const uint32_t n1 = o->n1;
    const uint32_t n2 = o->n2;
    int16_t *t = scratch;
    int16_t *piece = scratch + kron_multi_t_entries(k);
    int16_t *inner_scratch = piece + kron_multi_piece_entries(k);
    uint32_t j;
    uint32_t r;

    /* The intermediate is written in the layout the outer product's second pass reads
     * fastest (dkgen_s16x_index over the length it contracts). */
    if (o->order == DKGEN_KRON_ORDER_AX) {
        /* W = L (x) F: L (m1 x n1, the inner product) on each of the n2 columns of x seen
         * as n1 x n2, into column j of T = L X (m1 x n2); F's pass follows. */
        const uint32_t m1 = o->m1;
        const uint32_t full = n2 & ~3u;
        int8_t *column = (int8_t *)(void *)(piece + m1);
        for (j = 0u; j < n2; j++) {
            for (r = 0u; r < n1; r++) {
                column[r] = x[r * n2 + j];
            }
            kron_multi_piece(k, column, m1, piece, inner_scratch, inner_acc);
            for (r = 0u; r < m1; r++) {
                t[r * n2 + dkgen_s16x_index(j, full)] = piece[r];
            }
        }
    } else {
        /* W = F (x) R: R (m2 x n2, the inner product) on each of the n1 slices of x, into
         * column j of Tt = R X^T (m2 x n1); F's pass follows. */
        const uint32_t m2 = o->m2;
        const uint32_t full = n1 & ~3u;
        for (j = 0u; j < n1; j++) {
            kron_multi_piece(k, x + j * n2, m2, piece, inner_scratch, inner_acc);
            for (r = 0u; r < m2; r++) {
                t[r * n1 + dkgen_s16x_index(j, full)] = piece[r];
            }
        }
    }
}

void dkgen_kron_multi_matvec_s8(const dkgen_kron_multi_s8_t *k, const int8_t *DKGEN_RESTRICT x,
                                int32_t *DKGEN_RESTRICT acc, int16_t *DKGEN_RESTRICT scratch,
                                int32_t *DKGEN_RESTRICT inner_acc)
{
    dkgen_kron_multi_matvec_s8_prepare(k, x, scratch, inner_acc);
    dkgen_kron_matvec_s8_finish(&k->outer, scratch, acc);
}
