#ifndef DKGEN_RNN_CELL_S16_H
#define DKGEN_RNN_CELL_S16_H

#include "dkgen_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Parameters of an int8 RNN (Elman, tanh) layer's pointwise step: tanh of the gate sum is
 * Q0.15, requantised to the layer's int8 output by h_mult * 2^-h_shift.
 */
typedef struct {
    int32_t h_mult;
    uint16_t hidden;
    int8_t h_shift;
} dkgen_rnn_s16_t;

/*
 * One pointwise RNN step from the hidden pre-activations W x + R h + b (int32 in Q3.12
 * units, saturated here to int16):
 *   h = sat8(requantize(tanh(g)))      tanh in Q0.15 (dkgen_tanh_s16), >> rounds half up
 * h (int8) is written in place; gates must not overlap it. dkgen.quant.reference.rnn_cell_q
 * is the same in numpy.
 */
void dkgen_rnn_cell_s16(const dkgen_rnn_s16_t *p, const int32_t *DKGEN_RESTRICT gates,
                        int8_t *DKGEN_RESTRICT h);

#ifdef __cplusplus
}
#endif

#endif /* DKGEN_RNN_CELL_S16_H */
