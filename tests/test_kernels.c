/*
 * test_kernels.c - every SIMD kernel table this CPU can run, against the
 * plain-C reference kernels, on odd shapes: 1..33 channels, odd sizes,
 * padding, stride 1 and 2, dilation 2 and 6, groups and depthwise, 1x1, 7x7,
 * fused ReLU, with and without bias; the forward also with weights packed
 * once (conv2d_forward_packed). Backward kernels accumulate, so they
 * start from nonzero buffers. Tolerance is relative to the magnitude of the
 * reference result (summation order differs between kernels).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

typedef struct {
    int n, cin, h, w, cout, kh, kw, sh, sw, ph, pw, dh, dw, groups;
    bool bias, relu;
} kcase;

static const kcase cases[] = {
    /* n cin  h   w cout kh kw sh sw ph pw dh dw  g   bias   relu */
    {1, 1, 5, 5, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, true, false},      /* one channel      */
    {2, 3, 7, 9, 17, 3, 3, 1, 1, 1, 1, 1, 1, 1, true, true},      /* first layer      */
    {1, 7, 17, 13, 33, 3, 3, 1, 1, 1, 1, 1, 1, 1, false, false},  /* no bias          */
    {1, 17, 9, 11, 7, 3, 3, 2, 2, 1, 1, 1, 1, 1, true, false},    /* stride 2         */
    {1, 3, 15, 13, 5, 3, 3, 1, 1, 2, 2, 2, 2, 1, true, true},     /* dilation 2       */
    {1, 5, 25, 23, 9, 3, 3, 1, 1, 6, 6, 6, 6, 1, true, false},    /* dilation 6       */
    {1, 6, 9, 9, 9, 3, 3, 1, 1, 1, 1, 1, 1, 3, true, false},      /* groups           */
    {2, 7, 11, 10, 7, 3, 3, 1, 1, 1, 1, 1, 1, 7, true, true},     /* depthwise        */
    {1, 33, 8, 7, 33, 3, 3, 2, 2, 1, 1, 1, 1, 33, false, false},  /* depthwise s2     */
    {1, 33, 7, 9, 17, 1, 1, 1, 1, 0, 0, 1, 1, 1, true, false},    /* 1x1              */
    {1, 17, 9, 7, 3, 1, 1, 2, 2, 0, 0, 1, 1, 1, true, false},     /* 1x1 stride 2     */
    {1, 3, 23, 21, 17, 7, 7, 2, 2, 3, 3, 1, 1, 1, true, true},    /* 7x7 stride 2     */
    {1, 33, 12, 45, 20, 3, 3, 1, 1, 1, 1, 1, 1, 1, true, true},   /* K > one k block  */
    {2, 4, 13, 70, 15, 3, 1, 2, 1, 1, 0, 1, 1, 1, true, false},   /* 3x1, mixed stride */
    {1, 8, 37, 38, 16, 3, 3, 1, 1, 0, 0, 1, 1, 2, false, true},   /* no padding, g=2  */
    /* 3x3 stride 1, >= 16 channels, >= 256 2x2 tiles: the Winograd path */
    {11, 16, 9, 10, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, true, true},   /* batch 11, odd H  */
    {2, 20, 31, 33, 24, 3, 3, 1, 1, 0, 0, 1, 1, 1, true, false},  /* no padding       */
    {4, 17, 17, 18, 19, 3, 3, 1, 1, 2, 2, 1, 1, 1, false, false}, /* padding 2        */
    {1, 64, 35, 37, 33, 3, 3, 1, 1, 1, 1, 1, 1, 1, true, true},   /* many tiles       */
    {1, 16, 19, 19, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, true, false},  /* too few: GEMM    */
};

/* max |v| over n values, at least 1 */
static double max_abs(const float *v, size_t n) {
    double m = 1.0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)v[i]));
    return m;
}

static nn_conv2d_shape make_shape(const kcase *c) {
    nn_conv2d_shape s = {
        .n = c->n, .cin = c->cin, .h = c->h, .w = c->w, .cout = c->cout, .kh = c->kh, .kw = c->kw,
        .stride_h = c->sh, .stride_w = c->sw, .pad_h = c->ph, .pad_w = c->pw, .dil_h = c->dh,
        .dil_w = c->dw, .groups = c->groups, .relu = c->relu,
    };
    s.hout = (c->h + 2 * c->ph - c->dh * (c->kh - 1) - 1) / c->sh + 1;
    s.wout = (c->w + 2 * c->pw - c->dw * (c->kw - 1) - 1) / c->sw + 1;
    return s;
}

/* Compares one ISA's three kernels with the reference on case c. */
static void check_case(const nn_kernels *k, const kcase *c, int idx) {
    nn_conv2d_shape s = make_shape(c);
    const nn_kernels *ref = &nn_kernels_reference;
    size_t nx = (size_t)s.n * s.cin * s.h * s.w, ny = (size_t)s.n * s.cout * s.hout * s.wout;
    size_t nw = (size_t)s.cout * (s.cin / s.groups) * s.kh * s.kw, nb = (size_t)s.cout;
    float *x = tu_rand_floats(nx, 11 + idx), *w = tu_rand_floats(nw, 23 + idx), *b = tu_rand_floats(nb, 37 + idx);
    float *dy = tu_rand_floats(ny, 41 + idx);
    float *bias = c->bias ? b : NULL;

    /* forward: the output starts as garbage, both must overwrite it */
    float *y_ref = tu_rand_floats(ny, 5), *y = tu_rand_floats(ny, 6);
    ref->conv2d_forward(&s, x, w, bias, y_ref);
    k->conv2d_forward(&s, x, w, bias, y);
    double scale = max_abs(y_ref, ny);
    ck_assert_msg(ref->conv2d_forward_packed == NULL, "the reference packs nothing");
    double e = tu_max_rel_err(y, y_ref, ny, 1e-5 * scale, 1e-5);
    ck_assert_msg(e <= 1.0, "%s forward, case %d: error %.3g", k->name, idx, e);

    /* backward data, accumulating into a nonzero dx */
    float *dx_ref = tu_rand_floats(nx, 7), *dx = tu_copy_floats(dx_ref, nx);
    ref->conv2d_backward_data(&s, dy, w, dx_ref);
    k->conv2d_backward_data(&s, dy, w, dx);
    scale = max_abs(dx_ref, nx);
    e = tu_max_rel_err(dx, dx_ref, nx, 1e-5 * scale, 1e-5);
    ck_assert_msg(e <= 1.0, "%s backward data, case %d: error %.3g", k->name, idx, e);

    /* backward weights (and bias), accumulating into nonzero dw / db */
    float *dw_ref = tu_rand_floats(nw, 8), *dw = tu_copy_floats(dw_ref, nw);
    float *db_ref = tu_rand_floats(nb, 9), *db = tu_copy_floats(db_ref, nb);
    ref->conv2d_backward_weights(&s, x, dy, dw_ref, c->bias ? db_ref : NULL);
    k->conv2d_backward_weights(&s, x, dy, dw, c->bias ? db : NULL);
    scale = max_abs(dw_ref, nw);
    e = tu_max_rel_err(dw, dw_ref, nw, 1e-5 * scale, 1e-5);
    ck_assert_msg(e <= 1.0, "%s backward weights, case %d: error %.3g", k->name, idx, e);
    scale = max_abs(db_ref, nb);
    e = tu_max_rel_err(db, db_ref, nb, 1e-5 * scale, 1e-5);
    ck_assert_msg(e <= 1.0, "%s backward bias, case %d: error %.3g", k->name, idx, e);

    /* forward with weights packed once (inference), if the table has it */
    if (k->conv2d_forward_packed) {
        size_t np = k->conv2d_packed_floats(&s);
        ck_assert_uint_gt(np, 0);
        float *packed = nn_aligned_alloc(np * sizeof(float));
        ck_assert_ptr_nonnull(packed);
        k->conv2d_pack_weights(&s, w, packed);
        for (size_t i = 0; i < ny; i++) y[i] = -7.0f; /* must be overwritten */
        k->conv2d_forward_packed(&s, x, packed, bias, y);
        scale = max_abs(y_ref, ny);
        e = tu_max_rel_err(y, y_ref, ny, 1e-5 * scale, 1e-5);
        ck_assert_msg(e <= 1.0, "%s forward packed, case %d: error %.3g", k->name, idx, e);
        nn_aligned_free(packed);
    }

    free(x), free(w), free(b), free(dy), free(y_ref), free(y);
    free(dx_ref), free(dx), free(dw_ref), free(dw), free(db_ref), free(db);
}

static void check_isa(nn_isa isa, int idx) {
    const nn_kernels *k = nn_kernels_for(isa);
    if (!k) return; /* this CPU lacks it: nothing to compare */
    ck_assert_str_eq(k->name, nn_isa_name(isa));
    check_case(k, &cases[idx], idx);
}

START_TEST(avx2_vs_reference) { check_isa(NN_ISA_AVX2, _i); }
END_TEST
START_TEST(avx512_vs_reference) { check_isa(NN_ISA_AVX512, _i); }
END_TEST

/* The same case with 1 and with 2 threads (work splits differ). */
START_TEST(thread_counts) {
    int saved = nn_threads_get();
    for (int t = 1; t <= 3; t++) {
        nn_threads_set(t);
        for (int isa = NN_ISA_AVX2; isa <= NN_ISA_AVX512; isa++) check_isa((nn_isa)isa, _i);
    }
    nn_threads_set(saved);
}
END_TEST

/* Training is reproducible: with the same thread count, every kernel gives
 * the same bits in every run, whatever the threads' timing. Weight gradients
 * are summed over images in per-task accumulators; were the images dealt to
 * tasks from a shared counter, the sums' grouping (and the last bits) would
 * change from run to run. Each case runs 12 times on 2 and 3 threads. */
START_TEST(same_bits_every_run) {
    const kcase *c = &cases[_i];
    nn_conv2d_shape s = make_shape(c);
    size_t nx = (size_t)s.n * s.cin * s.h * s.w, ny = (size_t)s.n * s.cout * s.hout * s.wout;
    size_t nw = (size_t)s.cout * (s.cin / s.groups) * s.kh * s.kw, nb = (size_t)s.cout;
    float *x = tu_rand_floats(nx, 3), *dy = tu_rand_floats(ny, 4), *w = tu_rand_floats(nw, 5);
    float *dw0 = malloc(nw * sizeof *dw0), *db0 = malloc(nb * sizeof *db0);
    float *dx0 = malloc(nx * sizeof *dx0), *dw = malloc(nw * sizeof *dw);
    float *db = malloc(nb * sizeof *db), *dx = malloc(nx * sizeof *dx);
    ck_assert(dw0 && db0 && dx0 && dw && db && dx);
    int saved = nn_threads_get();
    for (int t = 2; t <= 3; t++) {
        nn_threads_set(t);
        for (int isa = NN_ISA_AVX2; isa <= NN_ISA_AVX512; isa++) {
            const nn_kernels *k = nn_kernels_for((nn_isa)isa);
            if (!k) continue;
            for (int run = 0; run < 12; run++) {
                float *gw = run ? dw : dw0, *gb = run ? db : db0, *gx = run ? dx : dx0;
                memset(gw, 0, nw * sizeof *gw), memset(gb, 0, nb * sizeof *gb);
                memset(gx, 0, nx * sizeof *gx);
                k->conv2d_backward_weights(&s, x, dy, gw, gb);
                k->conv2d_backward_data(&s, dy, w, gx);
                if (!run) continue;
                ck_assert_msg(!memcmp(dw, dw0, nw * sizeof *dw) && !memcmp(db, db0, nb * sizeof *db),
                              "%s, %d threads, case %d: run %d's weight gradient differs",
                              k->name, t, _i, run);
                ck_assert_msg(!memcmp(dx, dx0, nx * sizeof *dx),
                              "%s, %d threads, case %d: run %d's data gradient differs", k->name,
                              t, _i, run);
            }
        }
    }
    nn_threads_set(saved);
    free(x), free(dy), free(w), free(dw0), free(db0), free(dx0), free(dw), free(db), free(dx);
}
END_TEST

/* Packed weights are valid for any batch size: pack for one image, run two.
 * One shape packs Winograd's U (3x3, 17x18 tiles), one GEMM panels. */
START_TEST(packed_any_batch) {
    static const kcase shapes[2] = {
        {2, 17, 33, 35, 19, 3, 3, 1, 1, 1, 1, 1, 1, 1, true, true},
        {2, 17, 33, 35, 19, 3, 3, 2, 2, 1, 1, 1, 1, 1, true, false},
    };
    for (int isa = NN_ISA_AVX2; isa <= NN_ISA_AVX512; isa++) {
        const nn_kernels *k = nn_kernels_for((nn_isa)isa);
        if (!k) continue;
        for (int c = 0; c < 2; c++) {
            nn_conv2d_shape s = make_shape(&shapes[c]), one = s;
            one.n = 1;
            size_t nx = (size_t)s.n * s.cin * s.h * s.w, ny = (size_t)s.n * s.cout * s.hout * s.wout;
            size_t nw = (size_t)s.cout * s.cin * 9;
            float *x = tu_rand_floats(nx, 1), *w = tu_rand_floats(nw, 2), *b = tu_rand_floats(s.cout, 3);
            float *y_ref = tu_rand_floats(ny, 4), *y = tu_rand_floats(ny, 5);
            float *packed = nn_aligned_alloc(k->conv2d_packed_floats(&one) * sizeof(float));
            ck_assert_ptr_nonnull(packed);
            k->conv2d_pack_weights(&one, w, packed);
            k->conv2d_forward_packed(&s, x, packed, b, y);
            nn_kernels_reference.conv2d_forward(&s, x, w, b, y_ref);
            double e = tu_max_rel_err(y, y_ref, ny, 1e-5 * max_abs(y_ref, ny), 1e-5);
            ck_assert_msg(e <= 1.0, "%s packed, shape %d: error %.3g", k->name, c, e);
            nn_aligned_free(packed);
            free(x), free(w), free(b), free(y_ref), free(y);
        }
    }
}
END_TEST

/* nn_conv2d through the kernel table, with each ISA forced by nn_set_isa:
 * output and all three gradients must agree with the reference ISA. */
static void run_op(nn_isa isa, float *out, size_t *offsets) {
    ck_assert_int_eq(nn_set_isa(isa), NN_OK);
    int xs[4] = {2, 5, 11, 13}, ws[4] = {6, 5, 3, 3}, bs[1] = {6};
    nn_tensor *x = tu_param(4, xs, -1, 1, 1), *w = tu_param(4, ws, -1, 1, 2);
    nn_tensor *b = tu_param(1, bs, -1, 1, 3);
    nn_conv2d_params p = nn_conv2d_default();
    p.pad_h = p.pad_w = 1;
    p.relu = true;
    nn_ctx *ctx = nn_ctx_create();
    nn_tensor *y = nn_conv2d(ctx, x, w, b, &p);
    ck_assert_msg(y != NULL, "%s", nn_ctx_error(ctx));
    ck_assert_int_eq(nn_backward(ctx, nn_sum(ctx, nn_mul(ctx, y, y))), NN_OK);
    size_t o = 0;
    const nn_tensor *parts[4] = {y, x, w, b};
    for (int i = 0; i < 4; i++) {
        const float *src = i == 0 ? parts[i]->data : parts[i]->grad;
        memcpy(out + o, src, parts[i]->numel * sizeof(float));
        offsets[i] = o;
        o += parts[i]->numel;
    }
    offsets[4] = o;
    nn_ctx_destroy(ctx);
    nn_tensor_free(x), nn_tensor_free(w), nn_tensor_free(b);
}

START_TEST(op_under_forced_isa) {
    enum { TOTAL = 2 * 6 * 11 * 13 + 2 * 5 * 11 * 13 + 6 * 5 * 9 + 6 };
    static float ref[TOTAL], got[TOTAL];
    size_t off[5];
    nn_isa best = nn_cpu_best_isa();
    run_op(NN_ISA_REFERENCE, ref, off);
    ck_assert_uint_eq(off[4], TOTAL);
    ck_assert_str_eq(nn_kernels_get()->name, "reference");
    for (int isa = NN_ISA_AVX2; isa <= (int)best; isa++) {
        run_op((nn_isa)isa, got, off);
        ck_assert_str_eq(nn_kernels_get()->name, nn_isa_name((nn_isa)isa));
        for (int part = 0; part < 4; part++) {
            size_t n = off[part + 1] - off[part];
            double scale = max_abs(ref + off[part], n);
            double e = tu_max_rel_err(got + off[part], ref + off[part], n, 1e-5 * scale, 1e-5);
            ck_assert_msg(e <= 1.0, "%s, part %d: error %.3g", nn_isa_name((nn_isa)isa), part, e);
        }
    }
    ck_assert_int_eq(nn_set_isa(best), NN_OK);
    /* an ISA above what the CPU has is refused */
    if (best < NN_ISA_AVX512) ck_assert_int_ne(nn_set_isa(NN_ISA_AVX512), NN_OK);
}
END_TEST

Suite *kernels_suite(void) {
    Suite *s = suite_create("kernels");
    TCase *tc = tcase_create("simd_vs_reference");
    tcase_set_timeout(tc, 60);
    int n = (int)(sizeof cases / sizeof cases[0]);
    tcase_add_loop_test(tc, avx2_vs_reference, 0, n);
    tcase_add_loop_test(tc, avx512_vs_reference, 0, n);
    tcase_add_loop_test(tc, thread_counts, 0, n);
    tcase_add_loop_test(tc, same_bits_every_run, 0, n);
    tcase_add_test(tc, packed_any_batch);
    tcase_add_test(tc, op_under_forced_isa);
    suite_add_tcase(s, tc);
    return s;
}
