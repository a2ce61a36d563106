/* test_pool.c - max / average / global average pooling: gradient checks,
 * PyTorch references, hand-computed corner cases, bad arguments. */
#include <string.h>

#include "testutil.h"

typedef struct {
    bool max; /* max pooling, else average */
    nn_pool2d_params p;
} pool_case;

static nn_tensor *pool_fn(nn_ctx *ctx, nn_tensor **in, void *arg) {
    pool_case *c = arg;
    return c->max ? nn_max_pool2d(ctx, in[0], &c->p) : nn_avg_pool2d(ctx, in[0], &c->p);
}

static nn_tensor *global_pool_fn(nn_ctx *ctx, nn_tensor **in, void *arg) {
    return nn_global_avg_pool2d(ctx, in[0]);
}

/* x holds a shuffled 0.05-spaced ramp: all values distinct and 0.05 apart, so
 * the gradient check's +-0.01 steps never change which element is a max. */
static void fill_distinct(nn_tensor *x, uint64_t seed) {
    for (size_t i = 0; i < x->numel; i++) x->data[i] = 0.05f * (float)i - 0.025f * (float)x->numel;
    uint64_t s = seed;
    for (size_t i = x->numel - 1; i > 0; i--) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        size_t j = (size_t)((s >> 33) % (i + 1));
        float t = x->data[i];
        x->data[i] = x->data[j];
        x->data[j] = t;
    }
}

static void check_grad(bool max, int n, int c, int h, int w, int kh, int kw, int sh, int sw,
                       int ph, int pw, bool ceil_mode, bool include_pad) {
    pool_case pc = {.max = max, .p = nn_pool2d_default(kh, sh)};
    pc.p.kernel_w = kw;
    pc.p.stride_w = sw;
    pc.p.pad_h = ph;
    pc.p.pad_w = pw;
    pc.p.ceil_mode = ceil_mode;
    pc.p.count_include_pad = include_pad;
    int xs[4] = {n, c, h, w};
    nn_tensor *x = tu_param(4, xs, -1, 1, 7);
    if (max) fill_distinct(x, 11);
    tu_assert_gradcheck(pool_fn, &pc, 1, &x);
    nn_tensor_free(x);
}

/*                                            max    N  C  H  W kh kw sh sw ph pw  ceil  incl */
START_TEST(grad_max_k2s2) { check_grad(true, 2, 3, 5, 7, 2, 2, 2, 2, 0, 0, false, true); }
END_TEST
START_TEST(grad_max_k3s2p1_ceil) { check_grad(true, 1, 1, 7, 7, 3, 3, 2, 2, 1, 1, true, true); }
END_TEST
START_TEST(grad_max_ceil_drop_last) { check_grad(true, 1, 3, 5, 7, 2, 2, 2, 2, 1, 1, true, true); }
END_TEST
START_TEST(grad_max_k3s1p1_seven) { check_grad(true, 1, 7, 5, 3, 3, 3, 1, 1, 1, 1, false, true); }
END_TEST
START_TEST(grad_max_rect) { check_grad(true, 1, 3, 7, 6, 3, 2, 2, 1, 1, 0, false, true); }
END_TEST
START_TEST(grad_avg_incl) { check_grad(false, 2, 3, 7, 5, 3, 3, 2, 2, 1, 1, false, true); }
END_TEST
START_TEST(grad_avg_excl) { check_grad(false, 1, 7, 5, 5, 3, 3, 2, 2, 1, 1, false, false); }
END_TEST
START_TEST(grad_avg_ceil_incl) { check_grad(false, 1, 1, 5, 7, 2, 2, 2, 2, 1, 1, true, true); }
END_TEST
START_TEST(grad_avg_ceil_excl) { check_grad(false, 1, 3, 7, 5, 3, 3, 2, 2, 1, 0, true, false); }
END_TEST
START_TEST(grad_avg_ceil_nopad) { check_grad(false, 1, 3, 8, 7, 3, 3, 2, 2, 0, 0, true, true); }
END_TEST

START_TEST(grad_global_avg) {
    int shapes[2][4] = {{2, 3, 5, 7}, {1, 7, 1, 3}};
    for (int k = 0; k < 2; k++) {
        nn_tensor *x = tu_param(4, shapes[k], -1, 1, 5 + k);
        tu_assert_gradcheck(global_pool_fn, NULL, 1, &x);
        nn_tensor_free(x);
    }
}
END_TEST

/* Forward and dx against PyTorch for fixtures/pool_<name>.nnfx. */
static void check_fixture(const char *name) {
    char path[256];
    snprintf(path, sizeof path, "fixtures/pool_%s.nnfx", name);
    tu_fixture *fx = tu_fixture_load(path);
    ck_assert_msg(fx != NULL, "missing fixture %s", path);
    nn_tensor *x = tu_fixture_tensor(fx, "x"), *r = tu_fixture_tensor(fx, "r");
    nn_tensor_set_requires_grad(x, true);
    nn_ctx *ctx = nn_ctx_create();

    nn_tensor *y;
    size_t np;
    const float *prm = tu_fixture_data(fx, "params", &np);
    if (prm) {
        ck_assert_uint_eq(np, 8);
        nn_pool2d_params p = {
            .kernel_h = (int)prm[0], .kernel_w = (int)prm[1], .stride_h = (int)prm[2],
            .stride_w = (int)prm[3], .pad_h = (int)prm[4], .pad_w = (int)prm[5],
            .ceil_mode = prm[6] != 0.0f, .count_include_pad = prm[7] != 0.0f,
        };
        y = strncmp(name, "max", 3) == 0 ? nn_max_pool2d(ctx, x, &p) : nn_avg_pool2d(ctx, x, &p);
    } else {
        y = nn_global_avg_pool2d(ctx, x);
    }
    ck_assert_msg(y != NULL, "%s: %s", name, nn_ctx_error(ctx));
    size_t ny, n;
    const float *y_ref = tu_fixture_data(fx, "y", &ny);
    ck_assert_uint_eq(ny, y->numel);
    ck_assert_uint_eq(r->numel, y->numel);
    tu_assert_close(y->data, y_ref, ny, 1e-5, 1e-5);

    ck_assert_int_eq(nn_backward(ctx, nn_sum(ctx, nn_mul(ctx, y, r))), NN_OK);
    tu_assert_close(x->grad, tu_fixture_data(fx, "dx", &n), x->numel, 1e-5, 1e-5);

    nn_ctx_destroy(ctx);
    nn_tensor_free(x);
    nn_tensor_free(r);
    tu_fixture_free(fx);
}

static const char *const fixture_names[] = {
    "max_k2s2",        "max_k3s2p1_ceil", "max_k2s2p1_ceil", "max_k3s1p1",
    "max_rect",        "avg_k3s2p1_incl", "avg_k3s2p1_excl", "avg_ceil_incl",
    "avg_ceil_excl",   "avg_ceil_nopad",  "avg_rect_excl",   "global_avg",
};

START_TEST(torch_reference) { check_fixture(fixture_names[_i]); }
END_TEST

/* Hand-computed: padding is -inf for max pooling (all-negative input), and
 * ties send the gradient to the first element of the window. */
START_TEST(max_pool_padding_and_ties) {
    nn_ctx *ctx = nn_ctx_create();
    nn_tensor *x = nn_tensor_new4(1, 1, 2, 2);
    float neg[4] = {-4, -3, -2, -1};
    memcpy(x->data, neg, sizeof neg);
    nn_pool2d_params p = nn_pool2d_default(2, 1);
    p.pad_h = p.pad_w = 1; /* 3x3 output; every window holds real values only partly */
    nn_tensor *y = nn_max_pool2d(ctx, x, &p);
    ck_assert_ptr_nonnull(y);
    float want[9] = {-4, -3, -3, -2, -1, -1, -2, -1, -1};
    ck_assert_uint_eq(y->numel, 9);
    tu_assert_close(y->data, want, 9, 0, 0);
    nn_tensor_free(x);

    nn_ctx_reset(ctx);
    x = nn_tensor_new4(1, 1, 4, 4);
    nn_tensor_fill(x, 1.0f);
    nn_tensor_set_requires_grad(x, true);
    y = nn_max_pool2d(ctx, x, &(nn_pool2d_params){.kernel_h = 2, .kernel_w = 2, .stride_h = 2,
                                                 .stride_w = 2});
    ck_assert_int_eq(nn_backward(ctx, nn_sum(ctx, y)), NN_OK);
    float want_dx[16] = {1, 0, 1, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0};
    tu_assert_close(x->grad, want_dx, 16, 0, 0);
    nn_tensor_free(x);
    nn_ctx_destroy(ctx);
}
END_TEST

/* Output sizes worked out by hand with the ceil-mode rule. */
START_TEST(output_sizes) {
    struct {
        int h, k, s, pad;
        bool ceil_mode;
        int want;
    } cases[] = {
        {7, 2, 2, 0, false, 3}, {7, 2, 2, 0, true, 4},  /* ceil adds a half window */
        {5, 2, 2, 1, true, 3},                          /* 4th window would start in the right pad */
        {8, 3, 2, 0, true, 4},  {8, 3, 2, 0, false, 3}, /* SSD-style pool on an even map */
        {38, 2, 2, 0, true, 19}, {19, 3, 1, 1, false, 19},
        {3, 3, 2, 1, true, 2},
    };
    nn_ctx *ctx = nn_ctx_create();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nn_ctx_reset(ctx);
        nn_tensor *x = nn_tensor_new4(1, 1, cases[i].h, 1);
        nn_pool2d_params p = nn_pool2d_default(1, 1);
        p.kernel_h = cases[i].k;
        p.stride_h = cases[i].s;
        p.pad_h = cases[i].pad;
        p.ceil_mode = cases[i].ceil_mode;
        nn_tensor *y = nn_avg_pool2d(ctx, x, &p);
        ck_assert_msg(y != NULL, "case %zu: %s", i, nn_ctx_error(ctx));
        ck_assert_msg(y->shape[2] == cases[i].want, "case %zu: Ho %d, want %d", i, y->shape[2],
                      cases[i].want);
        nn_tensor_free(x);
    }
    nn_ctx_destroy(ctx);
}
END_TEST

START_TEST(bad_arguments) {
    nn_ctx *ctx = nn_ctx_create();
    nn_tensor *x = nn_tensor_new4(1, 3, 5, 5);
    nn_pool2d_params p = nn_pool2d_default(3, 2);

    int s3[3] = {3, 5, 5};
    nn_tensor *x3 = nn_tensor_new(3, s3);
    ck_assert_ptr_null(nn_max_pool2d(ctx, x3, &p));
    ck_assert_int_eq(nn_ctx_status(ctx), NN_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(nn_ctx_error(ctx), "[3, 5, 5]"));
    nn_ctx_reset(ctx);
    ck_assert_ptr_null(nn_global_avg_pool2d(ctx, x3));
    ck_assert_int_eq(nn_ctx_status(ctx), NN_ERR_SHAPE);
    nn_tensor_free(x3);

    p.kernel_h = 0; /* bad kernel */
    nn_ctx_reset(ctx);
    ck_assert_ptr_null(nn_avg_pool2d(ctx, x, &p));
    ck_assert_int_eq(nn_ctx_status(ctx), NN_ERR_ARG);

    p = nn_pool2d_default(3, 0); /* bad stride */
    nn_ctx_reset(ctx);
    ck_assert_ptr_null(nn_max_pool2d(ctx, x, &p));
    ck_assert_int_eq(nn_ctx_status(ctx), NN_ERR_ARG);

    p = nn_pool2d_default(3, 1);
    p.pad_w = 2; /* more than half of 3 */
    nn_ctx_reset(ctx);
    ck_assert_ptr_null(nn_max_pool2d(ctx, x, &p));
    ck_assert_int_eq(nn_ctx_status(ctx), NN_ERR_ARG);
    nn_ctx_reset(ctx);
    ck_assert_ptr_null(nn_avg_pool2d(ctx, x, &p));
    ck_assert_int_eq(nn_ctx_status(ctx), NN_ERR_ARG);

    p = nn_pool2d_default(3, 1);
    p.pad_h = -1;
    nn_ctx_reset(ctx);
    ck_assert_ptr_null(nn_avg_pool2d(ctx, x, &p));
    ck_assert_int_eq(nn_ctx_status(ctx), NN_ERR_ARG);

    p = nn_pool2d_default(7, 1); /* kernel larger than the 5x5 input */
    nn_ctx_reset(ctx);
    ck_assert_ptr_null(nn_max_pool2d(ctx, x, &p));
    ck_assert_int_eq(nn_ctx_status(ctx), NN_ERR_SHAPE);

    p = nn_pool2d_default(0x7fffffff, 0x7fffffff); /* absurd sizes: an error, not overflow */
    nn_ctx_reset(ctx);
    ck_assert_ptr_null(nn_avg_pool2d(ctx, x, &p));
    ck_assert_int_ne(nn_ctx_status(ctx), NN_OK);

    nn_ctx_reset(ctx);
    ck_assert_ptr_null(nn_max_pool2d(ctx, x, NULL));
    ck_assert_int_eq(nn_ctx_status(ctx), NN_ERR_ARG);

    nn_ctx_reset(ctx); /* a NULL input (an earlier failure) propagates */
    ck_assert_ptr_null(nn_avg_pool2d(ctx, NULL, &p));
    ck_assert_int_ne(nn_ctx_status(ctx), NN_OK);

    nn_tensor_free(x);
    nn_ctx_destroy(ctx);
}
END_TEST

Suite *pool_suite(void) {
    Suite *s = suite_create("pool");
    TCase *tc = tcase_create("grad");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, grad_max_k2s2);
    tcase_add_test(tc, grad_max_k3s2p1_ceil);
    tcase_add_test(tc, grad_max_ceil_drop_last);
    tcase_add_test(tc, grad_max_k3s1p1_seven);
    tcase_add_test(tc, grad_max_rect);
    tcase_add_test(tc, grad_avg_incl);
    tcase_add_test(tc, grad_avg_excl);
    tcase_add_test(tc, grad_avg_ceil_incl);
    tcase_add_test(tc, grad_avg_ceil_excl);
    tcase_add_test(tc, grad_avg_ceil_nopad);
    tcase_add_test(tc, grad_global_avg);
    suite_add_tcase(s, tc);
    TCase *ref = tcase_create("reference");
    tcase_add_loop_test(ref, torch_reference, 0, (int)(sizeof fixture_names / sizeof fixture_names[0]));
    tcase_add_test(ref, max_pool_padding_and_ties);
    tcase_add_test(ref, output_sizes);
    tcase_add_test(ref, bad_arguments);
    suite_add_tcase(s, ref);
    return s;
}
