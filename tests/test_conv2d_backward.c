/*
 * test_conv2d_backward.c - the convolution backward kernels (gradient of the
 * input and of the weights and bias) of every SIMD table this CPU can run,
 * on 1 and 2 threads, against the plain-C reference kernels; and
 * finite-difference gradient checks of nn_conv2d on shapes that take the
 * SIMD backward-weights path (at least 16 output channels per group, which
 * the outer-product kernel needs on AVX-512).
 *
 * The cases aim at that kernel's edges: 1, 3, 7, 17, 33 and 130 input
 * channels (a k panel spanning taps and channels), output channels that are
 * not a multiple of a panel, several pixel blocks with a short last one,
 * stride, dilation (one tap per span), groups, 1x1 and 7x7, batch 1 and
 * more, and an accumulator large enough to be split into channel slices;
 * Winograd backward data on batches shared out among threads by image; and
 * Winograd backward weights where its rule takes it (the forced odd shapes
 * are in test_winograd.c).
 * Backward kernels accumulate, so every output starts nonzero.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

typedef struct {
    int n, cin, h, w, cout, kh, kw, sh, sw, ph, pw, dh, dw, groups;
} bcase;

static const bcase cases[] = {
    /* n cin   h   w cout kh kw sh sw ph pw dh dw  g */
    {3, 1, 9, 11, 17, 3, 3, 1, 1, 1, 1, 1, 1, 1},     /* one input channel          */
    {2, 3, 13, 10, 33, 3, 3, 1, 1, 1, 1, 1, 1, 1},    /* first layer, 33 outputs    */
    {3, 7, 17, 9, 16, 3, 3, 2, 2, 1, 1, 1, 1, 1},     /* stride 2                   */
    {1, 17, 15, 14, 20, 3, 3, 1, 1, 2, 2, 2, 2, 1},   /* dilation 2: a span per tap */
    {1, 5, 25, 23, 16, 3, 3, 1, 1, 6, 6, 6, 6, 1},    /* dilation 6                 */
    {2, 33, 7, 8, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1},     /* spans longer than a panel  */
    {1, 34, 9, 9, 34, 3, 3, 1, 1, 1, 1, 1, 1, 2},     /* groups: 17 in, 17 out each */
    {2, 5, 40, 37, 17, 3, 3, 1, 1, 1, 1, 1, 1, 1},    /* blocks, a short last one   */
    {1, 3, 23, 21, 24, 7, 7, 2, 2, 3, 3, 1, 1, 1},    /* 7x7 stride 2               */
    {1, 9, 6, 70, 18, 1, 1, 1, 1, 0, 0, 1, 1, 1},     /* 1x1                        */
    {2, 4, 13, 30, 19, 3, 1, 2, 1, 1, 0, 1, 1, 1},    /* 3x1, mixed stride          */
    {1, 3, 7, 9, 17, 3, 3, 1, 1, 0, 0, 1, 1, 1},      /* no padding, batch 1        */
    {1, 130, 7, 9, 231, 3, 3, 1, 1, 1, 1, 1, 1, 1},   /* accumulator in slices      */
    {5, 16, 6, 5, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1},      /* narrow: the dot-tile path  */
    /* Winograd backward data with images shared out among threads */
    {5, 17, 15, 16, 18, 3, 3, 1, 1, 1, 1, 1, 1, 1},   /* one image per chunk        */
    {9, 16, 12, 11, 16, 3, 3, 1, 1, 0, 0, 1, 1, 1},   /* two per chunk, a short one */
    /* Winograd backward weights by the rule (wgb_pays: >= 16 in, >= 6 out,
     * >= 64 tiles; the two cases above take it too) */
    {2, 24, 35, 21, 10, 3, 3, 1, 1, 0, 0, 1, 1, 1},   /* 33x19, no padding, 90 tiles */
    {1, 40, 50, 45, 33, 3, 3, 1, 1, 1, 1, 1, 1, 1},   /* 50x45: bands on 2 threads  */
};
#define N_CASES ((int)(sizeof cases / sizeof cases[0]))

static nn_conv2d_shape make_shape(const bcase *c) {
    nn_conv2d_shape s = {
        .n = c->n, .cin = c->cin, .h = c->h, .w = c->w, .cout = c->cout, .kh = c->kh, .kw = c->kw,
        .stride_h = c->sh, .stride_w = c->sw, .pad_h = c->ph, .pad_w = c->pw, .dil_h = c->dh,
        .dil_w = c->dw, .groups = c->groups,
    };
    s.hout = (c->h + 2 * c->ph - c->dh * (c->kh - 1) - 1) / c->sh + 1;
    s.wout = (c->w + 2 * c->pw - c->dw * (c->kw - 1) - 1) / c->sw + 1;
    return s;
}

static double max_abs(const float *v, size_t n) {
    double m = 1.0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)v[i]));
    return m;
}

/* Both backward kernels of table k against the reference on case idx. */
static void check_case(const nn_kernels *k, int idx, int threads) {
    const bcase *c = &cases[idx];
    nn_conv2d_shape s = make_shape(c);
    const nn_kernels *ref = &nn_kernels_reference;
    size_t nx = (size_t)s.n * s.cin * s.h * s.w, ny = (size_t)s.n * s.cout * s.hout * s.wout;
    size_t nw = (size_t)s.cout * (s.cin / s.groups) * s.kh * s.kw, nb = (size_t)s.cout;
    float *x = tu_rand_floats(nx, 101 + idx), *w = tu_rand_floats(nw, 211 + idx), *dy = tu_rand_floats(ny, 307 + idx);

    float *dx_ref = tu_rand_floats(nx, 401 + idx), *dx = tu_copy_floats(dx_ref, nx);
    ref->conv2d_backward_data(&s, dy, w, dx_ref);
    k->conv2d_backward_data(&s, dy, w, dx);
    double e = tu_max_rel_err(dx, dx_ref, nx, 2e-5 * max_abs(dx_ref, nx), 2e-5);
    ck_assert_msg(e <= 1.0, "%s, %d threads, backward data, case %d: error %.3g", k->name,
                  threads, idx, e);

    float *dw_ref = tu_rand_floats(nw, 503 + idx), *dw = tu_copy_floats(dw_ref, nw);
    float *db_ref = tu_rand_floats(nb, 601 + idx), *db = tu_copy_floats(db_ref, nb);
    ref->conv2d_backward_weights(&s, x, dy, dw_ref, db_ref);
    k->conv2d_backward_weights(&s, x, dy, dw, db);
    e = tu_max_rel_err(dw, dw_ref, nw, 2e-5 * max_abs(dw_ref, nw), 2e-5);
    ck_assert_msg(e <= 1.0, "%s, %d threads, backward weights, case %d: error %.3g", k->name,
                  threads, idx, e);
    e = tu_max_rel_err(db, db_ref, nb, 2e-5 * max_abs(db_ref, nb), 2e-5);
    ck_assert_msg(e <= 1.0, "%s, %d threads, backward bias, case %d: error %.3g", k->name,
                  threads, idx, e);

    /* a second call without a bias accumulates the same again */
    k->conv2d_backward_weights(&s, x, dy, dw, NULL);
    ref->conv2d_backward_weights(&s, x, dy, dw_ref, NULL);
    e = tu_max_rel_err(dw, dw_ref, nw, 2e-5 * max_abs(dw_ref, nw), 2e-5);
    ck_assert_msg(e <= 1.0, "%s, %d threads, backward weights without bias, case %d: error %.3g",
                  k->name, threads, idx, e);

    free(x), free(w), free(dy), free(dx_ref), free(dx);
    free(dw_ref), free(dw), free(db_ref), free(db);
}

/* Every ISA this CPU has, on 1 and 2 threads. */
START_TEST(kernels_vs_reference) {
    int saved = nn_threads_get();
    int checked = 0;
    for (int isa = NN_ISA_AVX2; isa <= NN_ISA_AVX512; isa++) {
        const nn_kernels *k = nn_kernels_for((nn_isa)isa);
        if (!k) continue; /* this CPU lacks it */
        for (int threads = 1; threads <= 2; threads++) {
            nn_threads_set(threads);
            check_case(k, _i, threads);
            checked++;
        }
    }
    nn_threads_set(saved);
    if (nn_cpu_best_isa() >= NN_ISA_AVX2) ck_assert_int_gt(checked, 0);
}
END_TEST

/* ---- finite-difference gradient checks through nn_conv2d */

typedef struct {
    nn_conv2d_params p;
} conv_arg;

static nn_tensor *conv_fn(nn_ctx *ctx, nn_tensor **in, void *arg) {
    conv_arg *c = arg;
    return nn_conv2d(ctx, in[0], in[1], in[2], &c->p);
}

static void check_grad(int n, int cin, int h, int w, int cout, int k, int stride, int pad, int dil,
                       int groups, bool relu, int threads) {
    conv_arg c = {.p = nn_conv2d_default()};
    c.p.stride_h = c.p.stride_w = stride;
    c.p.pad_h = c.p.pad_w = pad;
    c.p.dilation_h = c.p.dilation_w = dil;
    c.p.groups = groups;
    c.p.relu = relu;
    int xs[4] = {n, cin, h, w}, ws[4] = {cout, cin / groups, k, k}, bs[1] = {cout};
    nn_tensor *in[3] = {tu_param(4, xs, -1, 1, 11), tu_param(4, ws, -1, 1, 12),
                        tu_param(1, bs, -1, 1, 13)};
    /* With a fused ReLU, a pre-activation within eps of zero would make the
     * finite difference straddle the kink; biases of +-5 keep the outputs of
     * each channel on one side (half the channels pass, half are cut). */
    if (relu)
        for (int i = 0; i < cout; i++) in[2]->data[i] = i % 2 ? -5.0f : 5.0f;
    int saved = nn_threads_get();
    nn_threads_set(threads);
    tu_assert_gradcheck(conv_fn, &c, 3, in);
    nn_threads_set(saved);
    for (int i = 0; i < 3; i++) nn_tensor_free(in[i]);
}

START_TEST(grad_three_channels) { check_grad(2, 3, 7, 6, 17, 3, 1, 1, 1, 1, false, 1); }
END_TEST
START_TEST(grad_one_channel_two_threads) { check_grad(3, 1, 5, 7, 16, 3, 1, 1, 1, 1, false, 2); }
END_TEST
START_TEST(grad_stride2) { check_grad(1, 7, 9, 7, 17, 3, 2, 1, 1, 1, false, 2); }
END_TEST
START_TEST(grad_dilation2) { check_grad(1, 3, 9, 8, 16, 3, 1, 2, 2, 1, false, 1); }
END_TEST
START_TEST(grad_groups) { check_grad(1, 4, 5, 5, 34, 3, 1, 1, 1, 2, false, 2); }
END_TEST
START_TEST(grad_fused_relu) { check_grad(2, 3, 6, 6, 33, 3, 1, 1, 1, 1, true, 2); }
END_TEST

Suite *conv2d_backward_suite(void) {
    Suite *s = suite_create("conv2d_backward");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, kernels_vs_reference, 0, N_CASES);
    tcase_add_test(tc, grad_three_channels);
    tcase_add_test(tc, grad_one_channel_two_threads);
    tcase_add_test(tc, grad_stride2);
    tcase_add_test(tc, grad_dilation2);
    tcase_add_test(tc, grad_groups);
    tcase_add_test(tc, grad_fused_relu);
    suite_add_tcase(s, tc);
    return s;
}
