#include "dkgen_activation_vec_f32.h"

#include "dkgen_math_f32.h"

void dkgen_relu_vec_f32(const float *x, float *y, uint32_t n)
{
    uint32_t i;

    for (i = 0u; i < n; i++) {
        /* Written so that a NaN stays NaN, as max(x, 0) in the reference. */
        y[i] = (x[i] < 0.0f) ? 0.0f : x[i];
    }
}

void dkgen_tanh_vec_f32(const float *x, float *y, uint32_t n)
{
    uint32_t i;

    for (i = 0u; i < n; i++) {
        y[i] = dkgen_tanh_inline_f32(x[i]);
    }
}

void dkgen_sigmoid_vec_f32(const float *x, float *y, uint32_t n)
{
    uint32_t i;

    for (i = 0u; i < n; i++) {
        y[i] = dkgen_sigmoid_inline_f32(x[i]);
    }
}

void dkgen_clip_vec_f32(const float *x, float *y, uint32_t n, float lo, float hi)
{
    uint32_t i;

    for (i = 0u; i < n; i++) {
        /* Comparisons, not fminf/fmaxf: those would turn a NaN into a bound, where the
         * reference's np.clip keeps it. */
        y[i] = (x[i] < lo) ? lo : ((x[i] > hi) ? hi : x[i]);
    }
}

void dkgen_leaky_relu_vec_f32(const float *x, float *y, uint32_t n, float alpha)
{
    uint32_t i;

    for (i = 0u; i < n; i++) {
        y[i] = (x[i] < 0.0f) ? alpha * x[i] : x[i];
    }
}
