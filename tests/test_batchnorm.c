/* test_batchnorm.c - batch norm in training and eval mode: gradient checks,
 * PyTorch references (outputs, gradients, updated running statistics),
 * folding into a conv, bad arguments. */
#include <math.h>
#include <string.h>

#include "testutil.h"

typedef struct {
    bool training;
    bool affine; /* gamma and beta given */
    nn_tensor *running_mean, *running_var;
    float momentum, eps;
} bn_case;

static nn_tensor *bn_fn(nn_ctx *ctx, nn_tensor **in, void *arg) {
    bn_case *c = arg;
    nn_ctx_set_training(ctx, c->training);
    return nn_batch_norm(ctx, in[0], c->affine ? in[1] : NULL, c->affine ? in[2] : NULL,
                         c->running_mean, c->running_var, c->momentum, c->eps);
}

static void check_grad(int ndim, const int *shape, bool training, bool affine) {
    int c = shape[1];
    bn_case bc = {.training = training, .affine = affine, .momentum = 0.1f, .eps = 1e-5f};
    bc.running_mean = nn_tensor_new1(c);
    bc.running_var = nn_tensor_new1(c);
    tu_fill_uniform(bc.running_mean, -0.5f, 0.5f, 21);
    tu_fill_uniform(bc.running_var, 0.5f, 1.5f, 22);
    nn_tensor *in[3] = {tu_param(ndim, shape, -2, 2, 23), tu_param(1, &c, 0.5f, 1.5f, 24),
                        tu_param(1, &c, -1, 1, 25)};
    tu_assert_gradcheck(bn_fn, &bc, affine ? 3 : 1, in);
    for (int k = 0; k < 3; k++) nn_tensor_free(in[k]);
    nn_tensor_free(bc.running_mean);
    nn_tensor_free(bc.running_var);
}

static const int s4_1[4] = {2, 1, 3, 5}, s4_3[4] = {2, 3, 5, 3}, s4_7[4] = {3, 7, 3, 1};
static const int s2_3[2] = {5, 3}, s2_7[2] = {3, 7};

START_TEST(grad_train_4d) {
    check_grad(4, s4_1, true, true);
    check_grad(4, s4_3, true, true);
    check_grad(4, s4_7, true, true);
}
END_TEST
START_TEST(grad_train_2d) {
    check_grad(2, s2_3, true, true);
    check_grad(2, s2_7, true, true);
}
END_TEST
START_TEST(grad_eval_4d) {
    check_grad(4, s4_3, false, true);
    check_grad(4, s4_7, false, true);
}
END_TEST
START_TEST(grad_eval_2d) { check_grad(2, s2_7, false, true); }
END_TEST
START_TEST(grad_no_affine) {
    check_grad(4, s4_3, true, false);
    check_grad(2, s2_3, false, false);
}
END_TEST

/* Output, gradients and running statistics against PyTorch for fixtures/bn_<name>.nnfx. */
static void check_fixture(const char *name) {
    char path[256];
    snprintf(path, sizeof path, "fixtures/bn_%s.nnfx", name);
    tu_fixture *fx = tu_fixture_load(path);
    ck_assert_msg(fx != NULL, "missing fixture %s", path);
    size_t n;
    const float *prm = tu_fixture_data(fx, "params", &n);
    ck_assert_uint_eq(n, 3);
    nn_tensor *x = tu_fixture_tensor(fx, "x"), *gamma = tu_fixture_tensor(fx, "gamma");
    nn_tensor *beta = tu_fixture_tensor(fx, "beta"), *r = tu_fixture_tensor(fx, "r");
    nn_tensor *rm = tu_fixture_tensor(fx, "running_mean"), *rv = tu_fixture_tensor(fx, "running_var");
    nn_tensor_set_requires_grad(x, true);
    nn_tensor_set_requires_grad(gamma, true);
    nn_tensor_set_requires_grad(beta, true);

    nn_ctx *ctx = nn_ctx_create();
    nn_ctx_set_training(ctx, prm[0] != 0.0f);
    nn_tensor *y = nn_batch_norm(ctx, x, gamma, beta, rm, rv, prm[1], prm[2]);
    ck_assert_msg(y != NULL, "%s: %s", name, nn_ctx_error(ctx));
    tu_assert_close(y->data, tu_fixture_data(fx, "y", &n), y->numel, 1e-4, 1e-4);
    ck_assert_uint_eq(n, y->numel);
    tu_assert_close(rm->data, tu_fixture_data(fx, "running_mean_after", &n), rm->numel, 1e-5, 1e-5);
    tu_assert_close(rv->data, tu_fixture_data(fx, "running_var_after", &n), rv->numel, 1e-5, 1e-5);

    ck_assert_int_eq(nn_backward(ctx, nn_sum(ctx, nn_mul(ctx, y, r))), NN_OK);
    tu_assert_close(x->grad, tu_fixture_data(fx, "dx", &n), x->numel, 1e-4, 1e-4);
    tu_assert_close(gamma->grad, tu_fixture_data(fx, "dgamma", &n), gamma->numel, 1e-4, 1e-4);
    tu_assert_close(beta->grad, tu_fixture_data(fx, "dbeta", &n), beta->numel, 1e-4, 1e-4);

    nn_ctx_destroy(ctx);
    nn_tensor *all[] = {x, gamma, beta, r, rm, rv};
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) nn_tensor_free(all[k]);
    tu_fixture_free(fx);
}

START_TEST(torch_reference) {
    const char *names[] = {"train_4d", "train_2d", "eval_4d", "eval_2d"};
    check_fixture(names[_i]);
}
END_TEST

/* Hand-computed: channel values {1, 3} -> mean 2, biased var 1, unbiased var 2. */
START_TEST(hand_running_stats) {
    nn_ctx *ctx = nn_ctx_create();
    nn_ctx_set_training(ctx, true);
    nn_tensor *x = nn_tensor_new2(2, 1), *rm = nn_tensor_new1(1), *rv = nn_tensor_new1(1);
    x->data[0] = 1;
    x->data[1] = 3;
    rv->data[0] = 1;
    nn_tensor *y = nn_batch_norm(ctx, x, NULL, NULL, rm, rv, 0.5f, 1e-5f);
    ck_assert_ptr_nonnull(y);
    float want_y[2] = {-1.0f / sqrtf(1.0f + 1e-5f), 1.0f / sqrtf(1.0f + 1e-5f)};
    tu_assert_close(y->data, want_y, 2, 1e-7, 1e-6);
    ck_assert_float_eq_tol(rm->data[0], 1.0f, 1e-6f); /* 0.5*0 + 0.5*2 */
    ck_assert_float_eq_tol(rv->data[0], 1.5f, 1e-6f); /* 0.5*1 + 0.5*2 */
    nn_tensor_free(x);
    nn_tensor_free(rm);
    nn_tensor_free(rv);
    nn_ctx_destroy(ctx);
}
END_TEST

/* conv + BN in eval mode equals the conv with folded weights and bias. */
START_TEST(fold_matches_conv_bn) {
    int cin = 3, cout = 7;
    nn_tensor *x = nn_tensor_new4(2, cin, 7, 5), *w = nn_tensor_new4(cout, cin, 3, 3);
    nn_tensor *b = nn_tensor_new1(cout), *gamma = nn_tensor_new1(cout), *beta = nn_tensor_new1(cout);
    nn_tensor *mean = nn_tensor_new1(cout), *var = nn_tensor_new1(cout);
    tu_fill_uniform(x, -1, 1, 31);
    tu_fill_uniform(w, -1, 1, 32);
    tu_fill_uniform(b, -1, 1, 33);
    tu_fill_uniform(gamma, 0.2f, 2, 34);
    tu_fill_uniform(beta, -1, 1, 35);
    tu_fill_uniform(mean, -1, 1, 36);
    tu_fill_uniform(var, 0.1f, 3, 37);
    nn_conv2d_params p = nn_conv2d_default();
    p.pad_h = p.pad_w = 1;
    p.stride_h = 2;

    nn_ctx *ctx = nn_ctx_create();
    nn_ctx_set_training(ctx, false);
    nn_tensor *y_ref = nn_batch_norm(ctx, nn_conv2d(ctx, x, w, b, &p), gamma, beta, mean, var,
                                     0.1f, 1e-3f);
    ck_assert_msg(y_ref != NULL, "%s", nn_ctx_error(ctx));
    ck_assert_int_eq(nn_batch_norm_fold(w, b, gamma, beta, mean, var, 1e-3f), NN_OK);
    nn_tensor *y = nn_conv2d(ctx, x, w, b, &p);
    ck_assert_ptr_nonnull(y);
    ck_assert_uint_eq(y->numel, y_ref->numel);
    tu_assert_close(y->data, y_ref->data, y->numel, 1e-5, 1e-5);

    /* conv without bias: fold into a zero bias */
    nn_tensor *w2 = nn_tensor_new4(cout, cin, 1, 1), *b2 = nn_tensor_new1(cout);
    tu_fill_uniform(w2, -1, 1, 38);
    nn_ctx_reset(ctx);
    y_ref = nn_batch_norm(ctx, nn_conv2d(ctx, x, w2, NULL, NULL), gamma, beta, mean, var, 0.1f,
                          1e-5f);
    ck_assert_int_eq(nn_batch_norm_fold(w2, b2, gamma, beta, mean, var, 1e-5f), NN_OK);
    y = nn_conv2d(ctx, x, w2, b2, NULL);
    ck_assert_ptr_nonnull(y);
    tu_assert_close(y->data, y_ref->data, y->numel, 1e-5, 1e-5);

    nn_ctx_destroy(ctx);
    nn_tensor *all[] = {x, w, b, gamma, beta, mean, var, w2, b2};
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) nn_tensor_free(all[k]);
}
END_TEST

START_TEST(bad_arguments) {
    nn_ctx *ctx = nn_ctx_create();
    nn_tensor *x = nn_tensor_new4(2, 3, 4, 4), *c3 = nn_tensor_new1(3), *c4 = nn_tensor_new1(4);
    nn_tensor *rv = nn_tensor_new1(3);
    nn_tensor_fill(rv, 1.0f);
    nn_ctx_set_training(ctx, true);

    ck_assert_ptr_null(nn_batch_norm(ctx, x, c4, c3, NULL, NULL, 0.1f, 1e-5f)); /* gamma size */
    ck_assert_int_eq(nn_ctx_status(ctx), NN_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(nn_ctx_error(ctx), "gamma"));
    nn_ctx_reset(ctx);
    ck_assert_ptr_null(nn_batch_norm(ctx, x, c3, c3, c4, rv, 0.1f, 1e-5f)); /* running_mean size */
    ck_assert_int_eq(nn_ctx_status(ctx), NN_ERR_SHAPE);

    nn_tensor *x1 = nn_tensor_new1(5);
    nn_ctx_reset(ctx);
    ck_assert_ptr_null(nn_batch_norm(ctx, x1, NULL, NULL, NULL, NULL, 0.1f, 1e-5f)); /* 1-D */
    ck_assert_int_eq(nn_ctx_status(ctx), NN_ERR_SHAPE);
    nn_tensor_free(x1);

    nn_tensor *one = nn_tensor_new2(1, 3); /* one value per channel: no batch statistics */
    nn_ctx_reset(ctx);
    ck_assert_ptr_null(nn_batch_norm(ctx, one, NULL, NULL, NULL, NULL, 0.1f, 1e-5f));
    ck_assert_int_eq(nn_ctx_status(ctx), NN_ERR_SHAPE);
    nn_tensor_free(one);

    nn_ctx_reset(ctx);
    ck_assert_ptr_null(nn_batch_norm(ctx, x, c3, c3, c3, NULL, 0.1f, 1e-5f)); /* only one stat */
    ck_assert_int_eq(nn_ctx_status(ctx), NN_ERR_ARG);
    nn_ctx_reset(ctx);
    ck_assert_ptr_null(nn_batch_norm(ctx, x, c3, c3, NULL, NULL, 1.5f, 1e-5f)); /* momentum */
    ck_assert_int_eq(nn_ctx_status(ctx), NN_ERR_ARG);
    nn_ctx_reset(ctx);
    ck_assert_ptr_null(nn_batch_norm(ctx, x, c3, c3, NULL, NULL, 0.1f, 0.0f)); /* eps */
    ck_assert_int_eq(nn_ctx_status(ctx), NN_ERR_ARG);

    nn_ctx_set_training(ctx, false);
    nn_ctx_reset(ctx);
    ck_assert_ptr_null(nn_batch_norm(ctx, x, c3, c3, NULL, NULL, 0.1f, 1e-5f)); /* eval, no stats */
    ck_assert_int_eq(nn_ctx_status(ctx), NN_ERR_ARG);
    rv->data[1] = -2.0f;
    nn_ctx_reset(ctx);
    ck_assert_ptr_null(nn_batch_norm(ctx, x, c3, c3, c3, rv, 0.1f, 1e-5f)); /* negative var */
    ck_assert_int_eq(nn_ctx_status(ctx), NN_ERR_ARG);
    nn_ctx_reset(ctx);
    ck_assert_ptr_null(nn_batch_norm(ctx, NULL, c3, c3, c3, rv, 0.1f, 1e-5f));
    ck_assert_int_ne(nn_ctx_status(ctx), NN_OK);

    /* fold: mismatched sizes and a bad variance change nothing */
    nn_tensor *w = nn_tensor_new4(3, 2, 3, 3);
    nn_tensor_fill(w, 1.0f);
    ck_assert_int_eq(nn_batch_norm_fold(w, c4, c3, c3, c3, rv, 1e-5f), NN_ERR_SHAPE);
    ck_assert_int_eq(nn_batch_norm_fold(w, c3, c3, c3, c3, rv, 1e-5f), NN_ERR_ARG);
    ck_assert_int_eq(nn_batch_norm_fold(w, NULL, c3, c3, c3, rv, 1e-5f), NN_ERR_ARG);
    for (size_t i = 0; i < w->numel; i++) ck_assert_float_eq(w->data[i], 1.0f);

    nn_tensor *all[] = {x, c3, c4, rv, w};
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) nn_tensor_free(all[k]);
    nn_ctx_destroy(ctx);
}
END_TEST

Suite *batchnorm_suite(void) {
    Suite *s = suite_create("batchnorm");
    TCase *tc = tcase_create("grad");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, grad_train_4d);
    tcase_add_test(tc, grad_train_2d);
    tcase_add_test(tc, grad_eval_4d);
    tcase_add_test(tc, grad_eval_2d);
    tcase_add_test(tc, grad_no_affine);
    suite_add_tcase(s, tc);
    TCase *ref = tcase_create("reference");
    tcase_add_loop_test(ref, torch_reference, 0, 4);
    tcase_add_test(ref, hand_running_stats);
    tcase_add_test(ref, fold_matches_conv_bn);
    tcase_add_test(ref, bad_arguments);
    suite_add_tcase(s, ref);
    return s;
}
