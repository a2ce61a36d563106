/* test_model.c - declaring models, forward against PyTorch, batch-norm
 * folding, weights round trip, memory reuse, and a small end-to-end training run. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

/* The model of tests/fixtures/gen_model.py, built with the C API. */
static nn_model *small_model(void) {
    nn_model *m = nn_model_create(3);
    nn_conv2d_params same = nn_conv2d_default();
    same.pad_h = same.pad_w = 1;
    nn_pool2d_params pool = nn_pool2d_default(2, 2);
    pool.ceil_mode = true;
    int x = nn_model_conv2d(m, "conv1", NN_MODEL_INPUT, 8, 3, &same, false);
    x = nn_model_batch_norm(m, "bn1", x, 0.1f, 1e-5f);
    x = nn_model_relu(m, "relu1", x);
    int p = nn_model_max_pool2d(m, "pool1", x, &pool);
    x = nn_model_conv2d(m, "conv2", p, 8, 3, &same, true);
    x = nn_model_relu(m, "relu2", x);
    x = nn_model_add(m, "res", p, x);
    x = nn_model_global_avg_pool2d(m, "gap", x);
    x = nn_model_flatten(m, "flat", x);
    x = nn_model_linear(m, "fc", x, 8, 3, true);
    ck_assert_msg(x >= 0, "%s", nn_model_error(m));
    return m;
}

/* Copies the fixture's tensors (PyTorch state_dict names) into the model. */
static void load_torch_params(nn_model *m, tu_fixture *fx) {
    for (int i = 0; i < nn_model_param_count(m); i++) {
        nn_param p = nn_model_param(m, i);
        size_t n;
        const float *d = tu_fixture_data(fx, p.name, &n);
        ck_assert_msg(d != NULL, "fixture lacks %s", p.name);
        ck_assert_uint_eq(n, p.tensor->numel);
        memcpy(p.tensor->data, d, n * sizeof(float));
    }
}

START_TEST(forward_matches_pytorch) {
    tu_fixture *fx = tu_fixture_load("fixtures/model_small.nnfx");
    ck_assert_ptr_nonnull(fx);
    nn_model *m = small_model();
    ck_assert_int_eq(nn_model_param_count(m), 9);
    load_torch_params(m, fx);
    nn_tensor *x = tu_fixture_tensor(fx, "input");
    size_t n;
    const float *ref = tu_fixture_data(fx, "output", &n);

    nn_ctx *ctx = nn_ctx_create();
    nn_ctx_set_grad_enabled(ctx, false);
    nn_tensor *y = nn_model_forward(m, ctx, x);
    ck_assert_msg(y != NULL, "%s", nn_ctx_error(ctx));
    ck_assert_uint_eq(y->numel, n);
    tu_assert_close(y->data, ref, n, 1e-4, 1e-4);

    /* folded batch norm + fused relu give the same answer */
    nn_error err;
    ck_assert_int_eq(nn_model_fold_batch_norm(m, &err), NN_OK);
    ck_assert_ptr_null(nn_model_find_param(m, "bn1.weight"));
    ck_assert_ptr_nonnull(nn_model_find_param(m, "conv1.bias"));
    nn_ctx_reset(ctx);
    y = nn_model_forward(m, ctx, x);
    ck_assert_msg(y != NULL, "%s", nn_ctx_error(ctx));
    tu_assert_close(y->data, ref, n, 1e-4, 1e-4);

    nn_ctx_destroy(ctx);
    nn_tensor_free(x);
    nn_model_free(m);
    tu_fixture_free(fx);
}
END_TEST

/* Gradients through the whole graph (residual branch included) match finite differences. */
static nn_tensor *model_fn(nn_ctx *ctx, nn_tensor **in, void *arg) {
    return nn_model_forward(arg, ctx, in[0]);
}

START_TEST(model_gradients) {
    nn_model *m = small_model();
    nn_model_init(m, 7);
    int xs[4] = {2, 3, 5, 6};
    nn_tensor *x = tu_param(4, xs, -1, 1, 3);
    /* eval mode: batch norm uses running statistics, a smooth function of x */
    nn_tensor *in[1] = {x};
    /* a small step: with ReLUs and max pooling, a big one can cross a kink */
    char why[256];
    double e = tu_gradcheck(model_fn, m, 1, in, 1e-3f, 2e-3, 2e-2, why, sizeof why);
    ck_assert_msg(e <= 1.0, "gradient check failed (%.3g): %s", e, why);
    /* and w.r.t. every parameter: d/dw via a model whose input is fixed */
    nn_ctx *ctx = nn_ctx_create();
    nn_model_zero_grad(m);
    nn_tensor *y = nn_model_forward(m, ctx, x);
    ck_assert_int_eq(nn_backward(ctx, nn_sum(ctx, y)), NN_OK);
    nn_tensor *w = nn_model_find_param(m, "conv2.weight");
    double analytic = w->grad[5];
    float save = w->data[5];
    double l[2];
    for (int s = 0; s < 2; s++) {
        w->data[5] = save + (s ? -1e-2f : 1e-2f);
        nn_ctx_reset(ctx);
        y = nn_model_forward(m, ctx, x);
        l[s] = 0;
        for (size_t i = 0; i < y->numel; i++) l[s] += y->data[i];
    }
    w->data[5] = save;
    double numeric = (l[0] - l[1]) / 2e-2;
    ck_assert_msg(fabs(numeric - analytic) < 2e-3 + 2e-2 * fabs(numeric), "dW %g vs %g", analytic,
                  numeric);
    nn_ctx_destroy(ctx);
    nn_tensor_free(x);
    nn_model_free(m);
}
END_TEST

START_TEST(build_errors) {
    nn_model *m = nn_model_create(3);
    int a = nn_model_conv2d(m, "c", NN_MODEL_INPUT, 4, 3, NULL, true);
    ck_assert_int_ge(a, 0);
    ck_assert_int_eq(nn_model_relu(m, "c", a), -1); /* duplicate name */
    ck_assert_ptr_nonnull(strstr(nn_model_error(m), "twice"));
    ck_assert_int_eq(nn_model_relu(m, "r", 5), -1); /* no such layer */
    int f = nn_model_flatten(m, "f", a);
    ck_assert_int_eq(nn_model_conv2d(m, "c2", f, 4, 3, NULL, true), -1); /* channels unknown */
    ck_assert_int_eq(nn_model_dropout(m, "d", a, 1.5f), -1);
    ck_assert_int_eq(nn_model_layer_count(m), 2);
    nn_model_free(m);
}
END_TEST

START_TEST(forward_errors_name_the_layer) {
    nn_model *m = nn_model_create(3);
    nn_model_linear(m, "fc", NN_MODEL_INPUT, 10, 2, true); /* expects [N, 10] */
    nn_tensor *x = nn_tensor_new2(4, 3);
    nn_ctx *ctx = nn_ctx_create();
    ck_assert_ptr_null(nn_model_forward(m, ctx, x));
    ck_assert_ptr_nonnull(strstr(nn_ctx_error(ctx), "layer 'fc'"));
    nn_ctx_destroy(ctx);
    nn_tensor_free(x);
    nn_model_free(m);
}
END_TEST


START_TEST(weights_round_trip) {
    nn_model *a = small_model(), *b = small_model();
    nn_model_init(a, 1);
    nn_model_init(b, 2);
    nn_weights *w = nn_weights_create();
    nn_error err;
    ck_assert_int_eq(nn_model_to_weights(a, w, NN_DTYPE_F32, &err), NN_OK);
    char path[] = "/tmp/nn_model_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    ck_assert_int_eq(nn_weights_save(w, path, &err), NN_OK);
    nn_weights *r = NULL;
    ck_assert_msg(nn_weights_load(path, &r, &err) == NN_OK, "%s", err.msg);
    ck_assert_int_eq(nn_model_load_weights(b, r, &err), NN_OK);
    for (int i = 0; i < nn_model_param_count(a); i++) {
        nn_param pa = nn_model_param(a, i), pb = nn_model_param(b, i);
        ck_assert_mem_eq(pa.tensor->data, pb.tensor->data, pa.tensor->numel * sizeof(float));
    }
    /* a model of another shape is refused with both shapes named */
    nn_model *c = nn_model_create(3);
    nn_model_conv2d(c, "conv1", NN_MODEL_INPUT, 4, 3, NULL, false);
    ck_assert_int_eq(nn_model_load_weights(c, r, &err), NN_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(err.msg, "conv1.weight"));
    ck_assert_ptr_nonnull(strstr(err.msg, "[8, 3, 3, 3]"));
    nn_model_conv2d(c, "other", 0, 4, 3, NULL, false);
    nn_weights *empty = nn_weights_create();
    ck_assert_int_eq(nn_model_load_weights(c, empty, &err), NN_ERR_NOT_FOUND);
    unlink(path);
    nn_weights_free(empty);
    nn_weights_free(w);
    nn_weights_free(r);
    nn_model_free(a);
    nn_model_free(b);
    nn_model_free(c);
}
END_TEST

/* After the first pass the arena holds one block: later passes allocate nothing. */
START_TEST(inference_reuses_memory) {
    nn_model *m = small_model();
    nn_model_init(m, 3);
    nn_tensor *x = nn_tensor_new4(2, 3, 33, 31);
    nn_ctx *ctx = nn_ctx_create();
    nn_ctx_set_grad_enabled(ctx, false);
    for (int pass = 0; pass < 2; pass++) {
        nn_ctx_reset(ctx);
        ck_assert_ptr_nonnull(nn_model_forward(m, ctx, x));
    }
    size_t allocs = nn_arena_system_allocs(nn_ctx_arena(ctx));
    for (int pass = 0; pass < 5; pass++) {
        nn_ctx_reset(ctx);
        ck_assert_ptr_nonnull(nn_model_forward(m, ctx, x));
    }
    ck_assert_uint_eq(nn_arena_system_allocs(nn_ctx_arena(ctx)), allocs);
    nn_ctx_destroy(ctx);
    nn_tensor_free(x);
    nn_model_free(m);
}
END_TEST

/* A frozen model (conv weights pre-packed) computes what the plain one does,
 * and new weights loaded into it are used, not the stale packed copy. */
START_TEST(frozen_model_matches_and_refreshes) {
    nn_model *m = small_model();
    nn_model_init(m, 11);
    int xs[4] = {2, 3, 40, 36};
    nn_tensor *x = nn_tensor_new(4, xs);
    tu_fill_uniform(x, -1, 1, 9);
    nn_ctx *ctx = nn_ctx_create();
    nn_ctx_set_grad_enabled(ctx, false);
    nn_tensor *y = nn_model_forward(m, ctx, x);
    ck_assert_ptr_nonnull(y);
    float plain[6];
    memcpy(plain, y->data, sizeof plain);

    nn_model_freeze(m);
    for (int pass = 0; pass < 2; pass++) {
        nn_ctx_reset(ctx);
        y = nn_model_forward(m, ctx, x);
        ck_assert_msg(y != NULL, "%s", nn_ctx_error(ctx));
        tu_assert_close(y->data, plain, 6, 1e-5, 1e-4);
    }
    /* other weights through load_weights: the output must change accordingly */
    nn_model *other = small_model();
    nn_model_init(other, 12);
    nn_weights *w = nn_weights_create();
    nn_error err;
    ck_assert_int_eq(nn_model_to_weights(other, w, NN_DTYPE_F32, &err), NN_OK);
    ck_assert_int_eq(nn_model_load_weights(m, w, &err), NN_OK);
    nn_model_freeze(m);
    nn_ctx_reset(ctx);
    y = nn_model_forward(m, ctx, x);
    float frozen_new[6];
    memcpy(frozen_new, y->data, sizeof frozen_new);
    nn_ctx_reset(ctx);
    nn_tensor *y2 = nn_model_forward(other, ctx, x);
    tu_assert_close(frozen_new, y2->data, 6, 1e-5, 1e-4);
    nn_weights_free(w);
    nn_model_free(other);
    nn_ctx_destroy(ctx);
    nn_tensor_free(x);
    nn_model_free(m);
}
END_TEST

Suite *model_suite(void) {
    Suite *s = suite_create("model");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, forward_matches_pytorch);
    tcase_add_test(tc, model_gradients);
    tcase_add_test(tc, build_errors);
    tcase_add_test(tc, forward_errors_name_the_layer);
    tcase_add_test(tc, weights_round_trip);
    tcase_add_test(tc, inference_reuses_memory);
    tcase_add_test(tc, frozen_model_matches_and_refreshes);
    suite_add_tcase(s, tc);
    return s;
}
