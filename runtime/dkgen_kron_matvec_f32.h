#ifndef DKGEN_KRON_MATVEC_F32_H
#define DKGEN_KRON_MATVEC_F32_H

#include "dkgen_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Which product is formed first; see dkgen_kron_matvec_f32 and runtime/README.md. */
#define DKGEN_KRON_ORDER_XBT 0 /* T = X * B^T first: n1*n2*m2 + m1*n1*m2 MACs */
#define DKGEN_KRON_ORDER_AX 1  /* T = A * X   first: m1*n1*n2 + m1*n2*m2 MACs */

/*
 * W = A (x) B, A is m1 x n1 row-major, B is m2 x n2 row-major;
 * W is (m1*m2) x (n1*n2). `order` is one of DKGEN_KRON_ORDER_*; any value other
 * than DKGEN_KRON_ORDER_AX is treated as DKGEN_KRON_ORDER_XBT.
 */
typedef struct {
    const float *a;
    const float *b;
    uint16_t m1, n1, m2, n2;
    uint8_t order;
} dkgen_kron_f32_t;

/*
 * Scratch in BYTES that dkgen_kron_matvec_f32 needs for k's order:
 * n1*m2 floats for DKGEN_KRON_ORDER_XBT, m1*n2 floats for DKGEN_KRON_ORDER_AX.
 * Exact while the product fits in uint32_t (always, for any model an MCU holds).
 */
uint32_t dkgen_kron_matvec_f32_get_buffer_size(const dkgen_kron_f32_t *k);

/*
 * y += (A (x) B) x, computed in factored form without materialising W.
 *
 * With X the n1 x n2 row-major view of x (x[j1*n2 + j2]) and Y the m1 x m2
 * row-major view of y (y[i1*m2 + i2]): Y += A * X * B^T.
 * scratch holds dkgen_kron_matvec_f32_get_buffer_size(k) bytes, is written before
 * it is read, and may be shared with other kernels between calls.
 * x, y, scratch and the factors must not overlap.
 */
void dkgen_kron_matvec_f32(const dkgen_kron_f32_t *k, const float *DKGEN_RESTRICT x,
                           float *DKGEN_RESTRICT y, float *DKGEN_RESTRICT scratch);

#ifdef __cplusplus
}
#endif

#endif /* DKGEN_KRON_MATVEC_F32_H */
