/*
 * elementwise.c - add, mul, scale and the reductions sum / mean.
 * Forward and backward of each op sit side by side.
 */
#include <string.h>

#include "nn_internal.h"

static bool same_shape_or_fail(nn_ctx *ctx, const char *op, const nn_tensor *a, const nn_tensor *b) {
    if (nn_tensor_same_shape(a, b)) return true;
    char as[64], bs[64];
    nn_ctx_fail(ctx, NN_ERR_SHAPE, "%s: shapes %s and %s differ", op, nn_shape_str(a, as, sizeof as),
                nn_shape_str(b, bs, sizeof bs));
    return false;
}

/* ---- add: y = a + b;  da += dy, db += dy */
static void add_backward(nn_ctx *ctx, nn_node *node) {
    const float *dy = node->out->grad;
    for (int k = 0; k < 2; k++) {
        nn_tensor *t = node->in[k];
        if (!nn_needs_grad(t)) continue;
        float *d = nn_grad(ctx, t);
        if (!d) return;
        for (size_t i = 0; i < t->numel; i++) d[i] += dy[i];
    }
}

nn_tensor *nn_add(nn_ctx *ctx, nn_tensor *a, nn_tensor *b) {
    nn_tensor *ins[2] = {a, b};
    if (!nn_check_inputs(ctx, "add", 2, ins) || !same_shape_or_fail(ctx, "add", a, b)) return NULL;
    nn_tensor *y = nn_ctx_tensor(ctx, a->ndim, a->shape);
    if (!y) return NULL;
    for (size_t i = 0; i < y->numel; i++) y->data[i] = a->data[i] + b->data[i];
    nn_tape_record(ctx, "add", y, add_backward, 2, ins, 0);
    return y;
}

/* ---- mul: y = a * b;  da += dy * b, db += dy * a */
static void mul_backward(nn_ctx *ctx, nn_node *node) {
    const float *dy = node->out->grad;
    nn_tensor *a = node->in[0], *b = node->in[1];
    if (nn_needs_grad(a)) {
        float *da = nn_grad(ctx, a);
        if (!da) return;
        for (size_t i = 0; i < a->numel; i++) da[i] += dy[i] * b->data[i];
    }
    if (nn_needs_grad(b)) {
        float *db = nn_grad(ctx, b);
        if (!db) return;
        for (size_t i = 0; i < b->numel; i++) db[i] += dy[i] * a->data[i];
    }
}

nn_tensor *nn_mul(nn_ctx *ctx, nn_tensor *a, nn_tensor *b) {
    nn_tensor *ins[2] = {a, b};
    if (!nn_check_inputs(ctx, "mul", 2, ins) || !same_shape_or_fail(ctx, "mul", a, b)) return NULL;
    nn_tensor *y = nn_ctx_tensor(ctx, a->ndim, a->shape);
    if (!y) return NULL;
    for (size_t i = 0; i < y->numel; i++) y->data[i] = a->data[i] * b->data[i];
    nn_tape_record(ctx, "mul", y, mul_backward, 2, ins, 0);
    return y;
}

/* ---- scale: y = s * x;  dx += s * dy */
typedef struct {
    float s;
} scale_saved;

static void scale_backward(nn_ctx *ctx, nn_node *node) {
    float s = ((scale_saved *)node->saved)->s;
    float *dx = nn_grad(ctx, node->in[0]);
    if (!dx) return;
    for (size_t i = 0; i < node->out->numel; i++) dx[i] += s * node->out->grad[i];
}

nn_tensor *nn_scale(nn_ctx *ctx, nn_tensor *x, float s) {
    if (!nn_check_inputs(ctx, "scale", 1, &x)) return NULL;
    nn_tensor *y = nn_ctx_tensor(ctx, x->ndim, x->shape);
    if (!y) return NULL;
    for (size_t i = 0; i < y->numel; i++) y->data[i] = s * x->data[i];
    nn_node *node = nn_tape_record(ctx, "scale", y, scale_backward, 1, &x, sizeof(scale_saved));
    if (node) ((scale_saved *)node->saved)->s = s;
    return y;
}

/* ---- sum / mean: y = c * sum(x) with c = 1 or 1/numel;  dx += c * dy */
static void reduce_backward(nn_ctx *ctx, nn_node *node) {
    float c = ((scale_saved *)node->saved)->s;
    nn_tensor *x = node->in[0];
    float *dx = nn_grad(ctx, x);
    if (!dx) return;
    float g = c * node->out->grad[0];
    for (size_t i = 0; i < x->numel; i++) dx[i] += g;
}

static nn_tensor *reduce(nn_ctx *ctx, nn_tensor *x, bool mean, const char *op) {
    if (!nn_check_inputs(ctx, op, 1, &x)) return NULL;
    int one = 1;
    nn_tensor *y = nn_ctx_tensor(ctx, 1, &one);
    if (!y) return NULL;
    double acc = 0.0; /* double: sums of many floats lose digits otherwise */
    for (size_t i = 0; i < x->numel; i++) acc += x->data[i];
    float c = mean ? 1.0f / (float)x->numel : 1.0f;
    y->data[0] = (float)(acc * c);
    nn_node *node = nn_tape_record(ctx, op, y, reduce_backward, 1, &x, sizeof(scale_saved));
    if (node) ((scale_saved *)node->saved)->s = c;
    return y;
}

nn_tensor *nn_sum(nn_ctx *ctx, nn_tensor *x) { return reduce(ctx, x, false, "sum"); }
nn_tensor *nn_mean(nn_ctx *ctx, nn_tensor *x) { return reduce(ctx, x, true, "mean"); }
