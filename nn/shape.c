/*
 * shape.c - ops that move elements around without arithmetic:
 *
 *   reshape  same elements in the same (row-major) order, new shape; one -1
 *            in the new shape is inferred from the element count
 *   flatten  [N, d1, d2, ...] -> [N, d1*d2*...]
 *   permute  y.shape[d] = x.shape[perm[d]], y[i0, .., ik] = x at the index
 *            whose dimension perm[d] is i_d
 *   concat   inputs joined along one axis; all other dimensions must agree
 *   slice    the index range [start, end) of one axis
 *
 * Every output is a fresh arena tensor holding a copy, so no op here aliases
 * its input and each backward simply routes dy back to where each element
 * came from (adding, since an input may feed several ops).
 *
 * reshape and flatten copy and add on the thread pool (vec.h): the seed
 * classifier flattens 30 MB per batch.
 *
 * Axes may be negative, counting from the end as in PyTorch (-1 = last).
 * Most ops view a tensor around one axis as [outer, dim, inner]:
 * outer = product of the dimensions before the axis, inner = after it.
 */
#include <stdio.h>
#include <string.h>

#include "nn_internal.h"
#include "vec.h"

/* Writes "[a, b, c]" for a shape given as an array (nn_shape_str wants a tensor). */
static char *shape_dims_str(int ndim, const int *dims, char *buf, size_t len) {
    size_t used = (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < ndim && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, i ? ", %d" : "%d", dims[i]);
    if (used < len) snprintf(buf + used, len - used, "]");
    return buf;
}

/* Resolves a possibly negative axis of x into [0, ndim); false + ctx error if out of range. */
static bool shape_axis(nn_ctx *ctx, const char *op, const nn_tensor *x, int axis, int *resolved) {
    if (axis < -x->ndim || axis >= x->ndim) {
        char xs[64];
        nn_ctx_fail(ctx, NN_ERR_ARG, "%s: axis %d out of range for %s", op, axis,
                    nn_shape_str(x, xs, sizeof xs));
        return false;
    }
    *resolved = axis < 0 ? axis + x->ndim : axis;
    return true;
}

/* Product of x's dimensions in [from, to). */
static size_t shape_span(const nn_tensor *x, int from, int to) {
    size_t n = 1;
    for (int d = from; d < to; d++) n *= (size_t)x->shape[d];
    return n;
}

/* ---- reshape / flatten: y = x element for element;  dx += dy */
static void copy_backward(nn_ctx *ctx, nn_node *node) {
    const float *dy = node->out->grad;
    float *dx = nn_grad(ctx, node->in[0]);
    if (!dx) return;
    nn_vec_add(dx, dy, node->out->numel);
}

static nn_tensor *shape_copy_as(nn_ctx *ctx, const char *op, nn_tensor *x, int ndim,
                                const int *shape) {
    nn_tensor *y = nn_ctx_tensor(ctx, ndim, shape);
    if (!y) return NULL;
    nn_vec_copy(y->data, x->data, x->numel);
    nn_tape_record(ctx, op, y, copy_backward, 1, &x, 0);
    return y;
}

nn_tensor *nn_reshape(nn_ctx *ctx, nn_tensor *x, int ndim, const int *shape) {
    if (!nn_check_inputs(ctx, "reshape", 1, &x)) return NULL;
    char xs[64], ns[96];
    if (!shape || ndim < 1 || ndim > NN_MAX_DIMS) {
        nn_ctx_fail(ctx, NN_ERR_ARG, "reshape: new shape needs 1 to %d dimensions, got %d%s",
                    NN_MAX_DIMS, ndim, shape ? "" : " (NULL)");
        return NULL;
    }
    shape_dims_str(ndim, shape, ns, sizeof ns);
    nn_shape_str(x, xs, sizeof xs);
    int out[NN_MAX_DIMS], infer_at = -1;
    size_t known = 1; /* product of the given dimensions; stops growing once past numel */
    for (int d = 0; d < ndim; d++) {
        out[d] = shape[d];
        if (shape[d] == -1 && infer_at < 0) {
            infer_at = d;
        } else if (shape[d] < 1) {
            nn_ctx_fail(ctx, NN_ERR_ARG,
                        "reshape: bad new shape %s for %s (dimensions must be >= 1, one may be -1)",
                        ns, xs);
            return NULL;
        } else if (known <= x->numel) {
            known *= (size_t)shape[d];
        }
    }
    if (infer_at >= 0 && known <= x->numel && x->numel % known == 0 &&
        x->numel / known <= (size_t)INT32_MAX)
        out[infer_at] = (int)(x->numel / known);
    else if (infer_at >= 0 || known != x->numel) {
        nn_ctx_fail(ctx, NN_ERR_SHAPE, "reshape: cannot view %s (%zu elements) as %s", xs,
                    x->numel, ns);
        return NULL;
    }
    return shape_copy_as(ctx, "reshape", x, ndim, out);
}

nn_tensor *nn_flatten(nn_ctx *ctx, nn_tensor *x) {
    if (!nn_check_inputs(ctx, "flatten", 1, &x)) return NULL;
    if (x->ndim < 1) {
        nn_ctx_fail(ctx, NN_ERR_SHAPE, "flatten: input has no dimensions");
        return NULL;
    }
    size_t rest = x->numel / (size_t)x->shape[0];
    if (rest > (size_t)INT32_MAX) {
        char xs[64];
        nn_ctx_fail(ctx, NN_ERR_LIMIT, "flatten: %s has too many elements per sample",
                    nn_shape_str(x, xs, sizeof xs));
        return NULL;
    }
    int out[2] = {x->shape[0], (int)rest};
    return shape_copy_as(ctx, "flatten", x, 2, out);
}

/* ---- permute: y = x with dimensions reordered;  dx[src(i)] += dy[i] */
typedef struct {
    int perm[NN_MAX_DIMS];
} permute_saved;

/* Walks y in memory order, tracking the offset of the same element in x.
 * Forward copies x -> y; backward adds dy back into dx at the same places. */
static void permute_walk(const nn_tensor *x, const int *perm, float *x_side, float *y_side,
                         bool backward) {
    int nd = x->ndim;
    size_t x_stride[NN_MAX_DIMS], step[NN_MAX_DIMS];
    int y_shape[NN_MAX_DIMS], idx[NN_MAX_DIMS] = {0};
    size_t stride = 1;
    for (int d = nd - 1; d >= 0; d--) {
        x_stride[d] = stride;
        stride *= (size_t)x->shape[d];
    }
    for (int d = 0; d < nd; d++) {
        y_shape[d] = x->shape[perm[d]];
        step[d] = x_stride[perm[d]]; /* moving one along y's dim d moves this far in x */
    }
    size_t src = 0;
    for (size_t i = 0; i < x->numel; i++) {
        if (backward) x_side[src] += y_side[i];
        else y_side[i] = x_side[src];
        /* odometer increment of y's index, innermost dimension first */
        for (int d = nd - 1; d >= 0; d--) {
            src += step[d];
            if (++idx[d] < y_shape[d]) break;
            src -= step[d] * (size_t)y_shape[d];
            idx[d] = 0;
        }
    }
}

static void permute_backward(nn_ctx *ctx, nn_node *node) {
    nn_tensor *x = node->in[0];
    float *dx = nn_grad(ctx, x);
    if (!dx) return;
    permute_walk(x, ((permute_saved *)node->saved)->perm, dx, node->out->grad, true);
}

nn_tensor *nn_permute(nn_ctx *ctx, nn_tensor *x, const int *perm) {
    if (!nn_check_inputs(ctx, "permute", 1, &x)) return NULL;
    char xs[64], ps[96];
    nn_shape_str(x, xs, sizeof xs);
    if (!perm) {
        nn_ctx_fail(ctx, NN_ERR_ARG, "permute: perm is NULL for %s", xs);
        return NULL;
    }
    shape_dims_str(x->ndim, perm, ps, sizeof ps);
    bool seen[NN_MAX_DIMS] = {false};
    int y_shape[NN_MAX_DIMS];
    for (int d = 0; d < x->ndim; d++) {
        if (perm[d] < 0 || perm[d] >= x->ndim || seen[perm[d]]) {
            nn_ctx_fail(ctx, NN_ERR_ARG,
                        "permute: %s is not a permutation of the %d dimensions of %s", ps,
                        x->ndim, xs);
            return NULL;
        }
        seen[perm[d]] = true;
        y_shape[d] = x->shape[perm[d]];
    }
    nn_tensor *y = nn_ctx_tensor(ctx, x->ndim, y_shape);
    if (!y) return NULL;
    permute_walk(x, perm, x->data, y->data, false);
    nn_node *node =
        nn_tape_record(ctx, "permute", y, permute_backward, 1, &x, sizeof(permute_saved));
    if (node) memcpy(((permute_saved *)node->saved)->perm, perm, (size_t)x->ndim * sizeof(int));
    return y;
}

/* ---- concat along axis: y[o, :, i] = [x0[o, :, i], x1[o, :, i], ...]
 * Viewed as [outer, dim_k * inner] blocks, each input contributes one
 * contiguous run per outer index; backward hands the runs back. */
typedef struct {
    int axis;
} axis_saved;

static void concat_backward(nn_ctx *ctx, nn_node *node) {
    int axis = ((axis_saved *)node->saved)->axis;
    const nn_tensor *y = node->out;
    size_t outer = shape_span(y, 0, axis), inner = shape_span(y, axis + 1, y->ndim);
    size_t y_row = (size_t)y->shape[axis] * inner, offset = 0;
    for (int k = 0; k < node->n_in; k++) {
        nn_tensor *x = node->in[k];
        size_t run = (size_t)x->shape[axis] * inner;
        if (nn_needs_grad(x)) {
            float *dx = nn_grad(ctx, x);
            if (!dx) return;
            for (size_t o = 0; o < outer; o++) {
                const float *dy = y->grad + o * y_row + offset;
                for (size_t i = 0; i < run; i++) dx[o * run + i] += dy[i];
            }
        }
        offset += run;
    }
}

nn_tensor *nn_concat(nn_ctx *ctx, int n, nn_tensor *const *xs, int axis) {
    if (n < 1 || !xs) {
        nn_ctx_fail(ctx, NN_ERR_ARG, "concat: needs at least one input, got %d", n);
        return NULL;
    }
    if (!nn_check_inputs(ctx, "concat", n, xs)) return NULL;
    const nn_tensor *first = xs[0];
    int ax;
    if (!shape_axis(ctx, "concat", first, axis, &ax)) return NULL;
    size_t total = 0; /* size of the joined axis; size_t so it cannot overflow before the check */
    for (int k = 0; k < n; k++) {
        const nn_tensor *x = xs[k];
        bool fits = x->ndim == first->ndim;
        for (int d = 0; fits && d < x->ndim; d++) fits = d == ax || x->shape[d] == first->shape[d];
        if (!fits) {
            char s0[64], sk[64];
            nn_ctx_fail(ctx, NN_ERR_SHAPE,
                        "concat: input %d %s does not match input 0 %s outside axis %d", k,
                        nn_shape_str(x, sk, sizeof sk), nn_shape_str(first, s0, sizeof s0), ax);
            return NULL;
        }
        total += (size_t)x->shape[ax];
    }
    if (total > (size_t)INT32_MAX) {
        nn_ctx_fail(ctx, NN_ERR_LIMIT, "concat: joined axis would have %zu entries", total);
        return NULL;
    }
    int y_shape[NN_MAX_DIMS];
    memcpy(y_shape, first->shape, sizeof y_shape);
    y_shape[ax] = (int)total;
    nn_tensor *y = nn_ctx_tensor(ctx, first->ndim, y_shape);
    if (!y) return NULL;

    size_t outer = shape_span(y, 0, ax), inner = shape_span(y, ax + 1, y->ndim);
    size_t y_row = total * inner, offset = 0;
    for (int k = 0; k < n; k++) {
        size_t run = (size_t)xs[k]->shape[ax] * inner;
        for (size_t o = 0; o < outer; o++)
            memcpy(y->data + o * y_row + offset, xs[k]->data + o * run, run * sizeof(float));
        offset += run;
    }
    nn_node *node = nn_tape_record(ctx, "concat", y, concat_backward, n, xs, sizeof(axis_saved));
    if (node) ((axis_saved *)node->saved)->axis = ax;
    return y;
}

/* ---- slice: y[o, j, i] = x[o, start + j, i] for j in [0, end - start);
 * dx[o, start + j, i] += dy[o, j, i] */
typedef struct {
    int axis, start;
} slice_saved;

static void slice_backward(nn_ctx *ctx, nn_node *node) {
    slice_saved *sv = node->saved;
    nn_tensor *x = node->in[0];
    const nn_tensor *y = node->out;
    float *dx = nn_grad(ctx, x);
    if (!dx) return;
    size_t outer = shape_span(x, 0, sv->axis), inner = shape_span(x, sv->axis + 1, x->ndim);
    size_t x_row = (size_t)x->shape[sv->axis] * inner, run = (size_t)y->shape[sv->axis] * inner;
    for (size_t o = 0; o < outer; o++) {
        float *d = dx + o * x_row + (size_t)sv->start * inner;
        const float *dy = y->grad + o * run;
        for (size_t i = 0; i < run; i++) d[i] += dy[i];
    }
}

nn_tensor *nn_slice(nn_ctx *ctx, nn_tensor *x, int axis, int start, int end) {
    if (!nn_check_inputs(ctx, "slice", 1, &x)) return NULL;
    int ax;
    if (!shape_axis(ctx, "slice", x, axis, &ax)) return NULL;
    if (start < 0 || end <= start || end > x->shape[ax]) {
        char xs[64];
        nn_ctx_fail(ctx, NN_ERR_ARG,
                    "slice: range [%d, %d) is empty or outside axis %d (size %d) of %s", start,
                    end, ax, x->shape[ax], nn_shape_str(x, xs, sizeof xs));
        return NULL;
    }
    int y_shape[NN_MAX_DIMS];
    memcpy(y_shape, x->shape, sizeof y_shape);
    y_shape[ax] = end - start;
    nn_tensor *y = nn_ctx_tensor(ctx, x->ndim, y_shape);
    if (!y) return NULL;
    size_t outer = shape_span(x, 0, ax), inner = shape_span(x, ax + 1, x->ndim);
    size_t x_row = (size_t)x->shape[ax] * inner, run = (size_t)y_shape[ax] * inner;
    for (size_t o = 0; o < outer; o++)
        memcpy(y->data + o * run, x->data + o * x_row + (size_t)start * inner, run * sizeof(float));
    nn_node *node = nn_tape_record(ctx, "slice", y, slice_backward, 1, &x, sizeof(slice_saved));
    if (node) *(slice_saved *)node->saved = (slice_saved){.axis = ax, .start = start};
    return y;
}
