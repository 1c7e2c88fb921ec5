#ifndef DKGEN_REQUANT_ADD_S32_H
#define DKGEN_REQUANT_ADD_S32_H

#include "dkgen_common.h"
#include "dkgen_qmath_s32.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * out[r] = sat32(out[r] + sat32(requantize(acc[r]))) for the rq->outer * rq->inner
 * rows: adds one matrix product, taken to the gate scale (Q3.12), into a recurrent
 * layer's gate pre-activations. acc and out must not overlap.
 */
void dkgen_requant_add_s32(const dkgen_requant_t *rq, const int32_t *DKGEN_RESTRICT acc,
                           int32_t *DKGEN_RESTRICT out);

/*
 * The same for the blocks first .. first + count - 1 of rq->outer alone, the rows
 * first*inner .. (first + count)*inner - 1: acc and out point at the first of them. With
 * dkgen_kron_matvec_s8_block (outer = m1, inner = m2) a layer adds a Kronecker product
 * into its gate sums a few rows of A at a time, with that many m2 accumulators instead
 * of m1*m2.
 */
void dkgen_requant_add_s32_block(const dkgen_requant_t *rq, uint32_t first, uint32_t count,
                                 const int32_t *DKGEN_RESTRICT acc, int32_t *DKGEN_RESTRICT out);

#ifdef __cplusplus
}
#endif

#endif /* DKGEN_REQUANT_ADD_S32_H */
