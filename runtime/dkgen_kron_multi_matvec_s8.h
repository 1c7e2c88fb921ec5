#ifndef DKGEN_KRON_MULTI_MATVEC_S8_H
#define DKGEN_KRON_MULTI_MATVEC_S8_H

#include "dkgen_common.h"
#include "dkgen_kron_matvec_s8.h"
#include "dkgen_qmath_s32.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A Kronecker product of three or more int8 factors as a two-factor product `outer`
 * one of whose factors is itself a two-factor product `inner` (docs/quantization.md):
 *
 *   outer.order == DKGEN_KRON_ORDER_XBT: W = F (x) R, F = outer.a (m1 x n1), R the inner
 *     product (m2 x n2, outer.b unused). R multiplies each of the n1 slices of x (n2
 *     long) into int32; those sums are requantised by `t` to int16 and clamped to
 *     [-outer.t_max, outer.t_max] as column j of Tt (m2 x n1), the intermediate of a
 *     two-factor product in order XBT; F's pass follows.
 *   outer.order == DKGEN_KRON_ORDER_AX: W = L (x) F, L the inner product (m1 x n1,
 *     outer.a unused), F = outer.b (m2 x n2). L multiplies each of the n2 columns of x
 *     seen as n1 x n2, requantised the same way into column j of T = L X (m1 x n2), the
 *     intermediate of order AX; F's pass follows.
 *
 * outer.t_mult and t_shift are unused (NULL). The generator takes the form with fewer
 * multiply-accumulates: the one whose second pass contracts the expanding factor.
 * dkgen_kron_matvec_s8_block then adds blocks of rows of the outer product exactly as
 * for two factors.
 */
typedef struct {
    dkgen_kron_s8_t outer;
    dkgen_kron_s8_t inner;
    dkgen_requant_t t;
} dkgen_kron_multi_s8_t;

/*
 * int16 scratch in BYTES: the outer intermediate (Tt or T), one piece's requantised sums
 * (the inner product's rows), in order AX the gathered column of x, and the inner
 * product's own intermediate. The int32 buffer `inner_acc` the functions below also
 * take holds as many entries as the inner product has rows.
 */
uint32_t dkgen_kron_multi_matvec_s8_get_buffer_size(const dkgen_kron_multi_s8_t *k);

/*
 * Forms the outer intermediate from x at the start of scratch, in the layout
 * dkgen_kron_matvec_s8_block reads; afterwards
 * dkgen_kron_matvec_s8_block(&k->outer, scratch, first, count, acc) adds rows
 * first*outer.m2 .. (first + count)*outer.m2 - 1 of W x, in any order of blocks.
 */
void dkgen_kron_multi_matvec_s8_prepare(const dkgen_kron_multi_s8_t *k, const int8_t *DKGEN_RESTRICT x,
                                        int16_t *DKGEN_RESTRICT scratch,
                                        int32_t *DKGEN_RESTRICT inner_acc);

/*
 * acc += W x in int32 (outer.m1*outer.m2 entries), without materialising W. The caller
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
