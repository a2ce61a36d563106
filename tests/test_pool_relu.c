/* test_pool_relu.c - max pooling with a ReLU (nn_max_pool2d_relu) and the
 * model rewrite that uses it: gradient checks on odd shapes, and the claim
 * that relu(maxpool(x)) equals maxpool(relu(x)) in values and gradients,
 * checked against the two separate ops on data full of ties and zeros, NaNs
 * included, through the 2x2 loop and the general loop, with the input
 * gradient written fresh and accumulated. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static nn_tensor *pool_relu_fn(nn_ctx *ctx, nn_tensor **in, void *arg) {
    return nn_max_pool2d_relu(ctx, in[0], arg);
}

/* Distinct values 0.025 apart, none within 0.0125 of zero, so the gradient
 * check's +-0.01 steps change neither the window maxima nor their signs. */
static void fill_distinct_off_zero(nn_tensor *x, uint64_t seed) {
    size_t n = x->numel;
    for (size_t i = 0; i < n; i++)
        x->data[i] = 0.025f * ((float)i - (float)(n / 2)) + 0.0125f;
    uint64_t s = seed;
    for (size_t i = n - 1; i > 0; i--) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        size_t j = (size_t)((s >> 33) % (i + 1));
        float t = x->data[i];
        x->data[i] = x->data[j];
        x->data[j] = t;
    }
}

static void check_grad(int n, int c, int h, int w, int k, int stride, int pad, bool ceil_mode) {
    nn_pool2d_params p = nn_pool2d_default(k, stride);
    p.pad_h = p.pad_w = pad;
    p.ceil_mode = ceil_mode;
    int xs[4] = {n, c, h, w};
    nn_tensor *x = tu_param(4, xs, -1, 1, 3);
    fill_distinct_off_zero(x, 5);
    for (size_t i = 0; i < x->numel; i++)
        ck_assert_msg(fabsf(x->data[i]) > 0.011f, "test data too close to the ReLU's kink");
    tu_assert_gradcheck(pool_relu_fn, &p, 1, &x);
    nn_tensor_free(x);
}

/*                                                  N  C  H  W  k  s  pad ceil */
START_TEST(grad_2x2_odd) { check_grad(2, 3, 7, 9, 2, 2, 0, false); }
END_TEST
START_TEST(grad_3x3_s2_pad_ceil) { check_grad(1, 3, 7, 5, 3, 2, 1, true); }
END_TEST
START_TEST(grad_3x3_s1) { check_grad(1, 2, 5, 6, 3, 1, 1, false); }
END_TEST

/* x of values from {-1, -0.5, -0, 0, 0.5, 1} (and a few NaNs): most windows
 * hold ties, many hold only zeros and negatives. */
static void fill_ties(nn_tensor *x, uint64_t seed, bool with_nan) {
    static const float values[6] = {-1.0f, -0.5f, -0.0f, 0.0f, 0.5f, 1.0f};
    uint64_t s = seed;
    for (size_t i = 0; i < x->numel; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        x->data[i] = values[(s >> 33) % 6];
        if (with_nan && (s >> 20) % 97 == 0) x->data[i] = NAN;
    }
}

/* Equal as numbers, NaN where the other is NaN (a -0.0 / +0.0 difference is
 * allowed: see pool.c). */
static void assert_same(const float *a, const float *b, size_t n, const char *what) {
    for (size_t i = 0; i < n; i++) {
        bool same = isnan(a[i]) ? isnan(b[i]) : a[i] == b[i];
        ck_assert_msg(same, "%s differs at %zu: %g vs %g", what, i, (double)a[i], (double)b[i]);
    }
}

/* Runs loss = sum(R * pool(relu(x))) both ways and compares y and dL/dx.
 * through_scale: x enters through nn_scale(x, 1), so the pool's input is an
 * intermediate whose gradient the pool writes fresh; otherwise the leaf's
 * existing gradient is added to. */
static void check_same(int n, int c, int h, int w, int k, int stride, int pad, bool ceil_mode,
                       bool with_nan, bool through_scale) {
    nn_pool2d_params p = nn_pool2d_default(k, stride);
    p.pad_h = p.pad_w = pad;
    p.ceil_mode = ceil_mode;
    float *y_of[2] = {0}, *dx_of[2] = {0};
    size_t y_numel = 0;
    nn_tensor *x = nn_tensor_new4(n, c, h, w);
    fill_ties(x, 17, with_nan);
    nn_tensor_set_requires_grad(x, true);
    nn_ctx *ctx = nn_ctx_create();
    for (int fused = 0; fused < 2; fused++) {
        nn_ctx_reset(ctx);
        nn_tensor_zero_grad(x);
        nn_tensor *in = through_scale ? nn_scale(ctx, x, 1.0f) : x;
        nn_tensor *y = fused ? nn_max_pool2d_relu(ctx, in, &p) : nn_max_pool2d(ctx, nn_relu(ctx, in), &p);
        ck_assert_msg(y != NULL, "%s", nn_ctx_error(ctx));
        nn_tensor *r = nn_ctx_tensor(ctx, y->ndim, y->shape);
        for (size_t i = 0; i < r->numel; i++) r->data[i] = 0.5f + (float)(i % 7);
        nn_tensor *loss = nn_sum(ctx, nn_mul(ctx, y, r));
        ck_assert_int_eq(nn_backward(ctx, loss), NN_OK);
        y_numel = y->numel;
        y_of[fused] = malloc(y->numel * sizeof(float));
        dx_of[fused] = malloc(x->numel * sizeof(float));
        memcpy(y_of[fused], y->data, y->numel * sizeof(float));
        memcpy(dx_of[fused], x->grad, x->numel * sizeof(float));
    }
    assert_same(y_of[1], y_of[0], y_numel, "output");
    assert_same(dx_of[1], dx_of[0], x->numel, "input gradient");
    for (int i = 0; i < 2; i++) {
        free(y_of[i]);
        free(dx_of[i]);
    }
    nn_tensor_free(x);
    nn_ctx_destroy(ctx);
}

/*                                                        N  C  H  W   k  s pad ceil  NaN  fresh */
START_TEST(same_2x2_fresh) { check_same(2, 3, 9, 11, 2, 2, 0, false, false, true); }
END_TEST
START_TEST(same_2x2_accumulate) { check_same(2, 3, 9, 11, 2, 2, 0, false, false, false); }
END_TEST
START_TEST(same_2x2_nan) { check_same(1, 2, 8, 10, 2, 2, 0, false, true, true); }
END_TEST
START_TEST(same_general_fresh) { check_same(1, 3, 9, 7, 3, 2, 1, true, false, true); }
END_TEST
START_TEST(same_general_accumulate) { check_same(1, 3, 9, 7, 3, 2, 1, true, false, false); }
END_TEST
START_TEST(same_2x2_wide) { check_same(1, 2, 5, 601, 2, 2, 0, false, false, true); } /* rows > 256 */
END_TEST
START_TEST(same_2x2_ceil) { check_same(1, 2, 7, 9, 2, 2, 0, true, false, true); }
END_TEST

/* Hand-computed: windows with a positive maximum pass it and its gradient,
 * windows without one give 0 and no gradient. */
START_TEST(hand_computed) {
    nn_ctx *ctx = nn_ctx_create();
    nn_tensor *x = nn_tensor_new4(1, 1, 2, 6);
    float v[12] = {-3, 2, -1, -2, 0, 0,   /* windows: {-3,2,1,2}: max 2 first at 1 */
                   1, 2, -4, -0.5f, 0, -1}; /* {-1,-2,-4,-0.5}: -0.5 -> 0; {0,0,0,-1} -> 0 */
    memcpy(x->data, v, sizeof v);
    nn_tensor_set_requires_grad(x, true);
    nn_pool2d_params p = nn_pool2d_default(2, 2);
    nn_tensor *y = nn_max_pool2d_relu(ctx, x, &p);
    ck_assert_ptr_nonnull(y);
    float want_y[3] = {2, 0, 0};
    tu_assert_close(y->data, want_y, 3, 0, 0);
    ck_assert_int_eq(nn_backward(ctx, nn_sum(ctx, y)), NN_OK);
    float want_dx[12] = {0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    tu_assert_close(x->grad, want_dx, 12, 0, 0);
    nn_tensor_free(x);
    nn_ctx_destroy(ctx);
}
END_TEST

/* conv -> relu -> max pool -> relu2 (two readers) -> gap / add: the model's
 * forward, loss and gradients against the same ops called one by one. */
static nn_model *rewrite_model(int *relu1, int *relu2) {
    nn_model *m = nn_model_create(2);
    nn_conv2d_params same = nn_conv2d_default();
    same.pad_h = same.pad_w = 1;
    nn_pool2d_params pool = nn_pool2d_default(2, 2);
    int x = nn_model_conv2d(m, "conv1", NN_MODEL_INPUT, 4, 3, &same, true);
    *relu1 = x = nn_model_relu(m, "relu1", x);
    x = nn_model_max_pool2d(m, "pool1", x, &pool);
    x = nn_model_conv2d(m, "conv2", x, 4, 3, &same, true);
    *relu2 = nn_model_relu(m, "relu2", x);
    int p2 = nn_model_max_pool2d(m, "pool2", *relu2, &pool);
    int g1 = nn_model_global_avg_pool2d(m, "gap1", *relu2); /* relu2 has two readers */
    int g2 = nn_model_global_avg_pool2d(m, "gap2", p2);
    x = nn_model_add(m, "sum", g1, g2);
    x = nn_model_flatten(m, "flat", x);
    x = nn_model_linear(m, "fc", x, 4, 2, true);
    ck_assert_msg(x >= 0, "%s", nn_model_error(m));
    nn_model_init(m, 9);
    for (int i = 0; i < nn_model_param_count(m); i++) { /* non-zero biases */
        nn_param pa = nn_model_param(m, i);
        if (strstr(pa.name, "bias")) tu_fill_uniform(pa.tensor, -0.2f, 0.2f, 40 + (uint64_t)i);
    }
    return m;
}

static nn_tensor *by_hand(nn_model *m, nn_ctx *ctx, nn_tensor *input) {
    nn_conv2d_params same = nn_conv2d_default();
    same.pad_h = same.pad_w = 1;
    nn_pool2d_params pool = nn_pool2d_default(2, 2);
    nn_tensor *x = nn_conv2d(ctx, input, nn_model_find_param(m, "conv1.weight"),
                             nn_model_find_param(m, "conv1.bias"), &same);
    x = nn_max_pool2d(ctx, nn_relu(ctx, x), &pool);
    x = nn_conv2d(ctx, x, nn_model_find_param(m, "conv2.weight"),
                  nn_model_find_param(m, "conv2.bias"), &same);
    nn_tensor *r2 = nn_relu(ctx, x);
    x = nn_add(ctx, nn_global_avg_pool2d(ctx, r2),
               nn_global_avg_pool2d(ctx, nn_max_pool2d(ctx, r2, &pool)));
    return nn_linear(ctx, nn_flatten(ctx, x), nn_model_find_param(m, "fc.weight"),
                     nn_model_find_param(m, "fc.bias"));
}

START_TEST(model_rewrite_same_as_ops) {
    int relu1, relu2;
    nn_model *m = rewrite_model(&relu1, &relu2);
    nn_tensor *input = nn_tensor_new4(3, 2, 9, 11);
    tu_fill_uniform(input, -1, 1, 77);
    int targets[3] = {0, 1, 1};
    nn_ctx *ctx = nn_ctx_create();
    int np = nn_model_param_count(m);
    float *grads[2][16] = {{0}};
    float *out[2] = {0};
    size_t out_numel = 0;
    ck_assert_int_le(np, 16);
    for (int model = 0; model < 2; model++) {
        nn_ctx_reset(ctx);
        nn_model_zero_grad(m);
        nn_tensor *y = model ? nn_model_forward(m, ctx, input) : by_hand(m, ctx, input);
        ck_assert_msg(y != NULL, "%s", nn_ctx_error(ctx));
        if (model) {
            ck_assert_msg(nn_model_output(m, relu1) == NULL, "relu1 read only by a pool: left to it");
            ck_assert_msg(nn_model_output(m, relu2) != NULL, "relu2 has two readers: run as is");
        }
        nn_tensor *loss = nn_cross_entropy(ctx, y, targets, NULL, 0.0f, NN_REDUCE_MEAN);
        ck_assert_int_eq(nn_backward(ctx, loss), NN_OK);
        out_numel = y->numel;
        out[model] = malloc(y->numel * sizeof(float));
        memcpy(out[model], y->data, y->numel * sizeof(float));
        for (int i = 0; i < np; i++) {
            nn_param pa = nn_model_param(m, i);
            grads[model][i] = malloc(pa.tensor->numel * sizeof(float));
            memcpy(grads[model][i], pa.tensor->grad, pa.tensor->numel * sizeof(float));
        }
    }
    tu_assert_close(out[1], out[0], out_numel, 1e-6, 1e-6);
    for (int i = 0; i < np; i++) {
        nn_param pa = nn_model_param(m, i);
        ck_assert_msg(tu_max_rel_err(grads[1][i], grads[0][i], pa.tensor->numel, 1e-6, 1e-5) <= 1.0,
                      "gradient of %s differs", pa.name);
        free(grads[0][i]);
        free(grads[1][i]);
    }
    free(out[0]);
    free(out[1]);
    nn_tensor_free(input);
    nn_ctx_destroy(ctx);
    nn_model_free(m);
}
END_TEST

Suite *pool_relu_suite(void) {
    Suite *s = suite_create("pool_relu");
    TCase *tc = tcase_create("grad");
    tcase_add_test(tc, grad_2x2_odd);
    tcase_add_test(tc, grad_3x3_s2_pad_ceil);
    tcase_add_test(tc, grad_3x3_s1);
    suite_add_tcase(s, tc);
    TCase *same = tcase_create("same");
    tcase_add_test(same, same_2x2_fresh);
    tcase_add_test(same, same_2x2_accumulate);
    tcase_add_test(same, same_2x2_nan);
    tcase_add_test(same, same_general_fresh);
    tcase_add_test(same, same_general_accumulate);
    tcase_add_test(same, same_2x2_ceil);
    tcase_add_test(same, same_2x2_wide);
    tcase_add_test(same, hand_computed);
    tcase_add_test(same, model_rewrite_same_as_ops);
    suite_add_tcase(s, same);
    return s;
}
