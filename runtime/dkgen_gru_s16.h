#ifndef DKGEN_GRU_S16_H
#define DKGEN_GRU_S16_H

#include "dkgen_common.h"
#include "dkgen_qmath_s32.h"

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

/*
 * The new h of one unit, both forms' last step: z (Q0.15) blends the candidate n (Q0.15)
 * with the old h (int8):
 *   h = sat8(sat32(requantize((32768 - z) * n)) + (z * h >> 15))  (>> rounds half up)
 * (32768 - z) * n and z * h both fit int32: |.| <= 2^30 (so the 32-bit form of the
 * requantisation applies when n_shift > 32, dkgen_qmath_s32.h).
 */
DKGEN_INLINE int8_t dkgen_gru_blend_s16(int32_t z, int32_t n, int8_t h, int32_t n_mult,
                                        int32_t n_shift)
{
    const int32_t keep = dkgen_requantize_sat_s32((32768 - z) * n, n_mult, n_shift);
    const int32_t carry = dkgen_rshift_round_s32(z * (int32_t)h, 15);
    return dkgen_sat64_s8((int64_t)keep + (int64_t)carry);
}

#ifdef __cplusplus
}
#endif

#endif /* DKGEN_GRU_S16_H */
