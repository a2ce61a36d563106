/*
 * caffe_shapes.c - shape inference for a parsed Caffe net, the blob shapes
 * each layer needs, and a printable summary.
 *
 * Blobs are tracked by name in execution order; an in-place layer (top ==
 * bottom, e.g. ReLU) rebinds the name. Output sizes follow Caffe:
 *   conv:    (in + 2p - (d(k-1)+1)) / s + 1           (floor)
 *   pooling: ceil((in + 2p - k) / s) + 1, minus one if the last window
 *            would start in the padding (FLOOR round_mode: floor instead)
 *   PriorBox: [1, 2, h*w*priors_per_location*4]
 *   DetectionOutput: [1, 1, keep_top_k (or all candidates), 7] - an upper
 *            bound; the real row count depends on the data.
 */
#include "caffe.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

size_t caffe_shape_count(const caffe_shape *s) {
    size_t n = 1;
    for (int i = 0; i < s->ndim; i++) {
        size_t d = (size_t)(s->dim[i] > 0 ? s->dim[i] : 0);
        if (d && n > SIZE_MAX / d) return SIZE_MAX; /* saturates: always "too big" */
        n *= d;
    }
    return n;
}

/* Every dimension in [1, CAFFE_MAX_DIM_SIZE] and the count within the tensor limit. */
static bool shape_ok(const caffe_shape *s) {
    for (int i = 0; i < s->ndim; i++)
        if (s->dim[i] < 1 || s->dim[i] > CAFFE_MAX_DIM_SIZE) return false;
    return caffe_shape_count(s) <= NN_MAX_TENSOR_ELEMS;
}

char *caffe_shape_str(const caffe_shape *s, char *buf, size_t len) {
    size_t used = 0;
    if (!len) return buf;
    buf[0] = 0;
    for (int i = 0; i < s->ndim && used < len; i++) {
        int n = snprintf(buf + used, len - used, i ? "x%d" : "%d", s->dim[i]);
        if (n < 0) break;
        used += (size_t)n;
    }
    if (s->ndim == 0) snprintf(buf, len, "scalar");
    return buf;
}

static nn_status lfail(const caffe_net *net, const caffe_layer *L, nn_error *err, const char *fmt,
                       ...) __attribute__((format(printf, 4, 5)));
static nn_status lfail(const caffe_net *net, const caffe_layer *L, nn_error *err, const char *fmt,
                       ...) {
    char what[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return nn_error_set(err, NN_ERR_SHAPE, "%s:%d: layer '%s' (%s): %s", net->filename, L->line,
                        L->name, caffe_layer_type_name(L->type), what);
}

/* name -> shape table. Open addressing on a hash of the name: a hostile net
 * can have a million blob names, and a linear search per bottom would make
 * shape inference quadratic in them. */
typedef struct {
    const char *name;
    caffe_shape shape;
} blob_entry;

typedef struct {
    blob_entry *entries;
    int count, capacity; /* capacity: a power of two, at least twice count */
} blob_table;

static size_t name_hash(const char *s) { /* FNV-1a */
    size_t h = 2166136261u;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* The slot holding name, or the empty slot where it would go. */
static blob_entry *table_slot(const blob_table *t, const char *name) {
    size_t mask = (size_t)t->capacity - 1;
    for (size_t i = name_hash(name) & mask;; i = (i + 1) & mask)
        if (!t->entries[i].name || !strcmp(t->entries[i].name, name)) return &t->entries[i];
}

static blob_entry *table_find(blob_table *t, const char *name) {
    if (!t->capacity) return NULL;
    blob_entry *e = table_slot(t, name);
    return e->name ? e : NULL;
}

static bool table_set(blob_table *t, const char *name, const caffe_shape *s) {
    if (2 * (t->count + 1) > t->capacity) { /* grow and re-insert */
        int cap = t->capacity ? 2 * t->capacity : 64;
        blob_table grown = {calloc((size_t)cap, sizeof *grown.entries), t->count, cap};
        if (!grown.entries) return false;
        for (int i = 0; i < t->capacity; i++)
            if (t->entries[i].name) *table_slot(&grown, t->entries[i].name) = t->entries[i];
        free(t->entries);
        *t = grown;
    }
    blob_entry *e = table_slot(t, name);
    if (!e->name) {
        e->name = name;
        t->count++;
    }
    e->shape = *s;
    return true;
}

/* axis in [-ndim, ndim) -> [0, ndim), or -1 */
static int norm_axis(int axis, int ndim) {
    if (axis < -ndim || axis >= ndim) return -1;
    return axis < 0 ? axis + ndim : axis;
}

/* Inputs are bounded (CAFFE_MAX_DIM_SIZE, CAFFE_MAX_KERNEL), so 64-bit math cannot overflow. */
static int conv_out(int in, int k, int s, int p, int d) {
    long long ext = (long long)d * (k - 1) + 1;
    long long span = (long long)in + 2LL * p - ext;
    return span < 0 ? 0 : (int)(span / s + 1);
}

static int pool_out(int in, int k, int s, int p, bool ceil_mode) {
    double q = ((double)in + 2.0 * p - k) / s;
    if (q < 0) return 0;
    int out = (int)(ceil_mode ? ceil(q) : floor(q)) + 1;
    /* Caffe: the last pooling window must start inside the image. */
    if (p > 0 && (out - 1) * s >= in + p) out--;
    return out;
}

/* Expected number of bottoms and tops: min/max (-1 = any). */
static void io_arity(caffe_layer_type t, int *bmin, int *bmax, int *tmin, int *tmax) {
    *bmin = *bmax = *tmin = *tmax = 1;
    switch (t) {
    case CAFFE_LAYER_INPUT: *bmin = *bmax = 0, *tmax = CAFFE_MAX_INPUTS; break;
    case CAFFE_LAYER_ELTWISE: *bmin = 2, *bmax = CAFFE_MAX_BOTTOMS; break;
    case CAFFE_LAYER_CONCAT: *bmax = CAFFE_MAX_BOTTOMS; break;
    case CAFFE_LAYER_PRIORBOX: *bmin = *bmax = 2; break;
    case CAFFE_LAYER_DETECTION_OUTPUT: *bmin = *bmax = 3; break;
    case CAFFE_LAYER_SPLIT: *tmax = CAFFE_MAX_BOTTOMS; break;
    default: break;
    }
}

/* Computes the top shapes of L from its bottom shapes `in`. */
static nn_status layer_shapes(const caffe_net *net, const caffe_layer *L, const caffe_shape *in,
                              caffe_shape *out, nn_error *err) {
    char a[96], b[96];
    const caffe_shape *x = &in[0];
    switch (L->type) {
    case CAFFE_LAYER_INPUT:
        if (L->input.n_shapes != 1 && L->input.n_shapes != L->n_tops)
            return lfail(net, L, err, "%d shapes for %d tops", L->input.n_shapes, L->n_tops);
        for (int i = 0; i < L->n_tops; i++) out[i] = L->input.shapes[L->input.n_shapes == 1 ? 0 : i];
        return NN_OK;
    case CAFFE_LAYER_CONVOLUTION: {
        const caffe_conv_param *p = &L->conv;
        if (x->ndim != 4) return lfail(net, L, err, "input %s is not 4-D", caffe_shape_str(x, a, sizeof a));
        if (x->dim[1] % p->group)
            return lfail(net, L, err, "group %d does not divide %d input channels", p->group, x->dim[1]);
        int ho = conv_out(x->dim[2], p->kernel_h, p->stride_h, p->pad_h, p->dilation_h);
        int wo = conv_out(x->dim[3], p->kernel_w, p->stride_w, p->pad_w, p->dilation_w);
        if (ho < 1 || wo < 1)
            return lfail(net, L, err, "input %s is smaller than the kernel", caffe_shape_str(x, a, sizeof a));
        out[0] = (caffe_shape){4, {x->dim[0], p->num_output, ho, wo}};
        return NN_OK;
    }
    case CAFFE_LAYER_POOLING: {
        const caffe_pool_param *p = &L->pool;
        if (x->ndim != 4) return lfail(net, L, err, "input %s is not 4-D", caffe_shape_str(x, a, sizeof a));
        if (p->global_pooling) {
            out[0] = (caffe_shape){4, {x->dim[0], x->dim[1], 1, 1}};
            return NN_OK;
        }
        int ho = pool_out(x->dim[2], p->kernel_h, p->stride_h, p->pad_h, p->ceil_mode);
        int wo = pool_out(x->dim[3], p->kernel_w, p->stride_w, p->pad_w, p->ceil_mode);
        if (ho < 1 || wo < 1)
            return lfail(net, L, err, "input %s is smaller than the kernel", caffe_shape_str(x, a, sizeof a));
        out[0] = (caffe_shape){4, {x->dim[0], x->dim[1], ho, wo}};
        return NN_OK;
    }
    case CAFFE_LAYER_BATCHNORM:
    case CAFFE_LAYER_SCALE:
    case CAFFE_LAYER_NORMALIZE:
        if (x->ndim < 2) return lfail(net, L, err, "input %s has no channel axis", caffe_shape_str(x, a, sizeof a));
        out[0] = *x;
        return NN_OK;
    case CAFFE_LAYER_RELU:
    case CAFFE_LAYER_SIGMOID:
    case CAFFE_LAYER_DROPOUT:
        out[0] = *x;
        return NN_OK;
    case CAFFE_LAYER_SPLIT:
        for (int i = 0; i < L->n_tops; i++) out[i] = *x;
        return NN_OK;
    case CAFFE_LAYER_ELTWISE:
        if (L->eltwise.n_coeffs && L->eltwise.n_coeffs != L->n_bottoms)
            return lfail(net, L, err, "%d coeffs for %d inputs", L->eltwise.n_coeffs, L->n_bottoms);
        for (int i = 1; i < L->n_bottoms; i++)
            if (memcmp(&in[i], x, sizeof *x))
                return lfail(net, L, err, "input %d is %s, input 0 is %s", i,
                             caffe_shape_str(&in[i], a, sizeof a), caffe_shape_str(x, b, sizeof b));
        out[0] = *x;
        return NN_OK;
    case CAFFE_LAYER_CONCAT: {
        int axis = norm_axis(L->concat.axis, x->ndim);
        if (axis < 0) return lfail(net, L, err, "axis %d out of range for %d-D input", L->concat.axis, x->ndim);
        out[0] = *x;
        for (int i = 1; i < L->n_bottoms; i++) {
            bool ok = in[i].ndim == x->ndim;
            for (int d = 0; ok && d < x->ndim; d++) ok = d == axis || in[i].dim[d] == x->dim[d];
            if (!ok)
                return lfail(net, L, err, "input %d is %s, input 0 is %s (concat axis %d)", i,
                             caffe_shape_str(&in[i], a, sizeof a), caffe_shape_str(x, b, sizeof b), axis);
            if (out[0].dim[axis] > CAFFE_MAX_DIM_SIZE - in[i].dim[axis])
                return lfail(net, L, err, "concatenated axis %d is over the limit", axis);
            out[0].dim[axis] += in[i].dim[axis];
        }
        return NN_OK;
    }
    case CAFFE_LAYER_PERMUTE: {
        /* SSD's Permute: the listed axes first, then the rest in order. */
        int order[CAFFE_MAX_DIMS], n = 0;
        bool used[CAFFE_MAX_DIMS] = {false};
        if (L->permute.n_order > x->ndim)
            return lfail(net, L, err, "%d order entries for %d-D input", L->permute.n_order, x->ndim);
        for (int i = 0; i < L->permute.n_order; i++) {
            int o = L->permute.order[i];
            if (o < 0 || o >= x->ndim || used[o])
                return lfail(net, L, err, "bad or repeated order entry %d for %d-D input", o, x->ndim);
            used[o] = true, order[n++] = o;
        }
        for (int d = 0; d < x->ndim; d++)
            if (!used[d]) order[n++] = d;
        out[0].ndim = x->ndim;
        for (int d = 0; d < x->ndim; d++) out[0].dim[d] = x->dim[order[d]];
        return NN_OK;
    }
    case CAFFE_LAYER_FLATTEN: {
        int s = norm_axis(L->flatten.axis, x->ndim), e = norm_axis(L->flatten.end_axis, x->ndim);
        if (s < 0 || e < 0 || e < s)
            return lfail(net, L, err, "axes %d..%d out of range for %d-D input", L->flatten.axis,
                         L->flatten.end_axis, x->ndim);
        caffe_shape o = {0, {0}};
        for (int d = 0; d < s; d++) o.dim[o.ndim++] = x->dim[d];
        long long prod = 1;
        for (int d = s; d <= e; d++) prod *= x->dim[d]; /* dims <= 2^24 and count <= 2^31 */
        o.dim[o.ndim++] = (int)prod;
        for (int d = e + 1; d < x->ndim; d++) o.dim[o.ndim++] = x->dim[d];
        out[0] = o;
        return NN_OK;
    }
    case CAFFE_LAYER_RESHAPE: {
        const caffe_shape *sh = &L->reshape.shape;
        int start = L->reshape.axis < 0 ? L->reshape.axis + x->ndim + 1 : L->reshape.axis;
        int end = L->reshape.num_axes == -1 ? x->ndim : start + L->reshape.num_axes;
        if (start < 0 || start > x->ndim || end < start || end > x->ndim ||
            x->ndim - (end - start) + sh->ndim > CAFFE_MAX_DIMS)
            return lfail(net, L, err, "axis %d / num_axes %d do not fit %d-D input",
                         L->reshape.axis, L->reshape.num_axes, x->ndim);
        caffe_shape o = {0, {0}};
        for (int d = 0; d < start; d++) o.dim[o.ndim++] = x->dim[d];
        int infer = -1;
        for (int i = 0; i < sh->ndim; i++) {
            int v = sh->dim[i];
            if (v == 0) {
                if (start + i >= x->ndim) return lfail(net, L, err, "dim %d: 0 copies a missing axis", i);
                v = x->dim[start + i];
            } else if (v == -1) {
                if (infer >= 0) return lfail(net, L, err, "more than one -1 in the shape");
                infer = o.ndim;
                v = 1;
            } else if (v < 0) {
                return lfail(net, L, err, "bad dim %d", v);
            }
            o.dim[o.ndim++] = v;
        }
        for (int d = end; d < x->ndim; d++) o.dim[o.ndim++] = x->dim[d];
        size_t have = caffe_shape_count(x), want = caffe_shape_count(&o);
        if (infer >= 0) {
            if (want == 0 || have % want)
                return lfail(net, L, err, "cannot reshape %s to %s", caffe_shape_str(x, a, sizeof a),
                             caffe_shape_str(&o, b, sizeof b));
            o.dim[infer] = (int)(have / want);
        } else if (want != have) {
            return lfail(net, L, err, "cannot reshape %s (%zu values) to %s (%zu)",
                         caffe_shape_str(x, a, sizeof a), have, caffe_shape_str(&o, b, sizeof b), want);
        }
        out[0] = o;
        return NN_OK;
    }
    case CAFFE_LAYER_SOFTMAX:
        if (norm_axis(L->softmax.axis, x->ndim) < 0)
            return lfail(net, L, err, "axis %d out of range for %d-D input", L->softmax.axis, x->ndim);
        out[0] = *x;
        return NN_OK;
    case CAFFE_LAYER_PRIORBOX: {
        if (x->ndim != 4 || in[1].ndim != 4)
            return lfail(net, L, err, "inputs %s and %s should be 4-D", caffe_shape_str(x, a, sizeof a),
                         caffe_shape_str(&in[1], b, sizeof b));
        nn_error e;
        int per_loc = ssd_caffe_priors_per_location(&L->prior, &e);
        if (per_loc < 0) return lfail(net, L, err, "%s", e.msg);
        long long n = (long long)x->dim[2] * x->dim[3] * per_loc * 4;
        if (n > (long long)SSD_MAX_PRIORS * 4) return lfail(net, L, err, "too many priors");
        out[0] = (caffe_shape){3, {1, 2, (int)n}};
        return NN_OK;
    }
    case CAFFE_LAYER_DETECTION_OUTPUT: {
        const caffe_detection_param *p = &L->detection;
        const caffe_shape *conf = &in[1], *prior = &in[2];
        if (prior->ndim != 3 || prior->dim[1] != 2 || prior->dim[2] % 4)
            return lfail(net, L, err, "prior input %s should be 1x2x(4*priors)",
                         caffe_shape_str(prior, a, sizeof a));
        size_t n_priors = (size_t)prior->dim[2] / 4, batch = (size_t)x->dim[0];
        if (caffe_shape_count(x) != batch * n_priors * 4)
            return lfail(net, L, err, "loc input %s does not hold 4 values for each of %zu priors",
                         caffe_shape_str(x, a, sizeof a), n_priors);
        if (caffe_shape_count(conf) != batch * n_priors * (size_t)p->num_classes)
            return lfail(net, L, err, "conf input %s does not hold %d classes for each of %zu priors",
                         caffe_shape_str(conf, a, sizeof a), p->num_classes, n_priors);
        size_t rows = p->keep_top_k >= 0 ? (size_t)p->keep_top_k : n_priors * (size_t)p->num_classes;
        if (rows * batch > CAFFE_MAX_DIM_SIZE) return lfail(net, L, err, "too many output rows");
        out[0] = (caffe_shape){4, {1, 1, (int)(rows * batch), 7}};
        return NN_OK;
    }
    case CAFFE_LAYER_TYPE_COUNT:
        break;
    }
    return lfail(net, L, err, "no shape rule");
}

nn_status caffe_net_infer_shapes(caffe_net *net, nn_error *err) {
    if (net->shapes_known) return NN_OK;
    blob_table t = {0};
    nn_status st = NN_OK;
    for (int i = 0; i < net->n_inputs; i++) {
        if (net->inputs[i].shape.ndim == 0) {
            st = nn_error_set(err, NN_ERR_SHAPE, "%s: input '%s' has no shape", net->filename,
                              net->inputs[i].name);
            goto done;
        }
        if (!shape_ok(&net->inputs[i].shape)) {
            char a[96];
            st = nn_error_set(err, NN_ERR_LIMIT, "%s: input '%s' shape %s is empty or too large",
                              net->filename, net->inputs[i].name,
                              caffe_shape_str(&net->inputs[i].shape, a, sizeof a));
            goto done;
        }
        if (!table_set(&t, net->inputs[i].name, &net->inputs[i].shape)) goto nomem;
    }
    for (int li = 0; li < net->n_layers; li++) {
        caffe_layer *L = &net->layers[li];
        int bmin, bmax, tmin, tmax;
        io_arity(L->type, &bmin, &bmax, &tmin, &tmax);
        if (L->n_bottoms < bmin || L->n_bottoms > bmax || L->n_tops < tmin || L->n_tops > tmax) {
            st = lfail(net, L, err, "has %d inputs and %d outputs; expects %d..%d and %d..%d",
                       L->n_bottoms, L->n_tops, bmin, bmax, tmin, tmax);
            goto done;
        }
        free(L->bottom_shapes);
        free(L->top_shapes);
        L->bottom_shapes = calloc((size_t)L->n_bottoms + 1, sizeof *L->bottom_shapes);
        L->top_shapes = calloc((size_t)L->n_tops + 1, sizeof *L->top_shapes);
        if (!L->bottom_shapes || !L->top_shapes) goto nomem;
        for (int b = 0; b < L->n_bottoms; b++) {
            blob_entry *e = table_find(&t, L->bottoms[b]);
            if (!e) {
                st = lfail(net, L, err, "input '%s' is not produced by any earlier layer", L->bottoms[b]);
                goto done;
            }
            L->bottom_shapes[b] = e->shape;
        }
        if ((st = layer_shapes(net, L, L->bottom_shapes, L->top_shapes, err))) goto done;
        for (int k = 0; k < L->n_tops; k++) {
            const caffe_shape *s = &L->top_shapes[k];
            if (!shape_ok(s)) {
                char a[96];
                st = lfail(net, L, err, "output %s is empty or too large", caffe_shape_str(s, a, sizeof a));
                goto done;
            }
            if (!table_set(&t, L->tops[k], s)) goto nomem;
        }
    }
    net->shapes_known = true;
    goto done;
nomem:
    st = nn_error_set(err, NN_ERR_NOMEM, "out of memory inferring shapes");
done:
    free(t.entries);
    return st;
}

int caffe_layer_blob_shapes(const caffe_layer *L, caffe_shape *shapes) {
    if (!L->bottom_shapes && L->type != CAFFE_LAYER_INPUT) return 0;
    int c = L->n_bottoms && L->bottom_shapes[0].ndim >= 2 ? L->bottom_shapes[0].dim[1] : 0;
    switch (L->type) {
    case CAFFE_LAYER_CONVOLUTION: {
        const caffe_conv_param *p = &L->conv;
        shapes[0] = (caffe_shape){4, {p->num_output, c / p->group, p->kernel_h, p->kernel_w}};
        if (!p->bias_term) return 1;
        shapes[1] = (caffe_shape){1, {p->num_output}};
        return 2;
    }
    case CAFFE_LAYER_BATCHNORM:
        shapes[0] = shapes[1] = (caffe_shape){1, {c}};
        shapes[2] = (caffe_shape){1, {1}};
        return 3;
    case CAFFE_LAYER_SCALE:
        shapes[0] = shapes[1] = (caffe_shape){1, {c}};
        return L->scale.bias_term ? 2 : 1;
    case CAFFE_LAYER_NORMALIZE:
        shapes[0] = (caffe_shape){1, {L->norm.channel_shared ? 1 : c}};
        return 1;
    default:
        return 0;
    }
}

nn_status caffe_net_print_summary(const caffe_net *net, FILE *out, nn_error *err) {
    if (!net->shapes_known)
        return nn_error_set(err, NN_ERR_STATE, "caffe_net_print_summary: infer shapes first");
    char buf[96];
    int rc = 0;
    for (int i = 0; i < net->n_inputs && rc >= 0; i++)
        rc = fprintf(out, "%-32s %-16s -> %s\n", net->inputs[i].name, "(input)",
                     caffe_shape_str(&net->inputs[i].shape, buf, sizeof buf));
    for (int i = 0; i < net->n_layers && rc >= 0; i++) {
        const caffe_layer *L = &net->layers[i];
        rc = fprintf(out, "%-32s %-16s", L->name, caffe_layer_type_name(L->type));
        for (int b = 0; b < L->n_bottoms && rc >= 0; b++)
            rc = fprintf(out, "%s%s", b ? ", " : " ", caffe_shape_str(&L->bottom_shapes[b], buf, sizeof buf));
        if (rc >= 0) rc = fprintf(out, " ->");
        for (int k = 0; k < L->n_tops && rc >= 0; k++)
            rc = fprintf(out, "%s%s", k ? ", " : " ", caffe_shape_str(&L->top_shapes[k], buf, sizeof buf));
        if (rc >= 0) rc = fprintf(out, "\n");
    }
    if (rc < 0) return nn_error_set(err, NN_ERR_IO, "cannot write the net summary");
    return NN_OK;
}
