#include "dkgen_activation_f32.h"

#include <string.h>

/* e^x for x <= 0, without libm.  The recurrent cells call this five times per hidden
 * unit per step, where newlib's expf/tanhf dominated the step's instruction count; this
 * costs about a tenth, with a relative error below 4e-7 (the parity tolerance is 1e-5).
 * x = k ln2 + r, |r| <= ln2/2; e^r by its Taylor polynomial to degree 7 (truncation
 * error < 5e-9); 2^k built in the exponent field.  ln2 is split so k * ln2_hi is exact. */
static float exp_nonpositive(float x)
{
    const float log2e = 1.44269504f;
    const float ln2_hi = 0.693145751953125f;
    const float ln2_lo = 1.42860677e-06f;
    float r;
    float p;
    float scale;
    int32_t k;
    uint32_t bits;

    if (x != x) {
        return x; /* NaN in, NaN out */
    }
    if (!(x > -87.0f)) {
        return 0.0f; /* below the smallest normal result, and -inf */
    }
    /* Truncation toward zero of a non-positive t - 1/2 rounds t to nearest. */
    k = (int32_t)(x * log2e - 0.5f);
    r = (x - (float)k * ln2_hi) - (float)k * ln2_lo;
    p = 1.0f + r * (1.0f + r * (0.5f + r * (0.166666672f + r * (0.0416666679f
        + r * (0.00833333377f + r * (0.00138888892f + r * 0.000198412701f))))));
    bits = (uint32_t)(k + 127) << 23;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* e^y - 1 for y <= 0, accurate relative to the result near 0 (tanh of small x). */
static float expm1_nonpositive(float y)
{
    if (y > -0.35f) {
        /* Taylor to degree 8: truncation error < 3e-10 for |y| <= 0.35. */
        return y * (1.0f + y * (0.5f + y * (0.166666672f + y * (0.0416666679f + y * (0.00833333377f
            + y * (0.00138888892f + y * (0.000198412701f + y * 2.48015876e-05f)))))));
    }
    return exp_nonpositive(y) - 1.0f;
}

float dkgen_sigmoid_f32(float x)
{
    /* Branch on the sign so the exponential only ever sees a non-positive argument: no
     * overflow, and for x < 0 the result e^x / (1 + e^x) is not formed as
     * 1 - something, which would cancel. */
    if (x >= 0.0f) {
        return 1.0f / (1.0f + exp_nonpositive(-x));
    } else {
        const float e = exp_nonpositive(x);
        return e / (1.0f + e);
    }
}

float dkgen_tanh_f32(float x)
{
    /* tanh|x| = -m / (m + 2) with m = e^(-2|x|) - 1, which never overflows. */
    const float a = x < 0.0f ? -x : x;
    const float m = expm1_nonpositive(-2.0f * a);
    const float t = -m / (m + 2.0f);
    if (x != x) {
        return x;
    }
    return x < 0.0f ? -t : t;
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
        const float e = exp_nonpositive(x[i] - max_val);
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
