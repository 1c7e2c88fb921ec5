#ifndef DKGEN_VECTOR_S8_H
#define DKGEN_VECTOR_S8_H

#include "dkgen_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Small vector moves of the int8 path. src and dst must not overlap. */
void dkgen_copy_s8(const int8_t *DKGEN_RESTRICT src, int8_t *DKGEN_RESTRICT dst, uint32_t n);
void dkgen_copy_s16(const int16_t *DKGEN_RESTRICT src, int16_t *DKGEN_RESTRICT dst, uint32_t n);
void dkgen_copy_s32(const int32_t *DKGEN_RESTRICT src, int32_t *DKGEN_RESTRICT dst, uint32_t n);
/* dst[i] = src[i], widened: an int16 bias into int32 gate accumulators. */
void dkgen_widen_s16_s32(const int16_t *DKGEN_RESTRICT src, int32_t *DKGEN_RESTRICT dst,
                         uint32_t n);
void dkgen_zero_s8(int8_t *dst, uint32_t n);

/* y[i] = max(x[i], 0), i < n: a ReLU layer (its output keeps the input's scale). */
void dkgen_relu_s8(const int8_t *x, int8_t *y, uint32_t n);
void dkgen_zero_s16(int16_t *dst, uint32_t n);
void dkgen_zero_s32(int32_t *dst, uint32_t n);

#ifdef __cplusplus
}
#endif

#endif /* DKGEN_VECTOR_S8_H */
