#ifndef DKGEN_DENSE_MATVEC_S8S16_H
#define DKGEN_DENSE_MATVEC_S8S16_H

#include "dkgen_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * acc += W t: W is int8 row-major rows x cols, t an int16 vector (the requantised
 * intermediate of a low-rank product), acc int32 (accumulates). The caller
 * guarantees no int32 overflow. acc must not overlap W or t.
 */
void dkgen_dense_matvec_s8s16(const int8_t *w, uint32_t rows, uint32_t cols,
                              const int16_t *DKGEN_RESTRICT t, int32_t *DKGEN_RESTRICT acc);

#ifdef __cplusplus
}
#endif

#endif /* DKGEN_DENSE_MATVEC_S8S16_H */
