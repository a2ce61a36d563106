/* test_fastpath.c - the vectorized, threaded loops of linear, relu, max pool,
 * dropout, flatten, batch norm and softmax against plain reference loops written here, on odd
 * shapes (1, 3, 7, 17, 33 channels, odd sizes), and threaded runs against
 * single-threaded ones (bit for bit: every output is computed by one task in
 * a fixed order). Shapes are big enough to be split into several tasks. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* Runs with 1 thread, then 2, restoring the count the suite had. */
typedef void (*run_fn)(void *arg, int pass);
static void with_threads(int threads, run_fn fn, void *arg, int pass) {
    int saved = nn_threads_get();
    nn_threads_set(threads);
    fn(arg, pass);
    nn_threads_set(saved);
}

static void assert_same_bits(const float *a, const float *b, size_t n, const char *what) {
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(memcmp(&a[i], &b[i], sizeof(float)) == 0,
                      "%s: element %zu differs between 1 and 2 threads (%g vs %g)", what, i,
                      (double)a[i], (double)b[i]);
}

/* ------------------------------------------------------------------ linear */

typedef struct {
    int n, in, out;
    nn_tensor *x, *w, *b, *r;     /* inputs and the weights of L = sum(y * r) */
    float *y[2], *dx[2], *dw[2], *db[2]; /* per pass (0: 1 thread, 1: 2 threads) */
} linear_case;

static void linear_pass(void *arg, int pass) {
    linear_case *c = arg;
    nn_tensor_zero_grad(c->x);
    nn_tensor_zero_grad(c->w);
    nn_tensor_zero_grad(c->b);
    nn_ctx *ctx = nn_ctx_create();
    nn_tensor *y = nn_linear(ctx, c->x, c->w, c->b);
    ck_assert_msg(y != NULL, "%s", nn_ctx_error(ctx));
    ck_assert_int_eq(nn_backward(ctx, nn_sum(ctx, nn_mul(ctx, y, c->r))), NN_OK);
    memcpy(c->y[pass], y->data, y->numel * sizeof(float));
    memcpy(c->dx[pass], c->x->grad, c->x->numel * sizeof(float));
    memcpy(c->dw[pass], c->w->grad, c->w->numel * sizeof(float));
    memcpy(c->db[pass], c->b->grad, c->b->numel * sizeof(float));
    nn_ctx_destroy(ctx);
}

static void check_linear(int n, int in, int out) {
    int xs[2] = {n, in}, ws[2] = {out, in}, ys[2] = {n, out};
    linear_case c = {.n = n, .in = in, .out = out, .x = tu_param(2, xs, -1, 1, 61),
                     .w = tu_param(2, ws, -1, 1, 62), .b = tu_param(1, &out, -1, 1, 63),
                     .r = tu_param(2, ys, -1, 1, 64)};
    for (int p = 0; p < 2; p++) {
        c.y[p] = malloc((size_t)n * out * sizeof(float));
        c.dx[p] = malloc((size_t)n * in * sizeof(float));
        c.dw[p] = malloc((size_t)out * in * sizeof(float));
        c.db[p] = malloc((size_t)out * sizeof(float));
    }
    with_threads(1, linear_pass, &c, 0);
    with_threads(2, linear_pass, &c, 1);

    /* the plain triple loops, in double */
    float *y = malloc((size_t)n * out * sizeof(float)), *dx = malloc((size_t)n * in * sizeof(float));
    float *dw = malloc((size_t)out * in * sizeof(float)), *db = malloc((size_t)out * sizeof(float));
    const float *X = c.x->data, *W = c.w->data, *R = c.r->data;
    for (int i = 0; i < n; i++)
        for (int o = 0; o < out; o++) {
            double acc = c.b->data[o];
            for (int k = 0; k < in; k++) acc += (double)X[(size_t)i * in + k] * W[(size_t)o * in + k];
            y[(size_t)i * out + o] = (float)acc;
        }
    for (int i = 0; i < n; i++)
        for (int k = 0; k < in; k++) {
            double acc = 0;
            for (int o = 0; o < out; o++) acc += (double)R[(size_t)i * out + o] * W[(size_t)o * in + k];
            dx[(size_t)i * in + k] = (float)acc;
        }
    for (int o = 0; o < out; o++) {
        for (int k = 0; k < in; k++) {
            double acc = 0;
            for (int i = 0; i < n; i++) acc += (double)R[(size_t)i * out + o] * X[(size_t)i * in + k];
            dw[(size_t)o * in + k] = (float)acc;
        }
        double acc = 0;
        for (int i = 0; i < n; i++) acc += R[(size_t)i * out + o];
        db[o] = (float)acc;
    }
    /* sums of up to 2100 products of numbers in [-1, 1]: float rounding ~ 1e-4 */
    tu_assert_close(c.y[0], y, (size_t)n * out, 1e-4, 1e-4);
    tu_assert_close(c.dx[0], dx, (size_t)n * in, 1e-4, 1e-4);
    tu_assert_close(c.dw[0], dw, (size_t)out * in, 1e-4, 1e-4);
    tu_assert_close(c.db[0], db, (size_t)out, 1e-5, 1e-5);
    assert_same_bits(c.y[0], c.y[1], (size_t)n * out, "linear y");
    assert_same_bits(c.dx[0], c.dx[1], (size_t)n * in, "linear dx");
    assert_same_bits(c.dw[0], c.dw[1], (size_t)out * in, "linear dw");

    free(y);
    free(dx);
    free(dw);
    free(db);
    for (int p = 0; p < 2; p++) {
        free(c.y[p]);
        free(c.dx[p]);
        free(c.dw[p]);
        free(c.db[p]);
    }
    nn_tensor *all[] = {c.x, c.w, c.b, c.r};
    for (int k = 0; k < 4; k++) nn_tensor_free(all[k]);
}

START_TEST(linear_odd_shapes) {
    /* N, In, Out: remainders of the 16-lane sums, of the 4-row groups, and of
     * the 1024-column chunks; the last ones are big enough to be threaded */
    static const int shapes[][3] = {{1, 1, 1},   {3, 7, 5},     {7, 17, 3},    {17, 33, 7},
                                    {1, 1025, 1}, {33, 2100, 7}, {17, 3073, 33}, {3, 4100, 17}};
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++)
        check_linear(shapes[k][0], shapes[k][1], shapes[k][2]);
}
END_TEST

/* ------------------------------------------------------------------- relu */

typedef struct {
    nn_tensor *x, *r;
    float slope;
    float *y[2], *dx[2];
} relu_case;

static void relu_pass(void *arg, int pass) {
    relu_case *c = arg;
    nn_tensor_zero_grad(c->x);
    nn_ctx *ctx = nn_ctx_create();
    nn_tensor *y = c->slope == 0.0f ? nn_relu(ctx, c->x) : nn_leaky_relu(ctx, c->x, c->slope);
    ck_assert_ptr_nonnull(y);
    ck_assert_int_eq(nn_backward(ctx, nn_sum(ctx, nn_mul(ctx, y, c->r))), NN_OK);
    memcpy(c->y[pass], y->data, y->numel * sizeof(float));
    memcpy(c->dx[pass], c->x->grad, y->numel * sizeof(float));
    nn_ctx_destroy(ctx);
}

START_TEST(relu_against_reference) {
    int shape[4] = {3, 17, 33, 31}; /* 52173 elements: two tasks */
    float slopes[2] = {0.0f, 0.1f};
    for (int s = 0; s < 2; s++) {
        relu_case c = {.x = tu_param(4, shape, -2, 2, 71), .r = tu_param(4, shape, -1, 1, 72),
                       .slope = slopes[s]};
        size_t n = c.x->numel;
        c.x->data[0] = 0.0f;
        c.x->data[1] = -0.0f;
        c.x->data[2] = -INFINITY;
        c.x->data[3] = INFINITY;
        c.x->data[n - 1] = NAN;
        for (int p = 0; p < 2; p++) {
            c.y[p] = malloc(n * sizeof(float));
            c.dx[p] = malloc(n * sizeof(float));
        }
        with_threads(1, relu_pass, &c, 0);
        with_threads(2, relu_pass, &c, 1);
        for (size_t i = 0; i < n; i++) {
            float v = c.x->data[i], g = c.r->data[i];
            float y = c.slope == 0.0f ? (v < 0.0f ? 0.0f : v) : (v > 0.0f ? v : c.slope * v);
            float dx = v > 0.0f ? g : c.slope * g;
            ck_assert_msg(memcmp(&y, &c.y[0][i], sizeof y) == 0 || (isnan(y) && isnan(c.y[0][i])),
                          "slope %g: y[%zu] = %g, expected %g", (double)c.slope, i,
                          (double)c.y[0][i], (double)y);
            ck_assert_float_eq(c.dx[0][i], dx);
        }
        assert_same_bits(c.y[0], c.y[1], n, "relu y");
        assert_same_bits(c.dx[0], c.dx[1], n, "relu dx");
        for (int p = 0; p < 2; p++) {
            free(c.y[p]);
            free(c.dx[p]);
        }
        nn_tensor_free(c.x);
        nn_tensor_free(c.r);
    }
}
END_TEST

/* --------------------------------------------------------------- max pool */

typedef struct {
    nn_tensor *x, *r;
    nn_pool2d_params p;
    float *y[2], *dx[2];
} pool_case;

static void pool_pass(void *arg, int pass) {
    pool_case *c = arg;
    nn_tensor_zero_grad(c->x);
    nn_ctx *ctx = nn_ctx_create();
    nn_tensor *y = nn_max_pool2d(ctx, c->x, &c->p);
    ck_assert_msg(y != NULL, "%s", nn_ctx_error(ctx));
    ck_assert_int_eq(nn_backward(ctx, nn_sum(ctx, nn_mul(ctx, y, c->r))), NN_OK);
    memcpy(c->y[pass], y->data, y->numel * sizeof(float));
    memcpy(c->dx[pass], c->x->grad, c->x->numel * sizeof(float));
    nn_ctx_destroy(ctx);
}

/* 2x2 stride 2, no padding, floor: the reference is the definition, window
 * scanned in row-major order, a later element wins if larger or a NaN
 * against a number, the gradient goes to the winner. */
static void check_pool_2x2(int n, int ch, int h, int w, bool ceil_mode, bool ties) {
    int ho = ceil_mode ? (h + 1) / 2 : h / 2, wo = ceil_mode ? (w + 1) / 2 : w / 2;
    int xs[4] = {n, ch, h, w}, ys[4] = {n, ch, ho, wo};
    pool_case c = {.x = tu_param(4, xs, -2, 2, 81), .r = tu_param(4, ys, -1, 1, 82),
                   .p = nn_pool2d_default(2, 2)};
    c.p.ceil_mode = ceil_mode;
    size_t nx = c.x->numel, ny = c.r->numel;
    if (ties) /* few distinct values: many ties, plus NaNs */
        for (size_t i = 0; i < nx; i++)
            c.x->data[i] = i % 97 == 5 ? NAN : roundf(c.x->data[i]);
    for (int p = 0; p < 2; p++) {
        c.y[p] = malloc(ny * sizeof(float));
        c.dx[p] = malloc(nx * sizeof(float));
    }
    with_threads(1, pool_pass, &c, 0);
    with_threads(2, pool_pass, &c, 1);

    float *dx = calloc(nx, sizeof(float));
    for (int plane = 0; plane < n * ch; plane++) {
        const float *xp = c.x->data + (size_t)plane * h * w;
        for (int oy = 0; oy < ho; oy++)
            for (int ox = 0; ox < wo; ox++) {
                int best = -1;
                for (int ky = 0; ky < 2; ky++)
                    for (int kx = 0; kx < 2; kx++) {
                        int iy = 2 * oy + ky, ix = 2 * ox + kx;
                        if (iy >= h || ix >= w) continue;
                        float v = xp[iy * w + ix];
                        if (best < 0 || v > xp[best] || (isnan(v) && !isnan(xp[best])))
                            best = iy * w + ix;
                    }
                size_t o = ((size_t)plane * ho + oy) * wo + ox;
                float got = c.y[0][o];
                ck_assert_msg(got == xp[best] || (isnan(got) && isnan(xp[best])),
                              "y[%zu] = %g, expected %g", o, (double)got, (double)xp[best]);
                dx[(size_t)plane * h * w + best] += c.r->data[o];
            }
    }
    for (size_t i = 0; i < nx; i++) ck_assert_float_eq(c.dx[0][i], dx[i]);
    assert_same_bits(c.y[0], c.y[1], ny, "max pool y");
    assert_same_bits(c.dx[0], c.dx[1], nx, "max pool dx");
    free(dx);
    for (int p = 0; p < 2; p++) {
        free(c.y[p]);
        free(c.dx[p]);
    }
    nn_tensor_free(c.x);
    nn_tensor_free(c.r);
}

START_TEST(max_pool_2x2_odd_shapes) {
    static const int chans[5] = {1, 3, 7, 17, 33};
    for (int k = 0; k < 5; k++) {
        check_pool_2x2(2, chans[k], 9, 13, false, false); /* odd sizes drop the last row/col */
        check_pool_2x2(1, chans[k], 8, 6, false, true);
        check_pool_2x2(3, chans[k], 7, 5, true, true);    /* ceil: general loop on the edge */
    }
    check_pool_2x2(3, 17, 61, 67, false, true); /* several tasks per pass */
}
END_TEST

/* ---------------------------------------------------------------- dropout */

typedef struct {
    nn_tensor *x;
    float *y[2], *dx[2];
} dropout_case;

static void dropout_pass(void *arg, int pass) {
    dropout_case *c = arg;
    nn_tensor_zero_grad(c->x);
    nn_ctx *ctx = nn_ctx_create();
    nn_ctx_seed(ctx, 5);
    nn_ctx_set_training(ctx, true);
    nn_tensor *y = nn_dropout(ctx, c->x, 0.3f);
    ck_assert_ptr_nonnull(y);
    ck_assert_int_eq(nn_backward(ctx, nn_sum(ctx, y)), NN_OK);
    memcpy(c->y[pass], y->data, y->numel * sizeof(float));
    memcpy(c->dx[pass], c->x->grad, y->numel * sizeof(float));
    nn_ctx_destroy(ctx);
}

START_TEST(dropout_threads_and_mask) {
    int shape[4] = {3, 33, 17, 29};
    dropout_case c = {.x = tu_param(4, shape, 0.5f, 2.0f, 91)};
    size_t n = c.x->numel;
    for (int p = 0; p < 2; p++) {
        c.y[p] = malloc(n * sizeof(float));
        c.dx[p] = malloc(n * sizeof(float));
    }
    with_threads(1, dropout_pass, &c, 0);
    with_threads(2, dropout_pass, &c, 1);
    float scale = (float)(1.0 / (1.0 - 0.3));
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        bool keep = c.y[0][i] != 0.0f;
        kept += keep;
        ck_assert_float_eq(c.y[0][i], keep ? c.x->data[i] * scale : 0.0f);
        ck_assert_float_eq(c.dx[0][i], keep ? scale : 0.0f);
    }
    ck_assert_double_le(fabs((double)kept / n - 0.7), 5 * sqrt(0.21 / n));
    assert_same_bits(c.y[0], c.y[1], n, "dropout y");
    assert_same_bits(c.dx[0], c.dx[1], n, "dropout dx");
    for (int p = 0; p < 2; p++) {
        free(c.y[p]);
        free(c.dx[p]);
    }
    nn_tensor_free(c.x);
}
END_TEST

/* ---------------------------------------------------------------- flatten */

START_TEST(flatten_large_copy_and_add) {
    int shape[4] = {7, 33, 17, 19}; /* 74613 elements per copy: several chunks */
    nn_tensor *x = tu_param(4, shape, -1, 1, 101);
    int ys[2] = {7, 33 * 17 * 19};
    nn_tensor *r = tu_param(2, ys, -1, 1, 102);
    nn_ctx *ctx = nn_ctx_create();
    nn_tensor *y = nn_flatten(ctx, x);
    ck_assert_ptr_nonnull(y);
    ck_assert_int_eq(memcmp(y->data, x->data, x->numel * sizeof(float)), 0);
    /* y feeds two ops: dx must be the sum of both contributions */
    nn_tensor *l = nn_add(ctx, nn_sum(ctx, nn_mul(ctx, y, r)), nn_sum(ctx, y));
    ck_assert_int_eq(nn_backward(ctx, l), NN_OK);
    for (size_t i = 0; i < x->numel; i++) ck_assert_float_eq(x->grad[i], r->data[i] + 1.0f);
    nn_ctx_destroy(ctx);
    nn_tensor_free(x);
    nn_tensor_free(r);
}
END_TEST


/* ------------------------------------------------------------- batch norm */

typedef struct {
    nn_tensor *x, *gamma, *beta, *r;
    bool training;
    float *y[2], *dx[2], *dgamma[2], *dbeta[2], *rmean[2], *rvar[2];
} bn_case;

static void bn_pass(void *arg, int pass) {
    bn_case *c = arg;
    int ch = c->x->shape[1];
    nn_tensor_zero_grad(c->x);
    nn_tensor_zero_grad(c->gamma);
    nn_tensor_zero_grad(c->beta);
    nn_tensor *rm = tu_param(1, &ch, -0.5f, 0.5f, 111), *rv = tu_param(1, &ch, 0.5f, 2.0f, 112);
    nn_ctx *ctx = nn_ctx_create();
    nn_ctx_set_training(ctx, c->training);
    nn_tensor *y = nn_batch_norm(ctx, c->x, c->gamma, c->beta, rm, rv, 0.1f, 1e-5f);
    ck_assert_msg(y != NULL, "%s", nn_ctx_error(ctx));
    ck_assert_int_eq(nn_backward(ctx, nn_sum(ctx, nn_mul(ctx, y, c->r))), NN_OK);
    memcpy(c->y[pass], y->data, y->numel * sizeof(float));
    memcpy(c->dx[pass], c->x->grad, y->numel * sizeof(float));
    memcpy(c->dgamma[pass], c->gamma->grad, (size_t)ch * sizeof(float));
    memcpy(c->dbeta[pass], c->beta->grad, (size_t)ch * sizeof(float));
    memcpy(c->rmean[pass], rm->data, (size_t)ch * sizeof(float));
    memcpy(c->rvar[pass], rv->data, (size_t)ch * sizeof(float));
    nn_ctx_destroy(ctx);
    nn_tensor_free(rm);
    nn_tensor_free(rv);
}

/* Training-mode batch norm against the textbook formulas in double. */
static void check_bn(int n, int ch, int h, int w) {
    int xs[4] = {n, ch, h, w};
    bn_case c = {.x = tu_param(4, xs, -2, 3, 113), .gamma = tu_param(1, &ch, 0.5f, 1.5f, 114),
                 .beta = tu_param(1, &ch, -1, 1, 115), .r = tu_param(4, xs, -1, 1, 116),
                 .training = true};
    size_t numel = c.x->numel, inner = (size_t)h * w;
    float **bufs[6] = {c.y, c.dx, c.dgamma, c.dbeta, c.rmean, c.rvar};
    for (int b = 0; b < 6; b++)
        for (int p = 0; p < 2; p++) bufs[b][p] = malloc((b < 2 ? numel : (size_t)ch) * sizeof(float));
    with_threads(1, bn_pass, &c, 0);
    with_threads(2, bn_pass, &c, 1);

    double m = (double)n * inner;
    float *y = malloc(numel * sizeof(float)), *dx = malloc(numel * sizeof(float));
    for (int k = 0; k < ch; k++) {
        double sum = 0, sq = 0, s_dy = 0, s_dyx = 0;
        for (int b = 0; b < n; b++)
            for (size_t i = 0; i < inner; i++) sum += c.x->data[((size_t)b * ch + k) * inner + i];
        double mu = sum / m;
        for (int b = 0; b < n; b++)
            for (size_t i = 0; i < inner; i++) {
                double d = c.x->data[((size_t)b * ch + k) * inner + i] - mu;
                sq += d * d;
            }
        double invstd = 1.0 / sqrt(sq / m + 1e-5);
        for (int b = 0; b < n; b++)
            for (size_t i = 0; i < inner; i++) {
                size_t at = ((size_t)b * ch + k) * inner + i;
                double xhat = (c.x->data[at] - mu) * invstd;
                y[at] = (float)(c.gamma->data[k] * xhat + c.beta->data[k]);
                s_dy += c.r->data[at];
                s_dyx += c.r->data[at] * xhat;
            }
        for (int b = 0; b < n; b++)
            for (size_t i = 0; i < inner; i++) {
                size_t at = ((size_t)b * ch + k) * inner + i;
                double xhat = (c.x->data[at] - mu) * invstd;
                dx[at] = (float)(c.gamma->data[k] * invstd *
                                 (c.r->data[at] - s_dy / m - xhat * s_dyx / m));
            }
        ck_assert_double_le(fabs(c.dbeta[0][k] - s_dy), 1e-4 * (1 + fabs(s_dy)));
        ck_assert_double_le(fabs(c.dgamma[0][k] - s_dyx), 1e-4 * (1 + fabs(s_dyx)));
    }
    tu_assert_close(c.y[0], y, numel, 1e-5, 1e-4);
    tu_assert_close(c.dx[0], dx, numel, 1e-5, 1e-3);
    for (int b = 0; b < 6; b++)
        assert_same_bits(bufs[b][0], bufs[b][1], b < 2 ? numel : (size_t)ch, "batch norm");
    free(y);
    free(dx);
    for (int b = 0; b < 6; b++)
        for (int p = 0; p < 2; p++) free(bufs[b][p]);
    nn_tensor *all[] = {c.x, c.gamma, c.beta, c.r};
    for (int k = 0; k < 4; k++) nn_tensor_free(all[k]);
}

START_TEST(batch_norm_odd_shapes) {
    static const int chans[5] = {1, 3, 7, 17, 33};
    for (int k = 0; k < 5; k++) check_bn(3, chans[k], 7, 5);
    check_bn(2, 3, 1, 1);
    check_bn(5, 17, 23, 29);
}
END_TEST

/* ---------------------------------------------------------------- softmax */

typedef struct {
    nn_tensor *x, *r;
    int axis;
    bool take_log;
    float *y[2], *dx[2];
} softmax_case;

static void softmax_pass(void *arg, int pass) {
    softmax_case *c = arg;
    nn_tensor_zero_grad(c->x);
    nn_ctx *ctx = nn_ctx_create();
    nn_tensor *y = c->take_log ? nn_log_softmax(ctx, c->x, c->axis) : nn_softmax(ctx, c->x, c->axis);
    ck_assert_ptr_nonnull(y);
    ck_assert_int_eq(nn_backward(ctx, nn_sum(ctx, nn_mul(ctx, y, c->r))), NN_OK);
    memcpy(c->y[pass], y->data, y->numel * sizeof(float));
    memcpy(c->dx[pass], c->x->grad, y->numel * sizeof(float));
    nn_ctx_destroy(ctx);
}

START_TEST(softmax_threads) {
    int shape[4] = {3, 33, 17, 29}; /* 48807 elements, rows along axis 1 and 3 */
    int axes[2] = {1, -1};
    for (int a = 0; a < 2; a++)
        for (int lg = 0; lg < 2; lg++) {
            softmax_case c = {.x = tu_param(4, shape, -3, 3, 121), .r = tu_param(4, shape, -1, 1, 122),
                              .axis = axes[a], .take_log = lg};
            size_t n = c.x->numel;
            for (int p = 0; p < 2; p++) {
                c.y[p] = malloc(n * sizeof(float));
                c.dx[p] = malloc(n * sizeof(float));
            }
            with_threads(1, softmax_pass, &c, 0);
            with_threads(2, softmax_pass, &c, 1);
            /* rows sum to 1 (softmax) or their exps do (log_softmax) */
            size_t inner = a == 0 ? (size_t)17 * 29 : 1, dim = (size_t)shape[a == 0 ? 1 : 3];
            for (size_t row = 0; row < n / dim; row++) {
                size_t base = (row / inner) * dim * inner + row % inner;
                double total = 0;
                for (size_t k = 0; k < dim; k++)
                    total += lg ? exp(c.y[0][base + k * inner]) : c.y[0][base + k * inner];
                ck_assert_double_le(fabs(total - 1.0), 1e-5);
            }
            assert_same_bits(c.y[0], c.y[1], n, "softmax y");
            assert_same_bits(c.dx[0], c.dx[1], n, "softmax dx");
            for (int p = 0; p < 2; p++) {
                free(c.y[p]);
                free(c.dx[p]);
            }
            nn_tensor_free(c.x);
            nn_tensor_free(c.r);
        }
}
END_TEST

Suite *fastpath_suite(void) {
    Suite *s = suite_create("fastpath");
    TCase *tc = tcase_create("fastpath");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, linear_odd_shapes);
    tcase_add_test(tc, relu_against_reference);
    tcase_add_test(tc, max_pool_2x2_odd_shapes);
    tcase_add_test(tc, dropout_threads_and_mask);
    tcase_add_test(tc, flatten_large_copy_and_add);
    tcase_add_test(tc, batch_norm_odd_shapes);
    tcase_add_test(tc, softmax_threads);
    suite_add_tcase(s, tc);
    return s;
}
