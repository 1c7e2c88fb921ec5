/*
 * Host test driver for the dkgen int8 runtime kernels (tests/runtime/test_runtime_s8.py).
 *
 *   kernel_driver_s8 <kernel> < input.bin > output.bin
 *
 * stdin: little-endian binary, first the kernel's uint32 sizes, then its arrays in the
 * order below; stdout: the outputs, raw. Every array is malloc'd at its exact size, so
 * a sanitizer build catches any access past it. Kron scratch has a guard tail, checked
 * after the call.
 *
 *   kernel     sizes (uint32)                    arrays in                               out
 *   requant8   outer inner per nmult             mult(i32) shift(i8) acc(i32)            out(i8)
 *   requant16  outer inner per nmult lo hi       mult shift acc                          out(i16)
 *   requantadd outer inner per nmult             mult shift acc out(i32)                 out(i32)
 *   dense      rows cols                         w(i8) x(i8) acc(i32)                    acc
 *   dense16    rows cols                         w(i8) t(i16) acc(i32)                   acc
 *   kron       m1 n1 m2 n2 order per_row t_max nmult
 *                                                a b(i8) mult(i32) shift(i8) x(i8) acc   u32 scratch bytes, acc
 *   kron_multi mf nf im1 in1 im2 in2 in_order in_per_row in_tmax in_nmult t_per t_nmult t_max order
 *                                                f ia ib(i8) in_mult(i32) in_shift(i8)
 *                                                t_mult(i32) t_shift(i8) x(i8) acc       u32 scratch bytes, acc
 *              (order 0: W = F (x) (IA (x) IB); 1: W = (IA (x) IB) (x) F)
 *   dope       count cols shift width rows       step(u8|u16) val(i8) x(i8) acc(i32)    acc
 *   sigmoid    n                                 q(i16)                                  y(i16)
 *   tanh       n                                 q(i16)                                  y(i16)
 *   lstm       hidden cell_frac h_mult h_shift   gates(i32 4H) c(i16) h(i8)              c, h
 *   gru        hidden n_mult n_shift             gx gh(i32 3H) h(i8)                     h
 *   gru_reset  hidden                            gx gh(i32 3H) h(i8) rh(i8 H)            gx(i32 3H), rh
 *   gru_update hidden n_mult n_shift             gx gh(i32 3H) h(i8)                     h
 *   rnn        hidden h_mult h_shift             gates(i32 H) h(i8)                      h
 *   logsoftmax n beta d_mult d_shift l_mult l_shift  x(i8)                              y(i16)
 *   softmax    n beta                            x(i8)                                   y(i16)
 *   affine     n                                 mult(i32) shift(i8) sign(i8) bias(i32) x(i8)  y(i8)
 *   clip       n lo hi                           x(i8)                                   y(i8)
 *   leaky      n alpha_q15                       x(i8)                                   y(i8)
 *   quantize   n inv_scale_bits                  x(f32)                                  q(i8)
 *   dequant8   n scale_bits                      q(i8)                                   y(f32)
 *   dequant16  n scale_bits                      q(i16)                                  y(f32)
 *
 * Exit status: 0 ok, 2 bad usage or input, 3 a kernel wrote outside its scratch.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dkgen_activation_s16.h"
#include "dkgen_affine_s8.h"
#include "dkgen_clip_s8.h"
#include "dkgen_convert_s8.h"
#include "dkgen_dense_matvec_s8.h"
#include "dkgen_dense_matvec_s8s16.h"
#include "dkgen_dope_matvec_s8.h"
#include "dkgen_gru_cell_s16.h"
#include "dkgen_gru_reset_s16.h"
#include "dkgen_gru_update_s16.h"
#include "dkgen_kron_matvec_s8.h"
#include "dkgen_kron_multi_matvec_s8.h"
#include "dkgen_leaky_relu_s8.h"
#include "dkgen_log_softmax_s8.h"
#include "dkgen_lstm_cell_s16.h"
#include "dkgen_requant_add_s32.h"
#include "dkgen_requant_s16.h"
#include "dkgen_requant_s8.h"
#include "dkgen_rnn_cell_s16.h"
#include "dkgen_softmax_s8.h"

#define DRIVER_NAME "kernel_driver_s8"
#include "driver_io.h"

#define GUARD_FILL 0xA5

static int32_t read_i32v(void)
{
    const uint32_t u = read_u32();
    int32_t v;
    memcpy(&v, &u, sizeof v);
    return v;
}

static float bits_to_float(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static int run_requant(int kind)
{
    dkgen_requant_t rq;
    const uint32_t outer = read_u32();
    const uint32_t inner = read_u32();
    const uint32_t per = read_u32();
    const uint32_t nmult = read_u32();
    int16_t lo = 0;
    int16_t hi = 0;
    const size_t rows = (size_t)outer * inner;
    int32_t *mult;
    int8_t *shift;
    int32_t *acc;

    if (kind == 16) {
        lo = (int16_t)read_i32v();
        hi = (int16_t)read_i32v();
    }
    mult = (int32_t *)read_array(nmult, sizeof(int32_t));
    shift = (int8_t *)read_array(nmult, sizeof(int8_t));
    acc = (int32_t *)read_array(rows, sizeof(int32_t));
    rq.mult = mult;
    rq.shift = shift;
    rq.outer = to_u16(outer);
    rq.inner = to_u16(inner);
    rq.per = (uint8_t)per;
    if (kind == 8) {
        int8_t *out = (int8_t *)xmalloc(rows);
        expect_eof();
        dkgen_requant_s8(&rq, acc, out);
        write_bytes(out, rows);
        free(out);
    } else if (kind == 16) {
        int16_t *out = (int16_t *)xmalloc(rows * sizeof(int16_t));
        expect_eof();
        dkgen_requant_s16(&rq, acc, out, lo, hi);
        write_bytes(out, rows * sizeof(int16_t));
        free(out);
    } else {
        int32_t *out = (int32_t *)read_array(rows, sizeof(int32_t));
        expect_eof();
        dkgen_requant_add_s32(&rq, acc, out);
        write_bytes(out, rows * sizeof(int32_t));
        free(out);
    }
    free(mult);
    free(shift);
    free(acc);
    return 0;
}

static int run_dense(int wide)
{
    const uint32_t rows = read_u32();
    const uint32_t cols = read_u32();
    int8_t *w = (int8_t *)read_array((size_t)rows * cols, 1u);
    void *x = read_array(cols, wide ? sizeof(int16_t) : 1u);
    int32_t *acc = (int32_t *)read_array(rows, sizeof(int32_t));
    expect_eof();
    if (wide) {
        dkgen_dense_matvec_s8s16(w, rows, cols, (const int16_t *)x, acc);
    } else {
        dkgen_dense_matvec_s8(w, rows, cols, (const int8_t *)x, acc);
    }
    write_bytes(acc, rows * sizeof(int32_t));
    free(w);
    free(x);
    free(acc);
    return 0;
}

static int run_kron(void)
{
    dkgen_kron_s8_t k;
    const uint32_t m1 = read_u32();
    const uint32_t n1 = read_u32();
    const uint32_t m2 = read_u32();
    const uint32_t n2 = read_u32();
    const uint32_t order = read_u32();
    const uint32_t per_row = read_u32();
    const uint32_t t_max = read_u32();
    const uint32_t nmult = read_u32();
    int8_t *a = (int8_t *)read_array((size_t)m1 * n1, 1u);
    int8_t *b = (int8_t *)read_array((size_t)m2 * n2, 1u);
    int32_t *mult = (int32_t *)read_array(nmult, sizeof(int32_t));
    int8_t *shift = (int8_t *)read_array(nmult, 1u);
    int8_t *x = (int8_t *)read_array((size_t)n1 * n2, 1u);
    int32_t *acc = (int32_t *)read_array((size_t)m1 * m2, sizeof(int32_t));
    uint32_t bytes;
    unsigned char *scratch;

    expect_eof();
    k.a = a;
    k.b = b;
    k.t_mult = mult;
    k.t_shift = shift;
    k.m1 = to_u16(m1);
    k.n1 = to_u16(n1);
    k.m2 = to_u16(m2);
    k.n2 = to_u16(n2);
    k.t_max = (int16_t)t_max;
    k.order = (uint8_t)order;
    k.t_per_row = (uint8_t)per_row;
    bytes = dkgen_kron_matvec_s8_get_buffer_size(&k);
    scratch = guarded_alloc(bytes, GUARD_FILL);
    dkgen_kron_matvec_s8(&k, x, acc, (int16_t *)(void *)scratch);
    if (!guard_intact(scratch, bytes, GUARD_FILL)) {
        fprintf(stderr, "kernel_driver_s8: kron wrote past its scratch\n");
        exit(3);
    }
    write_bytes(&bytes, sizeof bytes);
    write_bytes(acc, (size_t)m1 * m2 * sizeof(int32_t));
    free(a);
    free(b);
    free(mult);
    free(shift);
    free(x);
    free(acc);
    free(scratch);
    return 0;
}

static int run_kron_multi(void)
{
    dkgen_kron_multi_s8_t k;
    uint32_t sz[14];
    uint32_t i, rows, cols, bytes, m_in, n_in;
    int8_t *a, *ia, *ib, *in_shift, *t_shift, *x;
    int32_t *in_mult, *t_mult, *acc, *inner_acc;
    unsigned char *scratch;

    for (i = 0u; i < 14u; i++) {
        sz[i] = read_u32();
    }
    a = (int8_t *)read_array((size_t)sz[0] * sz[1], 1u);
    ia = (int8_t *)read_array((size_t)sz[2] * sz[3], 1u);
    ib = (int8_t *)read_array((size_t)sz[4] * sz[5], 1u);
    in_mult = (int32_t *)read_array(sz[9], sizeof(int32_t));
    in_shift = (int8_t *)read_array(sz[9], 1u);
    t_mult = (int32_t *)read_array(sz[11], sizeof(int32_t));
    t_shift = (int8_t *)read_array(sz[11], 1u);
    rows = sz[0] * sz[2] * sz[4];
    cols = sz[1] * sz[3] * sz[5];
    x = (int8_t *)read_array(cols, 1u);
    acc = (int32_t *)read_array(rows, sizeof(int32_t));
    expect_eof();

    m_in = sz[2] * sz[4];
    n_in = sz[3] * sz[5];
    memset(&k, 0, sizeof k);
    k.outer.t_max = (int16_t)sz[12];
    if (sz[13] == DKGEN_KRON_ORDER_AX) {
        k.outer.b = a;
        k.outer.m1 = to_u16(m_in);
        k.outer.n1 = to_u16(n_in);
        k.outer.m2 = to_u16(sz[0]);
        k.outer.n2 = to_u16(sz[1]);
        k.outer.order = DKGEN_KRON_ORDER_AX;
    } else {
        k.outer.a = a;
        k.outer.m1 = to_u16(sz[0]);
        k.outer.n1 = to_u16(sz[1]);
        k.outer.m2 = to_u16(m_in);
        k.outer.n2 = to_u16(n_in);
        k.outer.order = DKGEN_KRON_ORDER_XBT;
    }
    k.inner.a = ia;
    k.inner.b = ib;
    k.inner.t_mult = in_mult;
    k.inner.t_shift = in_shift;
    k.inner.m1 = to_u16(sz[2]);
    k.inner.n1 = to_u16(sz[3]);
    k.inner.m2 = to_u16(sz[4]);
    k.inner.n2 = to_u16(sz[5]);
    k.inner.order = (uint8_t)sz[6];
    k.inner.t_per_row = (uint8_t)sz[7];
    k.inner.t_max = (int16_t)sz[8];
    k.t.mult = t_mult;
    k.t.shift = t_shift;
    k.t.outer = to_u16(sz[2]);
    k.t.inner = to_u16(sz[4]);
    k.t.per = (uint8_t)sz[10];
    bytes = dkgen_kron_multi_matvec_s8_get_buffer_size(&k);
    scratch = guarded_alloc(bytes, GUARD_FILL);
    /* exactly the inner product's rows, so that the sanitizer catches a write past them */
    inner_acc = (int32_t *)malloc((size_t)m_in * sizeof(int32_t));
    if (inner_acc == NULL) {
        die("out of memory");
    }
    dkgen_kron_multi_matvec_s8(&k, x, acc, (int16_t *)(void *)scratch, inner_acc);
    if (!guard_intact(scratch, bytes, GUARD_FILL)) {
        fprintf(stderr, "kernel_driver_s8: kron_multi wrote past its scratch\n");
        exit(3);
    }
    write_bytes(&bytes, sizeof bytes);
    write_bytes(acc, (size_t)rows * sizeof(int32_t));
    free(a);
    free(ia);
    free(ib);
    free(in_mult);
    free(in_shift);
    free(t_mult);
    free(t_shift);
    free(x);
    free(acc);
    free(inner_acc);
    free(scratch);
    return 0;
}

static int run_dope(void)
{
    dkgen_dope_s8_t d;
    const uint32_t count = read_u32();
    const uint32_t cols = read_u32();
    const uint32_t shift = read_u32();
    const uint32_t width = read_u32();
    const uint32_t rows = read_u32();
    void *step = read_array(count, width == 8u ? 1u : 2u);
    int8_t *val = (int8_t *)read_array(count, 1u);
    int8_t *x = (int8_t *)read_array(cols, 1u);
    int32_t *acc = (int32_t *)read_array(rows, sizeof(int32_t));
    expect_eof();
    d.step8 = width == 8u ? (const uint8_t *)step : NULL;
    d.step16 = width == 8u ? NULL : (const uint16_t *)step;
    d.val = val;
    d.count = count;
    d.cols = to_u16(cols);
    d.shift = (uint8_t)shift;
    dkgen_dope_matvec_s8(&d, x, acc);
    write_bytes(acc, rows * sizeof(int32_t));
    free(step);
    free(val);
    free(x);
    free(acc);
    return 0;
}

static int run_activation(int is_tanh)
{
    const uint32_t n = read_u32();
    int16_t *q = (int16_t *)read_array(n, sizeof(int16_t));
    int16_t *y = (int16_t *)xmalloc(n * sizeof(int16_t));
    uint32_t i;
    expect_eof();
    for (i = 0u; i < n; i++) {
        y[i] = is_tanh ? dkgen_tanh_s16(q[i]) : dkgen_sigmoid_s16(q[i]);
    }
    write_bytes(y, n * sizeof(int16_t));
    free(q);
    free(y);
    return 0;
}

static int run_lstm(void)
{
    dkgen_lstm_s16_t p;
    const uint32_t hidden = read_u32();
    const uint32_t cell_frac = read_u32();
    const int32_t h_mult = read_i32v();
    const uint32_t h_shift = read_u32();
    int32_t *gates = (int32_t *)read_array(4u * (size_t)hidden, sizeof(int32_t));
    int16_t *c = (int16_t *)read_array(hidden, sizeof(int16_t));
    int8_t *h = (int8_t *)read_array(hidden, 1u);
    expect_eof();
    p.h_mult = h_mult;
    p.hidden = to_u16(hidden);
    p.h_shift = (int8_t)h_shift;
    p.cell_frac = (uint8_t)cell_frac;
    dkgen_lstm_cell_s16(&p, gates, c, h);
    write_bytes(c, hidden * sizeof(int16_t));
    write_bytes(h, hidden);
    free(gates);
    free(c);
    free(h);
    return 0;
}

/* The pointwise GRU kernels that take (p, gx, gh, h) and update h: the cell
 * (linear_before_reset=1) and, for linear_before_reset=0, the second half (gx as the reset
 * kernel left it, z in its first block; gh = Rb + R (r * h)). */
typedef void (*gru_step_s16)(const dkgen_gru_s16_t *, const int32_t *, const int32_t *, int8_t *);

static int run_gru_step(gru_step_s16 kernel)
{
    dkgen_gru_s16_t p;
    const uint32_t hidden = read_u32();
    const int32_t n_mult = read_i32v();
    const uint32_t n_shift = read_u32();
    int32_t *gx = (int32_t *)read_array(3u * (size_t)hidden, sizeof(int32_t));
    int32_t *gh = (int32_t *)read_array(3u * (size_t)hidden, sizeof(int32_t));
    int8_t *h = (int8_t *)read_array(hidden, 1u);
    expect_eof();
    p.n_mult = n_mult;
    p.hidden = to_u16(hidden);
    p.n_shift = (int8_t)n_shift;
    kernel(&p, gx, gh, h);
    write_bytes(h, hidden);
    free(gx);
    free(gh);
    free(h);
    return 0;
}

static int run_rnn(void)
{
    dkgen_rnn_s16_t p;
    const uint32_t hidden = read_u32();
    const int32_t h_mult = read_i32v();
    const uint32_t h_shift = read_u32();
    int32_t *gates = (int32_t *)read_array(hidden, sizeof(int32_t));
    int8_t *h = (int8_t *)read_array(hidden, 1u);
    expect_eof();
    p.h_mult = h_mult;
    p.hidden = to_u16(hidden);
    p.h_shift = (int8_t)h_shift;
    dkgen_rnn_cell_s16(&p, gates, h);
    write_bytes(h, hidden);
    free(gates);
    free(h);
    return 0;
}

/* linear_before_reset=0, first half. rh comes in holding whatever the test puts there
 * (every element must be overwritten); gx goes back whole, so the test sees that only
 * its z block changed. */
static int run_gru_reset(void)
{
    const uint32_t hidden = read_u32();
    int32_t *gx = (int32_t *)read_array(3u * (size_t)hidden, sizeof(int32_t));
    int32_t *gh = (int32_t *)read_array(3u * (size_t)hidden, sizeof(int32_t));
    int8_t *h = (int8_t *)read_array(hidden, 1u);
    int8_t *rh = (int8_t *)read_array(hidden, 1u);
    expect_eof();
    dkgen_gru_reset_s16(hidden, gx, gh, h, rh);
    write_bytes(gx, 3u * (size_t)hidden * sizeof(int32_t));
    write_bytes(rh, hidden);
    free(gx);
    free(gh);
    free(h);
    free(rh);
    return 0;
}

static int run_softmax(void)
{
    const uint32_t n = read_u32();
    const int32_t beta = read_i32v();
    int8_t *x = (int8_t *)read_array(n, 1u);
    int16_t *y = (int16_t *)xmalloc(n * sizeof(int16_t));
    expect_eof();
    dkgen_softmax_s8(x, n, beta, y);
    write_bytes(y, n * sizeof(int16_t));
    free(x);
    free(y);
    return 0;
}

static int run_affine(void)
{
    dkgen_affine_s8_t p;
    const uint32_t n = read_u32();
    int32_t *mult = (int32_t *)read_array(n, sizeof(int32_t));
    int8_t *shift = (int8_t *)read_array(n, 1u);
    int8_t *sign = (int8_t *)read_array(n, 1u);
    int32_t *bias = (int32_t *)read_array(n, sizeof(int32_t));
    int8_t *x = (int8_t *)read_array(n, 1u);
    expect_eof();
    p.mult = mult;
    p.shift = shift;
    p.sign = sign;
    p.bias = bias;
    p.n = to_u16(n);
    dkgen_affine_s8(&p, x, x); /* in place, as the header allows */
    write_bytes(x, n);
    free(mult);
    free(shift);
    free(sign);
    free(bias);
    free(x);
    return 0;
}

/* clip and leaky relu write in place (x and y may be the same buffer). */
static int run_elementwise(int is_clip)
{
    const uint32_t n = read_u32();
    const int32_t p0 = read_i32v();
    const int32_t p1 = is_clip ? read_i32v() : 0;
    int8_t *x = (int8_t *)read_array(n, 1u);
    expect_eof();
    if (is_clip) {
        dkgen_clip_s8(x, x, n, (int8_t)p0, (int8_t)p1);
    } else {
        dkgen_leaky_relu_s8(x, x, n, p0);
    }
    write_bytes(x, n);
    free(x);
    return 0;
}

static int run_log_softmax(void)
{
    dkgen_log_softmax_s8_t p;
    const uint32_t n = read_u32();
    p.beta = read_i32v();
    p.d_mult = read_i32v();
    p.d_shift = (int8_t)read_i32v();
    p.l_mult = read_i32v();
    p.l_shift = (int8_t)read_i32v();
    {
        int8_t *x = (int8_t *)read_array(n, 1u);
        int16_t *y = (int16_t *)xmalloc(n * sizeof(int16_t));
        expect_eof();
        dkgen_log_softmax_s8(x, n, &p, y);
        write_bytes(y, n * sizeof(int16_t));
        free(x);
        free(y);
    }
    return 0;
}

static int run_convert(const char *kernel)
{
    const uint32_t n = read_u32();
    const float scale = bits_to_float(read_u32());
    if (strcmp(kernel, "quantize") == 0) {
        float *x = (float *)read_array(n, sizeof(float));
        int8_t *q = (int8_t *)xmalloc(n);
        expect_eof();
        dkgen_quantize_f32_s8(x, n, scale, q);
        write_bytes(q, n);
        free(x);
        free(q);
    } else {
        const int wide = strcmp(kernel, "dequant16") == 0;
        void *q = read_array(n, wide ? sizeof(int16_t) : 1u);
        float *y = (float *)xmalloc(n * sizeof(float));
        expect_eof();
        if (wide) {
            dkgen_dequantize_s16_f32((const int16_t *)q, n, scale, y);
        } else {
            dkgen_dequantize_s8_f32((const int8_t *)q, n, scale, y);
        }
        write_bytes(y, n * sizeof(float));
        free(q);
        free(y);
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *k;
    if (argc != 2) {
        die("usage: kernel_driver_s8 <kernel> < input > output");
    }
    k = argv[1];
    if (strcmp(k, "requant8") == 0) {
        return run_requant(8);
    }
    if (strcmp(k, "requant16") == 0) {
        return run_requant(16);
    }
    if (strcmp(k, "requantadd") == 0) {
        return run_requant(32);
    }
    if (strcmp(k, "dense") == 0) {
        return run_dense(0);
    }
    if (strcmp(k, "dense16") == 0) {
        return run_dense(1);
    }
    if (strcmp(k, "kron") == 0) {
        return run_kron();
    }
    if (strcmp(k, "kron_multi") == 0) {
        return run_kron_multi();
    }
    if (strcmp(k, "dope") == 0) {
        return run_dope();
    }
    if (strcmp(k, "sigmoid") == 0 || strcmp(k, "tanh") == 0) {
        return run_activation(strcmp(k, "tanh") == 0);
    }
    if (strcmp(k, "lstm") == 0) {
        return run_lstm();
    }
    if (strcmp(k, "gru") == 0) {
        return run_gru_step(dkgen_gru_cell_s16);
    }
    if (strcmp(k, "gru_reset") == 0) {
        return run_gru_reset();
    }
    if (strcmp(k, "gru_update") == 0) {
        return run_gru_step(dkgen_gru_update_s16);
    }
    if (strcmp(k, "rnn") == 0) {
        return run_rnn();
    }
    if (strcmp(k, "logsoftmax") == 0) {
        return run_log_softmax();
    }
    if (strcmp(k, "softmax") == 0) {
        return run_softmax();
    }
    if (strcmp(k, "affine") == 0) {
        return run_affine();
    }
    if (strcmp(k, "clip") == 0 || strcmp(k, "leaky") == 0) {
        return run_elementwise(strcmp(k, "clip") == 0);
    }
    if (strcmp(k, "quantize") == 0 || strcmp(k, "dequant8") == 0 || strcmp(k, "dequant16") == 0) {
        return run_convert(k);
    }
    die("unknown kernel");
    return 2;
}
