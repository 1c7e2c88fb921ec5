/*
 * Host test driver for the dkgen runtime kernels (tests/runtime/).
 *
 *   kernel_driver <kernel> < input.bin > output.bin
 *
 * Input on stdin is raw little-endian binary: first the kernel's uint32 sizes,
 * then its arrays, in the order listed in the table below. Output on stdout is
 * raw binary too. Every array is malloc'd at its exact size, so a sanitizer build
 * catches any read or write past an input or output. Kron scratch gets a guard
 * tail that is checked after the call, and is filled with NaN beforehand so that
 * reading scratch before writing it poisons the result.
 *
 *   kernel      sizes (uint32)           arrays in                  out
 *   dense       rows cols                w x y  (f32)               y
 *   kron        m1 n1 m2 n2 order        a b x y (f32)              u32 scratch bytes, y
 *   kron_multi  count (m n)*count        f0 .. f(count-1) x y (f32) u32 scratch bytes, y
 *               pass*count
 *   csr         rows nnz width ncols     row_ptr (u16|u32|none for width 0)
 *                                        col (u16) val x y (f32)    y
 *   sigmoid     n                        x                          y, u32 fp flags
 *   tanh        n                        x                          y
 *   softmax     n inplace                x                          y
 *   argmax      n                        x                          u32 index
 *   copy        n                        src dst                    dst
 *   add         n                        a y                        y
 *   zero        n                        y                          y
 *   lstm        hidden                   gates h c                  h c
 *   gru         hidden                   gx gh h                    h
 *   gru_reset   hidden                   gx gh h                    gx (3*hidden)
 *   gru_update  hidden                   gx gh h                    h
 *
 * Exit status: 0 ok, 2 bad usage or input, 3 a kernel wrote outside its scratch.
 */
#include <fenv.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dkgen_activation_f32.h"
#include "dkgen_common.h"
#include "dkgen_csr_matvec_f32.h"
#include "dkgen_dense_matvec_f32.h"
#include "dkgen_gru_cell_f32.h"
#include "dkgen_gru_reset_f32.h"
#include "dkgen_gru_update_f32.h"
#include "dkgen_kron_matvec_f32.h"
#include "dkgen_kron_multi_matvec_f32.h"
#include "dkgen_lstm_cell_f32.h"
#include "dkgen_vector_f32.h"

#define DRIVER_NAME "kernel_driver"
#include "driver_io.h"

#define GUARD_FILL 0xFF /* 0xFFFFFFFF is a NaN as float */

static float *read_f32(size_t n)
{
    return (float *)read_array(n, sizeof(float));
}

static uint16_t *read_u16(size_t n)
{
    return (uint16_t *)read_array(n, sizeof(uint16_t));
}

static uint32_t *read_u32_array(size_t n)
{
    return (uint32_t *)read_array(n, sizeof(uint32_t));
}

static void write_f32(const float *p, size_t n)
{
    write_bytes(p, n * sizeof(float));
}

static void write_u32(uint32_t v)
{
    write_bytes(&v, sizeof v);
}

static int run_dense(void)
{
    const uint32_t rows = read_u32();
    const uint32_t cols = read_u32();
    float *w = read_f32((size_t)rows * cols);
    float *x = read_f32(cols);
    float *y = read_f32(rows);
    expect_eof();
    dkgen_dense_matvec_f32(w, rows, cols, x, y);
    write_f32(y, rows);
    free(w);
    free(x);
    free(y);
    return 0;
}

static int run_kron(void)
{
    dkgen_kron_f32_t k;
    uint32_t m1, n1, m2, n2, order, bytes;
    unsigned char *raw;
    float *a, *b, *x, *y;
    int status = 0;

    m1 = read_u32();
    n1 = read_u32();
    m2 = read_u32();
    n2 = read_u32();
    order = read_u32();
    a = read_f32((size_t)m1 * n1);
    b = read_f32((size_t)m2 * n2);
    x = read_f32((size_t)n1 * n2);
    y = read_f32((size_t)m1 * m2);
    expect_eof();

    k.a = a;
    k.b = b;
    k.m1 = to_u16(m1);
    k.n1 = to_u16(n1);
    k.m2 = to_u16(m2);
    k.n2 = to_u16(n2);
    if (order > 0xFFu) {
        die("order does not fit uint8_t");
    }
    k.order = (uint8_t)order;

    bytes = dkgen_kron_matvec_f32_get_buffer_size(&k);
    if (bytes % sizeof(float) != 0u) {
        die("scratch size is not a whole number of floats");
    }
    /* malloc'd, so the kernel gets scratch aligned for floats. */
    raw = guarded_alloc(bytes, GUARD_FILL);
    dkgen_kron_matvec_f32(&k, x, y, (float *)(void *)raw);
    if (!guard_intact(raw, bytes, GUARD_FILL)) {
        fprintf(stderr, "kernel_driver: kron wrote past its %lu scratch bytes\n",
                (unsigned long)bytes);
        status = 3;
    }
    write_u32(bytes);
    write_f32(y, (size_t)m1 * m2);
    free(raw);
    free(a);
    free(b);
    free(x);
    free(y);
    return status;
}

static int run_kron_multi(void)
{
    dkgen_kron_multi_f32_t k;
    uint32_t count, i, rows = 1u, cols = 1u, bytes;
    float *f[DKGEN_KRON_MAX_FACTORS];
    unsigned char *raw;
    float *x, *y;
    int status = 0;

    memset(&k, 0, sizeof k);
    count = read_u32();
    if (count < 1u || count > DKGEN_KRON_MAX_FACTORS) {
        die("factor count out of range");
    }
    k.count = (uint8_t)count;
    for (i = 0u; i < count; i++) {
        k.m[i] = to_u16(read_u32());
        k.n[i] = to_u16(read_u32());
        rows *= k.m[i];
        cols *= k.n[i];
    }
    for (i = 0u; i < count; i++) {
        const uint32_t p = read_u32();
        if (p >= count) {
            die("pass is not a factor");
        }
        k.pass[i] = (uint8_t)p;
    }
    for (i = 0u; i < count; i++) {
        f[i] = read_f32((size_t)k.m[i] * k.n[i]);
        k.f[i] = f[i];
    }
    x = read_f32(cols);
    y = read_f32(rows);
    expect_eof();

    bytes = dkgen_kron_multi_matvec_f32_get_buffer_size(&k);
    raw = guarded_alloc(bytes, GUARD_FILL);
    dkgen_kron_multi_matvec_f32(&k, x, y, (float *)(void *)raw);
    if (!guard_intact(raw, bytes, GUARD_FILL)) {
        fprintf(stderr, "kernel_driver: kron_multi wrote past its %lu scratch bytes\n",
                (unsigned long)bytes);
        status = 3;
    }
    write_u32(bytes);
    write_f32(y, rows);
    free(raw);
    for (i = 0u; i < count; i++) {
        free(f[i]);
    }
    free(x);
    free(y);
    return status;
}

static int run_csr(void)
{
    dkgen_csr_f32_t s;
    const uint32_t rows = read_u32();
    const uint32_t nnz = read_u32();
    const uint32_t width = read_u32();
    const uint32_t ncols = read_u32();
    uint16_t *rp16 = NULL;
    uint32_t *rp32 = NULL;
    uint16_t *col;
    float *val, *x, *y;

    if (width == 16u) {
        rp16 = read_u16((size_t)rows + 1u);
    } else if (width == 32u) {
        rp32 = read_u32_array((size_t)rows + 1u);
    } else if (width != 0u) { /* 0: both row pointers NULL, no row_ptr array */
        die("csr index width must be 0, 16 or 32");
    }
    col = read_u16(nnz);
    val = read_f32(nnz);
    x = read_f32(ncols);
    y = read_f32(rows);
    expect_eof();

    s.row_ptr16 = rp16;
    s.row_ptr32 = rp32;
    s.col = col;
    s.val = val;
    s.rows = to_u16(rows);
    dkgen_csr_matvec_f32(&s, x, y);
    write_f32(y, rows);
    free(rp16);
    free(rp32);
    free(col);
    free(val);
    free(x);
    free(y);
    return 0;
}

static int run_pointwise(int which)
{
    const uint32_t n = read_u32();
    float *x = read_f32(n);
    float *y = (float *)xmalloc((size_t)n * sizeof(float));
    uint32_t i;
    uint32_t flags;

    expect_eof();
    /* The sigmoid must not overflow anywhere; the flags report whether it did. */
    feclearexcept(FE_ALL_EXCEPT);
    for (i = 0u; i < n; i++) {
        y[i] = (which == 0) ? dkgen_sigmoid_f32(x[i]) : dkgen_tanh_f32(x[i]);
    }
    flags = (fetestexcept(FE_OVERFLOW) != 0) ? 1u : 0u;
    flags |= (fetestexcept(FE_INVALID) != 0) ? 2u : 0u;
    write_f32(y, n);
    if (which == 0) {
        write_u32(flags);
    }
    free(x);
    free(y);
    return 0;
}

static int run_softmax(void)
{
    const uint32_t n = read_u32();
    const uint32_t inplace = read_u32();
    float *x = read_f32(n);
    float *y;

    expect_eof();
    if (inplace != 0u) {
        dkgen_softmax_f32(x, x, n);
        write_f32(x, n);
    } else {
        y = (float *)xmalloc((size_t)n * sizeof(float));
        dkgen_softmax_f32(x, y, n);
        write_f32(y, n);
        free(y);
    }
    free(x);
    return 0;
}

static int run_argmax(void)
{
    const uint32_t n = read_u32();
    float *x = read_f32(n);
    expect_eof();
    write_u32(dkgen_argmax_f32(x, n));
    free(x);
    return 0;
}

static int run_vector(int which)
{
    const uint32_t n = read_u32();
    float *p = (which == 2) ? NULL : read_f32(n);
    float *y = read_f32(n);

    expect_eof();
    if (which == 0) {
        dkgen_copy_f32(p, y, n);
    } else if (which == 1) {
        dkgen_add_f32(p, y, n);
    } else {
        dkgen_zero_f32(y, n);
    }
    write_f32(y, n);
    free(p);
    free(y);
    return 0;
}

static int run_lstm(void)
{
    const uint32_t hidden = read_u32();
    float *gates = read_f32((size_t)hidden * 4u);
    float *h = read_f32(hidden);
    float *c = read_f32(hidden);
    expect_eof();
    dkgen_lstm_cell_f32(hidden, gates, h, c);
    write_f32(h, hidden);
    write_f32(c, hidden);
    free(gates);
    free(h);
    free(c);
    return 0;
}

/* The pointwise GRU kernels that take (hidden, gx, gh, h) and update h: the cell
 * (linear_before_reset=1) and, for linear_before_reset=0, the second half (gx as the reset
 * kernel left it, gh = R (r*h) + Rb). */
typedef void (*gru_step_f32)(uint32_t, const float *, const float *, float *);

static int run_gru_step(gru_step_f32 kernel)
{
    const uint32_t hidden = read_u32();
    float *gx = read_f32((size_t)hidden * 3u);
    float *gh = read_f32((size_t)hidden * 3u);
    float *h = read_f32(hidden);
    expect_eof();
    kernel(hidden, gx, gh, h);
    write_f32(h, hidden);
    free(gx);
    free(gh);
    free(h);
    return 0;
}

/* linear_before_reset=0, first half: gx comes back with z and r*h in its first two blocks. */
static int run_gru_reset(void)
{
    const uint32_t hidden = read_u32();
    float *gx = read_f32((size_t)hidden * 3u);
    float *gh = read_f32((size_t)hidden * 3u);
    float *h = read_f32(hidden);
    expect_eof();
    dkgen_gru_reset_f32(hidden, gx, gh, h);
    write_f32(gx, (size_t)hidden * 3u);
    free(gx);
    free(gh);
    free(h);
    return 0;
}

int main(int argc, char **argv)
{
    const char *k;

    if (argc != 2) {
        die("usage: kernel_driver <kernel> < input > output");
    }
    k = argv[1];
    if (strcmp(k, "dense") == 0) {
        return run_dense();
    } else if (strcmp(k, "kron") == 0) {
        return run_kron();
    } else if (strcmp(k, "kron_multi") == 0) {
        return run_kron_multi();
    } else if (strcmp(k, "csr") == 0) {
        return run_csr();
    } else if (strcmp(k, "sigmoid") == 0) {
        return run_pointwise(0);
    } else if (strcmp(k, "tanh") == 0) {
        return run_pointwise(1);
    } else if (strcmp(k, "softmax") == 0) {
        return run_softmax();
    } else if (strcmp(k, "argmax") == 0) {
        return run_argmax();
    } else if (strcmp(k, "copy") == 0) {
        return run_vector(0);
    } else if (strcmp(k, "add") == 0) {
        return run_vector(1);
    } else if (strcmp(k, "zero") == 0) {
        return run_vector(2);
    } else if (strcmp(k, "lstm") == 0) {
        return run_lstm();
    } else if (strcmp(k, "gru") == 0) {
        return run_gru_step(dkgen_gru_cell_f32);
    } else if (strcmp(k, "gru_reset") == 0) {
        return run_gru_reset();
    } else if (strcmp(k, "gru_update") == 0) {
        return run_gru_step(dkgen_gru_update_f32);
    }
    die("unknown kernel");
    return 2;
}
