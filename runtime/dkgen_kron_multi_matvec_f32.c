#include "dkgen_kron_multi_matvec_f32.h"

#include "dkgen_gemm_f32.h"

/* The tensor's sizes after each pass; sizes[j] is its element count after pass j. */
static void dkgen_kron_multi_sizes(const dkgen_kron_multi_f32_t *k,
                                   uint32_t sizes[DKGEN_KRON_MAX_FACTORS])
{
    uint32_t dims[DKGEN_KRON_MAX_FACTORS];
    uint32_t i;
    uint32_t j;

    for (i = 0u; i < k->count; i++) {
        dims[i] = k->n[i];
    }
    for (j = 0u; j < k->count; j++) {
        uint32_t total = 1u;
        dims[k->pass[j]] = k->m[k->pass[j]];
        for (i = 0u; i < k->count; i++) {
            total *= dims[i];
        }
        sizes[j] = total;
    }
}

/* Floats of scratch buffer b (0: passes 0 and 2, 1: pass 1): the largest intermediate it
 * holds. The last pass adds into y itself, so only the ones before it count. */
static uint32_t dkgen_kron_multi_buffer(const dkgen_kron_multi_f32_t *k,
                                        const uint32_t sizes[DKGEN_KRON_MAX_FACTORS], uint32_t b)
{
    uint32_t longest = 0u;
    uint32_t j;

    for (j = b; j + 1u < k->count; j += 2u) {
        longest = (sizes[j] > longest) ? sizes[j] : longest;
    }
    return longest;
}

uint32_t dkgen_kron_multi_matvec_f32_get_buffer_size(const dkgen_kron_multi_f32_t *k)
{
    uint32_t sizes[DKGEN_KRON_MAX_FACTORS];

    dkgen_kron_multi_sizes(k, sizes);
    return (dkgen_kron_multi_buffer(k, sizes, 0u) + dkgen_kron_multi_buffer(k, sizes, 1u)) *
           (uint32_t)sizeof(float);
}

void dkgen_kron_multi_matvec_f32(const dkgen_kron_multi_f32_t *k, const float *DKGEN_RESTRICT x,
                                 float *DKGEN_RESTRICT y, float *DKGEN_RESTRICT scratch)
{
    uint32_t sizes[DKGEN_KRON_MAX_FACTORS];
    uint32_t dims[DKGEN_KRON_MAX_FACTORS];
    float *buf[2];
    const float *in = x;
    uint32_t i;
    uint32_t j;

    dkgen_kron_multi_sizes(k, sizes);
    buf[0] = scratch;
    buf[1] = scratch + dkgen_kron_multi_buffer(k, sizes, 0u);
    for (i = 0u; i < k->count; i++) {
        dims[i] = k->n[i];
    }
    for (j = 0u; j < k->count; j++) {
        const uint32_t mode = k->pass[j];
        const uint32_t m = k->m[mode];
        const uint32_t n = k->n[mode];
        /* The last pass adds its sums into y; the others write scratch in turn. */
        const int last = (j + 1u == k->count);
        float *out = last ? y : buf[j & 1u];
        uint32_t outer = 1u;
        uint32_t inner = 1u;
        uint32_t o;

        for (i = 0u; i < mode; i++) {
            outer *= dims[i];
        }
        for (i = mode + 1u; i < k->count; i++) {
            inner *= dims[i];
        }
        if (inner == 1u) {
            /* The last mode: each slab is one vector of n, so the pass is the single
             * product OUT (outer x m) = IN (outer x n) F^T. As one call its 4 x 4 blocks
             * span slabs; a product per slab would be a column of 4 x 1 blocks each,
             * which loads two floats per MAC (lstm256k3's W_ih: 36,760 instructions on
             * the M4 that way). */
            dkgen_gemm_nt_f32(in, n, k->f[mode], n, outer, m, n, out, m, last);
        } else {
            /* Each slab of the tensor along the other modes is an n x inner matrix; the
             * factor turns it into m x inner: one small product per slab,
             * register-blocked like the two-factor kernel's passes. */
            for (o = 0u; o < outer; o++) {
                dkgen_gemm_nn_f32(k->f[mode], n, in + o * n * inner, inner, m, inner, n,
                                  out + o * m * inner, inner, last);
            }
        }
        dims[mode] = m;
        in = out;
    }
}
