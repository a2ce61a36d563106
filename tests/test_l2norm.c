/* test_l2norm.c - SSD's Normalize layer: gradient checks of x and scale on
 * 1, 3 and 7 channels, hand values, PyTorch references (fixtures/l2norm.nnfx,
 * Caffe's formula with eps inside the square root), bad arguments. */
#include <math.h>
#include <string.h>

#include "testutil.h"

static nn_tensor *l2norm_fn(nn_ctx *ctx, nn_tensor **in, void *arg) {
    return nn_l2norm(ctx, in[0], in[1], *(float *)arg);
}

static void check_grad(int n, int c, int h, int w, float eps, uint64_t seed) {
    int xs[4] = {n, c, h, w};
    nn_tensor *in[2] = {tu_param(4, xs, -1, 1, seed), tu_param(1, &c, 0.5f, 3, seed + 1)};
    tu_assert_gradcheck(l2norm_fn, &eps, 2, in);
    nn_tensor_free(in[0]);
    nn_tensor_free(in[1]);
}

START_TEST(grad_three_channels) { check_grad(2, 3, 3, 5, 1e-10f, 1); }
END_TEST
START_TEST(grad_seven_channels) { check_grad(1, 7, 3, 3, 1e-10f, 2); }
END_TEST
/* One channel: y = scale * x / sqrt(x^2 + eps), i.e. scale * sign(x) unless eps is large. */
START_TEST(grad_one_channel_large_eps) { check_grad(2, 1, 3, 1, 0.3f, 3); }
END_TEST

/* x only, scale fixed (not a leaf): the other branch of backward. */
START_TEST(grad_x_only) {
    int xs[4] = {1, 3, 1, 5}, c = 3;
    float eps = 1e-10f;
    nn_tensor *in[2] = {tu_param(4, xs, -1, 1, 4), tu_param(1, &c, 1, 2, 5)};
    nn_tensor_set_requires_grad(in[1], false);
    tu_assert_gradcheck(l2norm_fn, &eps, 2, in);
    nn_tensor_free(in[0]);
    nn_tensor_free(in[1]);
}
END_TEST

/* Position (0,0): x = (3, 4) has norm 5 -> y = scale * (0.6, 0.8).
 * Position (0,1): all zeros -> y = 0, and its gradient stays finite. */
START_TEST(hand_values) {
    nn_ctx *ctx = nn_ctx_create();
    nn_tensor *x = nn_tensor_new4(1, 2, 1, 2), *scale = nn_tensor_new1(2);
    nn_tensor_set_requires_grad(x, true);
    x->data[0] = 3.0f; /* c0, w0 */
    x->data[2] = 4.0f; /* c1, w0 */
    scale->data[0] = 10.0f;
    scale->data[1] = 20.0f;
    nn_tensor *y = nn_l2norm(ctx, x, scale, 1e-10f);
    ck_assert_ptr_nonnull(y);
    const float want[4] = {6.0f, 0.0f, 16.0f, 0.0f};
    tu_assert_close(y->data, want, 4, 1e-6, 1e-6);
    ck_assert_int_eq(nn_backward(ctx, nn_sum(ctx, y)), NN_OK);
    /* d/dx of 10*x0/n + 20*x1/n at (3, 4), n = 5:
     *   dx0 = 10/5 - 3*(10*3 + 20*4)/125 = 2 - 2.64 = -0.64
     *   dx1 = 20/5 - 4*(110)/125       = 4 - 3.52 =  0.48 */
    ck_assert_double_eq_tol(x->grad[0], -0.64, 1e-5);
    ck_assert_double_eq_tol(x->grad[2], 0.48, 1e-5);
    for (int i = 0; i < 4; i++) ck_assert(isfinite(x->grad[i]));
    nn_tensor_free(x);
    nn_tensor_free(scale);
    nn_ctx_destroy(ctx);
}
END_TEST

START_TEST(torch_reference) {
    tu_fixture *fx = tu_fixture_load("fixtures/l2norm.nnfx");
    ck_assert_msg(fx != NULL, "missing fixtures/l2norm.nnfx");
    int count = (int)tu_fixture_data(fx, "count", NULL)[0];
    for (int k = 0; k < count; k++) {
        char key[32];
        nn_tensor *t[3];
        const char *names[3] = {"x", "scale", "r"};
        for (int i = 0; i < 3; i++) {
            snprintf(key, sizeof key, "%s%d", names[i], k);
            t[i] = tu_fixture_tensor(fx, key);
            ck_assert_msg(t[i] != NULL, "fixture lacks %s", key);
        }
        nn_tensor *x = t[0], *scale = t[1], *r = t[2];
        nn_tensor_set_requires_grad(x, true);
        nn_tensor_set_requires_grad(scale, true);
        snprintf(key, sizeof key, "eps%d", k);
        float eps = tu_fixture_data(fx, key, NULL)[0];

        nn_ctx *ctx = nn_ctx_create();
        nn_tensor *y = nn_l2norm(ctx, x, scale, eps);
        ck_assert_msg(y != NULL, "%s", nn_ctx_error(ctx));
        size_t n;
        snprintf(key, sizeof key, "y%d", k);
        const float *y_ref = tu_fixture_data(fx, key, &n);
        ck_assert_uint_eq(n, y->numel);
        tu_assert_close(y->data, y_ref, n, 1e-5, 1e-5);
        ck_assert_int_eq(nn_backward(ctx, nn_sum(ctx, nn_mul(ctx, y, r))), NN_OK);
        snprintf(key, sizeof key, "dx%d", k);
        tu_assert_close(x->grad, tu_fixture_data(fx, key, NULL), x->numel, 1e-4, 1e-4);
        snprintf(key, sizeof key, "dscale%d", k);
        tu_assert_close(scale->grad, tu_fixture_data(fx, key, NULL), scale->numel, 1e-5, 1e-4);
        nn_ctx_destroy(ctx);
        for (int i = 0; i < 3; i++) nn_tensor_free(t[i]);
    }
    tu_fixture_free(fx);
}
END_TEST

START_TEST(bad_arguments) {
    nn_ctx *ctx = nn_ctx_create();
    nn_tensor *x = nn_tensor_new4(1, 3, 2, 2), *scale4 = nn_tensor_new1(4);
    nn_tensor *scale3 = nn_tensor_new1(3), *flat = nn_tensor_new1(3);
    ck_assert_ptr_null(nn_l2norm(ctx, x, scale4, 1e-10f));
    ck_assert_int_eq(nn_ctx_status(ctx), NN_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(nn_ctx_error(ctx), "[1, 3, 2, 2]"));
    ck_assert_ptr_nonnull(strstr(nn_ctx_error(ctx), "[4]"));
    nn_ctx_reset(ctx);
    ck_assert_ptr_null(nn_l2norm(ctx, flat, scale3, 1e-10f)); /* 1-D has no channel axis */
    ck_assert_int_eq(nn_ctx_status(ctx), NN_ERR_SHAPE);
    nn_ctx_reset(ctx);
    ck_assert_ptr_null(nn_l2norm(ctx, x, scale3, -1.0f));
    ck_assert_int_eq(nn_ctx_status(ctx), NN_ERR_ARG);
    nn_ctx_reset(ctx);
    ck_assert_ptr_null(nn_l2norm(ctx, x, NULL, 1e-10f));
    ck_assert_int_ne(nn_ctx_status(ctx), NN_OK);
    nn_tensor_free(x);
    nn_tensor_free(scale4);
    nn_tensor_free(scale3);
    nn_tensor_free(flat);
    nn_ctx_destroy(ctx);
}
END_TEST

Suite *l2norm_suite(void) {
    Suite *s = suite_create("l2norm");
    TCase *tc = tcase_create("grad");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, grad_three_channels);
    tcase_add_test(tc, grad_seven_channels);
    tcase_add_test(tc, grad_one_channel_large_eps);
    tcase_add_test(tc, grad_x_only);
    suite_add_tcase(s, tc);
    TCase *ref = tcase_create("reference");
    tcase_add_test(ref, hand_values);
    tcase_add_test(ref, torch_reference);
    tcase_add_test(ref, bad_arguments);
    suite_add_tcase(s, ref);
    return s;
}
