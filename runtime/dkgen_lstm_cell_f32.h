#ifndef DKGEN_LSTM_CELL_F32_H
#define DKGEN_LSTM_CELL_F32_H

#include "dkgen_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The pointwise half of one LSTM timestep; the matrix-vector products that
 * produce `gates` are done beforehand by the dense / Kronecker / CSR kernels.
 *
 * gates: 4*hidden pre-activations W x + R h + Wb + Rb, in ONNX gate order
 * i, o, f, c (blocks of `hidden`). Then, for each j < hidden:
 *   i = sigmoid(g_i), o = sigmoid(g_o), f = sigmoid(g_f), c~ = tanh(g_c)
 *   c = f*c + i*c~,   h = o*tanh(c)
 * h and c are updated in place and must not overlap each other or gates.
 */
void dkgen_lstm_cell_f32(uint32_t hidden, const float *DKGEN_RESTRICT gates,
                         float *DKGEN_RESTRICT h, float *DKGEN_RESTRICT c);

#ifdef __cplusplus
}
#endif

#endif /* DKGEN_LSTM_CELL_F32_H */
