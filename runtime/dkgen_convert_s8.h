#ifndef DKGEN_CONVERT_S8_H
#define DKGEN_CONVERT_S8_H

#include "dkgen_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The float boundary of an int8 model, in operations numpy repeats exactly
 * (one float32 multiplication each; no libm, no fused multiply-add):
 *
 * q[i] = sat8(floor(x[i] * inv_scale + 1/2)); NaN gives 0. The rounding is exact:
 * with v = x * inv_scale and t = (int32_t)v, the remainder v - t is exact.
 */
void dkgen_quantize_f32_s8(const float *DKGEN_RESTRICT x, uint32_t n, float inv_scale,
                           int8_t *DKGEN_RESTRICT q);

/* y[i] = (float)q[i] * scale. */
void dkgen_dequantize_s8_f32(const int8_t *DKGEN_RESTRICT q, uint32_t n, float scale,
                             float *DKGEN_RESTRICT y);

/* y[i] = (float)q[i] * scale. */
void dkgen_dequantize_s16_f32(const int16_t *DKGEN_RESTRICT q, uint32_t n, float scale,
                              float *DKGEN_RESTRICT y);

#ifdef __cplusplus
}
#endif

#endif /* DKGEN_CONVERT_S8_H */
