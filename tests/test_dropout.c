/* test_dropout.c - inverted dropout: gradient check, statistics and scale
 * against PyTorch, determinism for a seed, eval-mode identity, bad arguments. */
#include <math.h>
#include <string.h>

#include "testutil.h"

typedef struct {
    bool training;
    float p;
} dropout_case;

/* Reseeds before each forward so every pass of the gradient check draws the same mask. */
static nn_tensor *dropout_fn(nn_ctx *ctx, nn_tensor **in, void *arg) {
    dropout_case *c = arg;
    nn_ctx_seed(ctx, 99);
    nn_ctx_set_training(ctx, c->training);
    return nn_dropout(ctx, in[0], c->p);
}

START_TEST(grad) {
    int shape[4] = {2, 3, 5, 7};
    dropout_case cases[3] = {{true, 0.3f}, {true, 0.0f}, {false, 0.5f}};
    for (int k = 0; k < 3; k++) {
        nn_tensor *x = tu_param(4, shape, -1, 1, 51);
        tu_assert_gradcheck(dropout_fn, &cases[k], 1, &x);
        nn_tensor_free(x);
    }
}
END_TEST

/* For each p of fixtures/dropout_stats.nnfx: the kept fraction is 1 - p within
 * 5 standard deviations, kept values are x times PyTorch's scale exactly, and
 * dx = dy * mask. */
START_TEST(statistics_and_scale) {
    tu_fixture *fx = tu_fixture_load("fixtures/dropout_stats.nnfx");
    ck_assert_ptr_nonnull(fx);
    size_t n_p;
    const float *ps = tu_fixture_data(fx, "p", &n_p);
    const float *torch_kept = tu_fixture_data(fx, "kept_fraction", NULL);
    const float *torch_scale = tu_fixture_data(fx, "scale", NULL);
    const int numel = 20000;
    nn_tensor *x = tu_param(1, &numel, 0.5f, 2.0f, 52);
    nn_ctx *ctx = nn_ctx_create();
    nn_ctx_set_training(ctx, true);
    for (size_t k = 0; k < n_p; k++) {
        double p = ps[k];
        /* PyTorch's own sample (4096 elements) agrees with 1 - p: the fixture is sane */
        ck_assert_double_le(fabs(torch_kept[k] - (1 - p)), 5 * sqrt(p * (1 - p) / 4096));

        nn_ctx_reset(ctx);
        nn_tensor_zero_grad(x);
        nn_tensor *y = nn_dropout(ctx, x, ps[k]);
        ck_assert_ptr_nonnull(y);
        int kept = 0;
        for (int i = 0; i < numel; i++) {
            if (y->data[i] == 0.0f) continue;
            kept++;
            ck_assert_float_eq(y->data[i], x->data[i] * torch_scale[k]);
        }
        double kept_fraction = (double)kept / numel;
        ck_assert_msg(fabs(kept_fraction - (1 - p)) <= 5 * sqrt(p * (1 - p) / numel),
                      "p %g: kept fraction %g", p, kept_fraction);

        ck_assert_int_eq(nn_backward(ctx, nn_sum(ctx, y)), NN_OK);
        for (int i = 0; i < numel; i++)
            ck_assert_float_eq(x->grad[i], y->data[i] == 0.0f ? 0.0f : torch_scale[k]);
    }
    nn_ctx_destroy(ctx);
    nn_tensor_free(x);
    tu_fixture_free(fx);
}
END_TEST

/* The same seed gives the same mask; another seed a different one. */
START_TEST(deterministic_for_seed) {
    const int numel = 1000;
    nn_tensor *x = nn_tensor_new1(numel);
    nn_tensor_fill(x, 1.0f);
    nn_ctx *a = nn_ctx_create(), *b = nn_ctx_create();
    nn_ctx_set_training(a, true);
    nn_ctx_set_training(b, true);
    nn_ctx_seed(a, 7);
    nn_ctx_seed(b, 7);
    nn_tensor *ya = nn_dropout(a, x, 0.5f), *yb = nn_dropout(b, x, 0.5f);
    ck_assert_int_eq(memcmp(ya->data, yb->data, numel * sizeof(float)), 0);
    nn_ctx_seed(b, 8);
    yb = nn_dropout(b, x, 0.5f);
    ck_assert_int_ne(memcmp(ya->data, yb->data, numel * sizeof(float)), 0);
    nn_ctx_destroy(a);
    nn_ctx_destroy(b);
    nn_tensor_free(x);
}
END_TEST

/* Eval mode and p == 0 copy x unchanged. */
START_TEST(identity) {
    int shape[2] = {3, 7};
    nn_tensor *x = tu_param(2, shape, -1, 1, 53);
    nn_ctx *ctx = nn_ctx_create();
    nn_ctx_set_training(ctx, false);
    nn_tensor *y = nn_dropout(ctx, x, 0.9f);
    ck_assert_ptr_nonnull(y);
    ck_assert_int_eq(memcmp(y->data, x->data, x->numel * sizeof(float)), 0);
    nn_ctx_set_training(ctx, true);
    y = nn_dropout(ctx, x, 0.0f);
    ck_assert_ptr_nonnull(y);
    ck_assert_int_eq(memcmp(y->data, x->data, x->numel * sizeof(float)), 0);
    nn_ctx_destroy(ctx);
    nn_tensor_free(x);
}
END_TEST

START_TEST(bad_arguments) {
    nn_tensor *x = nn_tensor_new1(4);
    nn_ctx *ctx = nn_ctx_create();
    float bad[3] = {-0.1f, 1.0f, NAN};
    for (int mode = 0; mode < 2; mode++) {
        nn_ctx_set_training(ctx, mode == 1);
        for (int k = 0; k < 3; k++) {
            nn_ctx_reset(ctx);
            ck_assert_ptr_null(nn_dropout(ctx, x, bad[k]));
            ck_assert_int_eq(nn_ctx_status(ctx), NN_ERR_ARG);
        }
    }
    nn_ctx_reset(ctx);
    ck_assert_ptr_null(nn_dropout(ctx, NULL, 0.5f));
    ck_assert_int_ne(nn_ctx_status(ctx), NN_OK);
    nn_ctx_destroy(ctx);
    nn_tensor_free(x);
}
END_TEST

Suite *dropout_suite(void) {
    Suite *s = suite_create("dropout");
    TCase *tc = tcase_create("dropout");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, grad);
    tcase_add_test(tc, statistics_and_scale);
    tcase_add_test(tc, deterministic_for_seed);
    tcase_add_test(tc, identity);
    tcase_add_test(tc, bad_arguments);
    suite_add_tcase(s, tc);
    return s;
}
