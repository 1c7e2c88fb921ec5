#ifndef DKGEN_KRON_MULTI_MATVEC_S8_H
#define DKGEN_KRON_MULTI_MATVEC_S8_H

#include "dkgen_common.h"
#include "dkgen_kron_matvec_s8.h"
#include "dkgen_qmath_s32.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * W = F0 (x) R with int8 factors, R = F1 (x) F2 the product of the other factors,
 * F0 m0 x n0, R m_r x n_r (docs/quantization.md).
 *
 * x (n0*n_r) is n0 slices of R's width. R multiplies each slice as a two-factor
 * product (`inner`, with its own int16 intermediate) into int32; those sums are
 * requantised by `t` to int16 and clamped to [-outer.t_max, outer.t_max] as column j of
 * Tt (m_r x n0), the intermediate of a two-factor product in order XBT. `outer`
 * then describes F0 against Tt: a = F0, m1 = m0, n1 = n0, m2 = m_r, n2 = n_r,
 * order DKGEN_KRON_ORDER_XBT; its b, t_mult and t_shift are unused (NULL), so that
 * dkgen_kron_matvec_s8_block adds blocks of rows of F0 exactly as for two factors.
 */
typedef struct {
    dkgen_kron_s8_t outer;
    dkgen_kron_s8_t inner;
    dkgen_requant_t t;
} dkgen_kron_multi_s8_t;

/*
 * int16 scratch in BYTES: Tt (m_r*n0), the inner product's own intermediate, and one
 * slice's requantised sums (m_r). The int32 buffer `inner_acc` the functions below
 * also take holds m_r entries.
 */
uint32_t dkgen_kron_multi_matvec_s8_get_buffer_size(const dkgen_kron_multi_s8_t *k);

/*
 * Forms Tt from x at the start of scratch, in the layout dkgen_kron_matvec_s8_block
 * reads; afterwards dkgen_kron_matvec_s8_block(&k->outer, scratch, first, count, acc)
 * adds rows first*m_r .. (first + count)*m_r - 1 of W x, in any order of blocks.
 */
void dkgen_kron_multi_matvec_s8_prepare(const dkgen_kron_multi_s8_t *k, const int8_t *DKGEN_RESTRICT x,
                                        int16_t *DKGEN_RESTRICT scratch,
                                        int32_t *DKGEN_RESTRICT inner_acc);

/*
 * acc += W x in int32 (m0*m_r entries), without materialising W. The caller
 * guarantees no int32 overflow (the generator bounds it). x, acc, scratch and
 * inner_acc must not overlap.
 */
void dkgen_kron_multi_matvec_s8(const dkgen_kron_multi_s8_t *k, const int8_t *DKGEN_RESTRICT x,
                                int32_t *DKGEN_RESTRICT acc, int16_t *DKGEN_RESTRICT scratch,
                                int32_t *DKGEN_RESTRICT inner_acc);

#ifdef __cplusplus
}
#endif

#endif /* DKGEN_KRON_MULTI_MATVEC_S8_H */
