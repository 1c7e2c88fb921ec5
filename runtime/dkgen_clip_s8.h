#ifndef DKGEN_CLIP_S8_H
#define DKGEN_CLIP_S8_H

#include "dkgen_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * y[i] = min(max(x[i], lo), hi), i < n: an ONNX Clip layer (ReLU6, Hardtanh) on int8. The
 * output keeps the input's scale; lo and hi are the float bounds in it, saturated to int8
 * (dkgen.quant.quantize). x and y may be the same buffer.
 */
void dkgen_clip_s8(const int8_t *x, int8_t *y, uint32_t n, int8_t lo, int8_t hi);

#ifdef __cplusplus
}
#endif

#endif /* DKGEN_CLIP_S8_H */
