/*
 * caffe_build.c - Caffe net -> nn_model (see caffe_build.h for the layer
 * mapping).
 *
 * Caffe names data by blob, and layers may write a blob in place (a ReLU
 * whose top is its bottom). We walk the layers in order and keep, for every
 * blob name, the producer of its current value: the Caffe layer (to know who
 * reads what) and the nn layer id (to wire the model). A value produced by
 * PriorBox (or a Concat of such values) is marked as post-processing: only
 * Concat and DetectionOutput may read it.
 */
#include "caffe_build.h"

#include <float.h>
#include <stdlib.h>
#include <string.h>

#define POSTPROC_ID (-3) /* a blob that is post-processing data, not a tensor */

typedef struct {
    char *name;
    int id;       /* nn layer id, NN_MODEL_INPUT, or POSTPROC_ID */
    int producer; /* caffe layer index, -1 for a net-level input */
} blob_value;

typedef struct {
    const caffe_net *net;
    nn_model *m;
    blob_value *vals; /* one entry per write, in order; the last with a name is current */
    int n_vals, cap_vals;
    int *readers;     /* per caffe layer: how many later layers read one of its tops */
    nn_error *err;
} builder;

static nn_status layer_error(builder *b, const caffe_layer *L, nn_status code, const char *what) {
    return nn_error_set(b->err, code, "%s:%d: layer '%s' (%s): %s", b->net->filename, L->line,
                        L->name, caffe_layer_type_name(L->type), what);
}

static nn_status model_error(builder *b, const caffe_layer *L) {
    return layer_error(b, L, NN_ERR_ARG, nn_model_error(b->m));
}

static const blob_value *current(const builder *b, const char *name) {
    for (int i = b->n_vals - 1; i >= 0; i--)
        if (!strcmp(b->vals[i].name, name)) return &b->vals[i];
    return NULL;
}

static bool push_value(builder *b, const char *name, int id, int producer) {
    if (b->n_vals == b->cap_vals) {
        int cap = b->cap_vals ? 2 * b->cap_vals : 64;
        blob_value *v = realloc(b->vals, (size_t)cap * sizeof *v);
        if (!v) return false;
        b->vals = v;
        b->cap_vals = cap;
    }
    char *dup = strdup(name);
    if (!dup) return false;
    b->vals[b->n_vals++] = (blob_value){dup, id, producer};
    return true;
}

/* Copies a Caffe blob into a model parameter, checking the element count. */
static nn_status copy_blob(builder *b, const caffe_layer *L, int blob, const char *param) {
    char name[160];
    snprintf(name, sizeof name, "%s.%s", L->name, param);
    nn_tensor *t = nn_model_find_param(b->m, name);
    if (!t) return layer_error(b, L, NN_ERR_NOT_FOUND, "model parameter missing");
    if (blob >= L->n_blobs || L->blobs[blob].count != t->numel) {
        char msg[128];
        snprintf(msg, sizeof msg, "blob %d has %zu values, the layer needs %zu", blob,
                 blob < L->n_blobs ? L->blobs[blob].count : (size_t)0, t->numel);
        return layer_error(b, L, NN_ERR_SHAPE, msg);
    }
    memcpy(t->data, L->blobs[blob].data, t->numel * sizeof(float));
    return NN_OK;
}

static nn_tensor *param_of(builder *b, const char *layer, const char *what) {
    char name[160];
    snprintf(name, sizeof name, "%s.%s", layer, what);
    return nn_model_find_param(b->m, name);
}

/* The one later layer that reads the value of layer li's single top, or -1. */
static int only_reader(const builder *b, int li) {
    const caffe_net *net = b->net;
    const char *top = net->layers[li].tops[0];
    if (b->readers[li] != 1) return -1;
    for (int j = li + 1; j < net->n_layers; j++) {
        const caffe_layer *L = &net->layers[j];
        for (int k = 0; k < L->n_bottoms; k++)
            if (!strcmp(L->bottoms[k], top)) return j;
        for (int k = 0; k < L->n_tops; k++) /* overwritten before anyone read it */
            if (!strcmp(L->tops[k], top)) return -1;
    }
    return -1;
}

static nn_status build_conv(builder *b, const caffe_layer *L, int x, int *id) {
    const caffe_conv_param *c = &L->conv;
    if (c->kernel_h != c->kernel_w) return layer_error(b, L, NN_ERR_ARG, "non-square kernels are not supported");
    nn_conv2d_params p = nn_conv2d_default();
    p.stride_h = c->stride_h, p.stride_w = c->stride_w;
    p.pad_h = c->pad_h, p.pad_w = c->pad_w;
    p.dilation_h = c->dilation_h, p.dilation_w = c->dilation_w;
    p.groups = c->group;
    if ((*id = nn_model_conv2d(b->m, L->name, x, c->num_output, c->kernel_h, &p, c->bias_term)) < 0)
        return model_error(b, L);
    nn_status st = copy_blob(b, L, 0, "weight");
    if (!st && c->bias_term) st = copy_blob(b, L, 1, "bias");
    return st;
}

/* Caffe BatchNorm (mean, var, factor blobs), optionally with the Scale that
 * follows it, as one nn batch norm: y = gamma (x - mean/f) / sqrt(var/f + eps) + beta. */
static nn_status build_batchnorm(builder *b, const caffe_layer *L, const caffe_layer *scale, int x,
                                 int *id) {
    if ((*id = nn_model_batch_norm(b->m, L->name, x, 0.0f, L->batchnorm.eps)) < 0)
        return model_error(b, L);
    nn_tensor *gamma = param_of(b, L->name, "weight"), *beta = param_of(b, L->name, "bias");
    nn_tensor *mean = param_of(b, L->name, "running_mean"), *var = param_of(b, L->name, "running_var");
    size_t c = gamma->numel;
    if (L->n_blobs != 3 || L->blobs[0].count != c || L->blobs[1].count != c || L->blobs[2].count != 1)
        return layer_error(b, L, NN_ERR_SHAPE, "blobs do not match the channel count");
    float factor = L->blobs[2].data[0];
    float f = factor == 0.0f ? 0.0f : 1.0f / factor; /* Caffe's rule for an unset factor */
    for (size_t i = 0; i < c; i++) {
        mean->data[i] = L->blobs[0].data[i] * f;
        var->data[i] = L->blobs[1].data[i] * f;
        gamma->data[i] = 1.0f, beta->data[i] = 0.0f;
    }
    if (scale) {
        if (scale->n_blobs < 1 || scale->blobs[0].count != c ||
            (scale->scale.bias_term && (scale->n_blobs < 2 || scale->blobs[1].count != c)))
            return layer_error(b, scale, NN_ERR_SHAPE, "blobs do not match the channel count");
        for (size_t i = 0; i < c; i++) {
            gamma->data[i] = scale->blobs[0].data[i];
            beta->data[i] = scale->scale.bias_term ? scale->blobs[1].data[i] : 0.0f;
        }
    }
    return NN_OK;
}

/* A Scale on its own: a batch norm with mean 0 and var 1 (eps tiny, so the
 * divisor is exactly 1). */
static nn_status build_scale(builder *b, const caffe_layer *L, int x, int *id) {
    if (L->n_bottoms != 1) return layer_error(b, L, NN_ERR_ARG, "Scale by a second input is not supported");
    if ((*id = nn_model_batch_norm(b->m, L->name, x, 0.0f, FLT_MIN)) < 0) return model_error(b, L);
    nn_tensor *gamma = param_of(b, L->name, "weight"), *beta = param_of(b, L->name, "bias");
    size_t c = gamma->numel;
    if (L->n_blobs < 1 || L->blobs[0].count != c || (L->scale.bias_term && L->blobs[1].count != c))
        return layer_error(b, L, NN_ERR_SHAPE, "blobs do not match the channel count");
    for (size_t i = 0; i < c; i++) {
        gamma->data[i] = L->blobs[0].data[i];
        beta->data[i] = L->scale.bias_term ? L->blobs[1].data[i] : 0.0f;
    }
    return NN_OK; /* running mean 0 and var 1 are the batch norm's initial values */
}

static nn_status build_pool(builder *b, const caffe_layer *L, int x, int *id) {
    const caffe_pool_param *p = &L->pool;
    const caffe_shape *in = &L->bottom_shapes[0];
    if (p->global_pooling) {
        if (in->ndim != 4) return layer_error(b, L, NN_ERR_SHAPE, "global pooling needs a 4-D input");
        if (p->pool == CAFFE_POOL_AVE) {
            *id = nn_model_global_avg_pool2d(b->m, L->name, x);
        } else {
            nn_pool2d_params q = nn_pool2d_default(1, 1);
            q.kernel_h = in->dim[2], q.kernel_w = in->dim[3];
            *id = nn_model_max_pool2d(b->m, L->name, x, &q);
        }
        return *id < 0 ? model_error(b, L) : NN_OK;
    }
    nn_pool2d_params q = nn_pool2d_default(1, 1);
    q.kernel_h = p->kernel_h, q.kernel_w = p->kernel_w;
    q.stride_h = p->stride_h, q.stride_w = p->stride_w;
    q.pad_h = p->pad_h, q.pad_w = p->pad_w;
    q.ceil_mode = p->ceil_mode;
    q.count_include_pad = true; /* Caffe divides by the window clipped to the padded input */
    *id = p->pool == CAFFE_POOL_MAX ? nn_model_max_pool2d(b->m, L->name, x, &q)
                                    : nn_model_avg_pool2d(b->m, L->name, x, &q);
    return *id < 0 ? model_error(b, L) : NN_OK;
}

static nn_status build_eltwise(builder *b, const caffe_layer *L, const int *ins, int *id) {
    if (L->eltwise.operation != CAFFE_ELTWISE_SUM)
        return layer_error(b, L, NN_ERR_ARG, "only Eltwise SUM is supported");
    for (int i = 0; i < L->eltwise.n_coeffs; i++)
        if (L->eltwise.coeffs[i] != 1.0f)
            return layer_error(b, L, NN_ERR_ARG, "Eltwise coefficients other than 1 are not supported");
    *id = ins[0];
    for (int i = 1; i < L->n_bottoms; i++) {
        char name[96];
        if (i == L->n_bottoms - 1) snprintf(name, sizeof name, "%s", L->name);
        else snprintf(name, sizeof name, "%s#%d", L->name, i);
        if ((*id = nn_model_add(b->m, name, *id, ins[i])) < 0) return model_error(b, L);
    }
    return NN_OK;
}

static nn_status build_permute(builder *b, const caffe_layer *L, int x, int *id) {
    int nd = L->bottom_shapes[0].ndim, perm[NN_MAX_DIMS];
    if (nd > NN_MAX_DIMS || L->permute.n_order > nd)
        return layer_error(b, L, NN_ERR_SHAPE, "too many dimensions");
    bool used[NN_MAX_DIMS] = {false};
    int n = 0;
    for (int i = 0; i < L->permute.n_order; i++) {
        int a = L->permute.order[i];
        if (a < 0 || a >= nd || used[a]) return layer_error(b, L, NN_ERR_ARG, "bad permute order");
        used[a] = true;
        perm[n++] = a;
    }
    for (int a = 0; a < nd; a++) /* Caffe appends the axes not named, in order */
        if (!used[a]) perm[n++] = a;
    if ((*id = nn_model_permute(b->m, L->name, x, nd, perm)) < 0) return model_error(b, L);
    return NN_OK;
}

static nn_status build_reshape(builder *b, const caffe_layer *L, int x, int *id) {
    const caffe_shape *s = &L->top_shapes[0];
    if (s->ndim < 1 || s->ndim > NN_MAX_DIMS) return layer_error(b, L, NN_ERR_SHAPE, "too many dimensions");
    if ((*id = nn_model_reshape(b->m, L->name, x, s->ndim, s->dim)) < 0) return model_error(b, L);
    return NN_OK;
}

static int norm_axis(int axis, int ndim) { return axis < 0 ? axis + ndim : axis; }

static nn_status build_normalize(builder *b, const caffe_layer *L, int x, int *id) {
    if (L->norm.across_spatial)
        return layer_error(b, L, NN_ERR_ARG, "Normalize across_spatial is not supported");
    if ((*id = nn_model_l2norm(b->m, L->name, x, 1.0f, L->norm.eps)) < 0) return model_error(b, L);
    nn_tensor *scale = param_of(b, L->name, "weight");
    if (L->n_blobs < 1) return layer_error(b, L, NN_ERR_NOT_FOUND, "no scale blob");
    if (L->blobs[0].count == 1) {
        nn_tensor_fill(scale, L->blobs[0].data[0]); /* channel_shared */
        return NN_OK;
    }
    return copy_blob(b, L, 0, "weight");
}

/* Builds one layer; *id receives the nn id its tops will name. */
static nn_status build_layer(builder *b, int li, const int *ins, bool *skip_scale, int *id) {
    const caffe_layer *L = &b->net->layers[li];
    int x = L->n_bottoms > 0 ? ins[0] : NN_MODEL_INPUT;
    switch (L->type) {
    case CAFFE_LAYER_INPUT: *id = NN_MODEL_INPUT; return NN_OK;
    case CAFFE_LAYER_CONVOLUTION: return build_conv(b, L, x, id);
    case CAFFE_LAYER_BATCHNORM: {
        int r = only_reader(b, li);
        const caffe_layer *scale = NULL;
        if (r >= 0 && b->net->layers[r].type == CAFFE_LAYER_SCALE && b->net->layers[r].n_bottoms == 1) {
            scale = &b->net->layers[r];
            skip_scale[r] = true;
        }
        return build_batchnorm(b, L, scale, x, id);
    }
    case CAFFE_LAYER_SCALE: return build_scale(b, L, x, id);
    case CAFFE_LAYER_RELU:
        *id = L->relu.negative_slope == 0.0f
                  ? nn_model_relu(b->m, L->name, x)
                  : nn_model_leaky_relu(b->m, L->name, x, L->relu.negative_slope);
        return *id < 0 ? model_error(b, L) : NN_OK;
    case CAFFE_LAYER_SIGMOID:
        *id = nn_model_sigmoid(b->m, L->name, x);
        return *id < 0 ? model_error(b, L) : NN_OK;
    case CAFFE_LAYER_POOLING: return build_pool(b, L, x, id);
    case CAFFE_LAYER_ELTWISE: return build_eltwise(b, L, ins, id);
    case CAFFE_LAYER_CONCAT: {
        int axis = norm_axis(L->concat.axis, L->bottom_shapes[0].ndim);
        *id = nn_model_concat(b->m, L->name, L->n_bottoms, ins, axis);
        return *id < 0 ? model_error(b, L) : NN_OK;
    }
    case CAFFE_LAYER_PERMUTE: return build_permute(b, L, x, id);
    case CAFFE_LAYER_FLATTEN:
    case CAFFE_LAYER_RESHAPE: return build_reshape(b, L, x, id);
    case CAFFE_LAYER_SOFTMAX:
        *id = nn_model_softmax(b->m, L->name, x, norm_axis(L->softmax.axis, L->bottom_shapes[0].ndim));
        return *id < 0 ? model_error(b, L) : NN_OK;
    case CAFFE_LAYER_NORMALIZE: return build_normalize(b, L, x, id);
    case CAFFE_LAYER_DROPOUT:
    case CAFFE_LAYER_SPLIT: *id = x; return NN_OK;
    case CAFFE_LAYER_PRIORBOX:
    case CAFFE_LAYER_DETECTION_OUTPUT: *id = POSTPROC_ID; return NN_OK;
    case CAFFE_LAYER_TYPE_COUNT: break;
    }
    return layer_error(b, L, NN_ERR_FORMAT, "layer type not supported");
}

/* Which input does the model read, and with how many channels. */
static nn_status input_channels(const caffe_net *net, int *channels, nn_error *err) {
    const caffe_shape *s = NULL;
    int n = net->n_inputs;
    if (n == 1) s = &net->inputs[0].shape;
    for (int i = 0; i < net->n_layers; i++)
        if (net->layers[i].type == CAFFE_LAYER_INPUT) {
            n += net->layers[i].n_tops;
            s = &net->layers[i].top_shapes[0];
        }
    if (n != 1) return nn_error_set(err, NN_ERR_ARG, "%s: the net has %d inputs; only one is supported", net->filename, n);
    if (s->ndim != 4 || s->dim[0] != 1)
        return nn_error_set(err, NN_ERR_SHAPE, "%s: the input should be 1xCxHxW", net->filename);
    *channels = s->dim[1];
    return NN_OK;
}

nn_status caffe_build(const caffe_net *net, caffe_built *out, nn_error *err) {
    memset(out, 0, sizeof *out);
    if (!net->shapes_known)
        return nn_error_set(err, NN_ERR_STATE, "%s: infer shapes and attach weights first", net->filename);
    int channels = 0;
    nn_status st = input_channels(net, &channels, err);
    if (st) return st;
    builder b = {.net = net, .err = err};
    b.m = nn_model_create(channels);
    b.readers = calloc((size_t)net->n_layers + 1, sizeof *b.readers);
    bool *skip_scale = calloc((size_t)net->n_layers + 1, sizeof *skip_scale);
    if (!b.m || !b.readers || !skip_scale) {
        st = nn_error_set(err, NN_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int i = 0; i < net->n_inputs; i++)
        if (!push_value(&b, net->inputs[i].name, NN_MODEL_INPUT, -1)) goto nomem;
    /* Pass 1: who reads whom (to merge BatchNorm + Scale safely). */
    for (int li = 0; li < net->n_layers; li++) {
        const caffe_layer *L = &net->layers[li];
        for (int k = 0; k < L->n_bottoms; k++) {
            const blob_value *v = current(&b, L->bottoms[k]);
            if (v && v->producer >= 0) b.readers[v->producer]++;
        }
        for (int k = 0; k < L->n_tops; k++)
            if (!push_value(&b, L->tops[k], 0, li)) goto nomem;
    }
    for (int i = 0; i < b.n_vals; i++) free(b.vals[i].name);
    b.n_vals = 0;
    for (int i = 0; i < net->n_inputs; i++)
        if (!push_value(&b, net->inputs[i].name, NN_MODEL_INPUT, -1)) goto nomem;

    /* Pass 2: build. */
    for (int li = 0; li < net->n_layers; li++) {
        const caffe_layer *L = &net->layers[li];
        int ins[CAFFE_MAX_BOTTOMS], n_post = 0;
        for (int k = 0; k < L->n_bottoms; k++) {
            const blob_value *v = current(&b, L->bottoms[k]);
            if (!v) {
                st = layer_error(&b, L, NN_ERR_FORMAT, "reads a blob no earlier layer produces");
                goto done;
            }
            ins[k] = v->id;
            n_post += v->id == POSTPROC_ID;
        }
        int id = 0;
        if (skip_scale[li]) {
            id = ins[0]; /* merged into the BatchNorm before it */
        } else if (L->type == CAFFE_LAYER_DETECTION_OUTPUT ||
                   (L->type == CAFFE_LAYER_PRIORBOX && n_post == 0) ||
                   (L->type == CAFFE_LAYER_CONCAT && n_post == L->n_bottoms)) {
            id = POSTPROC_ID;
        } else if (n_post > 0) {
            st = layer_error(&b, L, NN_ERR_FORMAT, "reads PriorBox output as data");
            goto done;
        } else if ((st = build_layer(&b, li, ins, skip_scale, &id))) {
            goto done;
        }
        for (int k = 0; k < L->n_tops; k++)
            if (!push_value(&b, L->tops[k], id, li)) goto nomem;
    }
    if (nn_model_layer_count(b.m) == 0) {
        st = nn_error_set(err, NN_ERR_FORMAT, "%s: the net has no layers to run", net->filename);
        goto done;
    }
    if ((st = nn_model_fold_batch_norm(b.m, err))) goto done;

    /* The final value of each blob name. */
    out->blob_names = calloc((size_t)b.n_vals, sizeof *out->blob_names);
    out->blob_ids = calloc((size_t)b.n_vals, sizeof *out->blob_ids);
    if (!out->blob_names || !out->blob_ids) goto nomem;
    for (int i = 0; i < b.n_vals; i++) {
        if (current(&b, b.vals[i].name) != &b.vals[i]) continue;
        out->blob_names[out->n_blobs] = b.vals[i].name;
        out->blob_ids[out->n_blobs++] = b.vals[i].id == POSTPROC_ID ? CAFFE_BUILD_NO_BLOB : b.vals[i].id;
        b.vals[i].name = NULL; /* moved */
    }
    out->model = b.m;
    b.m = NULL;
    goto done;
nomem:
    st = nn_error_set(err, NN_ERR_NOMEM, "out of memory building the model");
done:
    for (int i = 0; i < b.n_vals; i++) free(b.vals[i].name);
    free(b.vals);
    free(b.readers);
    free(skip_scale);
    nn_model_free(b.m);
    if (st) caffe_build_free(out);
    return st;
}

int caffe_build_find(const caffe_built *b, const char *name) {
    for (int i = 0; i < b->n_blobs; i++)
        if (!strcmp(b->blob_names[i], name)) return b->blob_ids[i];
    return CAFFE_BUILD_NO_BLOB;
}

void caffe_build_free(caffe_built *b) {
    if (!b) return;
    nn_model_free(b->model);
    for (int i = 0; i < b->n_blobs; i++) free(b->blob_names[i]);
    free(b->blob_names);
    free(b->blob_ids);
    memset(b, 0, sizeof *b);
}
