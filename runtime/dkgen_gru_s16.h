#ifndef DKGEN_GRU_S16_H
#define DKGEN_GRU_S16_H

#include "dkgen_activation_s16.h"
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

/* A sigmoid gate of one unit (z or r), either form: sigmoid(sat16(gx + gh)), Q0.15. */
DKGEN_INLINE int32_t dkgen_gru_gate_s16(int32_t gx, int32_t gh)
{
    return dkgen_sigmoid_s16(dkgen_sat64_s16((int64_t)gx + (int64_t)gh));
}

/* Helium: the GRU kernels take units in blocks of DKGEN_GRU_BLOCK, the activations four
 * units per instruction (gather loads from their tables, in dkgen_activation_s16.c);
 * elsewhere one unit at a time, which is cheaper there than passing blocks through memory. */
#define DKGEN_GRU_BLOCK 16u

#if defined(DKGEN_QMATH_MVE)
/* in = sat32(a + b) for n <= DKGEN_GRU_BLOCK entries, four per VQADD: the activations
 * saturate their inputs to int16 anyway, and a sum saturated to int32 first saturates to
 * the same int16. */
DKGEN_INLINE void dkgen_gru_add_block(const int32_t *a, const int32_t *b, int32_t *in, uint32_t n)
{
    uint32_t k = 0u;

    for (; k + 4u <= n; k += 4u) {
        vst1q_s32(&in[k], vqaddq_s32(vld1q_s32(&a[k]), vld1q_s32(&b[k])));
    }
    for (; k < n; k++) {
        in[k] = dkgen_sat_s32((int64_t)a[k] + (int64_t)b[k]);
    }
}

/* z and r of n <= DKGEN_GRU_BLOCK units, as dkgen_gru_gate_s16: gx and gh point at the
 * first unit's z entry (its r entry is `hidden` further); in is scratch. */
DKGEN_INLINE void dkgen_gru_zr_block(const int32_t *gx, const int32_t *gh, uint32_t hidden,
                                     uint32_t n, int32_t *in, int16_t *z, int16_t *r)
{
    dkgen_gru_add_block(gx, gh, in, n);
    dkgen_sigmoid_s16_array(in, z, n);
    dkgen_gru_add_block(gx + hidden, gh + hidden, in, n);
    dkgen_sigmoid_s16_array(in, r, n);
}

/* dkgen_gru_blend_s16 for four units (z in lanes, n and h in memory, h stored), when
 * n_shift > 32: then the 32-bit form of the requantisation applies and keep + carry
 * cannot overflow. m, sh: n_mult and n_shift in every lane. */
DKGEN_INLINE void dkgen_gru_blend_x4(int32x4_t zv, const int16_t *n, int8_t *h, int32x4_t m,
                                     int32x4_t sh)
{
    const int32x4_t keep = dkgen_requantize_hi_x4(
        vmulq_s32(vsubq_s32(vdupq_n_s32(32768), zv), vldrhq_s32(n)), m, sh);
    const int32x4_t carry = vshrq_n_s32(vaddq_n_s32(vmulq_s32(zv, vldrbq_s32(h)), 1 << 14), 15);
    vstrbq_s32(h, dkgen_clamp_x4(vaddq_s32(keep, carry), INT8_MIN, INT8_MAX));
}
#endif

#ifdef __cplusplus
}
#endif

#endif /* DKGEN_GRU_S16_H */
