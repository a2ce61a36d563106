/*
 * loss.c - the two training losses of the detector, each reduced to one element.
 *
 * Cross-entropy, logits z [N, C], targets t[N] (t < 0: ignored), class
 * weights w[C] (all 1 when NULL), label smoothing s, as PyTorch 1.13's
 * F.cross_entropy(weight=w, label_smoothing=s, ignore_index=<negative>):
 *
 *   logp = log_softmax(z) per row
 *   loss_i = (1 - s) * w[t_i] * -logp[i, t_i]  +  (s / C) * sum_c w[c] * -logp[i, c]
 *   sum:  L = sum over kept rows of loss_i
 *   mean: L = (sum over kept rows of loss_i) / (sum over kept rows of w[t_i])
 *
 * Note the smoothing term weighs each class by its own weight but is divided
 * by the same sum of target weights as the main term; that is what PyTorch
 * does, so we do it too. If nothing is left to average (every target ignored,
 * or their weights sum to 0) the mean is defined here as 0 with a zero
 * gradient; PyTorch returns NaN, which would poison a training run.
 *
 * Gradient of row i: with a_c = (1 - s) w[t_i] [c == t_i] + (s / C) w[c] and
 * p = softmax(z_i), dloss_i/dz_c = p_c * sum_k a_k - a_c (then / the mean's
 * divisor).
 *
 * Smooth-L1 with beta (PyTorch's F.smooth_l1_loss), d = pred - target:
 *   l(d) = 0.5 d^2 / beta   if |d| < beta,   |d| - 0.5 beta   otherwise
 *   dl/dd = d / beta        if |d| < beta,   sign(d)          otherwise
 * beta = 0 is plain L1. An optional 0/1 mask keeps only some elements; the
 * mean divides by how many were kept (0 kept: loss 0).
 *
 * Both losses know their whole gradient once the forward pass is done, so
 * when a tape node is recorded the forward pass stores dL/d(input) in the
 * node and backward only scales it by the incoming dL.
 */
#include <math.h>
#include <stdio.h>

#include "nn_internal.h"

typedef struct {
    float *dinput; /* dL/d(input), input->numel floats, arena memory */
} loss_saved;

static void loss_backward(nn_ctx *ctx, nn_node *node) {
    nn_tensor *x = node->in[0];
    const float *g = ((loss_saved *)node->saved)->dinput;
    float dl = node->out->grad[0];
    float *dx = nn_grad(ctx, x);
    if (!dx) return;
    for (size_t i = 0; i < x->numel; i++) dx[i] += dl * g[i];
}

/* Allocates the output and, when gradients are recorded, the zeroed gradient
 * buffer the forward pass fills (*dinput stays NULL otherwise). */
static nn_tensor *loss_output(nn_ctx *ctx, const char *op, nn_tensor *x, float **dinput) {
    int one = 1;
    *dinput = NULL;
    nn_tensor *y = nn_ctx_tensor(ctx, 1, &one);
    if (!y) return NULL;
    nn_node *node = nn_tape_record(ctx, op, y, loss_backward, 1, &x, sizeof(loss_saved));
    if (node) {
        float *g = nn_ctx_scratch(ctx, x->numel * sizeof(float));
        if (!g) return NULL;
        for (size_t i = 0; i < x->numel; i++) g[i] = 0.0f;
        ((loss_saved *)node->saved)->dinput = g;
        *dinput = g;
    }
    return y;
}

static bool loss_reduction_ok(nn_ctx *ctx, const char *op, nn_reduction reduction) {
    if (reduction == NN_REDUCE_MEAN || reduction == NN_REDUCE_SUM) return true;
    nn_ctx_fail(ctx, NN_ERR_ARG, "%s: unknown reduction %d", op, (int)reduction);
    return false;
}

/* ---- cross-entropy */
nn_tensor *nn_cross_entropy(nn_ctx *ctx, nn_tensor *logits, const int *targets,
                            const float *class_weights, float label_smoothing,
                            nn_reduction reduction) {
    const char *op = "cross_entropy";
    if (!nn_check_inputs(ctx, op, 1, &logits) || !loss_reduction_ok(ctx, op, reduction))
        return NULL;
    char zs[64];
    nn_shape_str(logits, zs, sizeof zs);
    if (logits->ndim != 2) {
        nn_ctx_fail(ctx, NN_ERR_SHAPE, "%s: logits %s must be [N, C]", op, zs);
        return NULL;
    }
    if (!targets) {
        nn_ctx_fail(ctx, NN_ERR_ARG, "%s: targets is NULL for logits %s", op, zs);
        return NULL;
    }
    if (!(label_smoothing >= 0.0f && label_smoothing < 1.0f)) {
        nn_ctx_fail(ctx, NN_ERR_ARG, "%s: label_smoothing %g is outside [0, 1)", op,
                    (double)label_smoothing);
        return NULL;
    }
    int n = logits->shape[0], c = logits->shape[1];

    /* Check every target and find the mean's divisor before touching anything. */
    double weight_sum = 0.0;
    for (int i = 0; i < n; i++) {
        if (targets[i] >= c) {
            nn_ctx_fail(ctx, NN_ERR_ARG, "%s: target %d of sample %d is out of range for logits %s"
                        " (classes 0..%d, negative = ignore)", op, targets[i], i, zs, c - 1);
            return NULL;
        }
        if (targets[i] >= 0) weight_sum += class_weights ? class_weights[targets[i]] : 1.0;
    }
    double divisor = reduction == NN_REDUCE_MEAN ? weight_sum : 1.0;
    bool nothing_to_average = divisor == 0.0;

    float *dz;
    nn_tensor *y = loss_output(ctx, op, logits, &dz);
    if (!y) return NULL;
    double main_part = 1.0 - label_smoothing, smooth_part = (double)label_smoothing / c;
    double total = 0.0;
    for (int i = 0; i < n && !nothing_to_average; i++) {
        int t = targets[i];
        if (t < 0) continue;
        const float *z = logits->data + (size_t)i * c;
        float m = z[0];
        for (int k = 1; k < c; k++) m = fmaxf(m, z[k]);
        double sum_exp = 0.0;
        for (int k = 0; k < c; k++) sum_exp += exp((double)z[k] - m);
        double log_sum = m + log(sum_exp); /* logp[k] = z[k] - log_sum */

        double w_t = class_weights ? class_weights[t] : 1.0, a_sum = main_part * w_t;
        double loss = main_part * w_t * (log_sum - z[t]);
        for (int k = 0; k < c; k++) {
            double w_k = class_weights ? class_weights[k] : 1.0;
            loss += smooth_part * w_k * (log_sum - z[k]);
            a_sum += smooth_part * w_k;
        }
        total += loss;
        if (!dz) continue;
        float *g = dz + (size_t)i * c;
        for (int k = 0; k < c; k++) {
            double w_k = class_weights ? class_weights[k] : 1.0;
            double a_k = smooth_part * w_k + (k == t ? main_part * w_t : 0.0);
            double p_k = exp((double)z[k] - log_sum);
            g[k] = (float)((p_k * a_sum - a_k) / divisor);
        }
    }
    y->data[0] = nothing_to_average ? 0.0f : (float)(total / divisor);
    return y;
}

/* ---- smooth-L1 */
nn_tensor *nn_smooth_l1(nn_ctx *ctx, nn_tensor *pred, const float *target, const float *mask,
                        float beta, nn_reduction reduction) {
    const char *op = "smooth_l1";
    if (!nn_check_inputs(ctx, op, 1, &pred) || !loss_reduction_ok(ctx, op, reduction)) return NULL;
    char ps[64];
    nn_shape_str(pred, ps, sizeof ps);
    if (!target) {
        nn_ctx_fail(ctx, NN_ERR_ARG, "%s: target is NULL for pred %s", op, ps);
        return NULL;
    }
    if (!(beta >= 0.0f) || isinf(beta)) {
        nn_ctx_fail(ctx, NN_ERR_ARG, "%s: beta %g must be finite and >= 0", op, (double)beta);
        return NULL;
    }
    size_t kept = pred->numel;
    if (mask) {
        kept = 0;
        for (size_t i = 0; i < pred->numel; i++) {
            if (mask[i] != 0.0f && mask[i] != 1.0f) {
                nn_ctx_fail(ctx, NN_ERR_ARG, "%s: mask[%zu] = %g is not 0 or 1 (pred %s)", op, i,
                            (double)mask[i], ps);
                return NULL;
            }
            kept += mask[i] == 1.0f;
        }
    }
    double divisor = reduction == NN_REDUCE_MEAN ? (double)kept : 1.0;

    float *dpred;
    nn_tensor *y = loss_output(ctx, op, pred, &dpred);
    if (!y) return NULL;
    double total = 0.0;
    for (size_t i = 0; i < pred->numel && kept > 0; i++) {
        if (mask && mask[i] == 0.0f) continue;
        double d = (double)pred->data[i] - target[i], ad = fabs(d);
        bool quadratic = ad < beta;
        total += quadratic ? 0.5 * d * d / beta : ad - 0.5 * beta;
        if (dpred) {
            double slope = quadratic ? d / beta : (d > 0.0) - (d < 0.0);
            dpred[i] = (float)(slope / divisor);
        }
    }
    y->data[0] = kept > 0 ? (float)(total / divisor) : 0.0f;
    return y;
}
