#ifndef DKGEN_AFFINE_S8_H
#define DKGEN_AFFINE_S8_H

#include "dkgen_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * An int8 affine layer, y = x * mul + add per feature: for i < n,
 *   y[i] = sat8(requantize(bias[i] + sign[i] * x[i]; mult[i], shift[i]))
 * mult[i] * 2^-shift[i] = |mul[i]| * in_scale / out_scale (a Q31 mantissa, shift in
 * [1, 62]), sign[i] = +1 or -1, bias[i] = add[i] / (|mul[i]| * in_scale) rounded half up
 * (|bias[i]| <= 2^31 - 129). dkgen.quant.reference.affine_q is the same in numpy.
 */
typedef struct {
    const int32_t *mult;
    const int8_t *shift;
    const int8_t *sign;
    const int32_t *bias;
    uint16_t n;
} dkgen_affine_s8_t;

/* x and y may be the same buffer. */
void dkgen_affine_s8(const dkgen_affine_s8_t *p, const int8_t *x, int8_t *y);

#ifdef __cplusplus
}
#endif

#endif /* DKGEN_AFFINE_S8_H */
