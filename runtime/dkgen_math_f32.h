/*
 * dkgen runtime, float32: e^x, sigmoid and tanh without libm (and a vector's maximum),
 * as static inline functions so that the recurrent cells (five of these per hidden unit
 * per step, most of a cell's cost) inline them instead of calling; dkgen_activation_f32.c
 * wraps the same code for the public dkgen_sigmoid_f32 / dkgen_tanh_f32. Internal:
 * generated code never calls these directly.
 *
 * Accuracy: relative error below 5e-7 everywhere (the parity tolerance is 1e-5), from
 * minimax polynomials whose coefficients were fitted for relative error (Lawson's
 * iteration) and checked in float32 arithmetic. Polynomials are evaluated with
 * DKGEN_MACF: one VFMA per coefficient on an FPU with fused multiply-add.
 */
#ifndef DKGEN_MATH_F32_H
#define DKGEN_MATH_F32_H

#include <float.h>
#include <math.h>
#include <string.h>

#include "dkgen_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* DKGEN_INLINE: the cells call tanh twice per unit, and GCC would otherwise keep it out
 * of line. */
/* e^x for x <= 0 (NaN in, NaN out; 0 below -87, where e^x is no longer a normal float).
 * x = k ln2 + r with |r| <= ln2/2; e^r by a degree-5 minimax polynomial (relative error
 * 9e-8, 1.5e-7 in float32); 2^k built in the exponent field. ln2 is split in two so that
 * k * ln2_hi is exact.
 * k is rounded by adding 1.5 * 2^23: the sum's ulp is 1, so the float addition itself
 * rounds x * log2(e) to the nearest integer, subtracting it again gives k as a float, and
 * k sits in the sum's low mantissa bits, so (bits + 127) << 23 is the exponent field of
 * 2^k (the sum's upper bits shift out). No float <-> int conversions: two fewer
 * instructions on an FPU, two fewer library calls in soft float. This needs float
 * expressions evaluated in float (FLT_EVAL_METHOD 0); elsewhere k is converted. */
DKGEN_INLINE float dkgen_exp_nonpositive_f32(float x)
{
    const float log2e = 1.44269504f;
    const float neg_ln2_hi = -0.693145751953125f;
    const float neg_ln2_lo = -1.42860677e-06f;
    float kf;
    float r;
    float p;
    float scale;
    uint32_t bits;

    if (!(x > -87.0f)) {
        return (x != x) ? x : 0.0f; /* NaN stays NaN; -inf and the underflow range give 0 */
    }
#if defined(FLT_EVAL_METHOD) && FLT_EVAL_METHOD == 0
    {
        const float shifter = 12582912.0f; /* 1.5 * 2^23 */
        const float t = DKGEN_MACF(shifter, x, log2e);
        kf = t - shifter;
        memcpy(&bits, &t, sizeof bits);
        bits = (bits + 127u) << 23;
    }
#else
    {
        /* Truncation toward zero of a non-positive t - 1/2 rounds t to nearest. */
        const int32_t k = (int32_t)(x * log2e - 0.5f);
        kf = (float)k;
        bits = (uint32_t)(k + 127) << 23;
    }
#endif
    r = DKGEN_MACF(DKGEN_MACF(x, kf, neg_ln2_hi), kf, neg_ln2_lo);
    p = DKGEN_MACF(4.189792931e-02f, r, 8.290314686e-03f);
    p = DKGEN_MACF(1.666763620e-01f, r, p);
    p = DKGEN_MACF(4.999914953e-01f, r, p);
    p = DKGEN_MACF(9.999997072e-01f, r, p);
    p = DKGEN_MACF(1.0f, r, p);
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* 1 / (1 + e^-x) for any x, including +-inf, without overflow: with e = e^-|x| <= 1,
 * s = 1 / (1 + e) is the answer for x >= 0 and e * s for x < 0, which keeps full
 * relative precision far into the negative tail (it is never formed as 1 - something). */
DKGEN_INLINE float dkgen_sigmoid_inline_f32(float x)
{
    const float e = dkgen_exp_nonpositive_f32(-fabsf(x));
    const float s = 1.0f / (1.0f + e);
    return (x < 0.0f) ? e * s : s;
}

/* tanh(x). For |x| < 0.35, an odd minimax polynomial (relative error 1e-7 in float32),
 * which stays accurate relative to the result near 0; above, (1 - e) / (1 + e) with
 * e = e^(-2|x|) <= 0.5, where the subtraction no longer cancels. Never overflows. */
DKGEN_INLINE float dkgen_tanh_inline_f32(float x)
{
    const float a = fabsf(x);
    float t;

    if (a < 0.35f) {
        const float a2 = a * a;
        const float q = DKGEN_MACF(1.329982539e-01f, a2, -4.914850237e-02f);
        t = DKGEN_MACF(a, a * a2, DKGEN_MACF(-3.333266316e-01f, a2, q));
    } else {
        const float e = dkgen_exp_nonpositive_f32(-2.0f * a); /* NaN stays NaN */
        t = (1.0f - e) / (1.0f + e);
    }
    return x < 0.0f ? -t : t;
}

/* The largest of x[0..n-1], n >= 1 (a NaN is never chosen unless x[0] is one): what the
 * softmax and the log-softmax subtract so that no exponent is positive. */
static inline float dkgen_max_f32(const float *x, uint32_t n)
{
    float max_val = x[0];
    uint32_t i;

    for (i = 1u; i < n; i++) {
        if (x[i] > max_val) {
            max_val = x[i];
        }
    }
    return max_val;
}

#ifdef __cplusplus
}
#endif

#endif /* DKGEN_MATH_F32_H */
