/*
 * dropout.c - inverted dropout, any shape.
 *
 * Training mode, 0 < p < 1: each element is kept with probability 1 - p,
 *   y = x * mask,   mask = (u >= p) / (1 - p),   u uniform in [0, 1),
 * so E[y] = x and nothing needs rescaling at inference. dx = dy * mask.
 * Eval mode, or p == 0: y is a copy of x and dx = dy. p outside [0, 1) is an
 * error in every mode, so a bad configuration shows up before training.
 *
 * The random numbers: one draw from the ctx's generator gives a key, and
 * element i gets u from splitmix64(key + (i + 1) * golden ratio), the
 * counter-based generator behind Java's SplittableRandom. Any element's u is
 * known without the ones before it, so the loop vectorizes and runs on the
 * thread pool, and the mask depends only on the ctx's seed and the number of
 * draws before it, not on the thread count.
 */
#include <math.h>
#include <string.h>

#include "nn_internal.h"
#include "vec.h"

typedef struct {
    float *mask; /* numel factors (0 or 1/(1-p)); NULL means identity */
} dropout_saved;

typedef struct {
    const float *x, *dy;
    float *y, *mask, *dx;
    uint64_t key;
    float p, keep_scale;
} dropout_job;

/* Elements [begin, begin + n): mask and y. */
NN_VEC_CLONES
static void dropout_range(const float *restrict x, float *restrict y, float *restrict mask,
                          size_t begin, size_t n, uint64_t key, float p, float keep_scale) {
    for (size_t i = 0; i < n; i++) {
        uint64_t z = key + (begin + i + 1) * 0x9e3779b97f4a7c15ULL;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        z ^= z >> 31;
        /* top 24 bits: u = k / 2^24, exact in float, as nn_ctx_rand_uniform */
        float u = (float)(int32_t)(z >> 40) * (1.0f / 16777216.0f);
        mask[i] = u >= p ? keep_scale : 0.0f;
        y[i] = x[i] * mask[i];
    }
}

NN_VEC_CLONES
static void dropout_backward_range(const float *restrict dy, const float *restrict mask,
                                   float *restrict dx, size_t n) {
    for (size_t i = 0; i < n; i++) dx[i] += dy[i] * mask[i];
}

static void dropout_forward_task(void *arg, size_t begin, size_t end) {
    const dropout_job *j = arg;
    dropout_range(j->x + begin, j->y + begin, j->mask + begin, begin, end - begin, j->key, j->p,
                  j->keep_scale);
}

static void dropout_backward_task(void *arg, size_t begin, size_t end) {
    const dropout_job *j = arg;
    dropout_backward_range(j->dy + begin, j->mask + begin, j->dx + begin, end - begin);
}

static void dropout_backward(nn_ctx *ctx, nn_node *node) {
    dropout_job j = {.mask = ((dropout_saved *)node->saved)->mask, .dy = node->out->grad,
                     .dx = nn_grad(ctx, node->in[0])};
    if (!j.dx) return;
    if (j.mask)
        nn_vec_for(node->out->numel, NN_VEC_GRAIN, dropout_backward_task, &j);
    else
        nn_vec_add(j.dx, j.dy, node->out->numel);
}

nn_tensor *nn_dropout(nn_ctx *ctx, nn_tensor *x, float p) {
    if (!nn_check_inputs(ctx, "dropout", 1, &x)) return NULL;
    if (!(p >= 0.0f && p < 1.0f)) {
        nn_ctx_fail(ctx, NN_ERR_ARG, "dropout: probability %g is outside [0, 1)", (double)p);
        return NULL;
    }
    nn_tensor *y = nn_ctx_tensor(ctx, x->ndim, x->shape);
    if (!y) return NULL;

    float *mask = NULL;
    if (nn_ctx_training(ctx) && p > 0.0f) {
        mask = nn_ctx_scratch(ctx, x->numel * sizeof(float));
        if (!mask) return NULL;
        /* in double and then rounded, as PyTorch: one rounding, not two */
        dropout_job j = {.x = x->data, .y = y->data, .mask = mask, .key = nn_ctx_rand_u64(ctx),
                         .p = p, .keep_scale = (float)(1.0 / (1.0 - (double)p))};
        nn_vec_for(x->numel, NN_VEC_GRAIN, dropout_forward_task, &j);
    } else {
        nn_vec_copy(y->data, x->data, x->numel);
    }
    nn_node *node = nn_tape_record(ctx, "dropout", y, dropout_backward, 1, &x,
                                   sizeof(dropout_saved));
    if (node) ((dropout_saved *)node->saved)->mask = mask;
    return y;
}
