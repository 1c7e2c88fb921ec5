#ifndef DKGEN_KRON_MATVEC_S8_H
#define DKGEN_KRON_MATVEC_S8_H

#include "dkgen_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Which product is formed first (same values as the float kernel's). */
#define DKGEN_KRON_ORDER_XBT 0 /* T = X * B^T first */
#define DKGEN_KRON_ORDER_AX 1  /* T = A * X   first */

/*
 * W = A (x) B with int8 factors, A m1 x n1 and B m2 x n2 row-major.
 *
 * The product is formed in two steps (runtime/README.md, docs/quantization.md).
 * The intermediate T of the first step is requantised to int16 with its own scale:
 * T = clamp(round(acc * t_mult[k] / 2^t_shift[k]), -t_max, t_max), where k is 0,
 * or (t_per_row) the row of the factor used first: the row of A (order AX) or of
 * B (order XBT). Any order other than DKGEN_KRON_ORDER_AX is treated as XBT.
 */
typedef struct {
    const int8_t *a;
    const int8_t *b;
    const int32_t *t_mult;
    const int8_t *t_shift;
    uint16_t m1, n1, m2, n2;
    int16_t t_max;
    uint8_t order;
    uint8_t t_per_row;
} dkgen_kron_s8_t;

/*
 * Scratch in BYTES that dkgen_kron_matvec_s8 needs for k's order: int16 T,
 * n1*m2 entries for DKGEN_KRON_ORDER_XBT, m1*n2 for DKGEN_KRON_ORDER_AX.
 */
uint32_t dkgen_kron_matvec_s8_get_buffer_size(const dkgen_kron_s8_t *k);

/*
 * acc += (A (x) B) x in int32, without materialising W. x is int8, n1*n2 long;
 * acc is m1*m2 long. The caller guarantees no int32 overflow (the generator bounds
 * it). scratch holds dkgen_kron_matvec_s8_get_buffer_size(k) bytes, is written
 * before it is read, and may be shared between calls. x, acc and scratch must not
 * overlap.
 */
void dkgen_kron_matvec_s8(const dkgen_kron_s8_t *k, const int8_t *DKGEN_RESTRICT x,
                          int32_t *DKGEN_RESTRICT acc, int16_t *DKGEN_RESTRICT scratch);

/*
 * The same product a block of output rows at a time, for callers that cannot spare
 * m1*m2 int32 accumulators (a recurrent layer adds each block into its gate sums at once,
 * docs/quantization.md): dkgen_kron_matvec_s8_prepare forms the intermediate T from x
 * into scratch (the buffer size above); then dkgen_kron_matvec_s8_block adds the rows
 * of rows first .. first + count - 1 of A, acc[0 .. count*m2) += rows first*m2 ..
 * (first + count)*m2 - 1 of (A (x) B) x, reading T; blocks may come in any order. The
 * integers equal those of dkgen_kron_matvec_s8.
 */
void dkgen_kron_matvec_s8_prepare(const dkgen_kron_s8_t *k, const int8_t *DKGEN_RESTRICT x,
                                  int16_t *DKGEN_RESTRICT scratch);
void dkgen_kron_matvec_s8_block(const dkgen_kron_s8_t *k, const int16_t *DKGEN_RESTRICT scratch,
                                uint32_t first, uint32_t count, int32_t *DKGEN_RESTRICT acc);

/*
 * The second step for all rows at once, after dkgen_kron_matvec_s8_prepare:
 * acc[0 .. m1*m2) += (A (x) B) x, reading T. dkgen_kron_matvec_s8 is prepare then this;
 * a product whose T is formed otherwise (dkgen_kron_multi_matvec_s8) finishes with it too.
 */
void dkgen_kron_matvec_s8_finish(const dkgen_kron_s8_t *k, const int16_t *DKGEN_RESTRICT scratch,
                                 int32_t *DKGEN_RESTRICT acc);

#ifdef __cplusplus
}
#endif

#endif /* DKGEN_KRON_MATVEC_S8_H */
