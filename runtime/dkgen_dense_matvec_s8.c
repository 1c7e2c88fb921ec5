#include "dkgen_dense_matvec_s8.h"

#include "dkgen_dot_s8.h"

void dkgen_dense_matvec_s8(const int8_t *w, uint32_t rows, uint32_t cols,
                           const int8_t *DKGEN_RESTRICT x, int32_t *DKGEN_RESTRICT acc)
{
    uint32_t r = 0u;
    uint32_t kcols = cols;

#ifdef DKGEN_TEST_WRONG_KERNEL
    kcols = (cols > 0u) ? cols - 1u : 0u; /* test-only: drop the last column of W */
#endif
    /* Two rows at a time: x is loaded (and, for SIMD32, sign-extended) once for both. */
    for (; r + 2u <= rows; r += 2u) {
        dkgen_dot2_s8(x, w, w + cols, kcols, &acc[r]);
        w += 2u * cols;
    }
    if (r < rows) {
        acc[r] += dkgen_dot_s8(w, x, kcols);
    }
}
