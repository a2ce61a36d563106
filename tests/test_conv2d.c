/* test_conv2d.c - conv2d: gradient checks, PyTorch references, bad arguments. */
#include <string.h>

#include "testutil.h"

typedef struct {
    nn_conv2d_params p;
    bool bias;
} conv_case;

static nn_tensor *conv_fn(nn_ctx *ctx, nn_tensor **in, void *arg) {
    conv_case *c = arg;
    return nn_conv2d(ctx, in[0], in[1], c->bias ? in[2] : NULL, &c->p);
}

/* Gradient check of x, w and b for one configuration. */
static void check_grad(int n, int cin, int h, int w, int cout, int k, int stride, int pad, int dil,
                       int groups, bool bias, bool relu) {
    conv_case c = {.p = nn_conv2d_default(), .bias = bias};
    c.p.stride_h = c.p.stride_w = stride;
    c.p.pad_h = c.p.pad_w = pad;
    c.p.dilation_h = c.p.dilation_w = dil;
    c.p.groups = groups;
    c.p.relu = relu;
    int xs[4] = {n, cin, h, w}, ws[4] = {cout, cin / groups, k, k}, bs[1] = {cout};
    nn_tensor *in[3] = {tu_param(4, xs, -1, 1, 1), tu_param(4, ws, -1, 1, 2),
                        tu_param(1, bs, -1, 1, 3)};
    tu_assert_gradcheck(conv_fn, &c, 3, in);
    for (int i = 0; i < 3; i++) nn_tensor_free(in[i]);
}

START_TEST(grad_basic) { check_grad(2, 3, 5, 6, 4, 3, 1, 1, 1, 1, true, false); }
END_TEST
START_TEST(grad_one_channel) { check_grad(1, 1, 4, 4, 1, 3, 1, 0, 1, 1, true, false); }
END_TEST
START_TEST(grad_seven_channels_stride2) { check_grad(1, 7, 7, 9, 3, 3, 2, 1, 1, 1, true, false); }
END_TEST
START_TEST(grad_dilation2) { check_grad(1, 3, 9, 8, 2, 3, 1, 2, 2, 1, false, false); }
END_TEST
START_TEST(grad_dilation6) { check_grad(1, 2, 15, 13, 2, 3, 1, 6, 6, 1, true, false); }
END_TEST
START_TEST(grad_groups) { check_grad(1, 6, 5, 5, 9, 3, 1, 1, 1, 3, true, false); }
END_TEST
START_TEST(grad_depthwise) { check_grad(2, 3, 6, 5, 3, 3, 2, 1, 1, 3, true, false); }
END_TEST
START_TEST(grad_k1) { check_grad(1, 5, 3, 4, 7, 1, 1, 0, 1, 1, true, false); }
END_TEST
START_TEST(grad_k7_stride2) { check_grad(1, 3, 11, 10, 2, 7, 2, 3, 1, 1, true, false); }
END_TEST
START_TEST(grad_fused_relu) { check_grad(1, 3, 6, 6, 4, 3, 1, 1, 1, 1, true, true); }
END_TEST

/* Forward output and all gradients against PyTorch for the fixture `name`. */
static void check_fixture(const char *name) {
    char path[256];
    snprintf(path, sizeof path, "fixtures/conv2d_%s.nnfx", name);
    tu_fixture *fx = tu_fixture_load(path);
    ck_assert_msg(fx != NULL, "missing fixture %s", path);
    size_t np;
    const float *prm = tu_fixture_data(fx, "params", &np);
    nn_conv2d_params p = nn_conv2d_default();
    p.stride_h = p.stride_w = (int)prm[0];
    p.pad_h = p.pad_w = (int)prm[1];
    p.dilation_h = p.dilation_w = (int)prm[2];
    p.groups = (int)prm[3];
    nn_tensor *x = tu_fixture_tensor(fx, "x"), *w = tu_fixture_tensor(fx, "w");
    nn_tensor *b = tu_fixture_tensor(fx, "b"), *r = tu_fixture_tensor(fx, "r");
    nn_tensor_set_requires_grad(x, true);
    nn_tensor_set_requires_grad(w, true);
    if (b) nn_tensor_set_requires_grad(b, true);

    nn_ctx *ctx = nn_ctx_create();
    nn_tensor *y = nn_conv2d(ctx, x, w, b, &p);
    ck_assert_msg(y != NULL, "%s", nn_ctx_error(ctx));
    size_t ny;
    const float *y_ref = tu_fixture_data(fx, "y", &ny);
    ck_assert_uint_eq(ny, y->numel);
    tu_assert_close(y->data, y_ref, ny, 1e-4, 1e-4);

    ck_assert_int_eq(nn_backward(ctx, nn_sum(ctx, nn_mul(ctx, y, r))), NN_OK);
    size_t n;
    tu_assert_close(x->grad, tu_fixture_data(fx, "dx", &n), x->numel, 1e-4, 1e-4);
    tu_assert_close(w->grad, tu_fixture_data(fx, "dw", &n), w->numel, 1e-4, 1e-4);
    if (b) tu_assert_close(b->grad, tu_fixture_data(fx, "db", &n), b->numel, 1e-4, 1e-4);

    nn_ctx_destroy(ctx);
    nn_tensor_free(x);
    nn_tensor_free(w);
    nn_tensor_free(b);
    nn_tensor_free(r);
    tu_fixture_free(fx);
}

START_TEST(torch_reference) {
    const char *names[] = {"basic", "stride2", "dilation6", "groups", "depthwise", "k7s2", "k1"};
    check_fixture(names[_i]);
}
END_TEST

/* Bad shapes and parameters give an error in the ctx and NULL, never UB. */
START_TEST(bad_arguments) {
    nn_ctx *ctx = nn_ctx_create();
    nn_tensor *x = nn_tensor_new4(1, 3, 5, 5), *w = nn_tensor_new4(4, 2, 3, 3);
    ck_assert_ptr_null(nn_conv2d(ctx, x, w, NULL, NULL)); /* channels 3 vs 2 */
    ck_assert_int_eq(nn_ctx_status(ctx), NN_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(nn_ctx_error(ctx), "[4, 2, 3, 3]"));
    nn_tensor_free(w);

    w = nn_tensor_new4(4, 3, 3, 3);
    nn_conv2d_params p = nn_conv2d_default();
    p.pad_h = p.pad_w = 3; /* wider than the 3x3 kernel's reach */
    nn_ctx_reset(ctx);
    ck_assert_ptr_null(nn_conv2d(ctx, x, w, NULL, &p));
    ck_assert_int_eq(nn_ctx_status(ctx), NN_ERR_ARG);

    p = nn_conv2d_default();
    p.stride_h = 0;
    nn_ctx_reset(ctx);
    ck_assert_ptr_null(nn_conv2d(ctx, x, w, NULL, &p));

    p = nn_conv2d_default();
    p.dilation_h = p.dilation_w = 3; /* reach 7 > input 5 */
    nn_ctx_reset(ctx);
    ck_assert_ptr_null(nn_conv2d(ctx, x, w, NULL, &p));
    ck_assert_int_eq(nn_ctx_status(ctx), NN_ERR_SHAPE);

    /* a NULL input (an earlier failure) propagates */
    nn_ctx_reset(ctx);
    ck_assert_ptr_null(nn_conv2d(ctx, NULL, w, NULL, NULL));
    ck_assert_int_ne(nn_ctx_status(ctx), NN_OK);
    nn_tensor_free(x);
    nn_tensor_free(w);
    nn_ctx_destroy(ctx);
}
END_TEST

Suite *conv2d_suite(void) {
    Suite *s = suite_create("conv2d");
    TCase *tc = tcase_create("grad");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, grad_basic);
    tcase_add_test(tc, grad_one_channel);
    tcase_add_test(tc, grad_seven_channels_stride2);
    tcase_add_test(tc, grad_dilation2);
    tcase_add_test(tc, grad_dilation6);
    tcase_add_test(tc, grad_groups);
    tcase_add_test(tc, grad_depthwise);
    tcase_add_test(tc, grad_k1);
    tcase_add_test(tc, grad_k7_stride2);
    tcase_add_test(tc, grad_fused_relu);
    suite_add_tcase(s, tc);
    TCase *ref = tcase_create("reference");
    tcase_add_loop_test(ref, torch_reference, 0, 7);
    tcase_add_test(ref, bad_arguments);
    suite_add_tcase(s, ref);
    return s;
}
