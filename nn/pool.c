/*
 * pool.c - 2-D max and average pooling, and global average pooling.
 *
 * x [N, C, H, W] -> y [N, C, Ho, Wo], each output reading the window
 *   rows oy*sh - ph .. oy*sh - ph + kh - 1,  cols ox*sw - pw .. ox*sw - pw + kw - 1
 * of its own (n, c) plane. Output size (rows; columns likewise), as PyTorch
 * and Caffe:
 *   Ho = (H + 2*ph - kh) / sh + 1      rounded down, or up with ceil_mode;
 *   with ceil_mode the last window must start inside the input or the top
 *   padding: if (Ho-1)*sh >= H + ph, drop it.
 * Padding may be at most half the kernel, so every window holds at least one
 * real input element.
 *
 * Max pooling treats padding as -inf: y is the largest real element of the
 * window, and the gradient goes to that element (the first one in row-major
 * window order on ties; a NaN wins, as in PyTorch). The forward pass saves
 * the position of that element for the backward pass.
 *
 * Average pooling follows PyTorch's avg_pool2d: the window is first clipped to
 * the padded input [-ph, H + ph) (this only matters with ceil_mode), then to
 * the input [0, H). y is the sum over the real elements divided by the size of
 * the first clipped window (count_include_pad) or of the second (not).
 *
 * Global average pooling: y[n, c, 0, 0] = mean of the (n, c) plane.
 *
 * Max pooling runs over the (n, c) planes on the thread pool; the usual 2x2
 * stride-2 window has a branch-free row loop that vectorizes (tested against
 * the general loop, which it must match exactly, NaNs and ties included).
 * For the backward pass both save the winner's offset in its plane (int32;
 * a one-byte place in the window was tried and made the loops slower).
 *
 * Max pooling with a ReLU (nn_max_pool2d_relu): y = relu(maxpool(x)), which
 * equals maxpool(relu(x)) because max is monotonic, and so do the gradients:
 * the gradient reaches the window's winner when y > 0 and nothing otherwise,
 * exactly as relu's backward (mask x > 0) followed by the pool's would send
 * it (ties: positive ties pick the same first element in both orders; a
 * window whose maximum is <= 0 gets no gradient in either). Running the ReLU
 * on the pooled output touches a quarter of the data (2x2 windows) and
 * saves the full-size ReLU output and its backward pass. The one visible
 * difference: a window of -0.0 and negatives gives -0.0 where the ReLU-first
 * order may give +0.0 (equal as numbers).
 */
#include <math.h>
#include <string.h>

#include "nn_internal.h"
#include "vec.h"

nn_pool2d_params nn_pool2d_default(int kernel, int stride) {
    return (nn_pool2d_params){.kernel_h = kernel, .kernel_w = kernel, .stride_h = stride,
                              .stride_w = stride, .count_include_pad = true};
}

/* Everything the loops need, computed once from x and the params. */
typedef struct {
    int n, c, h, w;
    int kh, kw, sh, sw, ph, pw;
    int hout, wout;
    bool count_include_pad;
} pool_shape;

/* Number of outputs along one axis (see the file comment), or 0 if the
 * padded input is smaller than the kernel. */
static int pool_out_size(int in, int k, int s, int pad, bool ceil_mode) {
    int span = in + 2 * pad - k;
    if (span < 0) return 0;
    int out = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
    if (ceil_mode && (out - 1) * s >= in + pad) out--;
    return out;
}

static bool pool_make_shape(nn_ctx *ctx, const char *op, const nn_tensor *x,
                            const nn_pool2d_params *p, pool_shape *s) {
    char xs[64];
    nn_shape_str(x, xs, sizeof xs);
    if (!p) {
        nn_ctx_fail(ctx, NN_ERR_ARG, "%s: params are NULL", op);
        return false;
    }
    if (x->ndim != 4) {
        nn_ctx_fail(ctx, NN_ERR_SHAPE, "%s: x %s must be 4-D [N, C, H, W]", op, xs);
        return false;
    }
    if (p->kernel_h < 1 || p->kernel_w < 1 || p->stride_h < 1 || p->stride_w < 1 ||
        p->pad_h < 0 || p->pad_w < 0) {
        nn_ctx_fail(ctx, NN_ERR_ARG,
                    "%s: kernel %dx%d and stride %dx%d must be >= 1, padding %dx%d >= 0", op,
                    p->kernel_h, p->kernel_w, p->stride_h, p->stride_w, p->pad_h, p->pad_w);
        return false;
    }
    /* PyTorch's rule; it guarantees that no window lies wholly in the padding. */
    if (p->pad_h > p->kernel_h / 2 || p->pad_w > p->kernel_w / 2) {
        nn_ctx_fail(ctx, NN_ERR_ARG, "%s: padding %dx%d is more than half the kernel %dx%d", op,
                    p->pad_h, p->pad_w, p->kernel_h, p->kernel_w);
        return false;
    }
    *s = (pool_shape){.n = x->shape[0], .c = x->shape[1], .h = x->shape[2], .w = x->shape[3],
                      .kh = p->kernel_h, .kw = p->kernel_w, .sh = p->stride_h, .sw = p->stride_w,
                      .ph = p->pad_h, .pw = p->pad_w, .count_include_pad = p->count_include_pad};
    /* Window arithmetic adds a padded size, a stride and a kernel in int;
     * capping each at 2^30 keeps every such sum below INT_MAX. */
    const long long cap = 1LL << 30;
    if ((long long)s->h + 2LL * s->ph > cap || (long long)s->w + 2LL * s->pw > cap ||
        s->kh > cap || s->kw > cap || s->sh > cap || s->sw > cap) {
        nn_ctx_fail(ctx, NN_ERR_LIMIT, "%s: x %s, kernel %dx%d or stride %dx%d is too large", op,
                    xs, s->kh, s->kw, s->sh, s->sw);
        return false;
    }
    s->hout = pool_out_size(s->h, s->kh, s->sh, s->ph, p->ceil_mode);
    s->wout = pool_out_size(s->w, s->kw, s->sw, s->pw, p->ceil_mode);
    if (s->hout < 1 || s->wout < 1) {
        nn_ctx_fail(ctx, NN_ERR_SHAPE, "%s: input %s with padding %dx%d is smaller than the kernel %dx%d",
                    op, xs, s->ph, s->pw, s->kh, s->kw);
        return false;
    }
    return true;
}

static inline int imax(int a, int b) { return a > b ? a : b; }
static inline int imin(int a, int b) { return a < b ? a : b; }

/* ------------------------------------------------------------------ max pool */

typedef struct {
    pool_shape shape;
    bool relu;              /* nn_max_pool2d_relu: y = max(0, pooled)            */
    int32_t *argmax;        /* per output: row*W + col of the winning element in its plane */
} max_pool_saved;

/* The smallest output: 0 with a ReLU (y = x < 0 ? 0 : x, as relu.c, so a NaN
 * passes), else -inf, which no value is below. */
static float max_pool_floor(bool relu) { return relu ? 0.0f : -INFINITY; }

/* Planes [p0, p1) of the general loop; argmax may be NULL (nothing recorded). */
static void max_pool_planes(const pool_shape *s, const float *x, float *y, int32_t *argmax,
                            float floor_val, size_t p0, size_t p1) {
    size_t plane_in = (size_t)s->h * s->w, plane_out = (size_t)s->hout * s->wout;
    for (size_t nc = p0; nc < p1; nc++) {
        const float *xp = x + nc * plane_in;
        float *yp = y + nc * plane_out;
        int32_t *ap = argmax ? argmax + nc * plane_out : NULL;
        for (int oy = 0; oy < s->hout; oy++) {
            int y0 = imax(oy * s->sh - s->ph, 0), y1 = imin(oy * s->sh - s->ph + s->kh, s->h);
            for (int ox = 0; ox < s->wout; ox++) {
                int x0 = imax(ox * s->sw - s->pw, 0), x1 = imin(ox * s->sw - s->pw + s->kw, s->w);
                /* the window is never empty (padding <= kernel/2), so best is set */
                int best = y0 * s->w + x0;
                float best_val = xp[best];
                for (int iy = y0; iy < y1; iy++) {
                    for (int ix = x0; ix < x1; ix++) {
                        float v = xp[iy * s->w + ix];
                        if (v > best_val || (isnan(v) && !isnan(best_val))) {
                            best_val = v;
                            best = iy * s->w + ix;
                        }
                    }
                }
                yp[oy * s->wout + ox] = best_val < floor_val ? floor_val : best_val;
                if (ap) ap[oy * s->wout + ox] = (int32_t)best;
            }
        }
    }
}

/* The common 2x2 stride-2 unpadded case, one output row from input rows r0
 * (starting at index row0 of the plane) and r1 = r0 + w. Same rule as the
 * general loop, written without branches so it vectorizes: the window is
 * a, b (upper row), c, d (lower row) and each later element wins if it is
 * larger, or a NaN against a number. */
NN_VEC_CLONES
static void max_pool_2x2_row(int wout, const float *restrict r0, const float *restrict r1,
                             float *restrict y, int32_t *restrict am, int32_t row0, int32_t w,
                             float floor_val) {
    for (int ox = 0; ox < wout; ox++) {
        float a = r0[2 * ox], b = r0[2 * ox + 1], c = r1[2 * ox], d = r1[2 * ox + 1];
        float best = a;
        int32_t at = row0 + 2 * ox;
        bool take = b > best || (isnan(b) && !isnan(best));
        best = take ? b : best;
        at = take ? row0 + 2 * ox + 1 : at;
        take = c > best || (isnan(c) && !isnan(best));
        best = take ? c : best;
        at = take ? row0 + w + 2 * ox : at;
        take = d > best || (isnan(d) && !isnan(best));
        best = take ? d : best;
        at = take ? row0 + w + 2 * ox + 1 : at;
        y[ox] = best < floor_val ? floor_val : best;
        am[ox] = at;
    }
}

/* The same without recording where the maximum was (inference). */
NN_VEC_CLONES
static void max_pool_2x2_row_values(int wout, const float *restrict r0, const float *restrict r1,
                                    float *restrict y, float floor_val) {
    for (int ox = 0; ox < wout; ox++) {
        float a = r0[2 * ox], b = r0[2 * ox + 1], c = r1[2 * ox], d = r1[2 * ox + 1];
        float best = a;
        best = b > best || (isnan(b) && !isnan(best)) ? b : best;
        best = c > best || (isnan(c) && !isnan(best)) ? c : best;
        best = d > best || (isnan(d) && !isnan(best)) ? d : best;
        y[ox] = best < floor_val ? floor_val : best;
    }
}

/* True when every window is a whole 2x2 block of the input. */
static bool max_pool_is_2x2(const pool_shape *s) {
    return s->kh == 2 && s->kw == 2 && s->sh == 2 && s->sw == 2 && s->ph == 0 && s->pw == 0 &&
           2 * s->hout <= s->h && 2 * s->wout <= s->w;
}

typedef struct {
    const pool_shape *s;
    bool relu;
    const float *x;
    float *y;              /* forward: written; backward (relu): read for the mask */
    int32_t *argmax;       /* NULL: nothing recorded (inference) */
    const float *dy;
    float *dx;
    bool fresh_dx; /* dx is uninitialised: write it (vec.h, nn_vec_grad) */
} max_pool_job;

static void max_pool_forward_task(void *arg, size_t p0, size_t p1) {
    const max_pool_job *j = arg;
    const pool_shape *s = j->s;
    float floor_val = max_pool_floor(j->relu);
    if (!max_pool_is_2x2(s)) {
        max_pool_planes(s, j->x, j->y, j->argmax, floor_val, p0, p1);
        return;
    }
    size_t plane_in = (size_t)s->h * s->w, plane_out = (size_t)s->hout * s->wout;
    for (size_t nc = p0; nc < p1; nc++) {
        for (int oy = 0; oy < s->hout; oy++) {
            const float *r0 = j->x + nc * plane_in + (size_t)(2 * oy) * s->w;
            size_t out_at = nc * plane_out + (size_t)oy * s->wout;
            if (j->argmax)
                max_pool_2x2_row(s->wout, r0, r0 + s->w, j->y + out_at, j->argmax + out_at,
                                 2 * oy * s->w, s->w, floor_val);
            else
                max_pool_2x2_row_values(s->wout, r0, r0 + s->w, j->y + out_at, floor_val);
        }
    }
}

/* Planes per task: about NN_VEC_GRAIN input elements. */
static size_t pool_planes_grain(const pool_shape *s) {
    size_t plane_in = (size_t)s->h * s->w;
    return plane_in >= NN_VEC_GRAIN ? 1 : NN_VEC_GRAIN / plane_in;
}

/* Backward of one 2x2 output row when dx is written, not added: every element
 * of the two input rows r0, r1 under the windows gets its gradient g or 0, so
 * dx needs no zero-fill first. */
NN_VEC_CLONES
static void max_pool_2x2_backward_row(int wout, const float *restrict g,
                                      const int32_t *restrict am, float *restrict r0,
                                      float *restrict r1, int32_t row0, int32_t w) {
    for (int ox = 0; ox < wout; ox++) {
        int32_t at = am[ox] - row0 - 2 * ox; /* 0, 1, w or w + 1 */
        r0[2 * ox] = at == 0 ? g[ox] : 0.0f;
        r0[2 * ox + 1] = at == 1 ? g[ox] : 0.0f;
        r1[2 * ox] = at == w ? g[ox] : 0.0f;
        r1[2 * ox + 1] = at == w + 1 ? g[ox] : 0.0f;
    }
}

/* With a ReLU the gradient passes only where the output is > 0: g = dy or 0. */
NN_VEC_CLONES
static void relu_mask_row(int n, const float *restrict y, const float *restrict dy,
                          float *restrict g) {
    for (int i = 0; i < n; i++) g[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

/* The gradient of output i of a plane: dy, or 0 where the ReLU cut it. */
static inline float max_pool_grad(const max_pool_job *j, size_t i) {
    return j->relu && !(j->y[i] > 0.0f) ? 0.0f : j->dy[i];
}

static void max_pool_backward_task(void *arg, size_t p0, size_t p1) {
    const max_pool_job *j = arg;
    const pool_shape *s = j->s;
    size_t plane_in = (size_t)s->h * s->w, plane_out = (size_t)s->hout * s->wout;
    for (size_t nc = p0; nc < p1; nc++) {
        float *dxp = j->dx + nc * plane_in;
        size_t out0 = nc * plane_out;
        if (j->fresh_dx && max_pool_is_2x2(s)) {
            for (int oy = 0; oy < s->hout; oy++) {
                float *r0 = dxp + (size_t)(2 * oy) * s->w;
                size_t at = out0 + (size_t)oy * s->wout;
                /* with a ReLU, the masked gradients of up to 256 outputs at a time */
                for (int ox = 0; ox < s->wout; ox += 256) {
                    int cols = imin(256, s->wout - ox);
                    float masked[256];
                    const float *g = j->dy + at + ox;
                    if (j->relu) {
                        relu_mask_row(cols, j->y + at + ox, g, masked);
                        g = masked;
                    }
                    max_pool_2x2_backward_row(cols, g, j->argmax + at + ox, r0 + 2 * ox,
                                              r0 + s->w + 2 * ox, 2 * oy * s->w + 2 * ox, s->w);
                }
                for (int ix = 2 * s->wout; ix < s->w; ix++) r0[ix] = r0[s->w + ix] = 0.0f;
            }
            /* an odd last row lies outside every window */
            size_t covered = (size_t)(2 * s->hout) * s->w;
            memset(dxp + covered, 0, (plane_in - covered) * sizeof(float));
            continue;
        }
        if (j->fresh_dx) memset(dxp, 0, plane_in * sizeof(float));
        for (size_t i = 0; i < plane_out; i++) dxp[j->argmax[out0 + i]] += max_pool_grad(j, out0 + i);
    }
}

/* Each plane's gradient lands in its own plane, so planes run in parallel. */
static void max_pool_backward(nn_ctx *ctx, nn_node *node) {
    max_pool_saved *sv = node->saved;
    bool fresh;
    float *dx = nn_vec_grad(ctx, node->in[0], &fresh);
    max_pool_job j = {.s = &sv->shape, .relu = sv->relu, .y = node->out->data,
                      .argmax = sv->argmax,
                      .dy = node->out->grad, .dx = dx, .fresh_dx = fresh};
    if (!j.dx) return;
    nn_vec_for((size_t)j.s->n * j.s->c, pool_planes_grain(j.s), max_pool_backward_task, &j);
}

static nn_tensor *max_pool(nn_ctx *ctx, const char *op, nn_tensor *x, const nn_pool2d_params *p,
                           bool relu) {
    if (!nn_check_inputs(ctx, op, 1, &x)) return NULL;
    pool_shape s;
    if (!pool_make_shape(ctx, op, x, p, &s)) return NULL;
    int yshape[4] = {s.n, s.c, s.hout, s.wout};
    nn_tensor *y = nn_ctx_tensor(ctx, 4, yshape);
    if (!y) return NULL;

    max_pool_job j = {.s = &s, .relu = relu, .x = x->data, .y = y->data};
    if (nn_ctx_grad_enabled(ctx) && nn_needs_grad(x)) {
        j.argmax = nn_ctx_scratch(ctx, y->numel * sizeof *j.argmax);
        if (!j.argmax) return NULL;
    }
    nn_vec_for((size_t)s.n * s.c, pool_planes_grain(&s), max_pool_forward_task, &j);

    nn_node *node = nn_tape_record(ctx, op, y, max_pool_backward, 1, &x, sizeof(max_pool_saved));
    if (node) {
        max_pool_saved *sv = node->saved;
        sv->shape = s;
        sv->relu = relu;
        sv->argmax = j.argmax;
    }
    return y;
}

nn_tensor *nn_max_pool2d(nn_ctx *ctx, nn_tensor *x, const nn_pool2d_params *p) {
    return max_pool(ctx, "max_pool2d", x, p, false);
}

nn_tensor *nn_max_pool2d_relu(nn_ctx *ctx, nn_tensor *x, const nn_pool2d_params *p) {
    return max_pool(ctx, "max_pool2d_relu", x, p, true);
}

/* ------------------------------------------------------------------ avg pool */

typedef struct {
    pool_shape shape;
} avg_pool_saved;

/* The real-input window [*y0, *y1) x [*x0, *x1) of output (oy, ox) and the
 * divisor PyTorch uses for it. */
static float avg_pool_window(const pool_shape *s, int oy, int ox, int *y0, int *y1, int *x0,
                             int *x1) {
    int ys = oy * s->sh - s->ph, xs = ox * s->sw - s->pw;
    int ye = imin(ys + s->kh, s->h + s->ph), xe = imin(xs + s->kw, s->w + s->pw);
    long long padded_count = (long long)(ye - ys) * (xe - xs);
    *y0 = imax(ys, 0);
    *x0 = imax(xs, 0);
    *y1 = imin(ye, s->h);
    *x1 = imin(xe, s->w);
    long long real_count = (long long)(*y1 - *y0) * (*x1 - *x0);
    return (float)(s->count_include_pad ? padded_count : real_count);
}

static void avg_pool_backward(nn_ctx *ctx, nn_node *node) {
    const pool_shape *s = &((avg_pool_saved *)node->saved)->shape;
    float *dx = nn_grad(ctx, node->in[0]);
    if (!dx) return;
    const float *dy = node->out->grad;
    size_t plane_in = (size_t)s->h * s->w, plane_out = (size_t)s->hout * s->wout;
    for (size_t nc = 0; nc < (size_t)s->n * s->c; nc++) {
        float *dxp = dx + nc * plane_in;
        const float *dyp = dy + nc * plane_out;
        for (int oy = 0; oy < s->hout; oy++) {
            for (int ox = 0; ox < s->wout; ox++) {
                int y0, y1, x0, x1;
                float count = avg_pool_window(s, oy, ox, &y0, &y1, &x0, &x1);
                float g = dyp[oy * s->wout + ox] / count;
                for (int iy = y0; iy < y1; iy++)
                    for (int ix = x0; ix < x1; ix++) dxp[iy * s->w + ix] += g;
            }
        }
    }
}

nn_tensor *nn_avg_pool2d(nn_ctx *ctx, nn_tensor *x, const nn_pool2d_params *p) {
    if (!nn_check_inputs(ctx, "avg_pool2d", 1, &x)) return NULL;
    pool_shape s;
    if (!pool_make_shape(ctx, "avg_pool2d", x, p, &s)) return NULL;
    int yshape[4] = {s.n, s.c, s.hout, s.wout};
    nn_tensor *y = nn_ctx_tensor(ctx, 4, yshape);
    if (!y) return NULL;

    size_t plane_in = (size_t)s.h * s.w, plane_out = (size_t)s.hout * s.wout;
    for (size_t nc = 0; nc < (size_t)s.n * s.c; nc++) {
        const float *xp = x->data + nc * plane_in;
        float *yp = y->data + nc * plane_out;
        for (int oy = 0; oy < s.hout; oy++) {
            for (int ox = 0; ox < s.wout; ox++) {
                int y0, y1, x0, x1;
                float count = avg_pool_window(&s, oy, ox, &y0, &y1, &x0, &x1);
                float sum = 0.0f;
                for (int iy = y0; iy < y1; iy++)
                    for (int ix = x0; ix < x1; ix++) sum += xp[iy * s.w + ix];
                yp[oy * s.wout + ox] = sum / count;
            }
        }
    }

    nn_node *node = nn_tape_record(ctx, "avg_pool2d", y, avg_pool_backward, 1, &x,
                                   sizeof(avg_pool_saved));
    if (node) ((avg_pool_saved *)node->saved)->shape = s;
    return y;
}

/* ----------------------------------------------------------- global avg pool */

static void global_avg_pool_backward(nn_ctx *ctx, nn_node *node) {
    nn_tensor *x = node->in[0];
    float *dx = nn_grad(ctx, x);
    if (!dx) return;
    size_t planes = (size_t)x->shape[0] * x->shape[1];
    size_t plane = x->numel / planes;
    for (size_t nc = 0; nc < planes; nc++) {
        float g = node->out->grad[nc] / (float)plane;
        for (size_t i = 0; i < plane; i++) dx[nc * plane + i] += g;
    }
}

nn_tensor *nn_global_avg_pool2d(nn_ctx *ctx, nn_tensor *x) {
    if (!nn_check_inputs(ctx, "global_avg_pool2d", 1, &x)) return NULL;
    if (x->ndim != 4) {
        char xs[64];
        nn_ctx_fail(ctx, NN_ERR_SHAPE, "global_avg_pool2d: x %s must be 4-D [N, C, H, W]",
                    nn_shape_str(x, xs, sizeof xs));
        return NULL;
    }
    int yshape[4] = {x->shape[0], x->shape[1], 1, 1};
    nn_tensor *y = nn_ctx_tensor(ctx, 4, yshape);
    if (!y) return NULL;
    size_t plane = (size_t)x->shape[2] * x->shape[3];
    for (size_t nc = 0; nc < y->numel; nc++) {
        double sum = 0.0; /* planes can be large: keep the digits */
        for (size_t i = 0; i < plane; i++) sum += x->data[nc * plane + i];
        y->data[nc] = (float)(sum / (double)plane);
    }
    nn_tape_record(ctx, "global_avg_pool2d", y, global_avg_pool_backward, 1, &x, 0);
    return y;
}
