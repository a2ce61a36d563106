/* test_loss.c - cross-entropy and smooth-L1: gradient checks (weights,
 * smoothing, ignored targets, masks), hand-computed values, PyTorch
 * references (fixtures/loss_*.nnfx from gen_ops_b.py), bad arguments. */
#include <math.h>
#include <string.h>

#include "testutil.h"

/* ------------------------------------------------------------- cross-entropy */

typedef struct {
    const int *targets;
    const float *weights;
    float smoothing;
    nn_reduction reduction;
} ce_case;

static nn_tensor *ce_fn(nn_ctx *ctx, nn_tensor **in, void *arg) {
    ce_case *c = arg;
    return nn_cross_entropy(ctx, in[0], c->targets, c->weights, c->smoothing, c->reduction);
}

static void ce_grad(int n, int classes, const int *targets, const float *weights, float smoothing,
                    nn_reduction reduction, uint64_t seed) {
    int s[2] = {n, classes};
    nn_tensor *z = tu_param(2, s, -3, 3, seed);
    ce_case c = {targets, weights, smoothing, reduction};
    tu_assert_gradcheck(ce_fn, &c, 1, &z);
    nn_tensor_free(z);
}

START_TEST(grad_ce_plain) {
    const int t[5] = {0, 2, 1, 1, 2};
    ce_grad(5, 3, t, NULL, 0.0f, NN_REDUCE_MEAN, 1);
    ce_grad(5, 3, t, NULL, 0.0f, NN_REDUCE_SUM, 2);
}
END_TEST

START_TEST(grad_ce_ignored) {
    const int t[5] = {-1, 2, 0, -1, 2};
    ce_grad(5, 3, t, NULL, 0.0f, NN_REDUCE_MEAN, 3);
    ce_grad(5, 3, t, NULL, 0.2f, NN_REDUCE_SUM, 4);
}
END_TEST

START_TEST(grad_ce_weights_smoothing) {
    const int t[7] = {6, 0, -1, 3, 3, 1, -5};
    const float w[7] = {0.5f, 2.0f, 1.0f, 0.25f, 3.0f, 1.5f, 0.75f};
    ce_grad(7, 7, t, w, 0.0f, NN_REDUCE_MEAN, 5);
    ce_grad(7, 7, t, w, 0.1f, NN_REDUCE_MEAN, 6);
    ce_grad(7, 7, t, w, 0.3f, NN_REDUCE_SUM, 7);
}
END_TEST

START_TEST(grad_ce_one_class) {
    const int t[3] = {0, 0, -1};
    ce_grad(3, 1, t, NULL, 0.2f, NN_REDUCE_MEAN, 8); /* loss is 0 whatever the logits */
}
END_TEST

/* One row, logits [ln 3, 0] (p = [3/4, 1/4]), target 1, weights [2, 1],
 * smoothing 0.5, worked out by hand:
 *   loss = 0.5 * 1 * ln 4 + 0.25 * (2 ln(4/3) + 1 ln 4) = 1.18356181  (/ w[1] = 1)
 *   a = [0.25*2, 0.5*1 + 0.25*1] = [0.5, 0.75],  grad = p * sum(a) - a = [0.4375, -0.4375] */
START_TEST(ce_hand_values) {
    nn_ctx *ctx = nn_ctx_create();
    nn_tensor *z = nn_tensor_new2(1, 2);
    nn_tensor_set_requires_grad(z, true);
    z->data[0] = logf(3.0f);
    const int t[1] = {1};
    const float w[2] = {2.0f, 1.0f};
    nn_tensor *loss = nn_cross_entropy(ctx, z, t, w, 0.5f, NN_REDUCE_MEAN);
    ck_assert_ptr_nonnull(loss);
    ck_assert_double_eq_tol(loss->data[0], 1.18356181, 1e-6);
    ck_assert_int_eq(nn_backward(ctx, loss), NN_OK);
    const float g[2] = {0.4375f, -0.4375f};
    tu_assert_close(z->grad, g, 2, 1e-6, 1e-5);

    /* the plain loss of the same row is ln 4 */
    nn_ctx_reset(ctx);
    loss = nn_cross_entropy(ctx, z, t, NULL, 0.0f, NN_REDUCE_SUM);
    ck_assert_double_eq_tol(loss->data[0], 1.38629436, 1e-6);
    nn_tensor_free(z);
    nn_ctx_destroy(ctx);
}
END_TEST

/* Every target ignored: PyTorch gives NaN for the mean; we define it as 0
 * with a zero gradient so one empty batch cannot poison training. */
START_TEST(ce_all_ignored_is_zero) {
    nn_ctx *ctx = nn_ctx_create();
    int s[2] = {3, 4};
    nn_tensor *z = tu_param(2, s, -1, 1, 9);
    const int t[3] = {-1, -1, -1};
    nn_tensor *loss = nn_cross_entropy(ctx, z, t, NULL, 0.1f, NN_REDUCE_MEAN);
    ck_assert_ptr_nonnull(loss);
    ck_assert_float_eq(loss->data[0], 0.0f);
    ck_assert_int_eq(nn_backward(ctx, loss), NN_OK);
    for (size_t i = 0; i < z->numel; i++) ck_assert_float_eq(z->grad[i], 0.0f);
    nn_tensor_free(z);
    nn_ctx_destroy(ctx);
}
END_TEST

/* Logits of +-1e4 would overflow exp() unless the row maximum is subtracted. */
START_TEST(ce_large_logits) {
    nn_ctx *ctx = nn_ctx_create();
    nn_tensor *z = nn_tensor_new2(2, 2);
    const float vals[4] = {10000.0f, 10000.0f - logf(3.0f), -10000.0f, -10000.0f};
    memcpy(z->data, vals, sizeof vals);
    const int t[2] = {1, 0};
    nn_tensor *loss = nn_cross_entropy(ctx, z, t, NULL, 0.0f, NN_REDUCE_SUM);
    /* row 0: p = [3/4, 1/4], target 1 -> ln 4; row 1: uniform -> ln 2 */
    ck_assert_double_eq_tol(loss->data[0], log(4.0) + log(2.0), 2e-3);
    ck_assert(isfinite(loss->data[0]));
    nn_tensor_free(z);
    nn_ctx_destroy(ctx);
}
END_TEST

static const float *case_data(const tu_fixture *fx, const char *name, int k, size_t *n) {
    char key[64];
    snprintf(key, sizeof key, "%s%d", name, k);
    return tu_fixture_data(fx, key, n);
}

START_TEST(torch_cross_entropy) {
    tu_fixture *fx = tu_fixture_load("fixtures/loss_ce.nnfx");
    ck_assert_msg(fx != NULL, "missing fixtures/loss_ce.nnfx");
    int count = (int)tu_fixture_data(fx, "count", NULL)[0];
    for (int k = 0; k < count; k++) {
        char key[32];
        snprintf(key, sizeof key, "logits%d", k);
        nn_tensor *z = tu_fixture_tensor(fx, key);
        ck_assert_ptr_nonnull(z);
        nn_tensor_set_requires_grad(z, true);
        size_t n;
        const float *tf = case_data(fx, "targets", k, &n);
        int targets[64];
        ck_assert_uint_le(n, 64);
        for (size_t i = 0; i < n; i++) targets[i] = (int)tf[i];
        const float *opt = case_data(fx, "opt", k, NULL);
        const float *weights = case_data(fx, "weights", k, NULL); /* NULL when unweighted */
        nn_reduction red = opt[1] != 0.0f ? NN_REDUCE_SUM : NN_REDUCE_MEAN;

        nn_ctx *ctx = nn_ctx_create();
        nn_tensor *loss = nn_cross_entropy(ctx, z, targets, weights, opt[0], red);
        ck_assert_msg(loss != NULL, "%s", nn_ctx_error(ctx));
        tu_assert_close(loss->data, case_data(fx, "loss", k, NULL), 1, 1e-5, 1e-5);
        ck_assert_int_eq(nn_backward(ctx, loss), NN_OK);
        tu_assert_close(z->grad, case_data(fx, "dlogits", k, NULL), z->numel, 1e-6, 1e-4);
        nn_ctx_destroy(ctx);
        nn_tensor_free(z);
    }
    tu_fixture_free(fx);
}
END_TEST

/* ----------------------------------------------------------------- smooth-L1 */

typedef struct {
    float target[64];
    const float *mask;
    float beta;
    nn_reduction reduction;
} sl1_case;

static nn_tensor *sl1_fn(nn_ctx *ctx, nn_tensor **in, void *arg) {
    sl1_case *c = arg;
    return nn_smooth_l1(ctx, in[0], c->target, c->mask, c->beta, c->reduction);
}

/* Targets sit at fixed offsets from pred, well away from the kinks at
 * |d| = beta and d = 0, so central differences see a smooth function. */
static void sl1_grad(int rows, int cols, const float *mask, float beta, nn_reduction reduction,
                     uint64_t seed) {
    static const float offsets[6] = {-1.3f, -0.2f, 0.05f, 0.3f, 0.9f, 2.0f};
    int s[2] = {rows, cols};
    nn_tensor *pred = tu_param(2, s, -1, 1, seed);
    ck_assert_uint_le(pred->numel, 64);
    sl1_case c = {.mask = mask, .beta = beta, .reduction = reduction};
    for (size_t i = 0; i < pred->numel; i++) c.target[i] = pred->data[i] - offsets[i % 6];
    tu_assert_gradcheck(sl1_fn, &c, 1, &pred);
    nn_tensor_free(pred);
}

START_TEST(grad_smooth_l1) {
    static const float mask[21] = {1, 0, 1, 1, 0, 0, 1, 1, 1, 0, 1, 1, 0, 1, 1, 1, 0, 1, 0, 0, 1};
    sl1_grad(3, 7, NULL, 1.0f, NN_REDUCE_MEAN, 1);
    sl1_grad(3, 7, NULL, 0.5f, NN_REDUCE_SUM, 2);
    sl1_grad(3, 7, mask, 0.11f, NN_REDUCE_MEAN, 3);
    sl1_grad(7, 3, mask, 0.5f, NN_REDUCE_SUM, 4);
    sl1_grad(1, 5, NULL, 0.0f, NN_REDUCE_MEAN, 5); /* beta 0: plain L1 */
}
END_TEST

/* beta 1, d = [0.5, -2, 0]: losses [0.125, 1.5, 0], mean 1.625/3; slopes [0.5, -1, 0]/3. */
START_TEST(smooth_l1_hand_values) {
    nn_ctx *ctx = nn_ctx_create();
    nn_tensor *pred = nn_tensor_new1(3);
    nn_tensor_set_requires_grad(pred, true);
    const float p[3] = {1.5f, -1.0f, 4.0f}, t[3] = {1.0f, 1.0f, 4.0f};
    memcpy(pred->data, p, sizeof p);
    nn_tensor *loss = nn_smooth_l1(ctx, pred, t, NULL, 1.0f, NN_REDUCE_MEAN);
    ck_assert_ptr_nonnull(loss);
    ck_assert_double_eq_tol(loss->data[0], 1.625 / 3.0, 1e-7);
    ck_assert_int_eq(nn_backward(ctx, loss), NN_OK);
    const float g[3] = {0.5f / 3, -1.0f / 3, 0.0f};
    tu_assert_close(pred->grad, g, 3, 1e-7, 1e-6);

    /* a mask keeping only the middle element: mean over 1 element */
    nn_ctx_reset(ctx);
    nn_tensor_zero_grad(pred);
    const float keep_middle[3] = {0, 1, 0};
    loss = nn_smooth_l1(ctx, pred, t, keep_middle, 1.0f, NN_REDUCE_MEAN);
    ck_assert_double_eq_tol(loss->data[0], 1.5, 1e-7);
    ck_assert_int_eq(nn_backward(ctx, loss), NN_OK);
    const float g2[3] = {0.0f, -1.0f, 0.0f};
    tu_assert_close(pred->grad, g2, 3, 1e-7, 1e-6);

    /* nothing selected: 0, not NaN */
    nn_ctx_reset(ctx);
    const float none[3] = {0, 0, 0};
    loss = nn_smooth_l1(ctx, pred, t, none, 1.0f, NN_REDUCE_MEAN);
    ck_assert_float_eq(loss->data[0], 0.0f);
    nn_tensor_free(pred);
    nn_ctx_destroy(ctx);
}
END_TEST

START_TEST(torch_smooth_l1) {
    tu_fixture *fx = tu_fixture_load("fixtures/loss_smooth_l1.nnfx");
    ck_assert_msg(fx != NULL, "missing fixtures/loss_smooth_l1.nnfx");
    int count = (int)tu_fixture_data(fx, "count", NULL)[0];
    for (int k = 0; k < count; k++) {
        char key[32];
        snprintf(key, sizeof key, "pred%d", k);
        nn_tensor *pred = tu_fixture_tensor(fx, key);
        ck_assert_ptr_nonnull(pred);
        nn_tensor_set_requires_grad(pred, true);
        const float *opt = case_data(fx, "opt", k, NULL);
        const float *mask = opt[2] != 0.0f ? case_data(fx, "mask", k, NULL) : NULL;
        nn_reduction red = opt[1] != 0.0f ? NN_REDUCE_SUM : NN_REDUCE_MEAN;

        nn_ctx *ctx = nn_ctx_create();
        nn_tensor *loss =
            nn_smooth_l1(ctx, pred, case_data(fx, "target", k, NULL), mask, opt[0], red);
        ck_assert_msg(loss != NULL, "%s", nn_ctx_error(ctx));
        tu_assert_close(loss->data, case_data(fx, "loss", k, NULL), 1, 1e-5, 1e-5);
        ck_assert_int_eq(nn_backward(ctx, loss), NN_OK);
        tu_assert_close(pred->grad, case_data(fx, "dpred", k, NULL), pred->numel, 1e-6, 1e-5);
        nn_ctx_destroy(ctx);
        nn_tensor_free(pred);
    }
    tu_fixture_free(fx);
}
END_TEST

/* ------------------------------------------------------------- bad arguments */

static void expect_fail(nn_ctx *ctx, nn_tensor *got, nn_status code, const char *needle) {
    ck_assert_ptr_null(got);
    ck_assert_int_eq(nn_ctx_status(ctx), code);
    ck_assert_msg(strstr(nn_ctx_error(ctx), needle) != NULL, "error \"%s\" does not name \"%s\"",
                  nn_ctx_error(ctx), needle);
    nn_ctx_reset(ctx);
}

START_TEST(bad_arguments) {
    nn_ctx *ctx = nn_ctx_create();
    nn_tensor *z = nn_tensor_new2(3, 4), *z3 = nn_tensor_new(3, (int[]){3, 4, 1});
    const int ok[3] = {0, 3, -1}, too_big[3] = {0, 4, 1};
    expect_fail(ctx, nn_cross_entropy(ctx, z, too_big, NULL, 0, NN_REDUCE_MEAN), NN_ERR_ARG,
                "target 4 of sample 1");
    expect_fail(ctx, nn_cross_entropy(ctx, z, too_big, NULL, 0, NN_REDUCE_SUM), NN_ERR_ARG,
                "[3, 4]");
    expect_fail(ctx, nn_cross_entropy(ctx, z3, ok, NULL, 0, NN_REDUCE_MEAN), NN_ERR_SHAPE,
                "[3, 4, 1]");
    expect_fail(ctx, nn_cross_entropy(ctx, z, NULL, NULL, 0, NN_REDUCE_MEAN), NN_ERR_ARG, "NULL");
    expect_fail(ctx, nn_cross_entropy(ctx, z, ok, NULL, 1.0f, NN_REDUCE_MEAN), NN_ERR_ARG,
                "label_smoothing");
    expect_fail(ctx, nn_cross_entropy(ctx, z, ok, NULL, -0.1f, NN_REDUCE_MEAN), NN_ERR_ARG,
                "label_smoothing");
    expect_fail(ctx, nn_cross_entropy(ctx, z, ok, NULL, NAN, NN_REDUCE_MEAN), NN_ERR_ARG,
                "label_smoothing");
    expect_fail(ctx, nn_cross_entropy(ctx, z, ok, NULL, 0, (nn_reduction)7), NN_ERR_ARG,
                "reduction");

    const float t[12] = {0}, half[12] = {0.5f};
    expect_fail(ctx, nn_smooth_l1(ctx, z, t, NULL, -1.0f, NN_REDUCE_MEAN), NN_ERR_ARG, "beta");
    expect_fail(ctx, nn_smooth_l1(ctx, z, t, half, 1.0f, NN_REDUCE_MEAN), NN_ERR_ARG, "mask[0]");
    expect_fail(ctx, nn_smooth_l1(ctx, z, NULL, NULL, 1.0f, NN_REDUCE_MEAN), NN_ERR_ARG, "[3, 4]");

    /* a NULL input (an earlier failure) propagates */
    ck_assert_ptr_null(nn_cross_entropy(ctx, NULL, ok, NULL, 0, NN_REDUCE_MEAN));
    ck_assert_int_ne(nn_ctx_status(ctx), NN_OK);
    nn_ctx_reset(ctx);
    ck_assert_ptr_null(nn_smooth_l1(ctx, NULL, t, NULL, 1.0f, NN_REDUCE_MEAN));
    ck_assert_int_ne(nn_ctx_status(ctx), NN_OK);
    nn_tensor_free(z);
    nn_tensor_free(z3);
    nn_ctx_destroy(ctx);
}
END_TEST

Suite *loss_suite(void) {
    Suite *s = suite_create("loss");
    TCase *tc = tcase_create("grad");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, grad_ce_plain);
    tcase_add_test(tc, grad_ce_ignored);
    tcase_add_test(tc, grad_ce_weights_smoothing);
    tcase_add_test(tc, grad_ce_one_class);
    tcase_add_test(tc, grad_smooth_l1);
    suite_add_tcase(s, tc);
    TCase *ref = tcase_create("reference");
    tcase_add_test(ref, ce_hand_values);
    tcase_add_test(ref, ce_all_ignored_is_zero);
    tcase_add_test(ref, ce_large_logits);
    tcase_add_test(ref, torch_cross_entropy);
    tcase_add_test(ref, smooth_l1_hand_values);
    tcase_add_test(ref, torch_smooth_l1);
    tcase_add_test(ref, bad_arguments);
    suite_add_tcase(s, ref);
    return s;
}
