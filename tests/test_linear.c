/* test_linear.c - fully connected layer: gradient checks, PyTorch references,
 * bad arguments. */
#include <string.h>

#include "testutil.h"

static nn_tensor *linear_fn(nn_ctx *ctx, nn_tensor **in, void *arg) {
    bool bias = *(bool *)arg;
    return nn_linear(ctx, in[0], in[1], bias ? in[2] : NULL);
}

static void check_grad(int n, int in_features, int out_features, bool bias) {
    int xs[2] = {n, in_features}, ws[2] = {out_features, in_features};
    nn_tensor *in[3] = {tu_param(2, xs, -1, 1, 41), tu_param(2, ws, -1, 1, 42),
                        tu_param(1, &out_features, -1, 1, 43)};
    tu_assert_gradcheck(linear_fn, &bias, bias ? 3 : 2, in);
    for (int k = 0; k < 3; k++) nn_tensor_free(in[k]);
}

START_TEST(grad_bias) { check_grad(3, 7, 5, true); }
END_TEST
START_TEST(grad_no_bias) { check_grad(2, 3, 7, false); }
END_TEST
START_TEST(grad_single) {
    check_grad(1, 1, 1, true);
    check_grad(1, 9, 1, true);
}
END_TEST

static void check_fixture(const char *name) {
    char path[256];
    snprintf(path, sizeof path, "fixtures/linear_%s.nnfx", name);
    tu_fixture *fx = tu_fixture_load(path);
    ck_assert_msg(fx != NULL, "missing fixture %s", path);
    nn_tensor *x = tu_fixture_tensor(fx, "x"), *w = tu_fixture_tensor(fx, "w");
    nn_tensor *b = tu_fixture_tensor(fx, "b"), *r = tu_fixture_tensor(fx, "r");
    nn_tensor_set_requires_grad(x, true);
    nn_tensor_set_requires_grad(w, true);
    if (b) nn_tensor_set_requires_grad(b, true);

    nn_ctx *ctx = nn_ctx_create();
    nn_tensor *y = nn_linear(ctx, x, w, b);
    ck_assert_msg(y != NULL, "%s: %s", name, nn_ctx_error(ctx));
    size_t n;
    const float *y_ref = tu_fixture_data(fx, "y", &n);
    ck_assert_uint_eq(n, y->numel);
    tu_assert_close(y->data, y_ref, n, 1e-5, 1e-5);
    ck_assert_int_eq(nn_backward(ctx, nn_sum(ctx, nn_mul(ctx, y, r))), NN_OK);
    tu_assert_close(x->grad, tu_fixture_data(fx, "dx", &n), x->numel, 1e-5, 1e-5);
    tu_assert_close(w->grad, tu_fixture_data(fx, "dw", &n), w->numel, 1e-5, 1e-5);
    if (b) tu_assert_close(b->grad, tu_fixture_data(fx, "db", &n), b->numel, 1e-5, 1e-5);

    nn_ctx_destroy(ctx);
    nn_tensor *all[] = {x, w, b, r};
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) nn_tensor_free(all[k]);
    tu_fixture_free(fx);
}

START_TEST(torch_reference) {
    const char *names[] = {"bias", "nobias", "wide"};
    check_fixture(names[_i]);
}
END_TEST

START_TEST(bad_arguments) {
    nn_ctx *ctx = nn_ctx_create();
    nn_tensor *x = nn_tensor_new2(2, 3), *w = nn_tensor_new2(4, 5), *b = nn_tensor_new1(3);
    ck_assert_ptr_null(nn_linear(ctx, x, w, NULL)); /* In 3 vs 5 */
    ck_assert_int_eq(nn_ctx_status(ctx), NN_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(nn_ctx_error(ctx), "[4, 5]"));
    nn_tensor_free(w);

    w = nn_tensor_new2(4, 3);
    nn_ctx_reset(ctx);
    ck_assert_ptr_null(nn_linear(ctx, x, w, b)); /* bias 3, Out 4 */
    ck_assert_int_eq(nn_ctx_status(ctx), NN_ERR_SHAPE);

    nn_tensor *x4 = nn_tensor_new4(2, 3, 1, 1); /* needs flattening first */
    nn_ctx_reset(ctx);
    ck_assert_ptr_null(nn_linear(ctx, x4, w, NULL));
    ck_assert_int_eq(nn_ctx_status(ctx), NN_ERR_SHAPE);
    nn_tensor_free(x4);

    nn_ctx_reset(ctx);
    ck_assert_ptr_null(nn_linear(ctx, x, NULL, NULL));
    ck_assert_int_eq(nn_ctx_status(ctx), NN_ERR_ARG);

    nn_ctx_reset(ctx);
    ck_assert_ptr_nonnull(nn_linear(ctx, x, w, NULL)); /* and the right shapes work */
    nn_tensor_free(x);
    nn_tensor_free(w);
    nn_tensor_free(b);
    nn_ctx_destroy(ctx);
}
END_TEST

Suite *linear_suite(void) {
    Suite *s = suite_create("linear");
    TCase *tc = tcase_create("grad");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, grad_bias);
    tcase_add_test(tc, grad_no_bias);
    tcase_add_test(tc, grad_single);
    suite_add_tcase(s, tc);
    TCase *ref = tcase_create("reference");
    tcase_add_loop_test(ref, torch_reference, 0, 3);
    tcase_add_test(ref, bad_arguments);
    suite_add_tcase(s, ref);
    return s;
}
