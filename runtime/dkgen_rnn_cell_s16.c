#include "dkgen_rnn_cell_s16.h"

#include "dkgen_activation_s16.h"
#include "dkgen_qmath_s32.h"

/* tanh a block of units at a time through the array form (table gathers on Helium),
 * from a stack buffer small enough for any part. */
#define DKGEN_RNN_BLOCK 16u

void dkgen_rnn_cell_s16(const dkgen_rnn_s16_t *p, const int32_t *DKGEN_RESTRICT gates,
                        int8_t *DKGEN_RESTRICT h)
{
    const uint32_t hidden = p->hidden;
    /* Read once: the stores to h could otherwise alias p for the compiler. */
    const int32_t h_mult = p->h_mult;
    const int32_t h_shift = p->h_shift;
    int16_t th[DKGEN_RNN_BLOCK];
    uint32_t j0, k;

    for (j0 = 0u; j0 < hidden; j0 += DKGEN_RNN_BLOCK) {
        const uint32_t n = (hidden - j0 < DKGEN_RNN_BLOCK) ? hidden - j0 : DKGEN_RNN_BLOCK;
        dkgen_tanh_s16_array(gates + j0, th, n);
        for (k = 0u; k < n; k++) {
            h[j0 + k] = dkgen_sat64_s8(dkgen_requantize_s64(th[k], h_mult, h_shift));
        }
    }
}
