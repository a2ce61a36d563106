/*
 * caffe_net.c - the typed view of a Caffe NetParameter prototxt, and shape
 * inference.
 *
 * Each layer type lists the parameter fields it accepts; any other field is
 * an error naming the layer and the line, so a model that needs something we
 * do not implement fails loudly at load time instead of computing garbage.
 * Training-only fields (param, weight_filler, lr_mult, ...) are accepted and
 * ignored. Defaults are Caffe's (caffe.proto, SSD fork).
 */
#include "caffe.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ context */

typedef struct {
    const char *file;
    const char *layer; /* NULL at net level */
    nn_error *err;
} pctx;

static nn_status failf(const pctx *c, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static nn_status failf(const pctx *c, int line, int col, const char *fmt, ...) {
    char what[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (c->layer)
        return nn_error_set(c->err, NN_ERR_FORMAT, "%s:%d:%d: layer '%s': %s", c->file, line, col,
                            c->layer, what);
    return nn_error_set(c->err, NN_ERR_FORMAT, "%s:%d:%d: %s", c->file, line, col, what);
}

static bool name_in(const char *name, const char *const *list) {
    for (; *list; list++)
        if (!strcmp(name, *list)) return true;
    return false;
}

/* Every field of m must be in `allowed`. */
static nn_status check_fields(const pctx *c, const caffe_pt_msg *m, const char *what,
                              const char *const *allowed) {
    for (int i = 0; i < m->count; i++)
        if (!name_in(m->fields[i].name, allowed))
            return failf(c, m->fields[i].line, m->fields[i].col, "unknown parameter '%s' in %s",
                         m->fields[i].name, what);
    return NN_OK;
}

/* The single field `name` (NULL if absent); a repeat is an error. */
static nn_status get_one(const pctx *c, const caffe_pt_msg *m, const char *name,
                         const caffe_pt_field **out) {
    *out = NULL;
    for (int i = 0; i < m->count; i++) {
        if (strcmp(m->fields[i].name, name)) continue;
        if (*out)
            return failf(c, m->fields[i].line, m->fields[i].col, "'%s' given more than once",
                         name);
        *out = &m->fields[i];
    }
    return NN_OK;
}

static nn_status field_number(const pctx *c, const caffe_pt_field *f, double *v) {
    if (f->kind != CAFFE_PT_NUMBER)
        return failf(c, f->line, f->col, "'%s' should be a number", f->name);
    *v = f->number;
    return NN_OK;
}

static nn_status field_int(const pctx *c, const caffe_pt_field *f, int *out) {
    double v = 0;
    nn_status st = field_number(c, f, &v);
    if (st) return st;
    if (v != floor(v) || v < -2147483647.0 || v > 2147483647.0)
        return failf(c, f->line, f->col, "'%s' should be an integer, is %s", f->name, f->text);
    *out = (int)v;
    return NN_OK;
}

static nn_status get_int(const pctx *c, const caffe_pt_msg *m, const char *name, int *out) {
    const caffe_pt_field *f;
    nn_status st = get_one(c, m, name, &f);
    return st ? st : f ? field_int(c, f, out) : NN_OK;
}

static nn_status get_float(const pctx *c, const caffe_pt_msg *m, const char *name, float *out) {
    const caffe_pt_field *f;
    nn_status st = get_one(c, m, name, &f);
    if (st || !f) return st;
    double v = 0;
    if ((st = field_number(c, f, &v))) return st;
    *out = (float)v;
    return NN_OK;
}

static nn_status get_bool(const pctx *c, const caffe_pt_msg *m, const char *name, bool *out,
                          bool *present) {
    const caffe_pt_field *f;
    nn_status st = get_one(c, m, name, &f);
    if (st || !f) return st;
    if (present) *present = true;
    if (f->kind == CAFFE_PT_IDENT && (!strcmp(f->text, "true") || !strcmp(f->text, "True")))
        *out = true;
    else if (f->kind == CAFFE_PT_IDENT && (!strcmp(f->text, "false") || !strcmp(f->text, "False")))
        *out = false;
    else if (f->kind == CAFFE_PT_NUMBER && (f->number == 0 || f->number == 1))
        *out = f->number == 1;
    else
        return failf(c, f->line, f->col, "'%s' should be true or false", name);
    return NN_OK;
}

/* An enum: IDENT from names[] (index = value) or its number. */
static nn_status get_enum(const pctx *c, const caffe_pt_msg *m, const char *name,
                          const char *const *names, int n_names, int *out) {
    const caffe_pt_field *f;
    nn_status st = get_one(c, m, name, &f);
    if (st || !f) return st;
    for (int i = 0; i < n_names; i++)
        if (names[i] && f->kind == CAFFE_PT_IDENT && !strcmp(f->text, names[i])) {
            *out = i;
            return NN_OK;
        }
    if (f->kind == CAFFE_PT_NUMBER && f->number >= 0 && f->number < n_names &&
        f->number == floor(f->number) && names[(int)f->number]) {
        *out = (int)f->number;
        return NN_OK;
    }
    return failf(c, f->line, f->col, "unsupported value '%s' for '%s'", f->text ? f->text : "?",
                 name);
}

static nn_status get_msg(const pctx *c, const caffe_pt_msg *m, const char *name,
                         const caffe_pt_msg **out) {
    const caffe_pt_field *f;
    nn_status st = get_one(c, m, name, &f);
    *out = NULL;
    if (st || !f) return st;
    if (f->kind != CAFFE_PT_MESSAGE)
        return failf(c, f->line, f->col, "'%s' should be a { ... } block", name);
    *out = f->msg;
    return NN_OK;
}

/* Repeated numbers (`name: a` several times) into out[cap]. */
static nn_status get_floats(const pctx *c, const caffe_pt_msg *m, const char *name, float *out,
                            int cap, int *n) {
    *n = 0;
    for (int i = 0; i < m->count; i++) {
        const caffe_pt_field *f = &m->fields[i];
        if (strcmp(f->name, name)) continue;
        if (*n >= cap) return failf(c, f->line, f->col, "more than %d values for '%s'", cap, name);
        double v = 0;
        nn_status st = field_number(c, f, &v);
        if (st) return st;
        out[(*n)++] = (float)v;
    }
    return NN_OK;
}

static nn_status get_ints(const pctx *c, const caffe_pt_msg *m, const char *name, int *out,
                          int cap, int *n) {
    *n = 0;
    for (int i = 0; i < m->count; i++) {
        const caffe_pt_field *f = &m->fields[i];
        if (strcmp(f->name, name)) continue;
        if (*n >= cap) return failf(c, f->line, f->col, "more than %d values for '%s'", cap, name);
        nn_status st = field_int(c, f, &out[*n]);
        if (st) return st;
        (*n)++;
    }
    return NN_OK;
}

static int first_line(const caffe_pt_msg *m) { return m->count ? m->fields[0].line : 0; }

/* BlobShape { dim: ... } */
static nn_status parse_shape(const pctx *c, const caffe_pt_msg *m, caffe_shape *s) {
    static const char *const allowed[] = {"dim", NULL};
    nn_status st = check_fields(c, m, "shape", allowed);
    if (st) return st;
    return get_ints(c, m, "dim", s->dim, CAFFE_MAX_DIMS, &s->ndim);
}

/* Fillers are training-time initialisers; we only read a constant value. */
static nn_status parse_filler(const pctx *c, const caffe_pt_msg *m, float *constant_value) {
    static const char *const allowed[] = {"type", "value", "min", "max", "mean", "std",
                                          "sparse", "variance_norm", NULL};
    nn_status st = check_fields(c, m, "filler", allowed);
    if (st || !constant_value) return st;
    const caffe_pt_field *type;
    if ((st = get_one(c, m, "type", &type))) return st;
    if (type && (type->kind != CAFFE_PT_STRING || strcmp(type->text, "constant")))
        return failf(c, type->line, type->col,
                     "only a constant scale_filler is supported, not '%s'",
                     type->text ? type->text : "?");
    return get_float(c, m, "value", constant_value);
}

/* kernel_size/pad/stride/dilation (repeated: one value or h,w) and the _h/_w forms. */
static nn_status spatial_pair(const pctx *c, const caffe_pt_msg *m, const char *name,
                              const char *name_h, const char *name_w, int *h, int *w) {
    int v[2], n;
    nn_status st = get_ints(c, m, name, v, 2, &n);
    if (st) return st;
    if (n == 1) *h = *w = v[0];
    if (n == 2) *h = v[0], *w = v[1];
    if (!name_h) return NN_OK;
    bool has_h = caffe_pt_count(m, name_h) > 0, has_w = caffe_pt_count(m, name_w) > 0;
    if ((has_h || has_w) && n)
        return failf(c, first_line(m), 1, "give either '%s' or '%s'/'%s', not both", name, name_h,
                     name_w);
    if ((st = get_int(c, m, name_h, h))) return st;
    return get_int(c, m, name_w, w);
}

/* ------------------------------------------------------- layer params */

static const char *const TYPE_NAMES[CAFFE_LAYER_TYPE_COUNT] = {
    [CAFFE_LAYER_INPUT] = "Input",         [CAFFE_LAYER_CONVOLUTION] = "Convolution",
    [CAFFE_LAYER_BATCHNORM] = "BatchNorm", [CAFFE_LAYER_SCALE] = "Scale",
    [CAFFE_LAYER_RELU] = "ReLU",           [CAFFE_LAYER_SIGMOID] = "Sigmoid",
    [CAFFE_LAYER_POOLING] = "Pooling",     [CAFFE_LAYER_ELTWISE] = "Eltwise",
    [CAFFE_LAYER_CONCAT] = "Concat",       [CAFFE_LAYER_PERMUTE] = "Permute",
    [CAFFE_LAYER_FLATTEN] = "Flatten",     [CAFFE_LAYER_RESHAPE] = "Reshape",
    [CAFFE_LAYER_SOFTMAX] = "Softmax",     [CAFFE_LAYER_NORMALIZE] = "Normalize",
    [CAFFE_LAYER_PRIORBOX] = "PriorBox",   [CAFFE_LAYER_DETECTION_OUTPUT] = "DetectionOutput",
    [CAFFE_LAYER_DROPOUT] = "Dropout",     [CAFFE_LAYER_SPLIT] = "Split",
};

/* The name of each type's parameter block (NULL: takes none). */
static const char *const PARAM_NAMES[CAFFE_LAYER_TYPE_COUNT] = {
    [CAFFE_LAYER_INPUT] = "input_param",         [CAFFE_LAYER_CONVOLUTION] = "convolution_param",
    [CAFFE_LAYER_BATCHNORM] = "batch_norm_param", [CAFFE_LAYER_SCALE] = "scale_param",
    [CAFFE_LAYER_RELU] = "relu_param",           [CAFFE_LAYER_SIGMOID] = "sigmoid_param",
    [CAFFE_LAYER_POOLING] = "pooling_param",     [CAFFE_LAYER_ELTWISE] = "eltwise_param",
    [CAFFE_LAYER_CONCAT] = "concat_param",       [CAFFE_LAYER_PERMUTE] = "permute_param",
    [CAFFE_LAYER_FLATTEN] = "flatten_param",     [CAFFE_LAYER_RESHAPE] = "reshape_param",
    [CAFFE_LAYER_SOFTMAX] = "softmax_param",     [CAFFE_LAYER_NORMALIZE] = "norm_param",
    [CAFFE_LAYER_PRIORBOX] = "prior_box_param",
    [CAFFE_LAYER_DETECTION_OUTPUT] = "detection_output_param",
    [CAFFE_LAYER_DROPOUT] = "dropout_param",     [CAFFE_LAYER_SPLIT] = NULL,
};

const char *caffe_layer_type_name(caffe_layer_type t) {
    return t >= 0 && t < CAFFE_LAYER_TYPE_COUNT ? TYPE_NAMES[t] : "?";
}

static const char *const ENGINE_NAMES[] = {"DEFAULT", "CAFFE", "CUDNN"};

static nn_status parse_conv(const pctx *c, const caffe_pt_msg *m, caffe_conv_param *p) {
    static const char *const allowed[] = {
        "num_output", "bias_term", "pad", "kernel_size", "stride", "dilation", "pad_h", "pad_w",
        "kernel_h", "kernel_w", "stride_h", "stride_w", "group", "weight_filler", "bias_filler",
        "engine", "axis", "force_nd_im2col", NULL};
    nn_status st = check_fields(c, m, "convolution_param", allowed);
    int engine = 0, axis = 1;
    if (!st) st = get_int(c, m, "num_output", &p->num_output);
    if (!st) st = get_bool(c, m, "bias_term", &p->bias_term, NULL);
    if (!st) st = spatial_pair(c, m, "kernel_size", "kernel_h", "kernel_w", &p->kernel_h, &p->kernel_w);
    if (!st) st = spatial_pair(c, m, "stride", "stride_h", "stride_w", &p->stride_h, &p->stride_w);
    if (!st) st = spatial_pair(c, m, "pad", "pad_h", "pad_w", &p->pad_h, &p->pad_w);
    if (!st) st = spatial_pair(c, m, "dilation", NULL, NULL, &p->dilation_h, &p->dilation_w);
    if (!st) st = get_int(c, m, "group", &p->group);
    if (!st) st = get_enum(c, m, "engine", ENGINE_NAMES, 3, &engine);
    if (!st) st = get_int(c, m, "axis", &axis);
    for (int i = 0; !st && i < m->count; i++)
        if (!strcmp(m->fields[i].name, "weight_filler") || !strcmp(m->fields[i].name, "bias_filler")) {
            if (m->fields[i].kind != CAFFE_PT_MESSAGE)
                st = failf(c, m->fields[i].line, m->fields[i].col, "filler should be a block");
            else
                st = parse_filler(c, m->fields[i].msg, NULL);
        }
    if (st) return st;
    int line = first_line(m);
    if (axis != 1) return failf(c, line, 1, "convolution axis %d is not supported", axis);
    if (p->num_output > CAFFE_MAX_DIM_SIZE || p->kernel_h > CAFFE_MAX_KERNEL ||
        p->kernel_w > CAFFE_MAX_KERNEL || p->stride_h > CAFFE_MAX_KERNEL ||
        p->stride_w > CAFFE_MAX_KERNEL || p->pad_h > CAFFE_MAX_KERNEL ||
        p->pad_w > CAFFE_MAX_KERNEL || p->dilation_h > CAFFE_MAX_KERNEL ||
        p->dilation_w > CAFFE_MAX_KERNEL)
        return failf(c, line, 1, "num_output or a kernel/stride/pad/dilation is over the limit");
    if (p->num_output <= 0) return failf(c, line, 1, "num_output must be positive");
    if (p->kernel_h <= 0 || p->kernel_w <= 0) return failf(c, line, 1, "kernel size must be positive");
    if (p->stride_h <= 0 || p->stride_w <= 0) return failf(c, line, 1, "stride must be positive");
    if (p->pad_h < 0 || p->pad_w < 0) return failf(c, line, 1, "pad must not be negative");
    if (p->dilation_h <= 0 || p->dilation_w <= 0) return failf(c, line, 1, "dilation must be positive");
    if (p->group <= 0 || p->num_output % p->group)
        return failf(c, line, 1, "group %d must divide num_output %d", p->group, p->num_output);
    return NN_OK;
}

static nn_status parse_pool(const pctx *c, const caffe_pt_msg *m, caffe_pool_param *p) {
    static const char *const allowed[] = {
        "pool", "pad", "pad_h", "pad_w", "kernel_size", "kernel_h", "kernel_w", "stride",
        "stride_h", "stride_w", "engine", "global_pooling", "round_mode", NULL};
    static const char *const methods[] = {"MAX", "AVE"}; /* STOCHASTIC: unsupported */
    static const char *const rounds[] = {"CEIL", "FLOOR"};
    int method = 0, round = 0, engine = 0;
    nn_status st = check_fields(c, m, "pooling_param", allowed);
    if (!st) st = get_enum(c, m, "pool", methods, 2, &method);
    if (!st) st = get_enum(c, m, "round_mode", rounds, 2, &round);
    if (!st) st = get_enum(c, m, "engine", ENGINE_NAMES, 3, &engine);
    if (!st) st = get_bool(c, m, "global_pooling", &p->global_pooling, NULL);
    /* kernel_size / pad / stride are single values in PoolingParameter */
    if (!st) st = spatial_pair(c, m, "kernel_size", "kernel_h", "kernel_w", &p->kernel_h, &p->kernel_w);
    if (!st) st = spatial_pair(c, m, "stride", "stride_h", "stride_w", &p->stride_h, &p->stride_w);
    if (!st) st = spatial_pair(c, m, "pad", "pad_h", "pad_w", &p->pad_h, &p->pad_w);
    if (st) return st;
    p->pool = (caffe_pool_method)method;
    p->ceil_mode = round == 0;
    int line = first_line(m);
    if (p->kernel_h > CAFFE_MAX_KERNEL || p->kernel_w > CAFFE_MAX_KERNEL ||
        p->stride_h > CAFFE_MAX_KERNEL || p->stride_w > CAFFE_MAX_KERNEL)
        return failf(c, line, 1, "kernel or stride is over the limit of %d", CAFFE_MAX_KERNEL);
    if (!p->global_pooling && (p->kernel_h <= 0 || p->kernel_w <= 0))
        return failf(c, line, 1, "pooling needs a positive kernel size");
    if (p->stride_h <= 0 || p->stride_w <= 0) return failf(c, line, 1, "stride must be positive");
    if (p->pad_h < 0 || p->pad_w < 0) return failf(c, line, 1, "pad must not be negative");
    if (!p->global_pooling && (p->pad_h >= p->kernel_h || p->pad_w >= p->kernel_w))
        return failf(c, line, 1, "pad must be smaller than the kernel");
    return NN_OK;
}

static nn_status parse_prior(const pctx *c, const caffe_pt_msg *m, ssd_caffe_prior_params *p) {
    static const char *const allowed[] = {
        "min_size", "max_size", "aspect_ratio", "flip", "clip", "variance", "img_size", "img_h",
        "img_w", "step", "step_h", "step_w", "offset", NULL};
    nn_status st = check_fields(c, m, "prior_box_param", allowed);
    int img_size = 0;
    float step = 0;
    if (!st) st = get_floats(c, m, "min_size", p->min_sizes, SSD_MAX_SIZES, &p->n_min_sizes);
    if (!st) st = get_floats(c, m, "max_size", p->max_sizes, SSD_MAX_SIZES, &p->n_max_sizes);
    if (!st) st = get_floats(c, m, "aspect_ratio", p->aspect_ratios, SSD_MAX_SIZES, &p->n_aspect_ratios);
    if (!st) st = get_bool(c, m, "flip", &p->flip, NULL);
    if (!st) st = get_bool(c, m, "clip", &p->clip, NULL);
    if (!st) st = get_floats(c, m, "variance", p->variances, 4, &p->n_variances);
    if (!st) st = get_int(c, m, "img_size", &img_size);
    if (!st) st = get_int(c, m, "img_h", &p->img_h);
    if (!st) st = get_int(c, m, "img_w", &p->img_w);
    if (!st) st = get_float(c, m, "step", &step);
    if (!st) st = get_float(c, m, "step_h", &p->step_h);
    if (!st) st = get_float(c, m, "step_w", &p->step_w);
    if (!st) st = get_float(c, m, "offset", &p->offset);
    if (st) return st;
    if (img_size) p->img_h = p->img_w = img_size;
    if (step) p->step_h = p->step_w = step;
    nn_error e;
    if (ssd_caffe_priors_per_location(p, &e) < 0) return failf(c, first_line(m), 1, "%s", e.msg);
    return NN_OK;
}

static nn_status parse_detection(const pctx *c, const caffe_pt_msg *m, caffe_detection_param *p) {
    static const char *const allowed[] = {
        "num_classes", "share_location", "background_label_id", "nms_param", "save_output_param",
        "code_type", "variance_encoded_in_target", "keep_top_k", "confidence_threshold",
        "visualize", "visualize_threshold", "save_file", "clip", NULL};
    static const char *const codes[] = {NULL, "CORNER", "CENTER_SIZE", "CORNER_SIZE"};
    static const char *const nms_allowed[] = {"nms_threshold", "top_k", "eta", NULL};
    int code = SSD_CODE_CORNER;
    const caffe_pt_msg *nms = NULL;
    nn_status st = check_fields(c, m, "detection_output_param", allowed);
    if (!st) st = get_int(c, m, "num_classes", &p->num_classes);
    if (!st) st = get_bool(c, m, "share_location", &p->share_location, NULL);
    if (!st) st = get_int(c, m, "background_label_id", &p->background_label_id);
    if (!st) st = get_enum(c, m, "code_type", codes, 4, &code);
    if (!st) st = get_bool(c, m, "variance_encoded_in_target", &p->variance_encoded_in_target, NULL);
    if (!st) st = get_int(c, m, "keep_top_k", &p->keep_top_k);
    if (!st) st = get_float(c, m, "confidence_threshold", &p->confidence_threshold);
    if (!st) st = get_bool(c, m, "clip", &p->clip, NULL);
    if (!st) st = get_msg(c, m, "nms_param", &nms);
    if (!st && nms) st = check_fields(c, nms, "nms_param", nms_allowed);
    if (!st && nms) st = get_float(c, nms, "nms_threshold", &p->nms_threshold);
    if (!st && nms) st = get_int(c, nms, "top_k", &p->top_k);
    if (!st && nms) st = get_float(c, nms, "eta", &p->eta);
    if (st) return st;
    p->code_type = (ssd_code_type)code;
    int line = first_line(m);
    if (p->num_classes < 1) return failf(c, line, 1, "num_classes must be positive");
    if (!p->share_location)
        return failf(c, line, 1, "share_location: false is not supported");
    if (p->eta != 1.0f) return failf(c, line, 1, "adaptive NMS (eta != 1) is not supported");
    return NN_OK;
}

/* Fills the typed parameters of layer L from its `<type>_param` block (or
 * defaults when the block is absent). */
static nn_status parse_layer_params(const pctx *c, caffe_layer *L, const caffe_pt_msg *pm) {
    static const caffe_pt_msg empty = {0, 0, NULL};
    const caffe_pt_msg *m = pm ? pm : &empty;
    nn_status st = NN_OK;
    int engine = 0;
    switch (L->type) {
    case CAFFE_LAYER_CONVOLUTION:
        L->conv = (caffe_conv_param){.stride_h = 1, .stride_w = 1, .dilation_h = 1,
                                     .dilation_w = 1, .group = 1, .bias_term = true};
        return parse_conv(c, m, &L->conv);
    case CAFFE_LAYER_BATCHNORM: {
        static const char *const allowed[] = {"use_global_stats", "moving_average_fraction", "eps", NULL};
        L->batchnorm.eps = 1e-5f;
        L->batchnorm.moving_average_fraction = 0.999f;
        if (!(st = check_fields(c, m, "batch_norm_param", allowed)))
            st = get_bool(c, m, "use_global_stats", &L->batchnorm.use_global_stats,
                          &L->batchnorm.has_use_global_stats);
        if (!st) st = get_float(c, m, "eps", &L->batchnorm.eps);
        if (!st) st = get_float(c, m, "moving_average_fraction", &L->batchnorm.moving_average_fraction);
        if (!st && L->batchnorm.has_use_global_stats && !L->batchnorm.use_global_stats)
            st = failf(c, L->line, 1, "use_global_stats: false (batch statistics) is not supported");
        return st;
    }
    case CAFFE_LAYER_SCALE: {
        static const char *const allowed[] = {"axis", "num_axes", "filler", "bias_term", "bias_filler", NULL};
        L->scale.axis = 1, L->scale.num_axes = 1;
        if (!(st = check_fields(c, m, "scale_param", allowed)))
            st = get_bool(c, m, "bias_term", &L->scale.bias_term, NULL);
        if (!st) st = get_int(c, m, "axis", &L->scale.axis);
        if (!st) st = get_int(c, m, "num_axes", &L->scale.num_axes);
        for (int i = 0; !st && i < m->count; i++)
            if (m->fields[i].kind == CAFFE_PT_MESSAGE) st = parse_filler(c, m->fields[i].msg, NULL);
        if (!st && (L->scale.axis != 1 || L->scale.num_axes != 1))
            st = failf(c, L->line, 1, "Scale supports only axis 1, num_axes 1");
        return st;
    }
    case CAFFE_LAYER_RELU: {
        static const char *const allowed[] = {"negative_slope", "engine", NULL};
        if (!(st = check_fields(c, m, "relu_param", allowed)))
            st = get_float(c, m, "negative_slope", &L->relu.negative_slope);
        if (!st) st = get_enum(c, m, "engine", ENGINE_NAMES, 3, &engine);
        return st;
    }
    case CAFFE_LAYER_SIGMOID: {
        static const char *const allowed[] = {"engine", NULL};
        if (!(st = check_fields(c, m, "sigmoid_param", allowed)))
            st = get_enum(c, m, "engine", ENGINE_NAMES, 3, &engine);
        return st;
    }
    case CAFFE_LAYER_POOLING:
        L->pool = (caffe_pool_param){.stride_h = 1, .stride_w = 1, .ceil_mode = true};
        return parse_pool(c, m, &L->pool);
    case CAFFE_LAYER_ELTWISE: {
        static const char *const allowed[] = {"operation", "coeff", "stable_prod_grad", NULL};
        static const char *const ops[] = {"PROD", "SUM", "MAX"};
        int op = CAFFE_ELTWISE_SUM;
        bool stable = true;
        if (!(st = check_fields(c, m, "eltwise_param", allowed)))
            st = get_enum(c, m, "operation", ops, 3, &op);
        if (!st) st = get_floats(c, m, "coeff", L->eltwise.coeffs, CAFFE_MAX_BOTTOMS, &L->eltwise.n_coeffs);
        if (!st) st = get_bool(c, m, "stable_prod_grad", &stable, NULL);
        L->eltwise.operation = (caffe_eltwise_op)op;
        if (!st && L->eltwise.n_coeffs && op != CAFFE_ELTWISE_SUM)
            st = failf(c, L->line, 1, "Eltwise coeff is only allowed with SUM");
        return st;
    }
    case CAFFE_LAYER_CONCAT: {
        static const char *const allowed[] = {"axis", "concat_dim", NULL};
        int concat_dim = -1;
        L->concat.axis = 1;
        if (!(st = check_fields(c, m, "concat_param", allowed))) st = get_int(c, m, "axis", &L->concat.axis);
        if (!st) st = get_int(c, m, "concat_dim", &concat_dim);
        if (!st && concat_dim >= 0) L->concat.axis = concat_dim;
        return st;
    }
    case CAFFE_LAYER_PERMUTE: {
        static const char *const allowed[] = {"order", NULL};
        if (!(st = check_fields(c, m, "permute_param", allowed)))
            st = get_ints(c, m, "order", L->permute.order, CAFFE_MAX_DIMS, &L->permute.n_order);
        return st;
    }
    case CAFFE_LAYER_FLATTEN: {
        static const char *const allowed[] = {"axis", "end_axis", NULL};
        L->flatten.axis = 1, L->flatten.end_axis = -1;
        if (!(st = check_fields(c, m, "flatten_param", allowed))) st = get_int(c, m, "axis", &L->flatten.axis);
        if (!st) st = get_int(c, m, "end_axis", &L->flatten.end_axis);
        return st;
    }
    case CAFFE_LAYER_RESHAPE: {
        static const char *const allowed[] = {"shape", "axis", "num_axes", NULL};
        const caffe_pt_msg *shape = NULL;
        L->reshape.axis = 0, L->reshape.num_axes = -1;
        if (!(st = check_fields(c, m, "reshape_param", allowed))) st = get_msg(c, m, "shape", &shape);
        if (!st) st = get_int(c, m, "axis", &L->reshape.axis);
        if (!st) st = get_int(c, m, "num_axes", &L->reshape.num_axes);
        if (!st && !shape) st = failf(c, L->line, 1, "Reshape needs reshape_param { shape { ... } }");
        if (!st) st = parse_shape(c, shape, &L->reshape.shape);
        return st;
    }
    case CAFFE_LAYER_SOFTMAX: {
        static const char *const allowed[] = {"axis", "engine", NULL};
        L->softmax.axis = 1;
        if (!(st = check_fields(c, m, "softmax_param", allowed))) st = get_int(c, m, "axis", &L->softmax.axis);
        if (!st) st = get_enum(c, m, "engine", ENGINE_NAMES, 3, &engine);
        return st;
    }
    case CAFFE_LAYER_NORMALIZE: {
        static const char *const allowed[] = {"across_spatial", "scale_filler", "channel_shared", "eps", NULL};
        const caffe_pt_msg *filler = NULL;
        L->norm = (caffe_norm_param){.across_spatial = true, .channel_shared = true, .eps = 1e-10f,
                                     .scale_value = 1.0f};
        if (!(st = check_fields(c, m, "norm_param", allowed)))
            st = get_bool(c, m, "across_spatial", &L->norm.across_spatial, NULL);
        if (!st) st = get_bool(c, m, "channel_shared", &L->norm.channel_shared, NULL);
        if (!st) st = get_float(c, m, "eps", &L->norm.eps);
        if (!st) st = get_msg(c, m, "scale_filler", &filler);
        if (!st && filler) st = parse_filler(c, filler, &L->norm.scale_value);
        return st;
    }
    case CAFFE_LAYER_PRIORBOX:
        L->prior = ssd_caffe_prior_default();
        return parse_prior(c, m, &L->prior);
    case CAFFE_LAYER_DETECTION_OUTPUT:
        L->detection = (caffe_detection_param){.share_location = true, .nms_threshold = 0.3f,
                                               .top_k = -1, .eta = 1.0f, .keep_top_k = -1,
                                               .code_type = SSD_CODE_CORNER};
        return parse_detection(c, m, &L->detection);
    case CAFFE_LAYER_DROPOUT: {
        static const char *const allowed[] = {"dropout_ratio", "scale_train", NULL};
        bool scale_train = true;
        L->dropout.ratio = 0.5f;
        if (!(st = check_fields(c, m, "dropout_param", allowed))) st = get_float(c, m, "dropout_ratio", &L->dropout.ratio);
        if (!st) st = get_bool(c, m, "scale_train", &scale_train, NULL);
        return st;
    }
    case CAFFE_LAYER_INPUT: {
        static const char *const allowed[] = {"shape", NULL};
        if ((st = check_fields(c, m, "input_param", allowed))) return st;
        for (int i = 0; i < m->count; i++) {
            const caffe_pt_field *f = &m->fields[i];
            if (L->input.n_shapes >= CAFFE_MAX_INPUTS)
                return failf(c, f->line, f->col, "more than %d input shapes", CAFFE_MAX_INPUTS);
            if (f->kind != CAFFE_PT_MESSAGE) return failf(c, f->line, f->col, "shape should be a block");
            if ((st = parse_shape(c, f->msg, &L->input.shapes[L->input.n_shapes++]))) return st;
        }
        return NN_OK;
    }
    case CAFFE_LAYER_SPLIT:
    case CAFFE_LAYER_TYPE_COUNT:
        return NN_OK;
    }
    return NN_OK;
}

/* ---------------------------------------------------------------- layers */

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static void free_layer(caffe_layer *L) {
    free(L->name);
    for (int i = 0; i < L->n_bottoms; i++) free(L->bottoms[i]);
    for (int i = 0; i < L->n_tops; i++) free(L->tops[i]);
    free(L->bottoms);
    free(L->tops);
    free(L->bottom_shapes);
    free(L->top_shapes);
    for (int i = 0; i < L->n_blobs; i++) free(L->blobs[i].data);
    free(L->blobs);
}

/* Copies the string values of all fields `name` (bottom / top). */
static nn_status get_strings(const pctx *c, const caffe_pt_msg *m, const char *name, char ***out,
                             int *n) {
    int count = caffe_pt_count(m, name);
    *n = 0;
    if (count > CAFFE_MAX_BOTTOMS)
        return failf(c, first_line(m), 1, "more than %d '%s' entries", CAFFE_MAX_BOTTOMS, name);
    if (!count) return NN_OK;
    *out = calloc((size_t)count, sizeof **out);
    if (!*out) return nn_error_set(c->err, NN_ERR_NOMEM, "out of memory");
    for (int i = 0; i < m->count; i++) { /* one pass: caffe_pt_get per value is quadratic */
        const caffe_pt_field *f = &m->fields[i];
        if (strcmp(f->name, name) != 0) continue;
        if (f->kind != CAFFE_PT_STRING) return failf(c, f->line, f->col, "'%s' should be a string", name);
        if (!((*out)[*n] = dup_str(f->text))) return nn_error_set(c->err, NN_ERR_NOMEM, "out of memory");
        (*n)++;
    }
    return NN_OK;
}

/* Caffe NetStateRule with our fixed state (phase TEST, level 0, no stages). */
static nn_status rule_matches(const pctx *c, const caffe_pt_msg *rule, bool *matches) {
    static const char *const allowed[] = {"phase", "min_level", "max_level", "stage", "not_stage", NULL};
    static const char *const phases[] = {"TRAIN", "TEST"};
    nn_status st = check_fields(c, rule, "include/exclude rule", allowed);
    int phase = 1, min_level = INT32_MIN, max_level = INT32_MAX;
    if (!st) st = get_enum(c, rule, "phase", phases, 2, &phase);
    if (!st) st = get_int(c, rule, "min_level", &min_level);
    if (!st) st = get_int(c, rule, "max_level", &max_level);
    *matches = phase == 1 && min_level <= 0 && max_level >= 0 && caffe_pt_count(rule, "stage") == 0;
    return st;
}

static nn_status parse_layer(const pctx *net_ctx, const caffe_pt_field *lf, caffe_layer *L,
                             bool *keep) {
    static const char *const common[] = {"name", "type", "bottom", "top", "phase", "loss_weight",
                                         "param", "blobs", "propagate_down", "include",
                                         "exclude", NULL};
    static const char *const param_spec[] = {"name", "share_mode", "lr_mult", "decay_mult", NULL};
    const caffe_pt_msg *m = lf->msg;
    pctx c = *net_ctx;
    L->line = lf->line;
    const caffe_pt_field *name, *type;
    nn_status st = get_one(&c, m, "name", &name);
    if (!st) st = get_one(&c, m, "type", &type);
    if (st) return st;
    if (!name || name->kind != CAFFE_PT_STRING)
        return failf(&c, lf->line, lf->col, "layer without a string name");
    if (!(L->name = dup_str(name->text))) return nn_error_set(c.err, NN_ERR_NOMEM, "out of memory");
    c.layer = L->name;
    if (!type || type->kind != CAFFE_PT_STRING) return failf(&c, lf->line, lf->col, "layer without a type");
    int t = -1;
    for (int i = 0; i < CAFFE_LAYER_TYPE_COUNT; i++)
        if (!strcmp(type->text, TYPE_NAMES[i])) t = i;
    if (t < 0) return failf(&c, type->line, type->col, "unknown layer type '%s'", type->text);
    L->type = (caffe_layer_type)t;

    /* Fields: the common ones plus this type's parameter block. */
    const caffe_pt_msg *pm = NULL;
    for (int i = 0; i < m->count; i++) {
        const caffe_pt_field *f = &m->fields[i];
        if (name_in(f->name, common)) continue;
        if (PARAM_NAMES[t] && !strcmp(f->name, PARAM_NAMES[t])) continue;
        return failf(&c, f->line, f->col, "unknown parameter '%s' for a %s layer", f->name,
                     type->text);
    }
    if (PARAM_NAMES[t] && (st = get_msg(&c, m, PARAM_NAMES[t], &pm))) return st;
    for (int i = 0; i < m->count; i++) {
        const caffe_pt_field *f = &m->fields[i];
        if (!strcmp(f->name, "param")) {
            if (f->kind != CAFFE_PT_MESSAGE) return failf(&c, f->line, f->col, "param should be a block");
            if ((st = check_fields(&c, f->msg, "param", param_spec))) return st;
        }
    }
    /* Phase rules: include needs one matching rule, exclude none. */
    int n_inc = caffe_pt_count(m, "include"), n_exc = caffe_pt_count(m, "exclude");
    bool included = n_inc == 0, excluded = false;
    for (int i = 0; i < n_inc + n_exc; i++) {
        const caffe_pt_field *f = i < n_inc ? caffe_pt_get(m, "include", i)
                                            : caffe_pt_get(m, "exclude", i - n_inc);
        if (f->kind != CAFFE_PT_MESSAGE) return failf(&c, f->line, f->col, "rule should be a block");
        bool match;
        if ((st = rule_matches(&c, f->msg, &match))) return st;
        if (i < n_inc && match) included = true;
        if (i >= n_inc && match) excluded = true;
    }
    *keep = included && !excluded;
    if ((st = get_strings(&c, m, "bottom", &L->bottoms, &L->n_bottoms))) return st;
    if ((st = get_strings(&c, m, "top", &L->tops, &L->n_tops))) return st;
    return parse_layer_params(&c, L, pm);
}

nn_status caffe_net_parse(const char *text, size_t len, const char *filename, caffe_net **out,
                          nn_error *err) {
    static const char *const net_fields[] = {"name", "input", "input_shape", "input_dim",
                                             "force_backward", "state", "debug_info", "layer",
                                             "layers", NULL};
    *out = NULL;
    if (!filename) filename = "<prototxt>";
    caffe_pt_msg *tree;
    nn_status st = caffe_pt_parse(text, len, filename, &tree, err);
    if (st) return st;
    pctx c = {.file = filename, .err = err};
    caffe_net *net = calloc(1, sizeof *net);
    int n_layer_fields = caffe_pt_count(tree, "layer");
    if (!net || !(net->filename = dup_str(filename))) {
        st = nn_error_set(err, NN_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if ((st = check_fields(&c, tree, "NetParameter", net_fields))) goto fail;
    const caffe_pt_field *f;
    if (caffe_pt_count(tree, "layers")) {
        f = caffe_pt_get(tree, "layers", 0);
        st = failf(&c, f->line, f->col, "V1 'layers' prototxts are not supported; use 'layer'");
        goto fail;
    }
    if ((st = get_one(&c, tree, "name", &f))) goto fail;
    if (f && f->kind == CAFFE_PT_STRING && !(net->name = dup_str(f->text))) {
        st = nn_error_set(err, NN_ERR_NOMEM, "out of memory");
        goto fail;
    }
    /* Net-level inputs: `input` names with `input_shape` blocks or 4 `input_dim`s each. */
    int n_in = caffe_pt_count(tree, "input"), n_shapes = caffe_pt_count(tree, "input_shape");
    int n_dims = caffe_pt_count(tree, "input_dim");
    if (n_in > CAFFE_MAX_INPUTS) {
        st = failf(&c, 1, 1, "more than %d inputs", CAFFE_MAX_INPUTS);
        goto fail;
    }
    if ((n_shapes && n_shapes != n_in) || (n_dims && n_dims != 4 * n_in) || (n_shapes && n_dims)) {
        f = caffe_pt_get(tree, "input", 0);
        st = failf(&c, f ? f->line : 1, 1,
                   "%d inputs need as many input_shape blocks or 4 input_dim each (have %d, %d)",
                   n_in, n_shapes, n_dims);
        goto fail;
    }
    for (int i = 0; i < n_in; i++) {
        f = caffe_pt_get(tree, "input", i);
        if (f->kind != CAFFE_PT_STRING) {
            st = failf(&c, f->line, f->col, "input should be a string");
            goto fail;
        }
        if (!(net->inputs[i].name = dup_str(f->text))) {
            st = nn_error_set(err, NN_ERR_NOMEM, "out of memory");
            goto fail;
        }
        net->n_inputs++;
        caffe_shape *s = &net->inputs[i].shape;
        if (n_shapes) {
            f = caffe_pt_get(tree, "input_shape", i);
            if (f->kind != CAFFE_PT_MESSAGE) {
                st = failf(&c, f->line, f->col, "input_shape should be a block");
                goto fail;
            }
            if ((st = parse_shape(&c, f->msg, s))) goto fail;
        } else if (n_dims) {
            s->ndim = 4;
            for (int d = 0; d < 4; d++)
                if ((st = field_int(&c, caffe_pt_get(tree, "input_dim", 4 * i + d), &s->dim[d]))) goto fail;
        }
    }
    if (n_layer_fields > CAFFE_MAX_LAYERS) {
        st = failf(&c, 1, 1, "more than %d layers", CAFFE_MAX_LAYERS);
        goto fail;
    }
    if (n_layer_fields && !(net->layers = calloc((size_t)n_layer_fields, sizeof *net->layers))) {
        st = nn_error_set(err, NN_ERR_NOMEM, "out of memory");
        goto fail;
    }
    /* by index, not caffe_pt_get(tree, "layer", i): that would be quadratic */
    for (int fi = 0; fi < tree->count; fi++) {
        f = &tree->fields[fi];
        if (strcmp(f->name, "layer") != 0) continue;
        if (f->kind != CAFFE_PT_MESSAGE) {
            st = failf(&c, f->line, f->col, "layer should be a block");
            goto fail;
        }
        caffe_layer *L = &net->layers[net->n_layers];
        bool keep = true;
        st = parse_layer(&c, f, L, &keep);
        if (st || !keep) {
            free_layer(L);
            memset(L, 0, sizeof *L);
            if (st) goto fail;
            continue;
        }
        for (int j = 0; j < net->n_layers; j++)
            if (!strcmp(net->layers[j].name, L->name)) {
                st = failf(&c, f->line, f->col, "duplicate layer name '%s'", L->name);
                free_layer(L);
                memset(L, 0, sizeof *L);
                goto fail;
            }
        net->n_layers++;
    }
    caffe_pt_free(tree);
    *out = net;
    return NN_OK;
fail:
    caffe_pt_free(tree);
    caffe_net_free(net);
    return st;
}

void caffe_net_free(caffe_net *net) {
    if (!net) return;
    for (int i = 0; i < net->n_layers; i++) free_layer(&net->layers[i]);
    for (int i = 0; i < net->n_inputs; i++) free(net->inputs[i].name);
    free(net->layers);
    free(net->name);
    free(net->filename);
    free(net);
}

int caffe_net_find_layer(const caffe_net *net, const char *name) {
    for (int i = 0; i < net->n_layers; i++)
        if (!strcmp(net->layers[i].name, name)) return i;
    return -1;
}

nn_status caffe_net_load(const char *path, caffe_net **out, nn_error *err) {
    char *text;
    size_t len;
    *out = NULL;
    nn_status st = nn_read_file(path, CAFFE_MAX_FILE_BYTES, &text, &len, err);
    if (st) return st;
    st = caffe_net_parse(text, len, path, out, err);
    free(text);
    return st;
}
