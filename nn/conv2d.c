/*
 * conv2d.c - 2-D convolution (cross-correlation, as every framework does):
 *
 *   y[n, co, oy, ox] = b[co] + sum over ci in co's group, ky, kx of
 *       w[co, ci, ky, kx] * x[n, g*Cin/G + ci, oy*sh - ph + ky*dh, ox*sw - pw + kx*dw]
 *
 * with Ho = (H + 2*ph - dh*(Kh-1) - 1) / sh + 1 (likewise Wo). Taps that fall in
 * the padding read zero. The arithmetic lives in the kernels (kernels_ref.c for
 * the plain-C reference, kernels_*.c for SIMD); this file checks shapes, runs
 * the kernel chosen by nn_kernels_get(), and records the backward step.
 */
#include <string.h>

#include "nn_internal.h"
#include "vec.h"

nn_conv2d_params nn_conv2d_default(void) {
    return (nn_conv2d_params){.stride_h = 1, .stride_w = 1, .dilation_h = 1, .dilation_w = 1,
                              .groups = 1};
}

typedef struct {
    nn_conv2d_shape shape;
} conv2d_saved;

/* Fills s from the tensors and params; returns false with the reason in ctx. */
static bool conv2d_make_shape(nn_ctx *ctx, const nn_tensor *x, const nn_tensor *w,
                              const nn_tensor *b, const nn_conv2d_params *p, nn_conv2d_shape *s) {
    char xs[64], ws[64];
    nn_shape_str(x, xs, sizeof xs);
    nn_shape_str(w, ws, sizeof ws);
    if (x->ndim != 4 || w->ndim != 4) {
        nn_ctx_fail(ctx, NN_ERR_SHAPE, "conv2d: x %s and w %s must both be 4-D", xs, ws);
        return false;
    }
    if (p->stride_h < 1 || p->stride_w < 1 || p->dilation_h < 1 || p->dilation_w < 1 ||
        p->pad_h < 0 || p->pad_w < 0 || p->groups < 1) {
        nn_ctx_fail(ctx, NN_ERR_ARG, "conv2d: stride/dilation/groups must be >= 1, padding >= 0");
        return false;
    }
    *s = (nn_conv2d_shape){
        .n = x->shape[0], .cin = x->shape[1], .h = x->shape[2], .w = x->shape[3],
        .cout = w->shape[0], .kh = w->shape[2], .kw = w->shape[3],
        .stride_h = p->stride_h, .stride_w = p->stride_w, .pad_h = p->pad_h, .pad_w = p->pad_w,
        .dil_h = p->dilation_h, .dil_w = p->dilation_w, .groups = p->groups, .relu = p->relu,
    };
    if (s->cin % s->groups || s->cout % s->groups || w->shape[1] != s->cin / s->groups) {
        nn_ctx_fail(ctx, NN_ERR_SHAPE, "conv2d: x %s, w %s and groups %d do not fit", xs, ws,
                    s->groups);
        return false;
    }
    /* A pad as large as the dilated kernel would make whole outputs read only
     * padding; no framework does that on purpose, so we call it an error. */
    int reach_h = s->dil_h * (s->kh - 1) + 1, reach_w = s->dil_w * (s->kw - 1) + 1;
    if (s->pad_h >= reach_h || s->pad_w >= reach_w) {
        nn_ctx_fail(ctx, NN_ERR_ARG, "conv2d: padding %dx%d reaches past the kernel's reach %dx%d",
                    s->pad_h, s->pad_w, reach_h, reach_w);
        return false;
    }
    int span_h = s->h + 2 * s->pad_h - reach_h, span_w = s->w + 2 * s->pad_w - reach_w;
    if (span_h < 0 || span_w < 0) {
        nn_ctx_fail(ctx, NN_ERR_SHAPE, "conv2d: input %s smaller than the kernel's reach %dx%d", xs,
                    reach_h, reach_w);
        return false;
    }
    s->hout = span_h / s->stride_h + 1;
    s->wout = span_w / s->stride_w + 1;
    if (b && (b->numel != (size_t)s->cout)) {
        nn_ctx_fail(ctx, NN_ERR_SHAPE, "conv2d: bias has %zu elements, expected %d", b->numel,
                    s->cout);
        return false;
    }
    return true;
}

static void conv2d_backward(nn_ctx *ctx, nn_node *node) {
    conv2d_saved *sv = node->saved;
    nn_conv2d_shape s = sv->shape;
    s.scratch = nn_ctx_kernel_scratch(ctx);
    nn_tensor *x = node->in[0], *w = node->in[1], *b = node->in[2], *y = node->out;
    const nn_kernels *k = nn_kernels_get();

    /* With a fused ReLU, dL/d(pre-activation) is dL/dy where y > 0, else 0. */
    const float *dy = y->grad;
    if (s.relu) {
        float *masked = nn_ctx_scratch(ctx, y->numel * sizeof(float));
        if (!masked) return;
        nn_vec_relu_mask(masked, y->data, dy, y->numel); /* masked = y > 0 ? dy : 0 */
        dy = masked;
    }
    if (nn_needs_grad(x)) {
        float *dx = nn_grad(ctx, x);
        if (!dx) return;
        k->conv2d_backward_data(&s, dy, w->data, dx);
    }
    bool need_dw = nn_needs_grad(w), need_db = b && nn_needs_grad(b);
    if (need_dw || need_db) {
        float *dw = need_dw ? nn_grad(ctx, w) : nn_ctx_scratch(ctx, w->numel * sizeof(float));
        float *db = need_db ? nn_grad(ctx, b) : NULL;
        if (!dw || (need_db && !db)) return;
        k->conv2d_backward_weights(&s, x->data, dy, dw, db);
    }
}

/* Same shape apart from the batch size: packed weights do not depend on it. */
static bool same_but_batch(const nn_conv2d_shape *a, const nn_conv2d_shape *b) {
    nn_conv2d_shape x = *a, y = *b;
    x.n = y.n = 0;
    x.scratch = y.scratch = NULL; /* whose workspace runs it does not matter either */
    return memcmp(&x, &y, sizeof x) == 0;
}

/* Runs the forward kernel, through the pre-packed weights of `cache` when the
 * kernels support it and nothing needs a gradient (packing is inference-only:
 * the weights must not change while the cache is valid). */
static void conv2d_run_forward(const nn_conv2d_shape *s, const nn_tensor *x,
                               const nn_tensor *w, const nn_tensor *b, float *y,
                               nn_conv2d_cache *cache, bool recording) {
    const nn_kernels *k = nn_kernels_get();
    if (cache && !recording && k->conv2d_forward_packed) {
        if (!cache->packed || cache->kernels != k || !same_but_batch(&cache->shape, s)) {
            nn_conv2d_cache_clear(cache);
            size_t floats = k->conv2d_packed_floats(s);
            cache->packed = nn_aligned_alloc(floats * sizeof(float));
            if (cache->packed) {
                k->conv2d_pack_weights(s, w->data, cache->packed);
                cache->kernels = k;
                cache->shape = *s;
            }
        }
        if (cache->packed) {
            k->conv2d_forward_packed(s, x->data, cache->packed, b ? b->data : NULL, y);
            return;
        }
        /* out of memory for the packed copy: the unpacked kernel still works */
    }
    k->conv2d_forward(s, x->data, w->data, b ? b->data : NULL, y);
}

void nn_conv2d_cache_clear(nn_conv2d_cache *cache) {
    nn_aligned_free(cache->packed);
    memset(cache, 0, sizeof *cache);
}

nn_tensor *nn_conv2d_cached(nn_ctx *ctx, nn_tensor *x, nn_tensor *w, nn_tensor *b,
                            const nn_conv2d_params *p, nn_conv2d_cache *cache) {
    nn_tensor *ins[3] = {x, w, b};
    if (!nn_check_inputs(ctx, "conv2d", 2, ins)) return NULL;
    nn_conv2d_params defaults = nn_conv2d_default();
    if (!p) p = &defaults;
    nn_conv2d_shape s;
    if (!conv2d_make_shape(ctx, x, w, b, p, &s)) return NULL;
    s.scratch = nn_ctx_kernel_scratch(ctx);

    int yshape[4] = {s.n, s.cout, s.hout, s.wout};
    nn_tensor *y = nn_ctx_tensor(ctx, 4, yshape);
    if (!y) return NULL;
    bool recording = nn_ctx_grad_enabled(ctx) && (nn_needs_grad(x) || nn_needs_grad(w) ||
                                                  (b && nn_needs_grad(b)));
    conv2d_run_forward(&s, x, w, b, y->data, cache, recording);

    nn_node *node = nn_tape_record(ctx, "conv2d", y, conv2d_backward, 3, ins, sizeof(conv2d_saved));
    if (node) ((conv2d_saved *)node->saved)->shape = s;
    return y;
}

nn_tensor *nn_conv2d(nn_ctx *ctx, nn_tensor *x, nn_tensor *w, nn_tensor *b,
                     const nn_conv2d_params *p) {
    return nn_conv2d_cached(ctx, x, w, b, p, NULL);
}
