/*
 * batchnorm.c - batch normalisation and its folding into a convolution.
 *
 * x is [N, C] or [N, C, H, W] (any [N, C, ...]); statistics are per channel c
 * over the M = N*H*W elements x[., c, ...]:
 *
 *   xhat = (x - mean[c]) * invstd[c],  invstd = 1 / sqrt(var[c] + eps)
 *   y    = gamma[c] * xhat + beta[c]
 *
 * Training mode (nn_ctx_training): mean and var are the batch's (var biased,
 * divided by M), and the running statistics, when given, move towards them:
 *   running_mean = (1 - momentum) * running_mean + momentum * mean
 *   running_var  = (1 - momentum) * running_var  + momentum * var * M / (M - 1)
 * (the unbiased variance, as PyTorch). Since mean and var depend on x, the
 * gradient is
 *   dx = gamma * invstd * (dy - mean(dy) - xhat * mean(dy * xhat))
 * with the means over the channel's M elements.
 * Eval mode: mean and var are running_mean and running_var, constants, so
 *   dx = gamma * invstd * dy.
 * In both modes dgamma = sum(dy * xhat) and dbeta = sum(dy) per channel.
 *
 * gamma and beta may be NULL (no affine part: 1 and 0). running_mean and
 * running_var are needed in eval mode; in training mode both may be NULL
 * (statistics are then not tracked). They are buffers: no gradient flows into
 * them.
 *
 * Channels are independent, so each pass runs over channels on the thread
 * pool; per-channel sums are kept in double with eight running lanes, which
 * the compiler vectorizes without reordering any one sum.
 */
#include <math.h>
#include <string.h>

#include "nn_internal.h"
#include "vec.h"

typedef struct {
    bool training;
    int n, c;
    size_t inner;  /* elements per (n, c): H*W, or 1 for [N, C] */
    float *mean;   /* [C] the statistics the forward pass used */
    float *invstd; /* [C] */
} bn_saved;

/* true if t is a [C]-element vector (or NULL and NULL is allowed) */
static bool bn_vector_ok(nn_ctx *ctx, const nn_tensor *t, const char *what, int c) {
    if (!t || t->numel == (size_t)c) return true;
    char ts[64];
    nn_ctx_fail(ctx, NN_ERR_SHAPE, "batch_norm: %s %s should have %d elements (one per channel)",
                what, nn_shape_str(t, ts, sizeof ts), c);
    return false;
}

/* ---- the vectorized per-plane loops */

/* sum of x[0..n) in double */
NN_VEC_CLONES
static double bn_sum(const float *restrict x, size_t n) {
    double lanes[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) lanes[l] += x[i + l];
    double s = 0.0;
    for (int l = 0; l < 8; l++) s += lanes[l];
    for (; i < n; i++) s += x[i];
    return s;
}

/* sum of (x - mu)^2 in double */
NN_VEC_CLONES
static double bn_sum_sq_dev(const float *restrict x, size_t n, double mu) {
    double lanes[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) lanes[l] += (x[i + l] - mu) * (x[i + l] - mu);
    double s = 0.0;
    for (int l = 0; l < 8; l++) s += lanes[l];
    for (; i < n; i++) s += (x[i] - mu) * (x[i] - mu);
    return s;
}

/* adds sum(dy) and sum(dy * xhat) over n elements to sums[0], sums[1] */
NN_VEC_CLONES
static void bn_grad_sums(const float *restrict x, const float *restrict dy, size_t n, float mean,
                         float invstd, double sums[2]) {
    double l_dy[8] = {0}, l_dyx[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        for (int l = 0; l < 8; l++) {
            float xhat = (x[i + l] - mean) * invstd;
            l_dy[l] += dy[i + l];
            l_dyx[l] += (double)dy[i + l] * xhat;
        }
    }
    double s_dy = 0.0, s_dyx = 0.0;
    for (int l = 0; l < 8; l++) {
        s_dy += l_dy[l];
        s_dyx += l_dyx[l];
    }
    for (; i < n; i++) {
        float xhat = (x[i] - mean) * invstd;
        s_dy += dy[i];
        s_dyx += (double)dy[i] * xhat;
    }
    sums[0] += s_dy;
    sums[1] += s_dyx;
}

NN_VEC_CLONES
static void bn_dx_plane(const float *restrict x, const float *restrict dy, float *restrict dx,
                        size_t n, float mean, float invstd, float k, float mean_dy,
                        float mean_dy_xhat) {
    for (size_t i = 0; i < n; i++) {
        float xhat = (x[i] - mean) * invstd;
        dx[i] += k * (dy[i] - mean_dy - xhat * mean_dy_xhat);
    }
}

NN_VEC_CLONES
static void bn_y_plane(const float *restrict x, float *restrict y, size_t n, float g, float mean,
                       float invstd, float bt) {
    for (size_t i = 0; i < n; i++) y[i] = g * (x[i] - mean) * invstd + bt;
}

typedef struct {
    const bn_saved *sv;
    const float *x, *dy, *gamma, *beta;
    float *dx, *dgamma, *dbeta, *y;
    /* forward statistics */
    bool training;
    double *sum, *sq_dev; /* [C] */
} bn_job;

static void bn_backward_channel(void *arg, int c) {
    const bn_job *j = arg;
    const bn_saved *sv = j->sv;
    float mean = sv->mean[c], invstd = sv->invstd[c];
    /* per-channel sums of dy and dy * xhat, in double: M can be large */
    double sums[2] = {0.0, 0.0};
    for (int n = 0; n < sv->n; n++) {
        size_t base = ((size_t)n * sv->c + c) * sv->inner;
        bn_grad_sums(j->x + base, j->dy + base, sv->inner, mean, invstd, sums);
    }
    if (j->dgamma) j->dgamma[c] += (float)sums[1];
    if (j->dbeta) j->dbeta[c] += (float)sums[0];
    if (!j->dx) return;

    double m = (double)sv->n * (double)sv->inner;
    float k = (j->gamma ? j->gamma[c] : 1.0f) * invstd;
    /* in eval mode the statistics are constants: the two mean terms vanish */
    float mean_dy = sv->training ? (float)(sums[0] / m) : 0.0f;
    float mean_dy_xhat = sv->training ? (float)(sums[1] / m) : 0.0f;
    for (int n = 0; n < sv->n; n++) {
        size_t base = ((size_t)n * sv->c + c) * sv->inner;
        bn_dx_plane(j->x + base, j->dy + base, j->dx + base, sv->inner, mean, invstd, k, mean_dy,
                    mean_dy_xhat);
    }
}

static void bn_backward(nn_ctx *ctx, nn_node *node) {
    const bn_saved *sv = node->saved;
    nn_tensor *x = node->in[0], *gamma = node->in[1], *beta = node->in[2];
    bool need_dx = nn_needs_grad(x);
    bool need_dgamma = gamma && nn_needs_grad(gamma), need_dbeta = beta && nn_needs_grad(beta);
    bn_job j = {.sv = sv, .x = x->data, .dy = node->out->grad,
                .gamma = gamma ? gamma->data : NULL,
                .dx = need_dx ? nn_grad(ctx, x) : NULL,
                .dgamma = need_dgamma ? nn_grad(ctx, gamma) : NULL,
                .dbeta = need_dbeta ? nn_grad(ctx, beta) : NULL};
    if ((need_dx && !j.dx) || (need_dgamma && !j.dgamma) || (need_dbeta && !j.dbeta)) return;
    nn_parallel_for(sv->c, bn_backward_channel, &j);
}

/* Training statistics of channel c: sum and sum of squared deviations. */
static void bn_stats_channel(void *arg, int c) {
    const bn_job *j = arg;
    const bn_saved *sv = j->sv;
    double sum = 0.0, sq = 0.0;
    for (int b = 0; b < sv->n; b++) sum += bn_sum(j->x + ((size_t)b * sv->c + c) * sv->inner, sv->inner);
    double mu = sum / ((double)sv->n * (double)sv->inner);
    for (int b = 0; b < sv->n; b++)
        sq += bn_sum_sq_dev(j->x + ((size_t)b * sv->c + c) * sv->inner, sv->inner, mu);
    j->sum[c] = sum;
    j->sq_dev[c] = sq;
}

/* y for channel c from the statistics in sv */
static void bn_normalize_channel(void *arg, int c) {
    const bn_job *j = arg;
    const bn_saved *sv = j->sv;
    float g = j->gamma ? j->gamma[c] : 1.0f, bt = j->beta ? j->beta[c] : 0.0f;
    for (int b = 0; b < sv->n; b++) {
        size_t base = ((size_t)b * sv->c + c) * sv->inner;
        bn_y_plane(j->x + base, j->y + base, sv->inner, g, sv->mean[c], sv->invstd[c], bt);
    }
}

nn_tensor *nn_batch_norm(nn_ctx *ctx, nn_tensor *x, nn_tensor *gamma, nn_tensor *beta,
                         nn_tensor *running_mean, nn_tensor *running_var, float momentum,
                         float eps) {
    if (!nn_check_inputs(ctx, "batch_norm", 1, &x)) return NULL;
    bool training = nn_ctx_training(ctx);
    char xs[64];
    nn_shape_str(x, xs, sizeof xs);
    if (x->ndim < 2) {
        nn_ctx_fail(ctx, NN_ERR_SHAPE, "batch_norm: x %s must be [N, C] or [N, C, H, W]", xs);
        return NULL;
    }
    int n = x->shape[0], c = x->shape[1];
    size_t inner = x->numel / ((size_t)n * c);
    if (!bn_vector_ok(ctx, gamma, "gamma", c) || !bn_vector_ok(ctx, beta, "beta", c) ||
        !bn_vector_ok(ctx, running_mean, "running_mean", c) ||
        !bn_vector_ok(ctx, running_var, "running_var", c))
        return NULL;
    if (!running_mean != !running_var) {
        nn_ctx_fail(ctx, NN_ERR_ARG, "batch_norm: give both running_mean and running_var, or neither");
        return NULL;
    }
    if (!training && !running_mean) {
        nn_ctx_fail(ctx, NN_ERR_ARG, "batch_norm: eval mode needs running_mean and running_var");
        return NULL;
    }
    if (!(eps > 0.0f) || !isfinite(eps) || !(momentum >= 0.0f && momentum <= 1.0f)) {
        nn_ctx_fail(ctx, NN_ERR_ARG, "batch_norm: need eps > 0 (got %g) and momentum in [0, 1] (got %g)",
                    (double)eps, (double)momentum);
        return NULL;
    }
    size_t m = (size_t)n * inner;
    if (training && m < 2) {
        nn_ctx_fail(ctx, NN_ERR_SHAPE,
                    "batch_norm: x %s has one value per channel; training needs more than one", xs);
        return NULL;
    }

    float *mean = nn_ctx_scratch(ctx, (size_t)c * sizeof(float));
    float *invstd = nn_ctx_scratch(ctx, (size_t)c * sizeof(float));
    nn_tensor *y = nn_ctx_tensor(ctx, x->ndim, x->shape);
    if (!mean || !invstd || !y) return NULL;

    bn_saved stats = {.training = training, .n = n, .c = c, .inner = inner, .mean = mean,
                      .invstd = invstd};
    bn_job j = {.sv = &stats, .x = x->data, .y = y->data, .gamma = gamma ? gamma->data : NULL,
                .beta = beta ? beta->data : NULL};
    if (training) {
        /* two passes in double: the one-pass E[x^2] - E[x]^2 cancels badly */
        j.sum = nn_ctx_scratch(ctx, (size_t)c * sizeof(double));
        j.sq_dev = nn_ctx_scratch(ctx, (size_t)c * sizeof(double));
        if (!j.sum || !j.sq_dev) return NULL;
        nn_parallel_for(c, bn_stats_channel, &j);
    }
    for (int ch = 0; ch < c; ch++) {
        double mu, var;
        if (training) {
            double sq = j.sq_dev[ch];
            mu = j.sum[ch] / (double)m;
            var = sq / (double)m;
            if (running_mean) {
                double unbiased = sq / (double)(m - 1);
                running_mean->data[ch] =
                    (float)((1.0 - momentum) * running_mean->data[ch] + momentum * mu);
                running_var->data[ch] =
                    (float)((1.0 - momentum) * running_var->data[ch] + momentum * unbiased);
            }
        } else {
            mu = running_mean->data[ch];
            var = running_var->data[ch];
            if (!(var + eps > 0.0)) {
                nn_ctx_fail(ctx, NN_ERR_ARG, "batch_norm: running_var[%d] = %g is negative or NaN",
                            ch, var);
                return NULL;
            }
        }
        mean[ch] = (float)mu;
        invstd[ch] = (float)(1.0 / sqrt(var + eps));
    }
    nn_parallel_for(c, bn_normalize_channel, &j);

    nn_tensor *ins[3] = {x, gamma, beta};
    nn_node *node = nn_tape_record(ctx, "batch_norm", y, bn_backward, 3, ins, sizeof(bn_saved));
    if (node)
        *(bn_saved *)node->saved = (bn_saved){.training = training, .n = n, .c = c,
                                              .inner = inner, .mean = mean, .invstd = invstd};
    return y;
}

/* w'[co, ...] = w[co, ...] * s,  b' = (b - mean) * s + beta,  s = gamma / sqrt(var + eps).
 * Everything is checked before anything is written. */
nn_status nn_batch_norm_fold(nn_tensor *conv_w, nn_tensor *conv_b, const nn_tensor *gamma,
                             const nn_tensor *beta, const nn_tensor *mean, const nn_tensor *var,
                             float eps) {
    if (!conv_w || !conv_b || !mean || !var || conv_w->ndim < 1) return NN_ERR_ARG;
    int cout = conv_w->shape[0];
    size_t c = (size_t)cout;
    if (conv_b->numel != c || mean->numel != c || var->numel != c ||
        (gamma && gamma->numel != c) || (beta && beta->numel != c))
        return NN_ERR_SHAPE;
    if (!(eps >= 0.0f) || !isfinite(eps)) return NN_ERR_ARG;
    for (size_t co = 0; co < c; co++)
        if (!(var->data[co] + eps > 0.0f)) return NN_ERR_ARG;

    size_t per_out = conv_w->numel / c;
    for (size_t co = 0; co < c; co++) {
        double g = gamma ? gamma->data[co] : 1.0, bt = beta ? beta->data[co] : 0.0;
        double s = g / sqrt((double)var->data[co] + eps);
        float *wp = conv_w->data + co * per_out;
        for (size_t i = 0; i < per_out; i++) wp[i] = (float)(wp[i] * s);
        conv_b->data[co] = (float)((conv_b->data[co] - (double)mean->data[co]) * s + bt);
    }
    return NN_OK;
}
