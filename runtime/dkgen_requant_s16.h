#ifndef DKGEN_REQUANT_S16_H
#define DKGEN_REQUANT_S16_H

#include "dkgen_common.h"
#include "dkgen_qmath_s32.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * out[r] = clamp(requantize(acc[r]), lo, hi) for the rq->outer * rq->inner rows:
 * int32 accumulators to int16 (a model's last Linear layer, the low-rank
 * intermediate). Needs lo <= hi. acc and out must not overlap.
 */
void dkgen_requant_s16(const dkgen_requant_t *rq, const int32_t *DKGEN_RESTRICT acc,
                       int16_t *DKGEN_RESTRICT out, int16_t lo, int16_t hi);

/*
 * The same for the blocks first .. first + count - 1 of rq->outer alone (rows
 * first*inner .. (first + count)*inner - 1): acc and out point at the first of them. A
 * layer that forms its product a block at a time (docs/quantization.md, RAM) needs only
 * a block of int32 accumulators.
 */
void dkgen_requant_s16_block(const dkgen_requant_t *rq, uint32_t first, uint32_t count,
                             const int32_t *DKGEN_RESTRICT acc, int16_t *DKGEN_RESTRICT out,
                             int16_t lo, int16_t hi);

#ifdef __cplusplus
}
#endif

#endif /* DKGEN_REQUANT_S16_H */
