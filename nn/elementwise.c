/*
 * elementwise.c - add, mul, scale and the reductions sum / mean.
 * Forward and backward of each op sit side by side. The element-wise loops
 * are the five below, run in chunks on the thread pool (vec.h).
 */
#include <string.h>

#include "nn_internal.h"
#include "vec.h"

typedef enum {
    EW_ADD,       /* out  = a + b */
    EW_MUL,       /* out  = a * b */
    EW_SCALE,     /* out  = s * a */
    EW_ACC_MUL,   /* out += a * b */
    EW_ACC_SCALE, /* out += s * a */
} ew_kind;

typedef struct {
    ew_kind kind;
    const float *a, *b;
    float *out;
    float s;
} ew_job;

NN_VEC_CLONES
static void ew_range(ew_kind kind, const float *restrict a, const float *restrict b,
                     float *restrict out, float s, size_t n) {
    switch (kind) {
    case EW_ADD: for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i]; break;
    case EW_MUL: for (size_t i = 0; i < n; i++) out[i] = a[i] * b[i]; break;
    case EW_SCALE: for (size_t i = 0; i < n; i++) out[i] = s * a[i]; break;
    case EW_ACC_MUL: for (size_t i = 0; i < n; i++) out[i] += a[i] * b[i]; break;
    case EW_ACC_SCALE: for (size_t i = 0; i < n; i++) out[i] += s * a[i]; break;
    }
}

static void ew_task(void *arg, size_t begin, size_t end) {
    const ew_job *j = arg;
    ew_range(j->kind, j->a + begin, j->b ? j->b + begin : NULL, j->out + begin, j->s, end - begin);
}

static void ew_run(ew_kind kind, const float *a, const float *b, float *out, float s, size_t n) {
    ew_job j = {.kind = kind, .a = a, .b = b, .out = out, .s = s};
    nn_vec_for(n, NN_VEC_GRAIN, ew_task, &j);
}

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
        nn_vec_add(d, dy, t->numel);
    }
}

nn_tensor *nn_add(nn_ctx *ctx, nn_tensor *a, nn_tensor *b) {
    nn_tensor *ins[2] = {a, b};
    if (!nn_check_inputs(ctx, "add", 2, ins) || !same_shape_or_fail(ctx, "add", a, b)) return NULL;
    nn_tensor *y = nn_ctx_tensor(ctx, a->ndim, a->shape);
    if (!y) return NULL;
    ew_run(EW_ADD, a->data, b->data, y->data, 0.0f, y->numel);
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
        ew_run(EW_ACC_MUL, dy, b->data, da, 0.0f, a->numel);
    }
    if (nn_needs_grad(b)) {
        float *db = nn_grad(ctx, b);
        if (!db) return;
        ew_run(EW_ACC_MUL, dy, a->data, db, 0.0f, b->numel);
    }
}

nn_tensor *nn_mul(nn_ctx *ctx, nn_tensor *a, nn_tensor *b) {
    nn_tensor *ins[2] = {a, b};
    if (!nn_check_inputs(ctx, "mul", 2, ins) || !same_shape_or_fail(ctx, "mul", a, b)) return NULL;
    nn_tensor *y = nn_ctx_tensor(ctx, a->ndim, a->shape);
    if (!y) return NULL;
    ew_run(EW_MUL, a->data, b->data, y->data, 0.0f, y->numel);
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
    ew_run(EW_ACC_SCALE, node->out->grad, NULL, dx, s, node->out->numel);
}

nn_tensor *nn_scale(nn_ctx *ctx, nn_tensor *x, float s) {
    if (!nn_check_inputs(ctx, "scale", 1, &x)) return NULL;
    nn_tensor *y = nn_ctx_tensor(ctx, x->ndim, x->shape);
    if (!y) return NULL;
    ew_run(EW_SCALE, x->data, NULL, y->data, s, y->numel);
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
