/*
 * dropout.c - inverted dropout, any shape.
 *
 * Training mode, 0 < p < 1: each element is kept with probability 1 - p,
 *   y = x * mask,   mask = (u >= p) / (1 - p),   u uniform in [0, 1) from the ctx's generator,
 * so E[y] = x and nothing needs rescaling at inference. dx = dy * mask.
 * Eval mode, or p == 0: y is a copy of x and dx = dy. p outside [0, 1) is an
 * error in every mode, so a bad configuration shows up before training.
 * The mask depends only on the ctx's seed and the number of draws before it.
 */
#include <math.h>
#include <string.h>

#include "nn_internal.h"

typedef struct {
    float *mask; /* numel factors (0 or 1/(1-p)); NULL means identity */
} dropout_saved;

static void dropout_backward(nn_ctx *ctx, nn_node *node) {
    const float *mask = ((dropout_saved *)node->saved)->mask;
    float *dx = nn_grad(ctx, node->in[0]);
    if (!dx) return;
    const float *dy = node->out->grad;
    size_t numel = node->out->numel;
    if (mask)
        for (size_t i = 0; i < numel; i++) dx[i] += dy[i] * mask[i];
    else
        for (size_t i = 0; i < numel; i++) dx[i] += dy[i];
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
        float keep_scale = (float)(1.0 / (1.0 - (double)p));
        for (size_t i = 0; i < x->numel; i++) {
            mask[i] = nn_ctx_rand_uniform(ctx) >= p ? keep_scale : 0.0f;
            y->data[i] = x->data[i] * mask[i];
        }
    } else {
        memcpy(y->data, x->data, x->numel * sizeof(float));
    }
    nn_node *node = nn_tape_record(ctx, "dropout", y, dropout_backward, 1, &x,
                                   sizeof(dropout_saved));
    if (node) ((dropout_saved *)node->saved)->mask = mask;
    return y;
}
