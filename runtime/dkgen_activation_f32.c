#include "dkgen_activation_f32.h"

#include <math.h>

float dkgen_sigmoid_f32(float x)
{
    /* Branch on the sign so expf only ever sees a non-positive argument: no
     * overflow, and for x < 0 the result e^x / (1 + e^x) is not formed as
     * 1 - something, which would cancel. */
    if (x >= 0.0f) {
        return 1.0f / (1.0f + expf(-x));
    } else {
        const float e = expf(x);
        return e / (1.0f + e);
    }
}

float dkgen_tanh_f32(float x)
{
    return tanhf(x);
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
    max_val = x[0];
    for (i = 1u; i < n; i++) {
        if (x[i] > max_val) {
            max_val = x[i];
        }
    }
    /* Each y[i] depends only on x[i] once the maximum is known, so y may be x. */
    for (i = 0u; i < n; i++) {
        const float e = expf(x[i] - max_val);
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
