#include "dkgen_gru_cell_f32.h"

/* Inline activations: a call per activation would add a tenth to the cell. */
#include "dkgen_math_f32.h"

void dkgen_gru_cell_f32(uint32_t hidden, const float *DKGEN_RESTRICT gx,
                        const float *DKGEN_RESTRICT gh, float *DKGEN_RESTRICT h)
{
    const float *gx_z = gx;
    const float *gx_r = gx + hidden;
    const float *gx_h = gx + 2u * hidden;
    const float *gh_z = gh;
    const float *gh_r = gh + hidden;
    const float *gh_h = gh + 2u * hidden;
    uint32_t j;

    for (j = 0u; j < hidden; j++) {
        const float z = dkgen_sigmoid_inline_f32(gx_z[j] + gh_z[j]);
        const float r = dkgen_sigmoid_inline_f32(gx_r[j] + gh_r[j]);
        const float n = dkgen_tanh_inline_f32(gx_h[j] + r * gh_h[j]);
        h[j] = (1.0f - z) * n + z * h[j];
    }
}
