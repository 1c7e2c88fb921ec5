#include "dkgen_clip_s8.h"

void dkgen_clip_s8(const int8_t *x, int8_t *y, uint32_t n, int8_t lo, int8_t hi)
{
    uint32_t i;
    for (i = 0u; i < n; i++) {
        y[i] = (x[i] < lo) ? lo : ((x[i] > hi) ? hi : x[i]);
    }
}
