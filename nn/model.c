/*
 * model.c - networks declared as a list of layers that name their inputs.
 *
 * A model is an array of layers in execution order. Each layer reads the
 * outputs of earlier layers by id (NN_MODEL_INPUT for the model's input), so
 * a plain stack, a residual block (an `add` of two ids) and SSD's several
 * heads (layers whose outputs are read with nn_model_output) are declared the
 * same way. Forward walks the array once and calls the functional ops of
 * nn.h, which record the autograd tape; a model needs no backward of its own.
 *
 * One rewrite happens on the way: a ReLU layer read only by a max pool is
 * applied by the pool to its output (see relu_left_to_pool).
 *
 * Parameters belong to layers and are listed by name ("<layer>.<param>") so
 * they can be saved, loaded and handed to an optimizer.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn_internal.h"

#define NAME_LEN 64
#define MAX_LAYERS 4096

typedef enum {
    L_CONV2D, L_BATCH_NORM, L_RELU, L_LEAKY_RELU, L_SIGMOID, L_MAX_POOL, L_AVG_POOL,
    L_GLOBAL_AVG_POOL, L_FLATTEN, L_LINEAR, L_DROPOUT, L_ADD, L_CONCAT, L_UPSAMPLE2X, L_PERMUTE,
    L_RESHAPE, L_SOFTMAX, L_L2NORM,
    L_IDENTITY, /* a layer folded away for inference: passes its input through */
} layer_kind;

typedef struct {
    layer_kind kind;
    char name[NAME_LEN];
    int n_in;
    int *in;           /* ids of the layers it reads */
    int channels;      /* output channels (dim 1), or -1 when not known */
    /* op parameters (only those of `kind` are used) */
    nn_conv2d_params conv;
    nn_pool2d_params pool;
    float slope, p, momentum, eps;
    int axis, ndim, dims[NN_MAX_DIMS];
    /* weights: conv/linear weight+bias; batch norm gamma=weight, beta=bias;
     * l2norm scale=weight */
    nn_tensor *weight, *bias, *running_mean, *running_var;
    nn_tensor *out;    /* output of the last forward (arena memory) */
    nn_conv2d_cache packed; /* conv weights pre-packed for inference (frozen models) */
} layer;

typedef struct {
    char *name;
    nn_tensor *tensor;
    bool trainable;
    int layer;
} param_entry;

struct nn_model {
    int in_channels;
    layer *layers;
    int n_layers, cap_layers;
    param_entry *params;
    int n_params, cap_params;
    bool frozen; /* weights will not change: conv layers may keep packed copies */
    char error[NN_ERROR_MSG_LEN];
};

static int fail(nn_model *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(nn_model *m, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->error, sizeof m->error, fmt, ap);
    va_end(ap);
    return -1;
}

nn_model *nn_model_create(int in_channels) {
    nn_model *m = calloc(1, sizeof *m);
    if (m) m->in_channels = in_channels;
    return m;
}

void nn_model_free(nn_model *m) {
    if (!m) return;
    nn_model_unfreeze(m);
    for (int i = 0; i < m->n_layers; i++) free(m->layers[i].in);
    for (int i = 0; i < m->n_params; i++) {
        free(m->params[i].name);
        nn_tensor_free(m->params[i].tensor);
    }
    free(m->layers);
    free(m->params);
    free(m);
}

const char *nn_model_error(const nn_model *m) { return m->error; }
int nn_model_last(const nn_model *m) { return m->n_layers - 1; }
int nn_model_layer_count(const nn_model *m) { return m->n_layers; }

int nn_model_find_layer(const nn_model *m, const char *name) {
    for (int i = 0; i < m->n_layers; i++)
        if (strcmp(m->layers[i].name, name) == 0) return i;
    return -1;
}

int nn_model_channels(const nn_model *m, int id) {
    if (id == NN_MODEL_INPUT) return m->in_channels;
    if (id < 0 || id >= m->n_layers) return -1;
    return m->layers[id].channels;
}

/* ---- building */

/* Appends a layer reading `ins`; returns its address, or NULL with m->error set. */
static layer *add_layer(nn_model *m, layer_kind kind, const char *name, int n_in, const int *ins) {
    if (!name || !*name || strlen(name) >= NAME_LEN) {
        fail(m, "layer name must be 1..%d characters", NAME_LEN - 1);
        return NULL;
    }
    if (nn_model_find_layer(m, name) >= 0) {
        fail(m, "layer name '%s' is used twice", name);
        return NULL;
    }
    if (m->n_layers >= MAX_LAYERS) {
        fail(m, "layer '%s': more than %d layers", name, MAX_LAYERS);
        return NULL;
    }
    for (int i = 0; i < n_in; i++)
        if (ins[i] < NN_MODEL_INPUT || ins[i] >= m->n_layers) {
            fail(m, "layer '%s': input id %d does not name an earlier layer", name, ins[i]);
            return NULL;
        }
    if (m->n_layers == m->cap_layers) {
        int cap = m->cap_layers ? 2 * m->cap_layers : 32;
        layer *l = realloc(m->layers, (size_t)cap * sizeof *l);
        if (!l) {
            fail(m, "out of memory");
            return NULL;
        }
        m->layers = l;
        m->cap_layers = cap;
    }
    layer *l = &m->layers[m->n_layers];
    memset(l, 0, sizeof *l);
    l->in = malloc((size_t)(n_in > 0 ? n_in : 1) * sizeof *l->in);
    if (!l->in) {
        fail(m, "out of memory");
        return NULL;
    }
    memcpy(l->in, ins, (size_t)n_in * sizeof *ins);
    l->n_in = n_in;
    l->kind = kind;
    snprintf(l->name, sizeof l->name, "%s", name);
    l->channels = n_in > 0 ? nn_model_channels(m, ins[0]) : -1;
    m->n_layers++;
    return l;
}

/* Creates a parameter tensor named "<layer>.<what>" owned by the model. */
static nn_tensor *add_param(nn_model *m, int layer_id, const char *what, int ndim, const int *shape,
                            bool trainable) {
    if (m->n_params == m->cap_params) {
        int cap = m->cap_params ? 2 * m->cap_params : 64;
        param_entry *p = realloc(m->params, (size_t)cap * sizeof *p);
        if (!p) return NULL;
        m->params = p;
        m->cap_params = cap;
    }
    nn_tensor *t = nn_tensor_new(ndim, shape);
    char name[2 * NAME_LEN];
    snprintf(name, sizeof name, "%s.%s", m->layers[layer_id].name, what);
    char *dup = strdup(name);
    if (!t || !dup || (trainable && nn_tensor_set_requires_grad(t, true) != NN_OK)) {
        nn_tensor_free(t);
        free(dup);
        return NULL;
    }
    m->params[m->n_params++] = (param_entry){dup, t, trainable, layer_id};
    return t;
}

/* Undoes a half-built layer when a parameter allocation fails. */
static int drop_last_layer(nn_model *m) {
    int id = m->n_layers - 1;
    while (m->n_params > 0 && m->params[m->n_params - 1].layer == id) {
        m->n_params--;
        free(m->params[m->n_params].name);
        nn_tensor_free(m->params[m->n_params].tensor);
    }
    free(m->layers[id].in);
    m->n_layers--;
    return fail(m, "out of memory creating the parameters of layer %d", id);
}

int nn_model_conv2d(nn_model *m, const char *name, int in, int cout, int kernel,
                    const nn_conv2d_params *p, bool bias) {
    int cin = nn_model_channels(m, in);
    if (cin < 1) return fail(m, "conv2d '%s': input channel count unknown", name ? name : "?");
    nn_conv2d_params cp = p ? *p : nn_conv2d_default();
    if (cout < 1 || kernel < 1 || cp.groups < 1 || cin % cp.groups || cout % cp.groups)
        return fail(m, "conv2d '%s': cin %d, cout %d, kernel %d, groups %d do not fit",
                    name ? name : "?", cin, cout, kernel, cp.groups);
    layer *l = add_layer(m, L_CONV2D, name, 1, &in);
    if (!l) return -1;
    l->conv = cp;
    l->channels = cout;
    int id = m->n_layers - 1;
    int ws[4] = {cout, cin / cp.groups, kernel, kernel};
    if (!(l->weight = add_param(m, id, "weight", 4, ws, true))) return drop_last_layer(m);
    if (bias && !(l->bias = add_param(m, id, "bias", 1, &cout, true))) return drop_last_layer(m);
    return id;
}

int nn_model_batch_norm(nn_model *m, const char *name, int in, float momentum, float eps) {
    int c = nn_model_channels(m, in);
    if (c < 1) return fail(m, "batch_norm '%s': input channel count unknown", name ? name : "?");
    layer *l = add_layer(m, L_BATCH_NORM, name, 1, &in);
    if (!l) return -1;
    l->momentum = momentum;
    l->eps = eps;
    int id = m->n_layers - 1;
    if (!(l->weight = add_param(m, id, "weight", 1, &c, true)) ||
        !(l->bias = add_param(m, id, "bias", 1, &c, true)) ||
        !(l->running_mean = add_param(m, id, "running_mean", 1, &c, false)) ||
        !(l->running_var = add_param(m, id, "running_var", 1, &c, false)))
        return drop_last_layer(m);
    nn_tensor_fill(l->weight, 1.0f);
    nn_tensor_fill(l->running_var, 1.0f);
    return id;
}

/* Layers with one input, no parameters and the input's channel count. */
static int simple_layer(nn_model *m, layer_kind kind, const char *name, int in) {
    layer *l = add_layer(m, kind, name, 1, &in);
    return l ? m->n_layers - 1 : -1;
}

int nn_model_relu(nn_model *m, const char *name, int in) {
    return simple_layer(m, L_RELU, name, in);
}
int nn_model_sigmoid(nn_model *m, const char *name, int in) {
    return simple_layer(m, L_SIGMOID, name, in);
}
int nn_model_global_avg_pool2d(nn_model *m, const char *name, int in) {
    return simple_layer(m, L_GLOBAL_AVG_POOL, name, in);
}

int nn_model_leaky_relu(nn_model *m, const char *name, int in, float slope) {
    int id = simple_layer(m, L_LEAKY_RELU, name, in);
    if (id >= 0) m->layers[id].slope = slope;
    return id;
}

int nn_model_dropout(nn_model *m, const char *name, int in, float p) {
    if (!(p >= 0.0f && p < 1.0f)) return fail(m, "dropout '%s': p must be in [0, 1)", name);
    int id = simple_layer(m, L_DROPOUT, name, in);
    if (id >= 0) m->layers[id].p = p;
    return id;
}

static int pool_layer(nn_model *m, layer_kind kind, const char *name, int in,
                      const nn_pool2d_params *p) {
    if (!p) return fail(m, "pool '%s': parameters missing", name ? name : "?");
    int id = simple_layer(m, kind, name, in);
    if (id >= 0) m->layers[id].pool = *p;
    return id;
}
int nn_model_max_pool2d(nn_model *m, const char *name, int in, const nn_pool2d_params *p) {
    return pool_layer(m, L_MAX_POOL, name, in, p);
}
int nn_model_avg_pool2d(nn_model *m, const char *name, int in, const nn_pool2d_params *p) {
    return pool_layer(m, L_AVG_POOL, name, in, p);
}

int nn_model_flatten(nn_model *m, const char *name, int in) {
    int id = simple_layer(m, L_FLATTEN, name, in);
    if (id >= 0) m->layers[id].channels = -1;
    return id;
}

int nn_model_linear(nn_model *m, const char *name, int in, int in_features, int out_features,
                    bool bias) {
    if (in_features < 1 || out_features < 1)
        return fail(m, "linear '%s': features must be >= 1", name ? name : "?");
    layer *l = add_layer(m, L_LINEAR, name, 1, &in);
    if (!l) return -1;
    l->channels = out_features;
    int id = m->n_layers - 1;
    int ws[2] = {out_features, in_features};
    if (!(l->weight = add_param(m, id, "weight", 2, ws, true))) return drop_last_layer(m);
    if (bias && !(l->bias = add_param(m, id, "bias", 1, &out_features, true)))
        return drop_last_layer(m);
    return id;
}

int nn_model_add(nn_model *m, const char *name, int a, int b) {
    int ins[2] = {a, b};
    layer *l = add_layer(m, L_ADD, name, 2, ins);
    return l ? m->n_layers - 1 : -1;
}

int nn_model_upsample2x(nn_model *m, const char *name, int in, int like) {
    int ins[2] = {in, like};
    layer *l = add_layer(m, L_UPSAMPLE2X, name, 2, ins); /* channels: in's */
    return l ? m->n_layers - 1 : -1;
}

int nn_model_concat(nn_model *m, const char *name, int n, const int *ins, int axis) {
    if (n < 1 || !ins) return fail(m, "concat '%s': needs at least one input", name ? name : "?");
    layer *l = add_layer(m, L_CONCAT, name, n, ins);
    if (!l) return -1;
    l->axis = axis;
    if (axis == 1) {
        int c = 0;
        for (int i = 0; i < n && c >= 0; i++) {
            int ci = nn_model_channels(m, ins[i]);
            c = ci < 0 ? -1 : c + ci;
        }
        l->channels = c;
    } else {
        l->channels = -1;
    }
    return m->n_layers - 1;
}

static int shape_layer(nn_model *m, layer_kind kind, const char *name, int in, int ndim,
                       const int *dims) {
    if (ndim < 1 || ndim > NN_MAX_DIMS || !dims)
        return fail(m, "layer '%s': 1..%d dimensions expected", name ? name : "?", NN_MAX_DIMS);
    layer *l = add_layer(m, kind, name, 1, &in);
    if (!l) return -1;
    l->ndim = ndim;
    memcpy(l->dims, dims, (size_t)ndim * sizeof *dims);
    l->channels = -1;
    return m->n_layers - 1;
}
int nn_model_permute(nn_model *m, const char *name, int in, int ndim, const int *perm) {
    return shape_layer(m, L_PERMUTE, name, in, ndim, perm);
}
int nn_model_reshape(nn_model *m, const char *name, int in, int ndim, const int *shape) {
    return shape_layer(m, L_RESHAPE, name, in, ndim, shape);
}

int nn_model_softmax(nn_model *m, const char *name, int in, int axis) {
    int id = simple_layer(m, L_SOFTMAX, name, in);
    if (id >= 0) m->layers[id].axis = axis;
    return id;
}

int nn_model_l2norm(nn_model *m, const char *name, int in, float initial_scale, float eps) {
    int c = nn_model_channels(m, in);
    if (c < 1) return fail(m, "l2norm '%s': input channel count unknown", name ? name : "?");
    layer *l = add_layer(m, L_L2NORM, name, 1, &in);
    if (!l) return -1;
    l->eps = eps;
    int id = m->n_layers - 1;
    if (!(l->weight = add_param(m, id, "weight", 1, &c, true))) return drop_last_layer(m);
    nn_tensor_fill(l->weight, initial_scale);
    return id;
}

/* ---- running */

static nn_tensor *layer_forward(nn_model *m, nn_ctx *ctx, layer *l, nn_tensor **x) {
    switch (l->kind) {
    case L_CONV2D:
        if (m->frozen) return nn_conv2d_cached(ctx, x[0], l->weight, l->bias, &l->conv, &l->packed);
        return nn_conv2d(ctx, x[0], l->weight, l->bias, &l->conv);
    case L_BATCH_NORM:
        return nn_batch_norm(ctx, x[0], l->weight, l->bias, l->running_mean, l->running_var,
                             l->momentum, l->eps);
    case L_RELU: return nn_relu(ctx, x[0]);
    case L_LEAKY_RELU: return nn_leaky_relu(ctx, x[0], l->slope);
    case L_SIGMOID: return nn_sigmoid(ctx, x[0]);
    case L_MAX_POOL: return nn_max_pool2d(ctx, x[0], &l->pool);
    case L_AVG_POOL: return nn_avg_pool2d(ctx, x[0], &l->pool);
    case L_GLOBAL_AVG_POOL: return nn_global_avg_pool2d(ctx, x[0]);
    case L_FLATTEN: return nn_flatten(ctx, x[0]);
    case L_LINEAR: return nn_linear(ctx, x[0], l->weight, l->bias);
    case L_DROPOUT: return nn_dropout(ctx, x[0], l->p);
    case L_ADD: return nn_add(ctx, x[0], x[1]);
    case L_CONCAT: return nn_concat(ctx, l->n_in, x, l->axis);
    case L_UPSAMPLE2X: return nn_upsample2x(ctx, x[0], x[1]);
    case L_PERMUTE: return nn_permute(ctx, x[0], l->dims);
    case L_RESHAPE: return nn_reshape(ctx, x[0], l->ndim, l->dims);
    case L_SOFTMAX: return nn_softmax(ctx, x[0], l->axis);
    case L_L2NORM: return nn_l2norm(ctx, x[0], l->weight, l->eps);
    case L_IDENTITY: return x[0];
    }
    nn_ctx_fail(ctx, NN_ERR_STATE, "layer '%s': unknown kind %d", l->name, (int)l->kind);
    return NULL;
}

/* reader[id] = the one layer reading layer id's output, -1 when none reads
 * it, -2 when several do. */
static void find_readers(const nn_model *m, int *reader) {
    for (int i = 0; i < m->n_layers; i++) reader[i] = -1;
    for (int i = 0; i < m->n_layers; i++)
        for (int k = 0; k < m->layers[i].n_in; k++) {
            int id = m->layers[i].in[k];
            if (id >= 0) reader[id] = reader[id] == -1 ? i : -2;
        }
}

/* The ReLU-before-max-pool rewrite: relu and max are both monotonic, so
 * maxpool(relu(x)) == relu(maxpool(x)), values and gradients alike (pool.c).
 * A ReLU layer whose only reader is a max pool is skipped and the pool runs
 * nn_max_pool2d_relu on the ReLU's input: the ReLU then touches the pooled
 * output only and the full-size ReLU output and its backward pass are gone. */
static bool relu_left_to_pool(const nn_model *m, const int *reader, int id) {
    return id >= 0 && m->layers[id].kind == L_RELU && reader[id] >= 0 &&
           m->layers[reader[id]].kind == L_MAX_POOL;
}

nn_tensor *nn_model_forward(nn_model *m, nn_ctx *ctx, nn_tensor *input) {
    if (!input) {
        nn_ctx_fail(ctx, NN_ERR_ARG, "model forward: input is NULL");
        return NULL;
    }
    if (m->n_layers == 0) {
        nn_ctx_fail(ctx, NN_ERR_STATE, "model forward: the model has no layers");
        return NULL;
    }
    if (input->ndim >= 2 && input->shape[1] != m->in_channels) {
        nn_ctx_fail(ctx, NN_ERR_SHAPE, "model forward: input has %d channels, model expects %d",
                    input->shape[1], m->in_channels);
        return NULL;
    }
    int *reader = nn_ctx_scratch(ctx, (size_t)m->n_layers * sizeof *reader);
    if (!reader) return NULL;
    find_readers(m, reader);
    for (int i = 0; i < m->n_layers; i++) m->layers[i].out = NULL;
    for (int i = 0; i < m->n_layers; i++) {
        layer *l = &m->layers[i];
        if (relu_left_to_pool(m, reader, i)) continue; /* its reader applies it */
        nn_tensor *small[4], **x = small;
        if (l->n_in > 4 && !(x = nn_ctx_scratch(ctx, (size_t)l->n_in * sizeof *x))) return NULL;
        for (int k = 0; k < l->n_in; k++)
            x[k] = l->in[k] == NN_MODEL_INPUT ? input : m->layers[l->in[k]].out;
        if (l->kind == L_MAX_POOL && relu_left_to_pool(m, reader, l->in[0])) {
            int relu_in = m->layers[l->in[0]].in[0];
            nn_tensor *pre = relu_in == NN_MODEL_INPUT ? input : m->layers[relu_in].out;
            l->out = nn_max_pool2d_relu(ctx, pre, &l->pool);
        } else {
            l->out = layer_forward(m, ctx, l, x);
        }
        if (!l->out) {
            char prefix[NAME_LEN + 16];
            snprintf(prefix, sizeof prefix, "layer '%s': ", l->name);
            nn_ctx_prefix_error(ctx, prefix);
            return NULL;
        }
    }
    return m->layers[m->n_layers - 1].out;
}

nn_tensor *nn_model_output(const nn_model *m, int id) {
    if (id < 0 || id >= m->n_layers) return NULL;
    return m->layers[id].out;
}

/* ---- parameters */

int nn_model_param_count(const nn_model *m) { return m->n_params; }

nn_param nn_model_param(const nn_model *m, int i) {
    if (i < 0 || i >= m->n_params) return (nn_param){0};
    return (nn_param){m->params[i].name, m->params[i].tensor, m->params[i].trainable};
}

nn_tensor *nn_model_find_param(const nn_model *m, const char *name) {
    for (int i = 0; i < m->n_params; i++)
        if (strcmp(m->params[i].name, name) == 0) return m->params[i].tensor;
    return NULL;
}

size_t nn_model_trainable_numel(const nn_model *m) {
    size_t n = 0;
    for (int i = 0; i < m->n_params; i++)
        if (m->params[i].trainable) n += m->params[i].tensor->numel;
    return n;
}

void nn_model_zero_grad(nn_model *m) {
    for (int i = 0; i < m->n_params; i++) nn_tensor_zero_grad(m->params[i].tensor);
}

/* splitmix64: a tiny seeded generator so init does not depend on any ctx */
static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void nn_model_freeze(nn_model *m) { m->frozen = true; }

void nn_model_unfreeze(nn_model *m) {
    m->frozen = false;
    for (int i = 0; i < m->n_layers; i++) nn_conv2d_cache_clear(&m->layers[i].packed);
}

void nn_model_init(nn_model *m, uint64_t seed) {
    nn_model_unfreeze(m);
    uint64_t s = seed;
    for (int i = 0; i < m->n_layers; i++) {
        layer *l = &m->layers[i];
        if (l->kind != L_CONV2D && l->kind != L_LINEAR) continue;
        nn_tensor *w = l->weight;
        /* fan_in = inputs per output unit = Cin/groups * Kh * Kw, or In */
        size_t fan_in = w->numel / (size_t)w->shape[0];
        float bound = sqrtf(6.0f / (float)fan_in);
        for (size_t k = 0; k < w->numel; k++) {
            float u = (float)(splitmix64(&s) >> 40) * (1.0f / 16777216.0f);
            w->data[k] = (2.0f * u - 1.0f) * bound;
        }
        if (l->bias) nn_tensor_fill(l->bias, 0.0f);
    }
}

/* Number of layers reading layer `id`'s output. */
static int consumers(const nn_model *m, int id) {
    int n = 0;
    for (int i = 0; i < m->n_layers; i++)
        for (int k = 0; k < m->layers[i].n_in; k++) n += m->layers[i].in[k] == id;
    return n;
}

static void remove_params_of(nn_model *m, int layer_id) {
    int j = 0;
    for (int i = 0; i < m->n_params; i++) {
        if (m->params[i].layer == layer_id) {
            free(m->params[i].name);
            nn_tensor_free(m->params[i].tensor);
        } else {
            m->params[j++] = m->params[i];
        }
    }
    m->n_params = j;
}

nn_status nn_model_fold_batch_norm(nn_model *m, nn_error *err) {
    nn_model_unfreeze(m);
    for (int i = 0; i < m->n_layers; i++) {
        layer *bn = &m->layers[i];
        if (bn->kind != L_BATCH_NORM || bn->in[0] < 0) continue;
        int conv_id = bn->in[0];
        layer *conv = &m->layers[conv_id];
        if (conv->kind != L_CONV2D || conv->conv.relu || consumers(m, conv_id) != 1) continue;
        if (!conv->bias) {
            int cout = conv->weight->shape[0];
            conv->bias = add_param(m, conv_id, "bias", 1, &cout, true);
            if (!conv->bias)
                return nn_error_set(err, NN_ERR_NOMEM, "fold '%s': out of memory", bn->name);
            conv = &m->layers[conv_id];
        }
        nn_status st = nn_batch_norm_fold(conv->weight, conv->bias, bn->weight, bn->bias,
                                          bn->running_mean, bn->running_var, bn->eps);
        if (st != NN_OK)
            return nn_error_set(err, st, "folding '%s' into '%s' failed", bn->name, conv->name);
        remove_params_of(m, i);
        bn->kind = L_IDENTITY;
        bn->weight = bn->bias = bn->running_mean = bn->running_var = NULL;
    }
    /* conv -> (identity) -> relu: let the conv kernel apply the ReLU */
    for (int i = 0; i < m->n_layers; i++) {
        layer *r = &m->layers[i];
        if (r->kind != L_RELU) continue;
        int src = r->in[0];
        while (src >= 0 && m->layers[src].kind == L_IDENTITY && consumers(m, src) == 1)
            src = m->layers[src].in[0];
        if (src < 0 || m->layers[src].kind != L_CONV2D || consumers(m, src) != 1) continue;
        m->layers[src].conv.relu = true;
        r->kind = L_IDENTITY;
    }
    return NN_OK;
}
