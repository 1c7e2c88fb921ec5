#include "dkgen_gru_update_f32.h"

#include "dkgen_math_f32.h"

void dkgen_gru_update_f32(uint32_t hidden, const float *DKGEN_RESTRICT gx,
                          const float *DKGEN_RESTRICT gh, float *DKGEN_RESTRICT h)
{
    const float *z = gx;
    const float *gx_h = gx + 2u * hidden;
    const float *gh_h = gh + 2u * hidden;
    uint32_t j;

    for (j = 0u; j < hidden; j++) {
        const float n = dkgen_tanh_inline_f32(gx_h[j] + gh_h[j]);
        h[j] = (1.0f - z[j]) * n + z[j] * h[j];
    }
}
