/*
 * dkgen runtime, float32: register-blocked products of small row-major matrices, shared
 * by the dense and Kronecker kernels. Header only (static inline), internal: generated
 * code never calls these directly.
 *
 * Why blocks: a Cortex-M FPU executes one multiply-accumulate per instruction but also
 * needs one instruction per float it loads (GCC does not merge neighbouring loads into
 * multi-register VLDMs). A dot product at a time loads two floats per MAC; a 4 x 4 block
 * of outputs loads 4 + 4 floats per 16 MACs and keeps its 16 sums in registers (FPv4/FPv5
 * have 32 single-precision registers). Each output is read and written once per block,
 * whatever the contraction length, which matters because Kronecker factors are short.
 *
 * Sums are formed in a different order than a plain loop (the caller's y first, then the
 * products in k order): float addition is not associative, so results differ from the
 * simple loops in the last bits, well inside the parity tolerance (docs: 1e-5).
 */
#ifndef DKGEN_GEMM_F32_H
#define DKGEN_GEMM_F32_H

#include "dkgen_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Four rows of P against four rows of Q ("NT": both read along k). */
static inline void dkgen_gemm_nt_4x4_f32(const float *p0, uint32_t ldp, const float *q0,
                                         uint32_t ldq, uint32_t K, float *c, uint32_t ldc,
                                         int accumulate)
{
    const float *p1 = p0 + ldp;
    const float *p2 = p1 + ldp;
    const float *p3 = p2 + ldp;
    const float *q1 = q0 + ldq;
    const float *q2 = q1 + ldq;
    const float *q3 = q2 + ldq;
    float *c1 = c + ldc;
    float *c2 = c1 + ldc;
    float *c3 = c2 + ldc;
    float s00 = 0.0f, s01 = 0.0f, s02 = 0.0f, s03 = 0.0f;
    float s10 = 0.0f, s11 = 0.0f, s12 = 0.0f, s13 = 0.0f;
    float s20 = 0.0f, s21 = 0.0f, s22 = 0.0f, s23 = 0.0f;
    float s30 = 0.0f, s31 = 0.0f, s32 = 0.0f, s33 = 0.0f;
    uint32_t k;

    if (accumulate) {
        /* Starting from y saves an add per output at the end. */
        s00 = c[0]; s01 = c[1]; s02 = c[2]; s03 = c[3];
        s10 = c1[0]; s11 = c1[1]; s12 = c1[2]; s13 = c1[3];
        s20 = c2[0]; s21 = c2[1]; s22 = c2[2]; s23 = c2[3];
        s30 = c3[0]; s31 = c3[1]; s32 = c3[2]; s33 = c3[3];
    }
    for (k = 0u; k < K; k++) {
        const float a0 = p0[k], a1 = p1[k], a2 = p2[k], a3 = p3[k];
        const float b0 = q0[k], b1 = q1[k], b2 = q2[k], b3 = q3[k];
        s00 = DKGEN_MACF(s00, a0, b0); s01 = DKGEN_MACF(s01, a0, b1);
        s02 = DKGEN_MACF(s02, a0, b2); s03 = DKGEN_MACF(s03, a0, b3);
        s10 = DKGEN_MACF(s10, a1, b0); s11 = DKGEN_MACF(s11, a1, b1);
        s12 = DKGEN_MACF(s12, a1, b2); s13 = DKGEN_MACF(s13, a1, b3);
        s20 = DKGEN_MACF(s20, a2, b0); s21 = DKGEN_MACF(s21, a2, b1);
        s22 = DKGEN_MACF(s22, a2, b2); s23 = DKGEN_MACF(s23, a2, b3);
        s30 = DKGEN_MACF(s30, a3, b0); s31 = DKGEN_MACF(s31, a3, b1);
        s32 = DKGEN_MACF(s32, a3, b2); s33 = DKGEN_MACF(s33, a3, b3);
    }
    c[0] = s00; c[1] = s01; c[2] = s02; c[3] = s03;
    c1[0] = s10; c1[1] = s11; c1[2] = s12; c1[3] = s13;
    c2[0] = s20; c2[1] = s21; c2[2] = s22; c2[3] = s23;
    c3[0] = s30; c3[1] = s31; c3[2] = s32; c3[3] = s33;
}

/* Four rows of P against one row of Q (a column of C). Not unrolled over k: each load is
 * then one post-incrementing VLDM, where an unrolled loop needs an add per pointer. */
static inline void dkgen_gemm_nt_4x1_f32(const float *p0, uint32_t ldp, const float *q,
                                         uint32_t K, float *c, uint32_t ldc, int accumulate)
{
    const float *p1 = p0 + ldp;
    const float *p2 = p1 + ldp;
    const float *p3 = p2 + ldp;
    float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
    uint32_t k;

    if (accumulate) {
        s0 = c[0]; s1 = c[ldc]; s2 = c[2u * ldc]; s3 = c[3u * ldc];
    }
    for (k = 0u; k < K; k++) {
        const float b = q[k];
        s0 = DKGEN_MACF(s0, p0[k], b); s1 = DKGEN_MACF(s1, p1[k], b);
        s2 = DKGEN_MACF(s2, p2[k], b); s3 = DKGEN_MACF(s3, p3[k], b);
    }
    c[0] = s0; c[ldc] = s1; c[2u * ldc] = s2; c[3u * ldc] = s3;
}

/* One row of P against four rows of Q. */
static inline void dkgen_gemm_nt_1x4_f32(const float *p, const float *q0, uint32_t ldq,
                                         uint32_t K, float *c, int accumulate)
{
    const float *q1 = q0 + ldq;
    const float *q2 = q1 + ldq;
    const float *q3 = q2 + ldq;
    float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
    uint32_t k;

    if (accumulate) {
        s0 = c[0]; s1 = c[1]; s2 = c[2]; s3 = c[3];
    }
    for (k = 0u; k < K; k++) {
        const float a = p[k];
        s0 = DKGEN_MACF(s0, a, q0[k]); s1 = DKGEN_MACF(s1, a, q1[k]);
        s2 = DKGEN_MACF(s2, a, q2[k]); s3 = DKGEN_MACF(s3, a, q3[k]);
    }
    c[0] = s0; c[1] = s1; c[2] = s2; c[3] = s3;
}

/* One dot product; two partial sums so that consecutive MACs do not wait on each other. */
static inline float dkgen_dot_f32(const float *p, const float *q, uint32_t K, float init)
{
    float s0 = init;
    float s1 = 0.0f;
    uint32_t k = 0u;

    for (; k + 2u <= K; k += 2u) {
        s0 = DKGEN_MACF(s0, p[k], q[k]);
        s1 = DKGEN_MACF(s1, p[k + 1u], q[k + 1u]);
    }
    if (k < K) {
        s0 = DKGEN_MACF(s0, p[k], q[k]);
    }
    return s0 + s1;
}

/*
 * C[m][n] = (accumulate ? C[m][n] : 0) + sum_{k<K} P[m][k] * Q[n][k]
 * for m < M, n < N: P is M rows of stride ldp, Q is N rows of stride ldq, C has row
 * stride ldc. C must not overlap P or Q.
 */
static inline void dkgen_gemm_nt_f32(const float *p, uint32_t ldp, const float *q, uint32_t ldq,
                                     uint32_t M, uint32_t N, uint32_t K, float *c, uint32_t ldc,
                                     int accumulate)
{
    uint32_t m = 0u;
    uint32_t n;

    for (; m + 4u <= M; m += 4u) {
        const float *pm = p + m * ldp;
        float *cm = c + m * ldc;
        for (n = 0u; n + 4u <= N; n += 4u) {
            dkgen_gemm_nt_4x4_f32(pm, ldp, q + n * ldq, ldq, K, cm + n, ldc, accumulate);
        }
        for (; n < N; n++) {
            dkgen_gemm_nt_4x1_f32(pm, ldp, q + n * ldq, K, cm + n, ldc, accumulate);
        }
    }
    for (; m < M; m++) {
        const float *pm = p + m * ldp;
        float *cm = c + m * ldc;
        for (n = 0u; n + 4u <= N; n += 4u) {
            dkgen_gemm_nt_1x4_f32(pm, q + n * ldq, ldq, K, cm + n, accumulate);
        }
        for (; n < N; n++) {
            cm[n] = dkgen_dot_f32(pm, q + n * ldq, K, accumulate ? cm[n] : 0.0f);
        }
    }
}

/* Four rows of P against four columns of Q ("NN": Q read down its columns). */
static inline void dkgen_gemm_nn_4x4_f32(const float *p0, uint32_t ldp, const float *q,
                                         uint32_t ldq, uint32_t K, float *c, uint32_t ldc,
                                         int accumulate)
{
    const float *p1 = p0 + ldp;
    const float *p2 = p1 + ldp;
    const float *p3 = p2 + ldp;
    float *c1 = c + ldc;
    float *c2 = c1 + ldc;
    float *c3 = c2 + ldc;
    float s00 = 0.0f, s01 = 0.0f, s02 = 0.0f, s03 = 0.0f;
    float s10 = 0.0f, s11 = 0.0f, s12 = 0.0f, s13 = 0.0f;
    float s20 = 0.0f, s21 = 0.0f, s22 = 0.0f, s23 = 0.0f;
    float s30 = 0.0f, s31 = 0.0f, s32 = 0.0f, s33 = 0.0f;
    uint32_t k;

    if (accumulate) {
        s00 = c[0]; s01 = c[1]; s02 = c[2]; s03 = c[3];
        s10 = c1[0]; s11 = c1[1]; s12 = c1[2]; s13 = c1[3];
        s20 = c2[0]; s21 = c2[1]; s22 = c2[2]; s23 = c2[3];
        s30 = c3[0]; s31 = c3[1]; s32 = c3[2]; s33 = c3[3];
    }
    for (k = 0u; k < K; k++) {
        const float a0 = p0[k], a1 = p1[k], a2 = p2[k], a3 = p3[k];
        const float b0 = q[0], b1 = q[1], b2 = q[2], b3 = q[3];
        s00 = DKGEN_MACF(s00, a0, b0); s01 = DKGEN_MACF(s01, a0, b1);
        s02 = DKGEN_MACF(s02, a0, b2); s03 = DKGEN_MACF(s03, a0, b3);
        s10 = DKGEN_MACF(s10, a1, b0); s11 = DKGEN_MACF(s11, a1, b1);
        s12 = DKGEN_MACF(s12, a1, b2); s13 = DKGEN_MACF(s13, a1, b3);
        s20 = DKGEN_MACF(s20, a2, b0); s21 = DKGEN_MACF(s21, a2, b1);
        s22 = DKGEN_MACF(s22, a2, b2); s23 = DKGEN_MACF(s23, a2, b3);
        s30 = DKGEN_MACF(s30, a3, b0); s31 = DKGEN_MACF(s31, a3, b1);
        s32 = DKGEN_MACF(s32, a3, b2); s33 = DKGEN_MACF(s33, a3, b3);
        q += ldq;
    }
    c[0] = s00; c[1] = s01; c[2] = s02; c[3] = s03;
    c1[0] = s10; c1[1] = s11; c1[2] = s12; c1[3] = s13;
    c2[0] = s20; c2[1] = s21; c2[2] = s22; c2[3] = s23;
    c3[0] = s30; c3[1] = s31; c3[2] = s32; c3[3] = s33;
}

/* Four rows of P against one column of Q. */
static inline void dkgen_gemm_nn_4x1_f32(const float *p0, uint32_t ldp, const float *q,
                                         uint32_t ldq, uint32_t K, float *c, uint32_t ldc,
                                         int accumulate)
{
    const float *p1 = p0 + ldp;
    const float *p2 = p1 + ldp;
    const float *p3 = p2 + ldp;
    float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
    uint32_t k;

    if (accumulate) {
        s0 = c[0]; s1 = c[ldc]; s2 = c[2u * ldc]; s3 = c[3u * ldc];
    }
    for (k = 0u; k < K; k++) {
        const float b = *q;
        s0 = DKGEN_MACF(s0, p0[k], b); s1 = DKGEN_MACF(s1, p1[k], b);
        s2 = DKGEN_MACF(s2, p2[k], b); s3 = DKGEN_MACF(s3, p3[k], b);
        q += ldq;
    }
    c[0] = s0; c[ldc] = s1; c[2u * ldc] = s2; c[3u * ldc] = s3;
}

/* One row of P against four columns of Q. */
static inline void dkgen_gemm_nn_1x4_f32(const float *p, const float *q, uint32_t ldq,
                                         uint32_t K, float *c, int accumulate)
{
    float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
    uint32_t k;

    if (accumulate) {
        s0 = c[0]; s1 = c[1]; s2 = c[2]; s3 = c[3];
    }
    for (k = 0u; k < K; k++) {
        const float a = p[k];
        s0 = DKGEN_MACF(s0, a, q[0]); s1 = DKGEN_MACF(s1, a, q[1]);
        s2 = DKGEN_MACF(s2, a, q[2]); s3 = DKGEN_MACF(s3, a, q[3]);
        q += ldq;
    }
    c[0] = s0; c[1] = s1; c[2] = s2; c[3] = s3;
}

/*
 * C[m][n] = (accumulate ? C[m][n] : 0) + sum_{k<K} P[m][k] * Q[k][n] for m < M, n < N:
 * P is M rows of stride ldp, Q is K rows of stride ldq, C has row stride ldc. C must not
 * overlap P or Q.
 */
static inline void dkgen_gemm_nn_f32(const float *p, uint32_t ldp, const float *q, uint32_t ldq,
                                     uint32_t M, uint32_t N, uint32_t K, float *c, uint32_t ldc,
                                     int accumulate)
{
    uint32_t m = 0u;
    uint32_t n;
    uint32_t k;

    for (; m + 4u <= M; m += 4u) {
        const float *pm = p + m * ldp;
        float *cm = c + m * ldc;
        for (n = 0u; n + 4u <= N; n += 4u) {
            dkgen_gemm_nn_4x4_f32(pm, ldp, q + n, ldq, K, cm + n, ldc, accumulate);
        }
        for (; n < N; n++) {
            dkgen_gemm_nn_4x1_f32(pm, ldp, q + n, ldq, K, cm + n, ldc, accumulate);
        }
    }
    for (; m < M; m++) {
        const float *pm = p + m * ldp;
        float *cm = c + m * ldc;
        for (n = 0u; n + 4u <= N; n += 4u) {
            dkgen_gemm_nn_1x4_f32(pm, q + n, ldq, K, cm + n, accumulate);
        }
        for (; n < N; n++) {
            const float *qn = q + n;
            float s = accumulate ? cm[n] : 0.0f;
            for (k = 0u; k < K; k++) {
                s = DKGEN_MACF(s, pm[k], *qn);
                qn += ldq;
            }
            cm[n] = s;
        }
    }
}

#ifdef __cplusplus
}
#endif

#endif /* DKGEN_GEMM_F32_H */
