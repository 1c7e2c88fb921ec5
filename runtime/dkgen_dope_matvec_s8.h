#ifndef DKGEN_DOPE_MATVEC_S8_H
#define DKGEN_DOPE_MATVEC_S8_H

#include "dkgen_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A sparse int8 matrix (the dope S of a DKP weight, or a pruned matrix) as a
 * stream of (gap, value) entries in row-major order: entry e sits at flat index
 * step[0] + ... + step[e], i.e. at (row, col) = divmod(index, cols). Exactly one
 * of step8 / step16 is non-NULL; gaps wider than the step type are bridged by
 * entries of value 0. One entry costs 2 or 3 bytes with its index, against 4 + 2
 * (+ row pointers) for float CSR. Each entry adds val * 2^shift accumulator units
 * per unit of x, so that the dope lands in the same int32 accumulator as the
 * Kronecker part, at that part's scale.
 */
typedef struct {
    const uint8_t *step8;
    const uint16_t *step16;
    const int8_t *val;
    /* For dkgen_dope_matvec_s8_block (NULL if unused): per block of rows, its first entry
     * and the flat index, relative to the block's first row, of the entry before it
     * (unsigned: below 0 wraps); then the entry count. Written by the generator. */
    const uint32_t *block;
    uint32_t count;
    uint16_t cols;
    uint8_t shift;
} dkgen_dope_s8_t;

/*
 * acc += S x (int32 accumulators, int8 x). The caller guarantees no int32
 * overflow (the generator bounds it). acc must not overlap x or the matrix.
 */
void dkgen_dope_matvec_s8(const dkgen_dope_s8_t *s, const int8_t *DKGEN_RESTRICT x,
                          int32_t *DKGEN_RESTRICT acc);

/*
 * acc[0..) += the rows of block b of S x, acc[0] standing for the block's first row:
 * the same integers as dkgen_dope_matvec_s8, a block at a time, in any order, for layers
 * that add each block of a product into their gate sums at once
 * (dkgen_kron_matvec_s8_block). Blocks are where s->block says they start.
 */
void dkgen_dope_matvec_s8_block(const dkgen_dope_s8_t *s, const int8_t *DKGEN_RESTRICT x,
                                uint32_t b, int32_t *DKGEN_RESTRICT acc);

#ifdef __cplusplus
}
#endif

#endif /* DKGEN_DOPE_MATVEC_S8_H */
