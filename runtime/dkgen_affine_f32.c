#include "dkgen_affine_f32.h"

void dkgen_affine_f32(const float *x, float *y, uint32_t n, const float *mul, const float *add)
{
    uint32_t i;

    for (i = 0u; i < n; i++) {
        y[i] = x[i] * mul[i] + add[i];
    }
}
