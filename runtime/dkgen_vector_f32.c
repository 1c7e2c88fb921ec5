#include "dkgen_vector_f32.h"

/* Plain loops over floats rather than memcpy/memset on bytes: the element count
 * is what callers have, and at -O2 the compiler substitutes the library routine
 * where it pays (so the objects may reference memcpy/memset). */

void dkgen_copy_f32(const float *src, float *dst, uint32_t n)
{
    uint32_t i;
    for (i = 0u; i < n; i++) {
        dst[i] = src[i];
    }
}

void dkgen_add_f32(const float *a, float *y, uint32_t n)
{
    uint32_t i;
    for (i = 0u; i < n; i++) {
        y[i] += a[i];
    }
}

void dkgen_zero_f32(float *y, uint32_t n)
{
    uint32_t i;
    for (i = 0u; i < n; i++) {
        y[i] = 0.0f;
    }
}
