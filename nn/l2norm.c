/*
 * l2norm.c - SSD's Normalize layer (Liu et al. 2016, "ParseNet" scaling):
 * every spatial position's channel vector is scaled to unit L2 length, then
 * each channel is multiplied by a learned scale.
 *
 *   x [N, C, H, W] (any [N, C, ...] works), scale [C]
 *   r[n,h,w]    = 1 / sqrt(sum_c x[n,c,h,w]^2 + eps)
 *   y[n,c,h,w]  = scale[c] * x[n,c,h,w] * r[n,h,w]
 *
 * This is Caffe SSD's Normalize with across_spatial=false,
 * channel_shared=false, whose eps (1e-10 there) sits inside the square root.
 * torchvision's SSD instead uses F.normalize, x / max(||x||, eps) with
 * eps=1e-12. The two agree to float precision unless a channel vector's norm
 * is about sqrt(eps) or smaller (1e-5 for Caffe's eps), i.e. essentially
 * all-zero features; weights converted from either framework work here.
 *
 * Backward, per (n, h, w), with g_c = dy_c * scale[c] and xh_c = x_c * r:
 *   dx_c     = r * (g_c - xh_c * sum_k g_k xh_k)
 *   dscale_c = sum over n, h, w of dy_c * xh_c
 *
 * Loops run channel-outer, position-inner so that memory is read in order;
 * per-position sums (over channels) are accumulated in double.
 */
#include <math.h>
#include <stdio.h>

#include "nn_internal.h"

typedef struct {
    float *inv_norm; /* r, [N, H*W], arena memory */
} l2norm_saved;

static void l2norm_backward(nn_ctx *ctx, nn_node *node) {
    nn_tensor *x = node->in[0], *scale = node->in[1];
    const float *r = ((l2norm_saved *)node->saved)->inv_norm, *dy = node->out->grad;
    size_t n = (size_t)x->shape[0], c = (size_t)x->shape[1], plane = x->numel / (n * c);
    bool need_dx = nn_needs_grad(x), need_dscale = nn_needs_grad(scale);
    float *dx = need_dx ? nn_grad(ctx, x) : NULL;
    float *dscale = need_dscale ? nn_grad(ctx, scale) : NULL;
    double *dot = nn_ctx_scratch(ctx, plane * sizeof(double)); /* sum_k g_k xh_k per position */
    if ((need_dx && !dx) || (need_dscale && !dscale) || !dot) return;

    for (size_t b = 0; b < n; b++) {
        const float *xb = x->data + b * c * plane, *dyb = dy + b * c * plane, *rb = r + b * plane;
        for (size_t p = 0; p < plane; p++) dot[p] = 0.0;
        for (size_t k = 0; k < c; k++) {
            double acc = 0.0; /* this image's share of dscale[k] */
            for (size_t p = 0; p < plane; p++) {
                double dy_xh = (double)dyb[k * plane + p] * xb[k * plane + p] * rb[p];
                dot[p] += scale->data[k] * dy_xh;
                acc += dy_xh;
            }
            if (dscale) dscale[k] += (float)acc;
        }
        if (!dx) continue;
        float *dxb = dx + b * c * plane;
        for (size_t k = 0; k < c; k++) {
            for (size_t p = 0; p < plane; p++) {
                size_t at = k * plane + p;
                double g = (double)dyb[at] * scale->data[k], xh = (double)xb[at] * rb[p];
                dxb[at] += (float)(rb[p] * (g - xh * dot[p]));
            }
        }
    }
}

nn_tensor *nn_l2norm(nn_ctx *ctx, nn_tensor *x, nn_tensor *scale, float eps) {
    nn_tensor *ins[2] = {x, scale};
    if (!nn_check_inputs(ctx, "l2norm", 2, ins)) return NULL;
    char xs[64], ss[64];
    nn_shape_str(x, xs, sizeof xs);
    nn_shape_str(scale, ss, sizeof ss);
    if (x->ndim < 2 || scale->numel != (size_t)x->shape[1]) {
        nn_ctx_fail(ctx, NN_ERR_SHAPE,
                    "l2norm: x %s must be [N, C, ...] with scale [C], got scale %s", xs, ss);
        return NULL;
    }
    if (!(eps >= 0.0f) || isinf(eps)) {
        nn_ctx_fail(ctx, NN_ERR_ARG, "l2norm: eps %g must be finite and >= 0", (double)eps);
        return NULL;
    }
    size_t n = (size_t)x->shape[0], c = (size_t)x->shape[1], plane = x->numel / (n * c);
    nn_tensor *y = nn_ctx_tensor(ctx, x->ndim, x->shape);
    float *r = nn_ctx_scratch(ctx, n * plane * sizeof(float));
    double *sum_sq = nn_ctx_scratch(ctx, plane * sizeof(double));
    if (!y || !r || !sum_sq) return NULL;

    for (size_t b = 0; b < n; b++) {
        const float *xb = x->data + b * c * plane;
        float *yb = y->data + b * c * plane, *rb = r + b * plane;
        for (size_t p = 0; p < plane; p++) sum_sq[p] = 0.0;
        for (size_t k = 0; k < c; k++) {
            for (size_t p = 0; p < plane; p++) {
                double v = xb[k * plane + p];
                sum_sq[p] += v * v;
            }
        }
        /* eps = 0 and an all-zero vector: y = 0 rather than 0 * inf = NaN */
        for (size_t p = 0; p < plane; p++)
            rb[p] = sum_sq[p] + eps > 0.0 ? (float)(1.0 / sqrt(sum_sq[p] + eps)) : 0.0f;
        for (size_t k = 0; k < c; k++)
            for (size_t p = 0; p < plane; p++)
                yb[k * plane + p] = scale->data[k] * xb[k * plane + p] * rb[p];
    }
    nn_node *node = nn_tape_record(ctx, "l2norm", y, l2norm_backward, 2, ins, sizeof(l2norm_saved));
    if (node) ((l2norm_saved *)node->saved)->inv_norm = r;
    return y;
}
