/*
 * linear.c - fully connected layer:
 *
 *   y[n, o] = b[o] + sum_i x[n, i] * w[o, i]      x [N, In], w [Out, In], b [Out] or NULL
 *
 * Backward:  dx[n, i] += sum_o dy[n, o] * w[o, i]
 *            dw[o, i] += sum_n dy[n, o] * x[n, i]
 *            db[o]    += sum_n dy[n, o]
 * Every loop runs along rows of x and w, which are contiguous.
 */
#include "nn_internal.h"

static void linear_backward(nn_ctx *ctx, nn_node *node) {
    nn_tensor *x = node->in[0], *w = node->in[1], *b = node->in[2];
    int n_rows = x->shape[0], in = x->shape[1], out = w->shape[0];
    const float *dy = node->out->grad;

    if (nn_needs_grad(x)) {
        float *dx = nn_grad(ctx, x);
        if (!dx) return;
        for (int n = 0; n < n_rows; n++) {
            float *dxr = dx + (size_t)n * in;
            for (int o = 0; o < out; o++) {
                float g = dy[(size_t)n * out + o];
                const float *wr = w->data + (size_t)o * in;
                for (int i = 0; i < in; i++) dxr[i] += g * wr[i];
            }
        }
    }
    if (nn_needs_grad(w)) {
        float *dw = nn_grad(ctx, w);
        if (!dw) return;
        for (int n = 0; n < n_rows; n++) {
            const float *xr = x->data + (size_t)n * in;
            for (int o = 0; o < out; o++) {
                float g = dy[(size_t)n * out + o];
                float *dwr = dw + (size_t)o * in;
                for (int i = 0; i < in; i++) dwr[i] += g * xr[i];
            }
        }
    }
    if (b && nn_needs_grad(b)) {
        float *db = nn_grad(ctx, b);
        if (!db) return;
        for (int n = 0; n < n_rows; n++)
            for (int o = 0; o < out; o++) db[o] += dy[(size_t)n * out + o];
    }
}

nn_tensor *nn_linear(nn_ctx *ctx, nn_tensor *x, nn_tensor *w, nn_tensor *b) {
    nn_tensor *ins[3] = {x, w, b};
    if (!nn_check_inputs(ctx, "linear", 2, ins)) return NULL;
    char xs[64], ws[64];
    nn_shape_str(x, xs, sizeof xs);
    nn_shape_str(w, ws, sizeof ws);
    if (x->ndim != 2 || w->ndim != 2 || x->shape[1] != w->shape[1]) {
        nn_ctx_fail(ctx, NN_ERR_SHAPE, "linear: x %s and w %s do not fit: need x [N, In], w [Out, In]",
                    xs, ws);
        return NULL;
    }
    int n_rows = x->shape[0], in = x->shape[1], out = w->shape[0];
    if (b && b->numel != (size_t)out) {
        nn_ctx_fail(ctx, NN_ERR_SHAPE, "linear: bias has %zu elements, expected %d", b->numel, out);
        return NULL;
    }
    int yshape[2] = {n_rows, out};
    nn_tensor *y = nn_ctx_tensor(ctx, 2, yshape);
    if (!y) return NULL;
    for (int n = 0; n < n_rows; n++) {
        const float *xr = x->data + (size_t)n * in;
        for (int o = 0; o < out; o++) {
            const float *wr = w->data + (size_t)o * in;
            float acc = b ? b->data[o] : 0.0f;
            for (int i = 0; i < in; i++) acc += xr[i] * wr[i];
            y->data[(size_t)n * out + o] = acc;
        }
    }
    nn_tape_record(ctx, "linear", y, linear_backward, 3, ins, 0);
    return y;
}
