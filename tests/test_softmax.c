/* test_softmax.c - softmax / log_softmax: gradient checks on several axes,
 * numerical stability, PyTorch references (fixtures/softmax.nnfx), bad axes. */
#include <math.h>
#include <string.h>

#include "testutil.h"

typedef struct {
    int axis;
    bool log;
} softmax_case;

static nn_tensor *softmax_fn(nn_ctx *ctx, nn_tensor **in, void *arg) {
    softmax_case *c = arg;
    return c->log ? nn_log_softmax(ctx, in[0], c->axis) : nn_softmax(ctx, in[0], c->axis);
}

static void check_grad(int ndim, const int *shape, int axis, uint64_t seed) {
    nn_tensor *x = tu_param(ndim, shape, -3, 3, seed);
    for (int take_log = 0; take_log < 2; take_log++) {
        softmax_case c = {.axis = axis, .log = take_log};
        tu_assert_gradcheck(softmax_fn, &c, 1, &x);
    }
    nn_tensor_free(x);
}

START_TEST(grad_2d) {
    int s[2] = {3, 7};
    check_grad(2, s, 1, 1);
    check_grad(2, s, 0, 2);
    check_grad(2, s, -1, 3);
}
END_TEST

START_TEST(grad_4d_every_axis) {
    int s[4] = {2, 3, 1, 5};
    for (int axis = -1; axis < 4; axis++) check_grad(4, s, axis, 10 + (uint64_t)axis);
}
END_TEST

START_TEST(grad_single_class) {
    int s[3] = {1, 1, 3}; /* softmax over one entry: y = 1, gradient 0 */
    check_grad(3, s, 1, 20);
}
END_TEST

/* Large logits would overflow exp() without subtracting the row maximum.
 * Reference: softmax([0, 1, 2]) worked out by hand (e^-2, e^-1, 1 over their sum). */
START_TEST(large_logits_stable) {
    const float p[3] = {0.0900305732f, 0.2447284711f, 0.6652409558f};
    const float logp[3] = {-2.4076059645f, -1.4076059645f, -0.4076059645f};
    nn_ctx *ctx = nn_ctx_create();
    nn_tensor *x = nn_tensor_new2(3, 3);
    const float offsets[3] = {0.0f, 1000.0f, -1000.0f};
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 3; c++) x->data[r * 3 + c] = offsets[r] + (float)c;
    nn_tensor *y = nn_softmax(ctx, x, 1), *ly = nn_log_softmax(ctx, x, 1);
    ck_assert_ptr_nonnull(y);
    ck_assert_ptr_nonnull(ly);
    for (int r = 0; r < 3; r++) {
        tu_assert_close(y->data + 3 * r, p, 3, 1e-6, 1e-5);
        tu_assert_close(ly->data + 3 * r, logp, 3, 1e-6, 1e-5);
    }
    nn_tensor_free(x);
    nn_ctx_destroy(ctx);
}
END_TEST

/* Along axis 1 of [2, 3, 4]: every (n, w) column sums to 1. */
START_TEST(columns_sum_to_one) {
    nn_ctx *ctx = nn_ctx_create();
    int s[3] = {2, 3, 4};
    nn_tensor *x = tu_param(3, s, -5, 5, 30);
    nn_tensor *y = nn_softmax(ctx, x, 1);
    ck_assert_ptr_nonnull(y);
    for (int n = 0; n < 2; n++)
        for (int w = 0; w < 4; w++) {
            double total = 0.0;
            for (int c = 0; c < 3; c++) total += y->data[(n * 3 + c) * 4 + w];
            ck_assert_double_eq_tol(total, 1.0, 1e-6);
        }
    nn_tensor_free(x);
    nn_ctx_destroy(ctx);
}
END_TEST

START_TEST(torch_reference) {
    tu_fixture *fx = tu_fixture_load("fixtures/softmax.nnfx");
    ck_assert_msg(fx != NULL, "missing fixtures/softmax.nnfx");
    int count = (int)tu_fixture_data(fx, "count", NULL)[0];
    ck_assert_int_ge(count, 1);
    for (int k = 0; k < count; k++) {
        char key[32];
        snprintf(key, sizeof key, "x%d", k);
        nn_tensor *x = tu_fixture_tensor(fx, key);
        snprintf(key, sizeof key, "r%d", k);
        nn_tensor *r = tu_fixture_tensor(fx, key);
        snprintf(key, sizeof key, "opt%d", k);
        const float *opt = tu_fixture_data(fx, key, NULL);
        ck_assert(x && r && opt);
        nn_tensor_set_requires_grad(x, true);
        int axis = (int)opt[0];
        bool log = opt[1] != 0.0f;

        nn_ctx *ctx = nn_ctx_create();
        nn_tensor *y = log ? nn_log_softmax(ctx, x, axis) : nn_softmax(ctx, x, axis);
        ck_assert_msg(y != NULL, "%s", nn_ctx_error(ctx));
        size_t n;
        snprintf(key, sizeof key, "y%d", k);
        const float *y_ref = tu_fixture_data(fx, key, &n);
        ck_assert_uint_eq(n, y->numel);
        tu_assert_close(y->data, y_ref, n, 1e-5, 1e-5);
        ck_assert_int_eq(nn_backward(ctx, nn_sum(ctx, nn_mul(ctx, y, r))), NN_OK);
        snprintf(key, sizeof key, "dx%d", k);
        tu_assert_close(x->grad, tu_fixture_data(fx, key, &n), x->numel, 1e-5, 1e-4);
        nn_ctx_destroy(ctx);
        nn_tensor_free(x);
        nn_tensor_free(r);
    }
    tu_fixture_free(fx);
}
END_TEST

START_TEST(bad_axis) {
    nn_ctx *ctx = nn_ctx_create();
    nn_tensor *x = nn_tensor_new4(2, 3, 4, 5);
    ck_assert_ptr_null(nn_softmax(ctx, x, 4));
    ck_assert_int_eq(nn_ctx_status(ctx), NN_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(nn_ctx_error(ctx), "[2, 3, 4, 5]"));
    nn_ctx_reset(ctx);
    ck_assert_ptr_null(nn_log_softmax(ctx, x, -5));
    ck_assert_ptr_nonnull(strstr(nn_ctx_error(ctx), "axis -5"));
    nn_ctx_reset(ctx);
    ck_assert_ptr_null(nn_softmax(ctx, NULL, 0));
    ck_assert_int_ne(nn_ctx_status(ctx), NN_OK);
    nn_tensor_free(x);
    nn_ctx_destroy(ctx);
}
END_TEST

Suite *softmax_suite(void) {
    Suite *s = suite_create("softmax");
    TCase *tc = tcase_create("grad");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, grad_2d);
    tcase_add_test(tc, grad_4d_every_axis);
    tcase_add_test(tc, grad_single_class);
    suite_add_tcase(s, tc);
    TCase *ref = tcase_create("reference");
    tcase_add_test(ref, large_logits_stable);
    tcase_add_test(ref, columns_sum_to_one);
    tcase_add_test(ref, torch_reference);
    tcase_add_test(ref, bad_axis);
    suite_add_tcase(s, ref);
    return s;
}
