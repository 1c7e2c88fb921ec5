#include "dkgen_convert_s8.h"

void dkgen_quantize_f32_s8(const float *DKGEN_RESTRICT x, uint32_t n, float inv_scale,
                           int8_t *DKGEN_RESTRICT q)
{
    uint32_t i;
    for (i = 0u; i < n; i++) {
        /* One statement per float operation: nothing a compiler may fuse. */
        const float v = x[i] * inv_scale;
        int32_t r;
        if (v >= 127.0f) {
            r = 127;
        } else if (v <= -128.0f) {
            r = -128;
        } else if (v != v) {
            r = 0;
        } else {
            const int32_t t = (int32_t)v;
            const float rem = v - (float)t;
            r = t;
            if (v >= 0.0f) {
                if (rem >= 0.5f) {
                    r = t + 1;
                }
            } else if (rem < -0.5f) {
                r = t - 1;
            }
        }
        q[i] = (int8_t)r;
    }
}

void dkgen_dequantize_s8_f32(const int8_t *DKGEN_RESTRICT q, uint32_t n, float scale,
                             float *DKGEN_RESTRICT y)
{
    uint32_t i;
    for (i = 0u; i < n; i++) {
        y[i] = (float)q[i] * scale;
    }
}

void dkgen_dequantize_s16_f32(const int16_t *DKGEN_RESTRICT q, uint32_t n, float scale,
                              float *DKGEN_RESTRICT y)
{
    uint32_t i;
    for (i = 0u; i < n; i++) {
        y[i] = (float)q[i] * scale;
    }
}
