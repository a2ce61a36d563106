/* test_elementwise.c - add, mul, scale, sum, mean (nn/elementwise.c):
 * gradient checks, PyTorch references (fixtures/elementwise.nnfx), hand
 * values, shape mismatches. */
#include <string.h>

#include "testutil.h"

typedef enum { OP_ADD, OP_MUL, OP_SCALE, OP_SUM, OP_MEAN, OP_SQUARE } elementwise_op;

static nn_tensor *op_fn(nn_ctx *ctx, nn_tensor **in, void *arg) {
    switch (*(elementwise_op *)arg) {
    case OP_ADD: return nn_add(ctx, in[0], in[1]);
    case OP_MUL: return nn_mul(ctx, in[0], in[1]);
    case OP_SCALE: return nn_scale(ctx, in[0], -1.7f);
    case OP_SUM: return nn_sum(ctx, in[0]);
    case OP_MEAN: return nn_mean(ctx, in[0]);
    case OP_SQUARE: return nn_mul(ctx, in[0], in[0]); /* both gradients land in one tensor */
    }
    return NULL;
}

/* Every op on [1, 3, 5, 7] and on [7]; binary ops get a second input. */
START_TEST(grad_every_op) {
    elementwise_op op = (elementwise_op)_i;
    int s4[4] = {1, 3, 5, 7}, s1[1] = {7};
    nn_tensor *a = tu_param(4, s4, -2, 2, 1), *b = tu_param(4, s4, -2, 2, 2);
    nn_tensor *in4[2] = {a, b};
    tu_assert_gradcheck(op_fn, &op, 2, in4);
    nn_tensor *c = tu_param(1, s1, -2, 2, 3), *d = tu_param(1, s1, -2, 2, 4);
    nn_tensor *in1[2] = {c, d};
    tu_assert_gradcheck(op_fn, &op, 2, in1);
    nn_tensor_free(a);
    nn_tensor_free(b);
    nn_tensor_free(c);
    nn_tensor_free(d);
}
END_TEST

/* One input without requires_grad: its gradient stays untouched. */
START_TEST(grad_one_side_only) {
    int s[2] = {3, 5};
    nn_tensor *a = tu_param(2, s, -1, 1, 5), *b = tu_param(2, s, -1, 1, 6);
    nn_tensor_set_requires_grad(b, false);
    nn_tensor *in[2] = {a, b};
    elementwise_op op = OP_MUL;
    tu_assert_gradcheck(op_fn, &op, 2, in);
    for (size_t i = 0; i < b->numel; i++) ck_assert_float_eq(b->grad[i], 0.0f);
    nn_tensor_free(a);
    nn_tensor_free(b);
}
END_TEST

/* sum of 1..100 = 5050, mean 50.5; dmean/dx = 1/100 each. */
START_TEST(hand_values) {
    nn_ctx *ctx = nn_ctx_create();
    nn_tensor *x = nn_tensor_new1(100);
    nn_tensor_set_requires_grad(x, true);
    for (int i = 0; i < 100; i++) x->data[i] = (float)(i + 1);
    ck_assert_float_eq(nn_sum(ctx, x)->data[0], 5050.0f);
    nn_tensor *m = nn_mean(ctx, x);
    ck_assert_float_eq(m->data[0], 50.5f);
    nn_tensor *sc = nn_scale(ctx, x, 0.5f);
    ck_assert_float_eq(sc->data[9], 5.0f);
    ck_assert_int_eq(nn_backward(ctx, m), NN_OK);
    for (int i = 0; i < 100; i++) ck_assert_float_eq(x->grad[i], 0.01f);
    nn_tensor_free(x);
    nn_ctx_destroy(ctx);
}
END_TEST

START_TEST(torch_reference) {
    tu_fixture *fx = tu_fixture_load("fixtures/elementwise.nnfx");
    ck_assert_msg(fx != NULL, "missing fixtures/elementwise.nnfx");
    int count = (int)tu_fixture_data(fx, "count", NULL)[0];
    for (int k = 0; k < count; k++) {
        char key[32];
        const char *names[3] = {"a", "b", "r"};
        nn_tensor *t[3];
        for (int i = 0; i < 3; i++) {
            snprintf(key, sizeof key, "%s%d", names[i], k);
            t[i] = tu_fixture_tensor(fx, key);
            ck_assert_msg(t[i] != NULL, "fixture lacks %s", key);
        }
        nn_tensor *a = t[0], *b = t[1], *r = t[2];
        nn_tensor_set_requires_grad(a, true);
        nn_tensor_set_requires_grad(b, true);
        snprintf(key, sizeof key, "s%d", k);
        float s = tu_fixture_data(fx, key, NULL)[0];

        nn_ctx *ctx = nn_ctx_create();
        struct {
            const char *name;
            nn_tensor *y;
        } outs[5] = {{"add", nn_add(ctx, a, b)}, {"mul", nn_mul(ctx, a, b)},
                     {"scale", nn_scale(ctx, a, s)}, {"sum", nn_sum(ctx, a)},
                     {"mean", nn_mean(ctx, a)}};
        for (int i = 0; i < 5; i++) {
            ck_assert_msg(outs[i].y != NULL, "%s: %s", outs[i].name, nn_ctx_error(ctx));
            size_t n;
            snprintf(key, sizeof key, "%s%d", outs[i].name, k);
            const float *ref = tu_fixture_data(fx, key, &n);
            ck_assert_uint_eq(n, outs[i].y->numel);
            tu_assert_close(outs[i].y->data, ref, n, 1e-6, 1e-6);
        }
        ck_assert_int_eq(nn_backward(ctx, nn_sum(ctx, nn_mul(ctx, outs[1].y, r))), NN_OK);
        snprintf(key, sizeof key, "da_mul%d", k);
        tu_assert_close(a->grad, tu_fixture_data(fx, key, NULL), a->numel, 1e-6, 1e-6);
        snprintf(key, sizeof key, "db_mul%d", k);
        tu_assert_close(b->grad, tu_fixture_data(fx, key, NULL), b->numel, 1e-6, 1e-6);
        nn_ctx_destroy(ctx);
        for (int i = 0; i < 3; i++) nn_tensor_free(t[i]);
    }
    tu_fixture_free(fx);
}
END_TEST

START_TEST(shape_mismatch) {
    nn_ctx *ctx = nn_ctx_create();
    nn_tensor *a = nn_tensor_new2(3, 5), *b = nn_tensor_new2(5, 3);
    ck_assert_ptr_null(nn_add(ctx, a, b));
    ck_assert_int_eq(nn_ctx_status(ctx), NN_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(nn_ctx_error(ctx), "[3, 5]"));
    ck_assert_ptr_nonnull(strstr(nn_ctx_error(ctx), "[5, 3]"));
    nn_ctx_reset(ctx);
    ck_assert_ptr_null(nn_mul(ctx, a, b));
    ck_assert_int_eq(nn_ctx_status(ctx), NN_ERR_SHAPE);
    nn_ctx_reset(ctx);
    ck_assert_ptr_null(nn_sum(ctx, NULL));
    ck_assert_int_ne(nn_ctx_status(ctx), NN_OK);
    /* once the ctx holds an error, later ops refuse too */
    ck_assert_ptr_null(nn_scale(ctx, a, 2.0f));
    nn_tensor_free(a);
    nn_tensor_free(b);
    nn_ctx_destroy(ctx);
}
END_TEST

Suite *elementwise_suite(void) {
    Suite *s = suite_create("elementwise");
    TCase *tc = tcase_create("grad");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, grad_every_op, OP_ADD, OP_SQUARE + 1);
    tcase_add_test(tc, grad_one_side_only);
    suite_add_tcase(s, tc);
    TCase *ref = tcase_create("reference");
    tcase_add_test(ref, hand_values);
    tcase_add_test(ref, torch_reference);
    tcase_add_test(ref, shape_mismatch);
    suite_add_tcase(s, ref);
    return s;
}
