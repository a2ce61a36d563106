/*
 * softmax.c - softmax and log-softmax along one axis of any tensor.
 *
 * x is viewed as [outer, C, inner] around the axis (C = x.shape[axis]); each
 * of the outer*inner rows of C values, C apart by `inner` in memory, is
 * normalised on its own:
 *
 *   softmax:      y_c = exp(x_c - m) / sum_k exp(x_k - m)
 *   log_softmax:  y_c = x_c - m - log(sum_k exp(x_k - m))
 *
 * with m = max_k x_k, which changes nothing mathematically but keeps exp()
 * from overflowing for large logits. Sums are taken in double.
 *
 * Backward, from the output y alone:
 *   softmax:      dx_c = y_c * (dy_c - sum_k dy_k y_k)
 *   log_softmax:  dx_c = dy_c - exp(y_c) * sum_k dy_k
 *
 * The axis may be negative (-1 = last), as in PyTorch. Rows are independent
 * and run on the thread pool in groups (vec.h).
 */
#include <math.h>
#include <stdio.h>

#include "nn_internal.h"
#include "vec.h"

typedef struct {
    size_t outer, dim, inner;
    bool take_log;
} softmax_saved;

typedef struct {
    const softmax_saved *s;
    const float *x, *y, *dy;
    float *out, *dx;
} softmax_job;

/* Rows [r0, r1) of outer*inner: row r is o = r / inner, i = r % inner. */
static void softmax_backward_rows(void *arg, size_t r0, size_t r1) {
    const softmax_job *j = arg;
    const softmax_saved *sv = j->s;
    const float *y = j->y, *dy = j->dy;
    float *dx = j->dx;
    for (size_t r = r0; r < r1; r++) {
        size_t base = (r / sv->inner) * sv->dim * sv->inner + r % sv->inner;
        double acc = 0.0; /* softmax: sum dy*y; log_softmax: sum dy */
        for (size_t c = 0; c < sv->dim; c++) {
            size_t at = base + c * sv->inner;
            acc += sv->take_log ? dy[at] : (double)dy[at] * y[at];
        }
        for (size_t c = 0; c < sv->dim; c++) {
            size_t at = base + c * sv->inner;
            if (sv->take_log) dx[at] += dy[at] - expf(y[at]) * (float)acc;
            else dx[at] += y[at] * (dy[at] - (float)acc);
        }
    }
}

static void softmax_forward_rows(void *arg, size_t r0, size_t r1) {
    const softmax_job *j = arg;
    const softmax_saved *s = j->s;
    const float *x = j->x;
    float *y = j->out;
    for (size_t r = r0; r < r1; r++) {
        size_t base = (r / s->inner) * s->dim * s->inner + r % s->inner;
        float m = x[base];
        for (size_t c = 1; c < s->dim; c++) m = fmaxf(m, x[base + c * s->inner]);
        double total = 0.0;
        for (size_t c = 0; c < s->dim; c++) {
            size_t at = base + c * s->inner;
            float e = expf(x[at] - m);
            total += e;
            if (!s->take_log) y[at] = e; /* normalised below */
        }
        if (s->take_log) {
            float log_total = (float)log(total);
            for (size_t c = 0; c < s->dim; c++) {
                size_t at = base + c * s->inner;
                y[at] = (x[at] - m) - log_total;
            }
        } else {
            float inv = (float)(1.0 / total);
            for (size_t c = 0; c < s->dim; c++) y[base + c * s->inner] *= inv;
        }
    }
}

/* Rows per task: about NN_VEC_GRAIN elements. */
static size_t softmax_rows_grain(const softmax_saved *s) {
    return s->dim >= NN_VEC_GRAIN ? 1 : NN_VEC_GRAIN / s->dim;
}

static void softmax_backward(nn_ctx *ctx, nn_node *node) {
    const softmax_saved *sv = node->saved;
    softmax_job j = {.s = sv, .y = node->out->data, .dy = node->out->grad,
                     .dx = nn_grad(ctx, node->in[0])};
    if (!j.dx) return;
    nn_vec_for(sv->outer * sv->inner, softmax_rows_grain(sv), softmax_backward_rows, &j);
}

static nn_tensor *softmax_op(nn_ctx *ctx, nn_tensor *x, int axis, bool take_log, const char *op) {
    if (!nn_check_inputs(ctx, op, 1, &x)) return NULL;
    if (axis < -x->ndim || axis >= x->ndim) {
        char xs[64];
        nn_ctx_fail(ctx, NN_ERR_ARG, "%s: axis %d out of range for %s", op, axis,
                    nn_shape_str(x, xs, sizeof xs));
        return NULL;
    }
    if (axis < 0) axis += x->ndim;
    softmax_saved s = {.outer = 1, .dim = (size_t)x->shape[axis], .inner = 1, .take_log = take_log};
    for (int d = 0; d < axis; d++) s.outer *= (size_t)x->shape[d];
    for (int d = axis + 1; d < x->ndim; d++) s.inner *= (size_t)x->shape[d];

    nn_tensor *y = nn_ctx_tensor(ctx, x->ndim, x->shape);
    if (!y) return NULL;
    softmax_job j = {.s = &s, .x = x->data, .out = y->data};
    nn_vec_for(s.outer * s.inner, softmax_rows_grain(&s), softmax_forward_rows, &j);
    nn_node *node = nn_tape_record(ctx, op, y, softmax_backward, 1, &x, sizeof(softmax_saved));
    if (node) *(softmax_saved *)node->saved = s;
    return y;
}

nn_tensor *nn_softmax(nn_ctx *ctx, nn_tensor *x, int axis) {
    return softmax_op(ctx, x, axis, false, "softmax");
}

nn_tensor *nn_log_softmax(nn_ctx *ctx, nn_tensor *x, int axis) {
    return softmax_op(ctx, x, axis, true, "log_softmax");
}
