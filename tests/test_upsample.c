/* test_upsample.c - nearest upsampling by 2 to another map's size: values by
 * hand on even and odd targets, gradient checks on 1, 3 and 7 channels, the
 * model layer, and the shapes it refuses. */
#include <string.h>

#include "testutil.h"

typedef struct {
    int ho, wo; /* the target size */
} target;

static nn_tensor *upsample_fn(nn_ctx *ctx, nn_tensor **in, void *arg) {
    const target *t = arg;
    nn_tensor like = {.ndim = 4, .shape = {1, 1, t->ho, t->wo}};
    return nn_upsample2x(ctx, in[0], &like);
}

START_TEST(values_even_and_odd) {
    /* x = [[1, 2], [3, 4]]: to 4x4 every value fills a 2x2 block; to 3x3 the
     * last row and column are cut */
    nn_ctx *ctx = nn_ctx_create();
    nn_tensor *x = nn_ctx_tensor(ctx, 4, (int[]){1, 1, 2, 2});
    for (int i = 0; i < 4; i++) x->data[i] = (float)(i + 1);
    nn_tensor like4 = {.ndim = 4, .shape = {1, 5, 4, 4}}, like3 = {.ndim = 4, .shape = {1, 1, 3, 3}};
    nn_tensor *y = nn_upsample2x(ctx, x, &like4);
    ck_assert_ptr_nonnull(y);
    ck_assert(y->shape[1] == 1 && y->shape[2] == 4 && y->shape[3] == 4); /* x's channels */
    const float want4[16] = {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4};
    for (int i = 0; i < 16; i++) ck_assert_float_eq(y->data[i], want4[i]);
    y = nn_upsample2x(ctx, x, &like3);
    ck_assert_ptr_nonnull(y);
    const float want3[9] = {1, 1, 2, 1, 1, 2, 3, 3, 4};
    for (int i = 0; i < 9; i++) ck_assert_float_eq(y->data[i], want3[i]);
    nn_ctx_destroy(ctx);
}
END_TEST

static void check_grad(int n, int c, int h, int w, int ho, int wo, uint64_t seed) {
    int xs[4] = {n, c, h, w};
    target t = {ho, wo};
    nn_tensor *in[1] = {tu_param(4, xs, -1, 1, seed)};
    tu_assert_gradcheck(upsample_fn, &t, 1, in);
    nn_tensor_free(in[0]);
}

START_TEST(grad_one_channel_even) { check_grad(1, 1, 3, 4, 6, 8, 1); }
END_TEST
START_TEST(grad_three_channels_odd) { check_grad(2, 3, 3, 5, 5, 9, 2); }
END_TEST
START_TEST(grad_seven_channels_mixed) { check_grad(1, 7, 4, 3, 7, 6, 3); }
END_TEST

START_TEST(bad_shapes) {
    nn_ctx *ctx = nn_ctx_create();
    nn_tensor *x = nn_ctx_tensor(ctx, 4, (int[]){1, 2, 3, 3});
    memset(x->data, 0, x->numel * sizeof(float));
    nn_tensor too_big = {.ndim = 4, .shape = {1, 1, 7, 6}}; /* ceil(7/2) = 4, not 3 */
    ck_assert_ptr_null(nn_upsample2x(ctx, x, &too_big));
    ck_assert_int_eq(nn_ctx_status(ctx), NN_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(nn_ctx_error(ctx), "upsample2x"));
    nn_ctx_destroy(ctx);
    ctx = nn_ctx_create();
    x = nn_ctx_tensor(ctx, 4, (int[]){1, 2, 3, 3});
    nn_tensor flat = {.ndim = 2, .shape = {6, 6}};
    ck_assert_ptr_null(nn_upsample2x(ctx, x, &flat));
    ck_assert_int_eq(nn_ctx_status(ctx), NN_ERR_SHAPE);
    nn_ctx_destroy(ctx);
}
END_TEST

/* The model layer: a stride-2 conv, then back up to the input's size and
 * added to it (a top-down path in miniature); its gradient flows to the
 * conv's weights. */
START_TEST(model_layer) {
    nn_model *m = nn_model_create(2);
    nn_conv2d_params p = nn_conv2d_default();
    p.stride_h = p.stride_w = 2;
    p.pad_h = p.pad_w = 1;
    int down = nn_model_conv2d(m, "down", NN_MODEL_INPUT, 2, 3, &p, true);
    int up = nn_model_upsample2x(m, "up", down, NN_MODEL_INPUT);
    ck_assert_int_ge(up, 0);
    ck_assert_int_eq(nn_model_channels(m, up), 2);
    int sum = nn_model_add(m, "sum", up, NN_MODEL_INPUT);
    ck_assert_int_ge(sum, 0);
    nn_model_init(m, 7);
    nn_ctx *ctx = nn_ctx_create();
    nn_tensor *x = nn_ctx_tensor(ctx, 4, (int[]){1, 2, 5, 7}); /* odd: 3x4 after the conv */
    tu_fill_uniform(x, -1, 1, 9);
    nn_tensor *y = nn_model_forward(m, ctx, x);
    ck_assert_msg(y != NULL, "%s", nn_ctx_error(ctx));
    ck_assert(y->shape[2] == 5 && y->shape[3] == 7);
    nn_tensor *down_out = nn_model_output(m, down);
    /* y = x + up(down): check a cell that copies down's (1, 2) */
    size_t at = (size_t)(1 * 5 + 3) * 7 + 5; /* channel 1, row 3, column 5 */
    float want = x->data[at] + down_out->data[(size_t)(1 * 3 + 1) * 4 + 2];
    ck_assert_float_eq_tol(y->data[at], want, 1e-6f);
    nn_model_zero_grad(m);
    nn_backward(ctx, nn_sum(ctx, y));
    nn_tensor *w = nn_model_find_param(m, "down.weight");
    ck_assert_ptr_nonnull(w);
    double grad_norm = 0;
    for (size_t i = 0; i < w->numel; i++) grad_norm += w->grad[i] * w->grad[i];
    ck_assert(grad_norm > 0);
    nn_ctx_destroy(ctx);
    nn_model_free(m);
}
END_TEST

Suite *upsample_suite(void) {
    Suite *s = suite_create("upsample");
    TCase *tc = tcase_create("upsample");
    tcase_add_test(tc, values_even_and_odd);
    tcase_add_test(tc, grad_one_channel_even);
    tcase_add_test(tc, grad_three_channels_odd);
    tcase_add_test(tc, grad_seven_channels_mixed);
    tcase_add_test(tc, bad_shapes);
    tcase_add_test(tc, model_layer);
    suite_add_tcase(s, tc);
    return s;
}
