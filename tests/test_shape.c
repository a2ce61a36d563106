/* test_shape.c - reshape, flatten, permute, concat, slice: gradient checks,
 * PyTorch references (fixtures/shape_*.nnfx from gen_ops_b.py), bad arguments. */
#include <string.h>

#include "testutil.h"

/* Fixture tensors are numbered per case: "<name><k>". */
static const float *case_data(const tu_fixture *fx, const char *name, int k, size_t *n) {
    char key[64];
    snprintf(key, sizeof key, "%s%d", name, k);
    const float *d = tu_fixture_data(fx, key, n);
    ck_assert_msg(d != NULL, "fixture lacks %s", key);
    return d;
}

static nn_tensor *case_tensor(const tu_fixture *fx, const char *name, int k) {
    char key[64];
    snprintf(key, sizeof key, "%s%d", name, k);
    nn_tensor *t = tu_fixture_tensor(fx, key);
    ck_assert_msg(t != NULL, "fixture lacks %s", key);
    return t;
}

static tu_fixture *load(const char *path) {
    tu_fixture *fx = tu_fixture_load(path);
    ck_assert_msg(fx != NULL, "missing fixture %s", path);
    return fx;
}

static void assert_shape(const nn_tensor *t, int ndim, const int *shape) {
    ck_assert_int_eq(t->ndim, ndim);
    for (int d = 0; d < ndim; d++) ck_assert_int_eq(t->shape[d], shape[d]);
}

/* ------------------------------------------------------------ gradient checks */

typedef struct {
    int ndim;
    int dims[NN_MAX_DIMS]; /* reshape target, or permutation */
    int axis, start, end, n;
} shape_case;

static nn_tensor *reshape_fn(nn_ctx *ctx, nn_tensor **in, void *arg) {
    shape_case *c = arg;
    /* mul by itself first so the gradient depends on x, not just routing */
    return nn_reshape(ctx, nn_mul(ctx, in[0], in[0]), c->ndim, c->dims);
}
static nn_tensor *flatten_fn(nn_ctx *ctx, nn_tensor **in, void *arg) {
    return nn_flatten(ctx, nn_mul(ctx, in[0], in[0]));
}
static nn_tensor *permute_fn(nn_ctx *ctx, nn_tensor **in, void *arg) {
    return nn_permute(ctx, in[0], ((shape_case *)arg)->dims);
}
static nn_tensor *concat_fn(nn_ctx *ctx, nn_tensor **in, void *arg) {
    shape_case *c = arg;
    return nn_concat(ctx, c->n, in, c->axis);
}
static nn_tensor *slice_fn(nn_ctx *ctx, nn_tensor **in, void *arg) {
    shape_case *c = arg;
    return nn_slice(ctx, in[0], c->axis, c->start, c->end);
}

START_TEST(grad_reshape) {
    int xs[3] = {3, 1, 7};
    nn_tensor *x = tu_param(3, xs, -1, 1, 11);
    shape_case c = {.ndim = 2, .dims = {-1, 3}};
    tu_assert_gradcheck(reshape_fn, &c, 1, &x);
    c = (shape_case){.ndim = 4, .dims = {7, 1, 3, 1}};
    tu_assert_gradcheck(reshape_fn, &c, 1, &x);
    nn_tensor_free(x);
}
END_TEST

START_TEST(grad_flatten) {
    int xs[4] = {2, 3, 1, 5};
    nn_tensor *x = tu_param(4, xs, -1, 1, 12);
    tu_assert_gradcheck(flatten_fn, NULL, 1, &x);
    nn_tensor_free(x);
}
END_TEST

START_TEST(grad_permute) {
    int s4[4] = {2, 3, 1, 5}, s5[5] = {2, 1, 3, 2, 3}, s6[6] = {1, 2, 1, 3, 1, 2};
    nn_tensor *x4 = tu_param(4, s4, -1, 1, 13), *x5 = tu_param(5, s5, -1, 1, 14);
    nn_tensor *x6 = tu_param(6, s6, -1, 1, 15);
    shape_case c = {.dims = {0, 2, 3, 1}};
    tu_assert_gradcheck(permute_fn, &c, 1, &x4);
    c = (shape_case){.dims = {3, 1, 0, 2}};
    tu_assert_gradcheck(permute_fn, &c, 1, &x4);
    c = (shape_case){.dims = {4, 2, 0, 3, 1}};
    tu_assert_gradcheck(permute_fn, &c, 1, &x5);
    c = (shape_case){.dims = {5, 4, 3, 2, 1, 0}};
    tu_assert_gradcheck(permute_fn, &c, 1, &x6);
    nn_tensor_free(x4);
    nn_tensor_free(x5);
    nn_tensor_free(x6);
}
END_TEST

/* Three inputs joined along each axis; the middle one takes no gradient. */
START_TEST(grad_concat) {
    int axis = _i - 1; /* -1, 0, 1, 2, 3 */
    int ax = axis < 0 ? 3 : axis, sizes[3] = {1, 3, 2};
    nn_tensor *in[3];
    for (int k = 0; k < 3; k++) {
        int s[4] = {2, 3, 1, 3};
        s[ax] = sizes[k];
        in[k] = tu_param(4, s, -1, 1, 20 + (uint64_t)k);
    }
    nn_tensor_set_requires_grad(in[1], false);
    shape_case c = {.axis = axis, .n = 3};
    tu_assert_gradcheck(concat_fn, &c, 3, in);
    for (int k = 0; k < 3; k++) nn_tensor_free(in[k]);
}
END_TEST

START_TEST(grad_slice) {
    int xs[4] = {3, 7, 1, 5};
    nn_tensor *x = tu_param(4, xs, -1, 1, 30);
    shape_case cases[] = {{.axis = 0, .start = 1, .end = 3}, {.axis = 1, .start = 2, .end = 7},
                          {.axis = 2, .start = 0, .end = 1}, {.axis = -1, .start = 3, .end = 4},
                          {.axis = 3, .start = 0, .end = 5}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        tu_assert_gradcheck(slice_fn, &cases[i], 1, &x);
    nn_tensor_free(x);
}
END_TEST

/* -------------------------------------------------------- hand-checked values */

START_TEST(reshape_flatten_values) {
    nn_ctx *ctx = nn_ctx_create();
    int xs[4] = {2, 3, 1, 5};
    nn_tensor *x = tu_param(4, xs, -1, 1, 40);
    int want[3] = {2, 5, 3};
    nn_tensor *y = nn_reshape(ctx, x, 3, (int[]){2, -1, 3});
    ck_assert_ptr_nonnull(y);
    assert_shape(y, 3, want);
    ck_assert_mem_eq(y->data, x->data, x->numel * sizeof(float)); /* row-major order kept */
    nn_tensor *f = nn_flatten(ctx, x);
    assert_shape(f, 2, (int[]){2, 15});
    ck_assert_mem_eq(f->data, x->data, x->numel * sizeof(float));
    nn_tensor *g = nn_flatten(ctx, nn_reshape(ctx, x, 1, (int[]){-1}));
    assert_shape(g, 2, (int[]){30, 1});
    nn_tensor_free(x);
    nn_ctx_destroy(ctx);
}
END_TEST

/* A 2x3 transpose and a concat/slice round trip, checked by hand. */
START_TEST(permute_concat_slice_values) {
    nn_ctx *ctx = nn_ctx_create();
    nn_tensor *a = nn_tensor_new2(2, 3);
    for (int i = 0; i < 6; i++) a->data[i] = (float)i; /* [[0 1 2] [3 4 5]] */
    nn_tensor *t = nn_permute(ctx, a, (int[]){1, 0});
    const float transposed[6] = {0, 3, 1, 4, 2, 5};
    assert_shape(t, 2, (int[]){3, 2});
    ck_assert_mem_eq(t->data, transposed, sizeof transposed);

    nn_tensor *pair[2] = {a, a};
    nn_tensor *c1 = nn_concat(ctx, 2, pair, 1);
    const float joined[12] = {0, 1, 2, 0, 1, 2, 3, 4, 5, 3, 4, 5};
    assert_shape(c1, 2, (int[]){2, 6});
    ck_assert_mem_eq(c1->data, joined, sizeof joined);
    nn_tensor *s = nn_slice(ctx, c1, 1, 2, 4);
    const float middle[4] = {2, 0, 5, 3};
    ck_assert_mem_eq(s->data, middle, sizeof middle);
    nn_tensor_free(a);
    nn_ctx_destroy(ctx);
}
END_TEST

/* ---------------------------------------------------------- PyTorch references */

/* Backward of sum(y * r) through the graph ending in y. */
static void backward_weighted(nn_ctx *ctx, nn_tensor *y, const tu_fixture *fx, int k) {
    nn_tensor *r = case_tensor(fx, "r", k);
    ck_assert_uint_eq(r->numel, y->numel);
    ck_assert_int_eq(nn_backward(ctx, nn_sum(ctx, nn_mul(ctx, nn_reshape(ctx, y, r->ndim,
                                                                        r->shape), r))),
                     NN_OK);
    nn_tensor_free(r);
}

static void assert_matches(const nn_tensor *t, const tu_fixture *fx, const char *name, int k,
                           double tol) {
    size_t n;
    const float *ref = case_data(fx, name, k, &n);
    ck_assert_uint_eq(n, t->numel);
    tu_assert_close(t->data, ref, n, tol, tol);
}

static void assert_grad_matches(const nn_tensor *t, const tu_fixture *fx, const char *name, int k,
                                double tol) {
    size_t n;
    const float *ref = case_data(fx, name, k, &n);
    ck_assert_uint_eq(n, t->numel);
    tu_assert_close(t->grad, ref, n, tol, tol);
}

START_TEST(torch_permute) {
    tu_fixture *fx = load("fixtures/shape_permute.nnfx");
    for (int k = 0; k < (int)tu_fixture_data(fx, "count", NULL)[0]; k++) {
        nn_tensor *x = case_tensor(fx, "x", k);
        nn_tensor_set_requires_grad(x, true);
        size_t np;
        const float *pf = case_data(fx, "perm", k, &np);
        int perm[NN_MAX_DIMS];
        for (size_t d = 0; d < np; d++) perm[d] = (int)pf[d];
        nn_ctx *ctx = nn_ctx_create();
        nn_tensor *y = nn_permute(ctx, x, perm);
        ck_assert_msg(y != NULL, "%s", nn_ctx_error(ctx));
        assert_matches(y, fx, "y", k, 1e-6);
        backward_weighted(ctx, y, fx, k);
        assert_grad_matches(x, fx, "dx", k, 1e-6);
        nn_ctx_destroy(ctx);
        nn_tensor_free(x);
    }
    tu_fixture_free(fx);
}
END_TEST

START_TEST(torch_concat) {
    tu_fixture *fx = load("fixtures/shape_concat.nnfx");
    for (int k = 0; k < (int)tu_fixture_data(fx, "count", NULL)[0]; k++) {
        nn_tensor *in[3] = {case_tensor(fx, "a", k), case_tensor(fx, "b", k),
                            case_tensor(fx, "c", k)};
        for (int i = 0; i < 3; i++) nn_tensor_set_requires_grad(in[i], true);
        int axis = (int)case_data(fx, "axis", k, NULL)[0];
        nn_ctx *ctx = nn_ctx_create();
        nn_tensor *y = nn_concat(ctx, 3, in, axis);
        ck_assert_msg(y != NULL, "%s", nn_ctx_error(ctx));
        assert_matches(y, fx, "y", k, 1e-6);
        backward_weighted(ctx, y, fx, k);
        assert_grad_matches(in[0], fx, "da", k, 1e-6);
        assert_grad_matches(in[1], fx, "db", k, 1e-6);
        assert_grad_matches(in[2], fx, "dc", k, 1e-6);
        nn_ctx_destroy(ctx);
        for (int i = 0; i < 3; i++) nn_tensor_free(in[i]);
    }
    tu_fixture_free(fx);
}
END_TEST

START_TEST(torch_slice) {
    tu_fixture *fx = load("fixtures/shape_slice.nnfx");
    for (int k = 0; k < (int)tu_fixture_data(fx, "count", NULL)[0]; k++) {
        nn_tensor *x = case_tensor(fx, "x", k);
        nn_tensor_set_requires_grad(x, true);
        const float *s = case_data(fx, "slice", k, NULL);
        nn_ctx *ctx = nn_ctx_create();
        nn_tensor *y = nn_slice(ctx, x, (int)s[0], (int)s[1], (int)s[2]);
        ck_assert_msg(y != NULL, "%s", nn_ctx_error(ctx));
        assert_matches(y, fx, "y", k, 1e-6);
        backward_weighted(ctx, y, fx, k);
        assert_grad_matches(x, fx, "dx", k, 1e-6);
        nn_ctx_destroy(ctx);
        nn_tensor_free(x);
    }
    tu_fixture_free(fx);
}
END_TEST

/* SSD's head layout: [N, A*C, H, W] -> permute(0,2,3,1) -> reshape(N, -1, C),
 * two heads concatenated over priors, softmax over classes, flattened. */
START_TEST(torch_ssd_head) {
    tu_fixture *fx = load("fixtures/shape_ssd_head.nnfx");
    for (int k = 0; k < (int)tu_fixture_data(fx, "count", NULL)[0]; k++) {
        nn_tensor *heads[2] = {case_tensor(fx, "h1", k), case_tensor(fx, "h2", k)};
        int classes = (int)case_data(fx, "classes", k, NULL)[0];
        nn_ctx *ctx = nn_ctx_create();
        nn_tensor *flat[2];
        for (int i = 0; i < 2; i++) {
            nn_tensor_set_requires_grad(heads[i], true);
            nn_tensor *p = nn_permute(ctx, heads[i], (int[]){0, 2, 3, 1});
            flat[i] = nn_reshape(ctx, p, 3, (int[]){heads[i]->shape[0], -1, classes});
        }
        nn_tensor *y = nn_flatten(ctx, nn_softmax(ctx, nn_concat(ctx, 2, flat, 1), -1));
        ck_assert_msg(y != NULL, "%s", nn_ctx_error(ctx));
        assert_matches(y, fx, "y", k, 1e-5);
        backward_weighted(ctx, y, fx, k);
        assert_grad_matches(heads[0], fx, "dh1", k, 1e-5);
        assert_grad_matches(heads[1], fx, "dh2", k, 1e-5);
        nn_ctx_destroy(ctx);
        nn_tensor_free(heads[0]);
        nn_tensor_free(heads[1]);
    }
    tu_fixture_free(fx);
}
END_TEST

/* --------------------------------------------------------------- bad arguments */

/* Runs the failing call's result through `got`, then checks NULL, the code and
 * that the message names `needle`; resets the ctx for the next case. */
static void expect_fail(nn_ctx *ctx, nn_tensor *got, nn_status code, const char *needle) {
    ck_assert_ptr_null(got);
    ck_assert_int_eq(nn_ctx_status(ctx), code);
    ck_assert_msg(strstr(nn_ctx_error(ctx), needle) != NULL, "error \"%s\" does not name \"%s\"",
                  nn_ctx_error(ctx), needle);
    nn_ctx_reset(ctx);
}

START_TEST(bad_arguments) {
    nn_ctx *ctx = nn_ctx_create();
    nn_tensor *x = nn_tensor_new4(2, 3, 4, 5), *z = nn_tensor_new4(2, 4, 4, 5);

    expect_fail(ctx, nn_reshape(ctx, x, 2, (int[]){7, 17}), NN_ERR_SHAPE, "[2, 3, 4, 5]");
    expect_fail(ctx, nn_reshape(ctx, x, 2, (int[]){7, -1}), NN_ERR_SHAPE, "[7, -1]");
    expect_fail(ctx, nn_reshape(ctx, x, 3, (int[]){-1, -1, 2}), NN_ERR_ARG, "[-1, -1, 2]");
    expect_fail(ctx, nn_reshape(ctx, x, 2, (int[]){0, 120}), NN_ERR_ARG, "[0, 120]");
    expect_fail(ctx, nn_reshape(ctx, x, 7, (int[]){1, 1, 1, 1, 1, 1, 120}), NN_ERR_ARG, "7");
    /* a product that overflows int must not wrap into a match */
    expect_fail(ctx, nn_reshape(ctx, x, 3, (int[]){65536, 65536, 120}), NN_ERR_SHAPE, "120");

    expect_fail(ctx, nn_permute(ctx, x, (int[]){0, 1, 1, 3}), NN_ERR_ARG, "[0, 1, 1, 3]");
    expect_fail(ctx, nn_permute(ctx, x, (int[]){0, 1, 2, 4}), NN_ERR_ARG, "[2, 3, 4, 5]");
    expect_fail(ctx, nn_permute(ctx, x, (int[]){-1, 1, 2, 3}), NN_ERR_ARG, "not a permutation");
    expect_fail(ctx, nn_permute(ctx, x, NULL), NN_ERR_ARG, "NULL");

    nn_tensor *pair[2] = {x, z};
    expect_fail(ctx, nn_concat(ctx, 2, pair, 2), NN_ERR_SHAPE, "[2, 4, 4, 5]");
    ck_assert_ptr_nonnull(nn_concat(ctx, 2, pair, 1)); /* differ only along the axis: fine */
    nn_ctx_reset(ctx);
    expect_fail(ctx, nn_concat(ctx, 2, pair, 4), NN_ERR_ARG, "axis 4");
    expect_fail(ctx, nn_concat(ctx, 0, pair, 0), NN_ERR_ARG, "at least one");
    nn_tensor *flat = nn_tensor_new2(2, 60);
    nn_tensor *mixed[2] = {x, flat};
    expect_fail(ctx, nn_concat(ctx, 2, mixed, 0), NN_ERR_SHAPE, "[2, 60]");

    expect_fail(ctx, nn_slice(ctx, x, 1, 2, 2), NN_ERR_ARG, "[2, 2)");
    expect_fail(ctx, nn_slice(ctx, x, 3, 1, 6), NN_ERR_ARG, "size 5");
    expect_fail(ctx, nn_slice(ctx, x, 0, -1, 1), NN_ERR_ARG, "[2, 3, 4, 5]");
    expect_fail(ctx, nn_slice(ctx, x, -5, 0, 1), NN_ERR_ARG, "axis -5");

    /* a NULL input (an earlier failure) propagates */
    ck_assert_ptr_null(nn_flatten(ctx, NULL));
    ck_assert_int_ne(nn_ctx_status(ctx), NN_OK);
    nn_ctx_reset(ctx);
    nn_tensor *with_null[2] = {x, NULL};
    ck_assert_ptr_null(nn_concat(ctx, 2, with_null, 0));
    ck_assert_int_ne(nn_ctx_status(ctx), NN_OK);

    nn_tensor_free(x);
    nn_tensor_free(z);
    nn_tensor_free(flat);
    nn_ctx_destroy(ctx);
}
END_TEST

Suite *shape_suite(void) {
    Suite *s = suite_create("shape");
    TCase *tc = tcase_create("grad");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, grad_reshape);
    tcase_add_test(tc, grad_flatten);
    tcase_add_test(tc, grad_permute);
    tcase_add_loop_test(tc, grad_concat, 0, 5);
    tcase_add_test(tc, grad_slice);
    suite_add_tcase(s, tc);
    TCase *ref = tcase_create("reference");
    tcase_add_test(ref, reshape_flatten_values);
    tcase_add_test(ref, permute_concat_slice_values);
    tcase_add_test(ref, torch_permute);
    tcase_add_test(ref, torch_concat);
    tcase_add_test(ref, torch_slice);
    tcase_add_test(ref, torch_ssd_head);
    tcase_add_test(ref, bad_arguments);
    suite_add_tcase(s, ref);
    return s;
}
