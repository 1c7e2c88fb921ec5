#ifndef DKGEN_REQUANT_S8_H
#define DKGEN_REQUANT_S8_H

#include "dkgen_common.h"
#include "dkgen_qmath_s32.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * out[r] = sat8(requantize(acc[r])) for the rq->outer * rq->inner rows: a layer's
 * int32 accumulators to its int8 output. acc and out must not overlap.
 */
void dkgen_requant_s8(const dkgen_requant_t *rq, const int32_t *DKGEN_RESTRICT acc,
                      int8_t *DKGEN_RESTRICT out);

#ifdef __cplusplus
}
#endif

#endif /* DKGEN_REQUANT_S8_H */
