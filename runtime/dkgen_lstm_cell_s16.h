#ifndef DKGEN_LSTM_CELL_S16_H
#define DKGEN_LSTM_CELL_S16_H

#include "dkgen_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Parameters of an int8 LSTM layer's pointwise step. The cell state is int16 with
 * cell_frac fraction bits (real = c / 2^cell_frac); h = o * tanh(c), a Q0.30
 * product, is requantised to the layer's int8 output by h_mult * 2^-h_shift.
 */
typedef struct {
    int32_t h_mult;
    uint16_t hidden;
    int8_t h_shift;
    uint8_t cell_frac; /* 0..15 */
} dkgen_lstm_s16_t;

/*
 * One pointwise LSTM step from the 4*hidden gate pre-activations (int32 in Q3.12
 * units, saturated here to int16; ONNX gate order i, o, f, c):
 *   i, o, f = sigmoid, g = tanh (Q0.15);  c = sat16(f*c >> 15 + i*g >> (30 - cell_frac))
 *   h = sat8(requantize(o * tanh(c in Q3.12)))     (every >> rounds half up)
 * c (int16) and h (int8) are updated in place; gates must not overlap them.
 */
void dkgen_lstm_cell_s16(const dkgen_lstm_s16_t *p, const int32_t *DKGEN_RESTRICT gates,
                         int16_t *DKGEN_RESTRICT c, int8_t *DKGEN_RESTRICT h);

#ifdef __cplusplus
}
#endif

#endif /* DKGEN_LSTM_CELL_S16_H */
