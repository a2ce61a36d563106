/* test_activation.c - relu, leaky_relu, sigmoid: gradient checks, PyTorch
 * references, hand-computed values, bad arguments. */
#include <math.h>
#include <string.h>

#include "testutil.h"

typedef enum { ACT_RELU, ACT_LEAKY, ACT_SIGMOID } act_kind;

typedef struct {
    act_kind kind;
    float slope;
} act_case;

static nn_tensor *act_apply(nn_ctx *ctx, nn_tensor *x, const act_case *c) {
    switch (c->kind) {
    case ACT_RELU: return nn_relu(ctx, x);
    case ACT_LEAKY: return nn_leaky_relu(ctx, x, c->slope);
    default: return nn_sigmoid(ctx, x);
    }
}

static nn_tensor *act_fn(nn_ctx *ctx, nn_tensor **in, void *arg) { return act_apply(ctx, in[0], arg); }

/* Uniform in [-3, 3] but kept at least 0.05 away from the kink at 0, which
 * the gradient check's +-0.01 steps would otherwise straddle. */
static nn_tensor *input_away_from_zero(int ndim, const int *shape, uint64_t seed) {
    nn_tensor *x = tu_param(ndim, shape, -3, 3, seed);
    for (size_t i = 0; i < x->numel; i++)
        if (fabsf(x->data[i]) < 0.05f) x->data[i] = x->data[i] < 0 ? -0.05f - x->data[i] : 0.05f + x->data[i];
    return x;
}

static void check_grad(act_kind kind, float slope, int ndim, const int *shape) {
    act_case c = {kind, slope};
    nn_tensor *x = input_away_from_zero(ndim, shape, 3);
    tu_assert_gradcheck(act_fn, &c, 1, &x);
    nn_tensor_free(x);
}

static const int shape_a[4] = {2, 3, 5, 7}, shape_b[4] = {1, 7, 3, 1}, shape_c[2] = {3, 1};

START_TEST(grad_relu) {
    check_grad(ACT_RELU, 0, 4, shape_a);
    check_grad(ACT_RELU, 0, 2, shape_c);
}
END_TEST
START_TEST(grad_leaky_relu) {
    check_grad(ACT_LEAKY, 0.1f, 4, shape_a);
    check_grad(ACT_LEAKY, 0.01f, 4, shape_b);
    check_grad(ACT_LEAKY, -0.5f, 2, shape_c); /* any slope is allowed */
}
END_TEST
START_TEST(grad_sigmoid) {
    check_grad(ACT_SIGMOID, 0, 4, shape_a);
    check_grad(ACT_SIGMOID, 0, 4, shape_b);
}
END_TEST

/* Output and dx against PyTorch (fixtures/act.nnfx: x is [2, 3, 5, 7] of randn*3). */
START_TEST(torch_reference) {
    tu_fixture *fx = tu_fixture_load("fixtures/act.nnfx");
    ck_assert_ptr_nonnull(fx);
    const char *names[3] = {"relu", "leaky", "sigmoid"};
    act_case cases[3] = {{ACT_RELU, 0}, {ACT_LEAKY, 0.1f}, {ACT_SIGMOID, 0}};
    nn_tensor *r = tu_fixture_tensor(fx, "r");
    for (int k = 0; k < 3; k++) {
        nn_tensor *x = tu_fixture_tensor(fx, "x");
        nn_tensor_set_requires_grad(x, true);
        nn_ctx *ctx = nn_ctx_create();
        nn_tensor *y = act_apply(ctx, x, &cases[k]);
        ck_assert_msg(y != NULL, "%s: %s", names[k], nn_ctx_error(ctx));
        char key[32];
        size_t n;
        snprintf(key, sizeof key, "%s.y", names[k]);
        const float *y_ref = tu_fixture_data(fx, key, &n);
        ck_assert_uint_eq(n, y->numel);
        tu_assert_close(y->data, y_ref, n, 1e-6, 1e-5);
        ck_assert_int_eq(nn_backward(ctx, nn_sum(ctx, nn_mul(ctx, y, r))), NN_OK);
        snprintf(key, sizeof key, "%s.dx", names[k]);
        tu_assert_close(x->grad, tu_fixture_data(fx, key, &n), x->numel, 1e-6, 1e-5);
        nn_ctx_destroy(ctx);
        nn_tensor_free(x);
    }
    nn_tensor_free(r);
    tu_fixture_free(fx);
}
END_TEST

/* Hand-computed values, including the saturated ends of the sigmoid. */
START_TEST(hand_values) {
    nn_ctx *ctx = nn_ctx_create();
    nn_tensor *x = nn_tensor_new1(6);
    float xs[6] = {-2, -0.5f, 0, 0.5f, 30, -30};
    memcpy(x->data, xs, sizeof xs);

    nn_tensor *y = nn_relu(ctx, x);
    float want_relu[6] = {0, 0, 0, 0.5f, 30, 0};
    tu_assert_close(y->data, want_relu, 6, 0, 0);

    y = nn_leaky_relu(ctx, x, 0.25f);
    float want_leaky[6] = {-0.5f, -0.125f, 0, 0.5f, 30, -7.5f};
    tu_assert_close(y->data, want_leaky, 6, 0, 0);

    y = nn_sigmoid(ctx, x);
    /* sigmoid(-30) = 9.3576e-14 must survive: 1 - sigmoid(30) would round to 0 */
    float want_sig[6] = {0.11920292f, 0.37754067f, 0.5f, 0.62245933f, 1.0f, 9.3576230e-14f};
    tu_assert_close(y->data, want_sig, 6, 0, 1e-6);
    nn_tensor_free(x);
    nn_ctx_destroy(ctx);
}
END_TEST

START_TEST(bad_arguments) {
    nn_ctx *ctx = nn_ctx_create();
    ck_assert_ptr_null(nn_relu(ctx, NULL));
    ck_assert_int_eq(nn_ctx_status(ctx), NN_ERR_ARG);
    nn_ctx_reset(ctx);
    ck_assert_ptr_null(nn_sigmoid(ctx, NULL));
    ck_assert_int_eq(nn_ctx_status(ctx), NN_ERR_ARG);
    nn_tensor *x = nn_tensor_new1(3);
    nn_ctx_reset(ctx);
    ck_assert_ptr_null(nn_leaky_relu(ctx, x, NAN));
    ck_assert_int_eq(nn_ctx_status(ctx), NN_ERR_ARG);
    /* an earlier error in the pass makes later ops return NULL too */
    ck_assert_ptr_null(nn_relu(ctx, x));
    nn_tensor_free(x);
    nn_ctx_destroy(ctx);
}
END_TEST

Suite *activation_suite(void) {
    Suite *s = suite_create("activation");
    TCase *tc = tcase_create("grad");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, grad_relu);
    tcase_add_test(tc, grad_leaky_relu);
    tcase_add_test(tc, grad_sigmoid);
    suite_add_tcase(s, tc);
    TCase *ref = tcase_create("reference");
    tcase_add_test(ref, torch_reference);
    tcase_add_test(ref, hand_values);
    tcase_add_test(ref, bad_arguments);
    suite_add_tcase(s, ref);
    return s;
}
