#ifndef DKGEN_VECTOR_F32_H
#define DKGEN_VECTOR_F32_H

#include "dkgen_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* dst[i] = src[i], i < n. src == dst is allowed; partial overlap is not. */
void dkgen_copy_f32(const float *src, float *dst, uint32_t n);

/* y[i] += a[i], i < n. a == y is allowed (doubles y); partial overlap is not. */
void dkgen_add_f32(const float *a, float *y, uint32_t n);

/* y[i] = 0.0f, i < n. */
void dkgen_zero_f32(float *y, uint32_t n);

#ifdef __cplusplus
}
#endif

#endif /* DKGEN_VECTOR_F32_H */
