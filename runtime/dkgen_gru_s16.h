#ifndef DKGEN_GRU_S16_H
#define DKGEN_GRU_S16_H

#include "dkgen_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Parameters of an int8 GRU layer's pointwise step, either form of linear_before_reset:
 * (1 - z) * n, a Q0.30 product, is requantised to the layer's int8 output units by
 * n_mult * 2^-n_shift.
 */
typedef struct {
    int32_t n_mult;
    uint16_t hidden;
    int8_t n_shift;
} dkgen_gru_s16_t;

#ifdef __cplusplus
}
#endif

#endif /* DKGEN_GRU_S16_H */
