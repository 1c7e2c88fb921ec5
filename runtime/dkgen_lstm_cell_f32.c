#include "dkgen_lstm_cell_f32.h"

/* Inline activations: a call per activation would add a tenth to the cell. */
#include "dkgen_math_f32.h"

void dkgen_lstm_cell_f32(uint32_t hidden, const float *DKGEN_RESTRICT gates,
                         float *DKGEN_RESTRICT h, float *DKGEN_RESTRICT c)
{
    const float *g_i = gates;
    const float *g_o = gates + hidden;
    const float *g_f = gates + 2u * hidden;
    const float *g_c = gates + 3u * hidden;
    uint32_t j;

    for (j = 0u; j < hidden; j++) {
        const float i_t = dkgen_sigmoid_inline_f32(g_i[j]);
        const float o_t = dkgen_sigmoid_inline_f32(g_o[j]);
        const float f_t = dkgen_sigmoid_inline_f32(g_f[j]);
        const float c_tilde = dkgen_tanh_inline_f32(g_c[j]);
        const float c_new = f_t * c[j] + i_t * c_tilde;
        c[j] = c_new;
        h[j] = o_t * dkgen_tanh_inline_f32(c_new);
    }
}
