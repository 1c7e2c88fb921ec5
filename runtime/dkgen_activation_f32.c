#include "dkgen_activation_f32.h"

#include "dkgen_math_f32.h"

/* The arithmetic lives in dkgen_math_f32.h, shared with the recurrent cells, which
 * inline it: newlib's expf/tanhf cost about ten times as much on a Cortex-M. */

float dkgen_sigmoid_f32(float x)
{
    return dkgen_sigmoid_inline_f32(x);
}

float dkgen_tanh_f32(float x)
{
    return dkgen_tanh_inline_f32(x);
}

void dkgen_softmax_f32(const float *x, float *y, uint32_t n)
{
    float max_val;
    float sum = 0.0f;
    float inv;
    uint32_t i;

    if (n == 0u) {
        return;
    }
    max_val = dkgen_max_f32(x, n);
    /* Each y[i] depends only on x[i] once the maximum is known, so y may be x. */
    for (i = 0u; i < n; i++) {
        const float e = dkgen_exp_nonpositive_f32(x[i] - max_val);
        y[i] = e;
        sum += e;
    }
    /* sum >= 1 (the maximum contributes e^0); one division, n multiplications,
     * because division is slow in software floating point (Cortex-M0). */
    inv = 1.0f / sum;
    for (i = 0u; i < n; i++) {
        y[i] *= inv;
    }
}

uint32_t dkgen_argmax_f32(const float *x, uint32_t n)
{
    uint32_t best = 0u;
    uint32_t i;

    for (i = 1u; i < n; i++) {
        /* Strictly greater, so the first of equal maxima is kept. */
        if (x[i] > x[best]) {
            best = i;
        }
    }
    return best;
}
