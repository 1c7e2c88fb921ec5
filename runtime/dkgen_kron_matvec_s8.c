#include "dkgen_kron_matvec_s8.h"

#include "dkgen_dot_s8.h"
#include "dkgen_qmath_s32.h"

uint32_t dkgen_kron_matvec_s8_get_buffer_size(const dkgen_kron_s8_t *k)
{
    uint32_t elems;

    /* Widen before multiplying: uint16_t operands would promote to signed int. */
    if (k->order == DKGEN_KRON_ORDER_AX) {
        elems = (uint32_t)k->m1 * (uint32_t)k->n2;
    } else {
        elems = (uint32_t)k->n1 * (uint32_t)k->m2;
    }
    return elems * (uint32_t)sizeof(int16_t);
}

/*
 * How the two passes are organised. Kronecker factors are short (4 to 32 entries a
 * row), so a dot product at a time spends more instructions starting, finishing and
 * storing each dot product than multiplying. Instead each pass holds ONE row of a factor
 * in registers (sign-extended once, for SIMD32; as a vector, for Helium) and runs the
 * long loop over the rows of the other operand, so that the inner loop is little more
 * than loads and multiply-accumulates:
 *
 *   pass 1  sums[r] = F1[f,:] . (row or column r of X), then T[f][r] = requant(sums[r])
 *   pass 2  acc[f, r] += F2[f,:] . T[r,:]   for every row r of T, per row f of F2
 *
 * Pass 2 takes the rows of F2 in chunks of 8 (then 4, then 1-3) and adds each chunk's
 * products into acc, so any length works. Pass 1 must finish a sum before requantising
 * it: it collects up to DKGEN_KRON_CHUNK sums in a small local buffer and then
 * requantises them in a loop of its own, which keeps either loop's values in registers
 * (and, for Helium, requantises four lanes per instruction).
 *
 * T never leaves this function, so pass 1 writes it in the layout that pass 2 reads
 * fastest (dkgen_s16x_index: on the SIMD32 path each group of four entries is stored
 * as 0, 2, 1, 3, the lanes of SXTB16). Every path computes the same integers.
 */
#define DKGEN_KRON_CHUNK 16u

/* v clamped to [-t_max, t_max]; one unsigned comparison tells whether it is inside. */
DKGEN_INLINE int16_t kron_clamp(int32_t v, int32_t t_max)
{
    if ((uint32_t)(v + t_max) > 2u * (uint32_t)t_max) {
        v = (v > 0) ? t_max : -t_max;
    }
    return (int16_t)v;
}

/*
 * T's sums requantised in 32-bit arithmetic wherever that is exact.
 * dkgen_requantize_hi_s32 needs shift > 32, but T's own multipliers usually have shift 31
 * or 32 (T's scale is chosen to fill int16). For those each sum is scaled up by 2^k,
 * k = 33 - shift, and the shift with it: the same value (the rounding constant scales
 * too) in the 32-bit form, provided every sum * 2^k fits 32 bits. A sum of K products of
 * int8 values is at most 2^14 K in magnitude, so that holds for the whole pass when
 * 2^14 K <= 2^(shift-2) - 1 (K below 2^15 for shift 31): decided once, with no test per
 * value. Otherwise (or for shift <= 2) the 64-bit form, one value at a time.
 */
DKGEN_INLINE int16_t kron_t_hi(int32_t sum, int32_t scale, int32_t mult, int32_t shift32,
                               int32_t t_max)
{
    return kron_clamp(dkgen_requantize_hi_s32(sum * scale, mult, shift32), t_max);
}

/* t_row[j0 + j] = requant(sums[j]) for j < n, clamped to [-t_max, t_max], at the
 * positions dkgen_s16x_index(., full) gives; every |sums[j]| <= max_abs. j0 is a
 * multiple of DKGEN_KRON_CHUNK. */
static void kron_requant_chunk(const int32_t *sums, uint32_t n, uint32_t j0, uint32_t full,
                               uint32_t max_abs, int32_t mult, int32_t shift, int32_t t_max,
                               int16_t *t_row)
{
    uint32_t j = 0u;
    int32_t scale = 1;
    int32_t shift32 = shift;

    if (shift <= 32) {
        if (shift < 3 || max_abs > ((uint32_t)1 << (shift - 2)) - 1u) {
            for (; j < n; j++) {
                const int32_t w = dkgen_sat_s32(dkgen_requantize_s64(sums[j], mult, shift));
                t_row[dkgen_s16x_index(j0 + j, full)] = (int16_t)dkgen_clamp_s32(w, -t_max, t_max);
            }
            return;
        }
        scale = (int32_t)1 << (33 - shift);
        shift32 = 33;
    }
#if defined(DKGEN_DOT_MVE)
    {
        /* Four lanes per instruction: VMULH is exactly the high word of the 64-bit
         * products, VSHL by a negative amount an arithmetic right shift, VSTRH.32 stores
         * the low halves. */
        const int32x4_t m = vdupq_n_s32(mult);
        const int32_t round = (int32_t)1 << (shift32 - 33);
        for (; j + 4u <= n; j += 4u) {
            int32x4_t v = vmulhq_s32(vmulq_n_s32(vld1q_s32(&sums[j]), scale), m);
            v = vshlq_r_s32(vaddq_n_s32(v, round), 32 - shift32);
            vstrhq_s32(&t_row[j0 + j], dkgen_clamp_x4(v, -t_max, t_max));
        }
    }
#elif defined(DKGEN_DOT_SIMD32)
    for (; j + 4u <= n && j0 + j + 4u <= full; j += 4u) {
        int16_t *t4 = &t_row[j0 + j];
        t4[0] = kron_t_hi(sums[j], scale, mult, shift32, t_max);
        t4[2] = kron_t_hi(sums[j + 1u], scale, mult, shift32, t_max); /* layout 0, 2, 1, 3 */
        t4[1] = kron_t_hi(sums[j + 2u], scale, mult, shift32, t_max);
        t4[3] = kron_t_hi(sums[j + 3u], scale, mult, shift32, t_max);
    }
#endif
    for (; j < n; j++) {
        t_row[dkgen_s16x_index(j0 + j, full)] = kron_t_hi(sums[j], scale, mult, shift32, t_max);
    }
}

#if defined(DKGEN_DOT_SIMD32)
/* sums[j] (+)= f[0..4) . x_rows[j * ldx + 0..4) (and 4..8 with `eight`) for j < n, the entries
 * of f held sign-extended in registers; `add` adds to the sums instead of setting them.
 * Inlined with constant `eight` and `add`. */
DKGEN_INLINE void kron_sums_chunk_simd32(const int8_t *f, const int8_t *x_rows, uint32_t n,
                                         uint32_t ldx, int eight, int add, int32_t *sums)
{
    const int32_t wf0 = dkgen_load_s32(f);
    const int32_t wf1 = eight ? dkgen_load_s32(f + 4) : 0;
    const int32_t fe0 = __sxtb16(wf0);
    const int32_t fo0 = dkgen_sxtb16_odd(wf0);
    const int32_t fe1 = __sxtb16(wf1);
    const int32_t fo1 = dkgen_sxtb16_odd(wf1);
    const int32_t *end = sums + n;

    while (sums != end) {
        const int32_t w0 = dkgen_load_s32(x_rows);
        int32_t s = add ? __smlad(fe0, __sxtb16(w0), *sums) : __smuad(fe0, __sxtb16(w0));
        s = __smlad(fo0, dkgen_sxtb16_odd(w0), s);
        if (eight) {
            const int32_t w1 = dkgen_load_s32(x_rows + 4);
            s = __smlad(fe1, __sxtb16(w1), s);
            s = __smlad(fo1, dkgen_sxtb16_odd(w1), s);
        }
        *sums++ = s;
        x_rows += ldx;
    }
}
#endif

/* sums[j] = f_row[0..kn) . x_rows[j * ldx + 0..kn) for j < n (n <= DKGEN_KRON_CHUNK). */
static void kron_sums_rows(const int8_t *f_row, const int8_t *x_rows, uint32_t ldx, uint32_t kn,
                           uint32_t n, int32_t *sums)
{
    uint32_t j = 0u;

#if defined(DKGEN_DOT_MVE)
    if (kn <= 16u) {
        /* The whole row of F in one vector, zero past kn; the rows of X loaded under the
         * same predicate, so nothing past kn is read. */
        const mve_pred16_t p = vctp8q(kn);
        const int8x16_t fv = vldrbq_z_s8(f_row, p);
        for (; j < n; j++) {
            sums[j] = vmladavq_s8(fv, vldrbq_z_s8(x_rows, p));
            x_rows += ldx;
        }
        return;
    }
#elif defined(DKGEN_DOT_SIMD32)
    if (kn >= 4u) {
        /* The row of F in chunks of 8 (then 4) entries held in registers, each chunk's
         * products added into the sums; the last 1-3 entries one at a time. */
        uint32_t k0 = 0u;
        for (; k0 + 8u <= kn; k0 += 8u) {
            if (k0 == 0u) {
                kron_sums_chunk_simd32(f_row, x_rows, n, ldx, 1, 0, sums);
            } else {
                kron_sums_chunk_simd32(f_row + k0, x_rows + k0, n, ldx, 1, 1, sums);
            }
        }
        if (k0 + 4u <= kn) {
            if (k0 == 0u) {
                kron_sums_chunk_simd32(f_row, x_rows, n, ldx, 0, 0, sums);
            } else {
                kron_sums_chunk_simd32(f_row + k0, x_rows + k0, n, ldx, 0, 1, sums);
            }
            k0 += 4u;
        }
        for (; k0 < kn; k0++) {
            const int32_t f = f_row[k0];
            const int8_t *xr = x_rows + k0;
            for (j = 0u; j < n; j++) {
                sums[j] += f * (int32_t)*xr;
                xr += ldx;
            }
        }
        return;
    }
#endif
    for (; j + 2u <= n; j += 2u) {
        int32_t s2[2] = {0, 0};
        dkgen_dot2_s8(f_row, x_rows, x_rows + ldx, kn, s2);
        sums[j] = s2[0];
        sums[j + 1u] = s2[1];
        x_rows += 2u * ldx;
    }
    if (j < n) {
        sums[j] = dkgen_dot_s8(f_row, x_rows, kn);
    }
}

/* sums[j] = a_row[0..n1) . X[0..n1, j0 + j] for j < n (n <= DKGEN_KRON_CHUNK): the
 * columns of X (row stride n2), read in place rather than from a transposed copy. */
static void kron_sums_cols(const int8_t *a_row, uint32_t n1, const int8_t *x_col, uint32_t n2,
                           uint32_t n, int32_t *sums)
{
    uint32_t j, j1;

#if defined(DKGEN_DOT_MVE)
    if (n2 <= 65535u / 8u) {
        /* Eight rows of X at once by a gather load (16-bit offsets: 0, n2, ..., 7 n2). */
        const uint16x8_t offs = vmulq_n_u16(vidupq_n_u16(0u, 1), (uint16_t)n2);
        for (j = 0u; j < n; j++) {
            const int8_t *xc = x_col + j;
            const int8_t *ar = a_row;
            int32_t s = 0;
            for (j1 = n1; j1 >= 8u; j1 -= 8u) {
                s = vmladavaq_s16(s, vldrbq_s16(ar), vldrbq_gather_offset_s16(xc, offs));
                ar += 8;
                xc += 8u * n2;
            }
            if (j1 != 0u) {
                const mve_pred16_t p = vctp16q(j1);
                s = vmladavaq_s16(s, vldrbq_z_s16(ar, p), vldrbq_gather_offset_z_s16(xc, offs, p));
            }
            sums[j] = s;
        }
        return;
    }
#endif
    /* Four entries of the row of A in registers at a time, added into the sums. */
    for (j = 0u; j < n; j++) {
        sums[j] = 0;
    }
    for (j1 = 0u; j1 + 4u <= n1; j1 += 4u) {
        const int32_t a0 = a_row[j1];
        const int32_t a1 = a_row[j1 + 1u];
        const int32_t a2 = a_row[j1 + 2u];
        const int32_t a3 = a_row[j1 + 3u];
        const int8_t *x0 = x_col + j1 * n2;
        for (j = 0u; j < n; j++) {
            const int8_t *xj = x0 + j;
            sums[j] += a0 * (int32_t)xj[0] + a1 * (int32_t)xj[n2] + a2 * (int32_t)xj[2u * n2] +
                       a3 * (int32_t)xj[3u * n2];
        }
    }
    for (; j1 < n1; j1++) {
        const int32_t a0 = a_row[j1];
        const int8_t *x0 = x_col + j1 * n2;
        for (j = 0u; j < n; j++) {
            sums[j] += a0 * (int32_t)x0[j];
        }
    }
}

/* acc[r * st] += frow[0..K) . t[r * ldt + 0..K), r < nr; t laid out by dkgen_s16x_index. */
static void kron_pass2_row(const int8_t *frow, const int16_t *t, uint32_t ldt, uint32_t nr,
                           uint32_t st, uint32_t K, int32_t *acc)
{
    uint32_t k0 = 0u;
    uint32_t r;

#if defined(DKGEN_DOT_MVE)
    for (; k0 + 8u <= K; k0 += 8u) {
        const int16x8_t fv = vldrbq_s16(frow + k0); /* 8 int8 widened to int16 lanes */
        const int16_t *tr = t + k0;
        int32_t *o = acc;
        for (r = 0u; r < nr; r++) {
            *o = vmladavaq_s16(*o, fv, vld1q_s16(tr));
            o += st;
            tr += ldt;
        }
    }
    if (k0 < K && K - k0 <= 4u && nr >= 4u) {
        /* A row of F2 of 1-4 entries (a factor this narrow is common in the first layer)
         * gives one short product per row of T, so go across four rows of T per
         * instruction instead: gather their entries and their accumulators, multiply-add
         * each entry of F2, scatter the sums back. */
        const uint32x4_t ot = vmulq_n_u32(vidupq_n_u32(0u, 1), ldt);
        const uint32x4_t oa = vmulq_n_u32(vidupq_n_u32(0u, 1), st);
        const uint32_t n = K - k0;
        const int32_t f0 = frow[k0];
        const int32_t f1 = (n > 1u) ? (int32_t)frow[k0 + 1u] : 0;
        const int32_t f2 = (n > 2u) ? (int32_t)frow[k0 + 2u] : 0;
        const int32_t f3 = (n > 3u) ? (int32_t)frow[k0 + 3u] : 0;
        const int16_t *tr = t + k0;
        int32_t *o = acc;
        for (r = 0u; r + 4u <= nr; r += 4u) {
            int32x4_t a = vldrwq_gather_shifted_offset_s32(o, oa);
            a = vmlaq_n_s32(a, vldrhq_gather_shifted_offset_s32(tr, ot), f0);
            if (n > 1u) {
                a = vmlaq_n_s32(a, vldrhq_gather_shifted_offset_s32(tr + 1, ot), f1);
            }
            if (n > 2u) {
                a = vmlaq_n_s32(a, vldrhq_gather_shifted_offset_s32(tr + 2, ot), f2);
            }
            if (n > 3u) {
                a = vmlaq_n_s32(a, vldrhq_gather_shifted_offset_s32(tr + 3, ot), f3);
            }
            vstrwq_scatter_shifted_offset_s32(o, oa, a);
            o += 4u * st;
            tr += 4u * ldt;
        }
        for (; r < nr; r++) {
            *o += f0 * tr[0] + ((n > 1u) ? f1 * tr[1] : 0) + ((n > 2u) ? f2 * tr[2] : 0) +
                  ((n > 3u) ? f3 * tr[3] : 0);
            o += st;
            tr += ldt;
        }
    } else if (k0 < K) {
        /* The last 1-7 entries: both loads zero the lanes past the end and read nothing
         * there. */
        const mve_pred16_t p = vctp16q(K - k0);
        const int16x8_t fv = vldrbq_z_s16(frow + k0, p);
        const int16_t *tr = t + k0;
        int32_t *o = acc;
        for (r = 0u; r < nr; r++) {
            *o = vmladavaq_s16(*o, fv, vldrhq_z_s16(tr, p));
            o += st;
            tr += ldt;
        }
    }
#else
#if defined(DKGEN_DOT_SIMD32)
    int32_t *const end = acc + nr * st;
    for (; k0 + 8u <= K; k0 += 8u) {
        const int32_t w0 = dkgen_load_s32(frow + k0);
        const int32_t w1 = dkgen_load_s32(frow + k0 + 4u);
        const int32_t e0 = __sxtb16(w0);
        const int32_t o0 = dkgen_sxtb16_odd(w0);
        const int32_t e1 = __sxtb16(w1);
        const int32_t o1 = dkgen_sxtb16_odd(w1);
        const int16_t *tr = t + k0;
        int32_t *o = acc;
        while (o != end) {
            int32_t s0 = *o;
            /* T stored as (t0, t2), (t1, t3) per group: no repacking */
            s0 = __smlad(e0, dkgen_load_s32(tr), s0);
            s0 = __smlad(o0, dkgen_load_s32(tr + 2), s0);
            s0 = __smlad(e1, dkgen_load_s32(tr + 4), s0);
            s0 = __smlad(o1, dkgen_load_s32(tr + 6), s0);
            *o = s0;
            o += st;
            tr += ldt;
        }
    }
    if (k0 + 4u <= K) {
        /* The last group of four, and in the same pass over acc the 1-3 entries after it
         * (natural order there): a second pass for them would load and store every sum
         * once more (K = 5, the first factor of PTB's (10,5) (x) (10,5) (x) (8,8), spent
         * 30% of its pass on that). */
        const int32_t w0 = dkgen_load_s32(frow + k0);
        const int32_t e0 = __sxtb16(w0);
        const int32_t o0 = dkgen_sxtb16_odd(w0);
        const uint32_t rest = K - k0 - 4u;
        const int16_t *tr = t + k0;
        int32_t *o = acc;
        if (rest == 0u) {
            for (r = 0u; r < nr; r++) {
                *o = __smlad(o0, dkgen_load_s32(tr + 2), __smlad(e0, dkgen_load_s32(tr), *o));
                o += st;
                tr += ldt;
            }
        } else if (rest == 1u) {
            const int32_t f4 = frow[k0 + 4u];
            for (r = 0u; r < nr; r++) {
                *o = __smlad(o0, dkgen_load_s32(tr + 2), __smlad(e0, dkgen_load_s32(tr), *o)) +
                     f4 * (int32_t)tr[4];
                o += st;
                tr += ldt;
            }
        } else {
            /* entries 4 and 5 as one int16 pair; entry 6, if any, on its own (read only
             * when it exists: the last row of T ends there) */
            const uint32_t f45 = (uint32_t)(uint8_t)frow[k0 + 4u] | ((uint32_t)(uint8_t)frow[k0 + 5u] << 16);
            const int32_t fp = __sxtb16((int32_t)f45);
            if (rest == 2u) {
                for (r = 0u; r < nr; r++) {
                    const int32_t s = __smlad(e0, dkgen_load_s32(tr), *o);
                    *o = __smlad(fp, dkgen_load_s32(tr + 4), __smlad(o0, dkgen_load_s32(tr + 2), s));
                    o += st;
                    tr += ldt;
                }
            } else {
                const int32_t f6 = frow[k0 + 6u];
                for (r = 0u; r < nr; r++) {
                    const int32_t s = __smlad(e0, dkgen_load_s32(tr), *o);
                    *o = __smlad(fp, dkgen_load_s32(tr + 4), __smlad(o0, dkgen_load_s32(tr + 2), s)) +
                         f6 * (int32_t)tr[6];
                    o += st;
                    tr += ldt;
                }
            }
        }
        k0 = K;
    }
    if (k0 + 2u <= K) {
        /* Two of the last 2-3 entries (natural order) as one int16 pair; the third, if
         * any, on its own (adding f2 * t when f2 is 0 would change nothing). */
        const uint32_t f01 = (uint32_t)(uint8_t)frow[k0] | ((uint32_t)(uint8_t)frow[k0 + 1u] << 16);
        const int32_t fp = __sxtb16((int32_t)f01);
        const int32_t f2 = (k0 + 3u == K) ? (int32_t)frow[k0 + 2u] : 0;
        const int16_t *tr = t + k0;
        int32_t *o = acc;
        if (f2 == 0) {
            for (r = 0u; r < nr; r++) {
                *o = __smlad(fp, dkgen_load_s32(tr), *o);
                o += st;
                tr += ldt;
            }
        } else {
            for (r = 0u; r < nr; r++) {
                *o = __smlad(fp, dkgen_load_s32(tr), *o) + f2 * (int32_t)tr[2];
                o += st;
                tr += ldt;
            }
        }
        k0 = K;
    }
#endif
    if (k0 < K) {
        /* Portable: up to four entries of F2 in registers at a time; five (a factor five
         * wide, as in 200 = 5 * 5 * 8) in one pass too, rather than four and then one in
         * a second pass over acc (16% of PTB's three-factor product on the Cortex-M0). */
        if (K - k0 == 5u) {
            const int32_t f0 = frow[k0];
            const int32_t f1 = frow[k0 + 1u];
            const int32_t f2 = frow[k0 + 2u];
            const int32_t f3 = frow[k0 + 3u];
            const int32_t f4 = frow[k0 + 4u];
            const int16_t *tr = t + k0;
            int32_t *o = acc;
            for (r = 0u; r < nr; r++) {
                *o += f0 * tr[0] + f1 * tr[1] + f2 * tr[2] + f3 * tr[3] + f4 * tr[4];
                o += st;
                tr += ldt;
            }
            k0 = K;
        }
        for (; k0 < K; k0 += 4u) {
            const uint32_t n = (K - k0 < 4u) ? K - k0 : 4u;
            const int32_t f0 = frow[k0];
            const int32_t f1 = (n > 1u) ? (int32_t)frow[k0 + 1u] : 0;
            const int32_t f2 = (n > 2u) ? (int32_t)frow[k0 + 2u] : 0;
            const int32_t f3 = (n > 3u) ? (int32_t)frow[k0 + 3u] : 0;
            const int16_t *tr = t + k0;
            int32_t *o = acc;
            if (n == 4u) {
                for (r = 0u; r < nr; r++) {
                    *o += f0 * tr[0] + f1 * tr[1] + f2 * tr[2] + f3 * tr[3];
                    o += st;
                    tr += ldt;
                }
            } else {
                for (r = 0u; r < nr; r++) {
                    int32_t s0 = f0 * tr[0];
                    if (n > 1u) {
                        s0 += f1 * tr[1];
                    }
                    if (n > 2u) {
                        s0 += f2 * tr[2];
                    }
                    *o += s0;
                    o += st;
                    tr += ldt;
                }
            }
        }
    }
#endif
}

#if defined(DKGEN_DOT_MVE)
/* Order AX, rows of B of K <= 4 entries: acc[i2] += T_row . B[i2,:] for i2 < m2, four rows
 * of B per instruction (their entries gathered, column by column), so that the loop runs
 * along the long side (m2) instead of making one tiny dot product per output. */
static void kron_pass2_gather_b(const int16_t *t_row, const int8_t *b, uint32_t n2, uint32_t m2,
                                uint32_t K, int32_t *acc)
{
    const uint32x4_t ob = vmulq_n_u32(vidupq_n_u32(0u, 1), n2);
    const int32_t t0 = t_row[0];
    const int32_t t1 = (K > 1u) ? (int32_t)t_row[1] : 0;
    const int32_t t2 = (K > 2u) ? (int32_t)t_row[2] : 0;
    const int32_t t3 = (K > 3u) ? (int32_t)t_row[3] : 0;
    uint32_t i2 = 0u;

    for (; i2 + 4u <= m2; i2 += 4u) {
        const int8_t *bc = b + i2 * n2;
        int32x4_t a = vld1q_s32(&acc[i2]);
        a = vmlaq_n_s32(a, vldrbq_gather_offset_s32(bc, ob), t0);
        if (K > 1u) {
            a = vmlaq_n_s32(a, vldrbq_gather_offset_s32(bc + 1, ob), t1);
        }
        if (K > 2u) {
            a = vmlaq_n_s32(a, vldrbq_gather_offset_s32(bc + 2, ob), t2);
        }
        if (K > 3u) {
            a = vmlaq_n_s32(a, vldrbq_gather_offset_s32(bc + 3, ob), t3);
        }
        vst1q_s32(&acc[i2], a);
    }
    for (; i2 < m2; i2++) {
        const int8_t *br = b + i2 * n2;
        acc[i2] += t0 * br[0] + ((K > 1u) ? t1 * br[1] : 0) + ((K > 2u) ? t2 * br[2] : 0) +
                   ((K > 3u) ? t3 * br[3] : 0);
    }
}
#endif

/* Length of the contractions over j2 (the columns of B). */
DKGEN_INLINE uint32_t kron_kn2(const dkgen_kron_s8_t *k)
{
#ifdef DKGEN_TEST_WRONG_KERNEL
    return (k->n2 > 0u) ? k->n2 - 1u : 0u; /* test-only: drop the last column of B */
#else
    return k->n2;
#endif
}

void dkgen_kron_matvec_s8_prepare(const dkgen_kron_s8_t *k, const int8_t *DKGEN_RESTRICT x,
                                  int16_t *DKGEN_RESTRICT scratch)
{
    const uint32_t m1 = k->m1;
    const uint32_t n1 = k->n1;
    const uint32_t m2 = k->m2;
    const uint32_t n2 = k->n2;
    const uint32_t kn2 = kron_kn2(k);
    const int32_t t_max = k->t_max;
    int32_t sums[DKGEN_KRON_CHUNK];
    uint32_t i, j0;

    if (k->order == DKGEN_KRON_ORDER_AX) {
        /* T = A * X (m1 x n2), rows laid out for a contraction over kn2; X read down its
         * columns, which saves a transposed copy of x in scratch. */
        const uint32_t full = kn2 & ~3u;
        const uint32_t max_ax = 16384u * n1; /* |a sum of n1 int8 products| */
        for (i = 0u; i < m1; i++) {
            const uint32_t row = k->t_per_row ? i : 0u;
            for (j0 = 0u; j0 < n2; j0 += DKGEN_KRON_CHUNK) {
                const uint32_t n = (n2 - j0 < DKGEN_KRON_CHUNK) ? n2 - j0 : DKGEN_KRON_CHUNK;
                kron_sums_cols(k->a + i * n1, n1, x + j0, n2, n, sums);
                kron_requant_chunk(sums, n, j0, full, max_ax, k->t_mult[row], k->t_shift[row],
                                   t_max, scratch + i * n2);
            }
        }
    } else {
        /* T = X * B^T (n1 x m2), kept transposed as Tt = B * X^T (m2 x n1) so that both
         * passes read rows: Tt[i2][j1] = B[i2,:] . X[j1,:]. */
        const uint32_t full = n1 & ~3u;
        const uint32_t max_xbt = 16384u * kn2; /* |a sum of kn2 int8 products| */
        for (i = 0u; i < m2; i++) {
            const uint32_t row = k->t_per_row ? i : 0u;
            for (j0 = 0u; j0 < n1; j0 += DKGEN_KRON_CHUNK) {
                const uint32_t n = (n1 - j0 < DKGEN_KRON_CHUNK) ? n1 - j0 : DKGEN_KRON_CHUNK;
                kron_sums_rows(k->b + i * n2, x + j0 * n2, n2, kn2, n, sums);
                kron_requant_chunk(sums, n, j0, full, max_xbt, k->t_mult[row], k->t_shift[row],
                                   t_max, scratch + i * n1);
            }
        }
    }
}

#if defined(DKGEN_DOT_SIMD32) && !defined(DKGEN_DOT_MVE)
/* The last group of paired entries of a row of T (`wide`: 8 or 4, from k0) together with
 * the `rest` (1-3) natural-order entries after it, in one pass over the rows of B: acc[i2]
 * is then loaded and stored once less per row than with a pass of its own for the tail
 * (which cost the square-factor PTB model 5% of its step). Always inlined with constant
 * wide and rest, so the conditions below are resolved at compile time. */
DKGEN_INLINE void kron_block_ax_last(const int16_t *t_row, const int8_t *b, uint32_t n2,
                                     uint32_t m2, uint32_t k0, uint32_t wide, uint32_t rest,
                                     int32_t *acc)
{
    const uint32_t kt = k0 + wide;
    const int32_t te0 = dkgen_load_s32(t_row + k0);
    const int32_t to0 = dkgen_load_s32(t_row + k0 + 2u);
    const int32_t te1 = (wide == 8u) ? dkgen_load_s32(t_row + k0 + 4u) : 0;
    const int32_t to1 = (wide == 8u) ? dkgen_load_s32(t_row + k0 + 6u) : 0;
    const int32_t r0 = t_row[kt];
    const int32_t r1 = (rest > 1u) ? (int32_t)t_row[kt + 1u] : 0;
    const int32_t r2 = (rest > 2u) ? (int32_t)t_row[kt + 2u] : 0;
    const int8_t *br = b + k0;
    uint32_t i2;

    for (i2 = 0u; i2 < m2; i2++) {
        const int32_t w0 = dkgen_load_s32(br);
        int32_t s = __smlad(te0, __sxtb16(w0), acc[i2]);
        s = __smlad(to0, dkgen_sxtb16_odd(w0), s);
        if (wide == 8u) {
            const int32_t w1 = dkgen_load_s32(br + 4);
            s = __smlad(te1, __sxtb16(w1), s);
            s = __smlad(to1, dkgen_sxtb16_odd(w1), s);
        }
        s += r0 * br[wide];
        if (rest > 1u) {
            s += r1 * br[wide + 1u];
        }
        if (rest > 2u) {
            s += r2 * br[wide + 2u];
        }
        acc[i2] = s;
        br += n2;
    }
}
#endif

/* Order AX, one row of output blocks: acc[i2] += t_row . B[i2, 0..K) for i2 < m2, t_row
 * one row of T (laid out by dkgen_s16x_index). As in kron_pass2_row, a chunk of the row of
 * T is held in registers while the loop runs along the rows of B. */
static void kron_block_ax(const int16_t *t_row, const int8_t *b, uint32_t n2, uint32_t m2,
                          uint32_t K, int32_t *acc)
{
    uint32_t i2;
    uint32_t k0 = 0u;

#if defined(DKGEN_DOT_MVE)
    if (K <= 4u && m2 >= 4u) {
        if (K != 0u) {
            kron_pass2_gather_b(t_row, b, n2, m2, K, acc);
        }
        return;
    }
    for (; k0 < K; k0 += 8u) {
        /* Eight entries of T (fewer at the end: both loads zero the lanes past it). */
        const mve_pred16_t p = vctp16q(K - k0);
        const int16x8_t tv = vldrhq_z_s16(t_row + k0, p);
        const int8_t *br = b + k0;
        for (i2 = 0u; i2 < m2; i2++) {
            acc[i2] = vmladavaq_s16(acc[i2], vldrbq_z_s16(br, p), tv);
            br += n2;
        }
    }
#else
#if defined(DKGEN_DOT_SIMD32)
    /* Eight (then four) entries of the row of T at a time, already paired as (t0, t2),
     * (t1, t3): each row of B only needs sign-extending into the same lanes. With 1-3
     * entries after the paired ones, the last group is left to kron_block_ax_last. */
    const uint32_t full = K & ~3u;
    const uint32_t rest = K & 3u;
    const uint32_t last = (rest != 0u && full != 0u) ? full - ((full & 4u) ? 4u : 8u) : full;
    for (; k0 + 8u <= last; k0 += 8u) {
        const int32_t te0 = dkgen_load_s32(t_row + k0);
        const int32_t to0 = dkgen_load_s32(t_row + k0 + 2u);
        const int32_t te1 = dkgen_load_s32(t_row + k0 + 4u);
        const int32_t to1 = dkgen_load_s32(t_row + k0 + 6u);
        const int8_t *br = b + k0;
        for (i2 = 0u; i2 < m2; i2++) {
            const int32_t w0 = dkgen_load_s32(br);
            const int32_t w1 = dkgen_load_s32(br + 4);
            int32_t s0 = __smlad(te0, __sxtb16(w0), acc[i2]);
            s0 = __smlad(to0, dkgen_sxtb16_odd(w0), s0);
            s0 = __smlad(te1, __sxtb16(w1), s0);
            acc[i2] = __smlad(to1, dkgen_sxtb16_odd(w1), s0);
            br += n2;
        }
    }
    if (k0 + 4u <= last) {
        const int32_t te = dkgen_load_s32(t_row + k0);
        const int32_t to = dkgen_load_s32(t_row + k0 + 2u);
        const int8_t *br = b + k0;
        for (i2 = 0u; i2 < m2; i2++) {
            const int32_t w = dkgen_load_s32(br);
            acc[i2] = __smlad(to, dkgen_sxtb16_odd(w), __smlad(te, __sxtb16(w), acc[i2]));
            br += n2;
        }
        k0 += 4u;
    }
    if (k0 < full) {
        if (full - k0 == 8u) {
            if (rest == 1u) {
                kron_block_ax_last(t_row, b, n2, m2, k0, 8u, 1u, acc);
            } else if (rest == 2u) {
                kron_block_ax_last(t_row, b, n2, m2, k0, 8u, 2u, acc);
            } else {
                kron_block_ax_last(t_row, b, n2, m2, k0, 8u, 3u, acc);
            }
        } else if (rest == 1u) {
            kron_block_ax_last(t_row, b, n2, m2, k0, 4u, 1u, acc);
        } else if (rest == 2u) {
            kron_block_ax_last(t_row, b, n2, m2, k0, 4u, 2u, acc);
        } else {
            kron_block_ax_last(t_row, b, n2, m2, k0, 4u, 3u, acc);
        }
        k0 = K;
    }
#endif
    /* Portable, and the last 1-3 entries (stored in natural order): up to four entries of
     * T in registers at a time. */
    for (; k0 < K; k0 += 4u) {
        const uint32_t n = (K - k0 < 4u) ? K - k0 : 4u;
        const int32_t t0 = t_row[k0];
        const int32_t t1 = (n > 1u) ? (int32_t)t_row[k0 + 1u] : 0;
        const int32_t t2 = (n > 2u) ? (int32_t)t_row[k0 + 2u] : 0;
        const int32_t t3 = (n > 3u) ? (int32_t)t_row[k0 + 3u] : 0;
        const int8_t *br = b + k0;
        if (n == 4u) {
            for (i2 = 0u; i2 < m2; i2++) {
                acc[i2] += t0 * br[0] + t1 * br[1] + t2 * br[2] + t3 * br[3];
                br += n2;
            }
        } else {
            for (i2 = 0u; i2 < m2; i2++) {
                int32_t s0 = t0 * br[0];
                if (n > 1u) {
                    s0 += t1 * br[1];
                }
                if (n > 2u) {
                    s0 += t2 * br[2];
                }
                acc[i2] += s0;
                br += n2;
            }
        }
    }
#endif
}

void dkgen_kron_matvec_s8_block(const dkgen_kron_s8_t *k, const int16_t *DKGEN_RESTRICT scratch,
                                uint32_t first, uint32_t count, int32_t *DKGEN_RESTRICT acc)
{
    const uint32_t m2 = k->m2;
    const uint32_t end = first + count;
    uint32_t i;

    if (k->order == DKGEN_KRON_ORDER_AX) {
        const uint32_t n2 = k->n2;
        const uint32_t kn2 = kron_kn2(k);
        for (i = first; i < end; i++, acc += m2) {
            kron_block_ax(scratch + i * n2, k->b, n2, m2, kn2, acc);
        }
    } else {
        /* Y[i,:] += A[i,:] . Tt[i2,:] for every row i2 of Tt. */
        const uint32_t n1 = k->n1;
        for (i = first; i < end; i++, acc += m2) {
            kron_pass2_row(k->a + i * n1, scratch, n1, m2, 1u, n1, acc);
        }
    }
}

void dkgen_kron_matvec_s8_finish(const dkgen_kron_s8_t *k, const int16_t *DKGEN_RESTRICT scratch,
                                 int32_t *DKGEN_RESTRICT acc)
{
    const uint32_t m1 = k->m1;
    const uint32_t m2 = k->m2;
    const uint32_t n2 = k->n2;
    const uint32_t kn2 = kron_kn2(k);
#if defined(DKGEN_DOT_MVE)
    /* Helium, rows of B of 1-4 entries: the block loop runs across the rows of B instead */
    const int across_b = kn2 <= 4u && m2 >= 4u;
#else
    const int across_b = 0;
#endif
    uint32_t i;

    if (k->order == DKGEN_KRON_ORDER_AX && !across_b) {
        /* acc[i1][i2] += T[i1,:] . B[i2,:]: one row of B at a time against every row
         * of T, the long loop running over the m1 rows of T. */
        for (i = 0u; i < m2; i++) {
            kron_pass2_row(k->b + i * n2, scratch, n2, m1, m2, kn2, acc + i);
        }
    } else {
        dkgen_kron_matvec_s8_block(k, scratch, 0u, m1, acc);
    }
}

void dkgen_kron_matvec_s8(const dkgen_kron_s8_t *k, const int8_t *DKGEN_RESTRICT x,
                          int32_t *DKGEN_RESTRICT acc, int16_t *DKGEN_RESTRICT scratch)
{
    dkgen_kron_matvec_s8_prepare(k, x, scratch);
    dkgen_kron_matvec_s8_finish(k, scratch, acc);
}
