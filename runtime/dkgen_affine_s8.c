#include "dkgen_affine_s8.h"

#include "dkgen_qmath_s32.h"

void dkgen_affine_s8(const dkgen_affine_s8_t *p, const int8_t *x, int8_t *y)
{
    const uint32_t n = p->n;
    uint32_t i;

    for (i = 0u; i < n; i++) {
        const int32_t acc = p->bias[i] + (int32_t)p->sign[i] * (int32_t)x[i];
        const int32_t v = dkgen_requantize_sat_s32(acc, p->mult[i], p->shift[i]);
        y[i] = (int8_t)dkgen_clamp_s32(v, INT8_MIN, INT8_MAX);
    }
}
