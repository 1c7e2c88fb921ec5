#ifndef DKGEN_DENSE_MATVEC_S8_H
#define DKGEN_DENSE_MATVEC_S8_H

#include "dkgen_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * acc += W x: W is int8 row-major rows x cols, x int8, acc int32 (accumulates).
 * The caller guarantees no int32 overflow (the generator bounds it).
 * acc must not overlap W or x.
 */
void dkgen_dense_matvec_s8(const int8_t *w, uint32_t rows, uint32_t cols,
                           const int8_t *DKGEN_RESTRICT x, int32_t *DKGEN_RESTRICT acc);

#ifdef __cplusplus
}
#endif

#endif /* DKGEN_DENSE_MATVEC_S8_H */
