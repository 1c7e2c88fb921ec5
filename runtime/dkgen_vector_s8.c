#include "dkgen_vector_s8.h"

/* Helium: the moves a step makes over its gate sums (widen the bias, clear the
 * accumulators) four int32 lanes per instruction. */
#if defined(__ARM_FEATURE_MVE) && ((__ARM_FEATURE_MVE & 1) != 0) && !defined(DKGEN_PORTABLE) && \
    !defined(DKGEN_NO_MVE)
#include <arm_mve.h>
#define DKGEN_VECTOR_MVE 1
#endif

void dkgen_copy_s8(const int8_t *DKGEN_RESTRICT src, int8_t *DKGEN_RESTRICT dst, uint32_t n)
{
    uint32_t i;
    for (i = 0u; i < n; i++) {
        dst[i] = src[i];
    }
}

void dkgen_copy_s16(const int16_t *DKGEN_RESTRICT src, int16_t *DKGEN_RESTRICT dst, uint32_t n)
{
    uint32_t i;
    for (i = 0u; i < n; i++) {
        dst[i] = src[i];
    }
}

void dkgen_copy_s32(const int32_t *DKGEN_RESTRICT src, int32_t *DKGEN_RESTRICT dst, uint32_t n)
{
    uint32_t i;
    for (i = 0u; i < n; i++) {
        dst[i] = src[i];
    }
}

void dkgen_widen_s16_s32(const int16_t *DKGEN_RESTRICT src, int32_t *DKGEN_RESTRICT dst,
                         uint32_t n)
{
    uint32_t i = 0u;
#if defined(DKGEN_VECTOR_MVE)
    for (; i + 4u <= n; i += 4u) {
        vst1q_s32(&dst[i], vldrhq_s32(&src[i])); /* VLDRH.S32 sign-extends */
    }
#endif
    for (; i < n; i++) {
        dst[i] = (int32_t)src[i];
    }
}

void dkgen_zero_s8(int8_t *dst, uint32_t n)
{
    uint32_t i;
    for (i = 0u; i < n; i++) {
        dst[i] = 0;
    }
}

void dkgen_relu_s8(const int8_t *x, int8_t *y, uint32_t n)
{
    uint32_t i;
    for (i = 0u; i < n; i++) {
        y[i] = (x[i] < 0) ? (int8_t)0 : x[i];
    }
}

void dkgen_zero_s16(int16_t *dst, uint32_t n)
{
    uint32_t i;
    for (i = 0u; i < n; i++) {
        dst[i] = 0;
    }
}

void dkgen_zero_s32(int32_t *dst, uint32_t n)
{
    uint32_t i = 0u;
#if defined(DKGEN_VECTOR_MVE)
    for (; i + 4u <= n; i += 4u) {
        vst1q_s32(&dst[i], vdupq_n_s32(0));
    }
#endif
    for (; i < n; i++) {
        dst[i] = 0;
    }
}
