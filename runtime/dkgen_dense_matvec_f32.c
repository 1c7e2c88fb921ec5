#include "dkgen_dense_matvec_f32.h"

void dkgen_dense_matvec_f32(const float *DKGEN_RESTRICT w, uint32_t rows, uint32_t cols,
                            const float *DKGEN_RESTRICT x, float *DKGEN_RESTRICT y)
{
    const float *row = w;
    uint32_t used_cols = cols;
    uint32_t r;

#ifdef DKGEN_TEST_WRONG_KERNEL
    used_cols = (cols > 0u) ? cols - 1u : 0u; /* test-only: drop the last column */
#endif

    for (r = 0u; r < rows; r++) {
        /* A register accumulator keeps y to one load and one store per row, which
         * matters on cores without a data cache, and adds W x to y in one rounding. */
        float acc = 0.0f;
        uint32_t c;
        for (c = 0u; c < used_cols; c++) {
            acc += row[c] * x[c];
        }
        y[r] += acc;
        row += cols;
    }
}
