#include "dkgen_gru_reset_f32.h"

#include "dkgen_math_f32.h"

void dkgen_gru_reset_f32(uint32_t hidden, float *DKGEN_RESTRICT gx,
                         const float *DKGEN_RESTRICT gh, const float *DKGEN_RESTRICT h)
{
    float *z = gx;
    float *rh = gx + hidden;
    uint32_t j;

    for (j = 0u; j < hidden; j++) {
        z[j] = dkgen_sigmoid_inline_f32(z[j] + gh[j]);
        rh[j] = dkgen_sigmoid_inline_f32(rh[j] + gh[hidden + j]) * h[j];
    }
}
