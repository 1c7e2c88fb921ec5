#include "dkgen_dense_matvec_s8s16.h"

#include "dkgen_dot_s8.h"

void dkgen_dense_matvec_s8s16(const int8_t *w, uint32_t rows, uint32_t cols,
                              const int16_t *DKGEN_RESTRICT t, int32_t *DKGEN_RESTRICT acc)
{
    uint32_t r;
    for (r = 0u; r < rows; r++) {
        acc[r] += dkgen_dot_s8s16(w, t, cols);
        w += cols;
    }
}
