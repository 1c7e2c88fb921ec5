#ifndef DKGEN_KRON_MULTI_MATVEC_F32_H
#define DKGEN_KRON_MULTI_MATVEC_F32_H

#include "dkgen_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Most factors a product may have. */
#define DKGEN_KRON_MAX_FACTORS 4u

/*
 * W = F0 (x) F1 (x) ... (x) F(count-1), factor i row-major m[i] x n[i]; W is
 * (m[0]*...*m[count-1]) x (n[0]*...*n[count-1]). Two factors work too, but
 * dkgen_kron_matvec_f32 is faster for them; this kernel is for three or four.
 * pass[] is the order in which the factors are applied, a permutation of
 * 0..count-1 that the generator picks as the cheapest (it changes the cost, not
 * the result beyond float rounding).
 */
typedef struct {
    const float *f[DKGEN_KRON_MAX_FACTORS];
    uint16_t m[DKGEN_KRON_MAX_FACTORS];
    uint16_t n[DKGEN_KRON_MAX_FACTORS];
    uint8_t pass[DKGEN_KRON_MAX_FACTORS];
    uint8_t count;
} dkgen_kron_multi_f32_t;

/*
 * Scratch in BYTES that dkgen_kron_multi_matvec_f32 needs: two buffers used in
 * turn by every pass but the last (which adds into y), each as long as the largest
 * intermediate it holds.
 */
uint32_t dkgen_kron_multi_matvec_f32_get_buffer_size(const dkgen_kron_multi_f32_t *k);

/*
 * y += (F0 (x) ... (x) F(count-1)) x in factored form, without materialising W.
 *
 * x is the row-major tensor of sizes (n[0], ..., n[count-1]); applying factor i
 * multiplies that mode by it (its size becomes m[i]), and after every factor the
 * tensor is y's shape. scratch holds
 * dkgen_kron_multi_matvec_f32_get_buffer_size(k) bytes, is written before it is
 * read, and may be shared with other kernels between calls. x, y, scratch and the
 * factors must not overlap.
 */
void dkgen_kron_multi_matvec_f32(const dkgen_kron_multi_f32_t *k, const float *DKGEN_RESTRICT x,
                                 float *DKGEN_RESTRICT y, float *DKGEN_RESTRICT scratch);

#ifdef __cplusplus
}
#endif

#endif /* DKGEN_KRON_MULTI_MATVEC_F32_H */
