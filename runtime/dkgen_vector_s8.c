#include "dkgen_vector_s8.h"

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
    uint32_t i;
    for (i = 0u; i < n; i++) {
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

void dkgen_zero_s16(int16_t *dst, uint32_t n)
{
    uint32_t i;
    for (i = 0u; i < n; i++) {
        dst[i] = 0;
    }
}

void dkgen_zero_s32(int32_t *dst, uint32_t n)
{
    uint32_t i;
    for (i = 0u; i < n; i++) {
        dst[i] = 0;
    }
}
