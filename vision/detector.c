/*
 * detector.c - SSD detectors from .nnw model files (see detector.h and
 * docs/model-files.md for the metadata keys).
 *
 * A detector holds the model file (for saving), the network built for the
 * current input size, the priors for that size, and one nn_ctx whose arena is
 * reused by every call. Changing the input size rebuilds what depends on it:
 * for arch "caffe" the net's shapes are inferred again and the nn_model is
 * rebuilt (Reshape layers use the inferred sizes); the priors are regenerated
 * from the new feature-map sizes.
 */
#include "detector.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "caffe.h"
#include "caffe_build.h"
#include "face_ssd.h"
#include "ssd_vgg16.h"

#define MAX_CLASSES 1000
#define MAX_INPUT_SIDE 4096
#define MAX_PRIOR_GROUPS 16

typedef enum { ARCH_CAFFE, ARCH_SSD_VGG16, ARCH_FACE_SSD } arch_kind;
typedef enum { PRIORS_CAFFE, PRIORS_ANCHORS, PRIORS_ULTRAFACE, PRIORS_TORCHVISION } prior_kind;
typedef struct {
    float score;
    int index;
} candidate;
typedef enum { CLIP_NONE, CLIP_BEFORE_NMS, CLIP_AFTER_NMS } clip_kind;

struct detector {
    nn_weights *file;
    arch_kind arch;
    int num_classes;
    char **classes;
    int input_w, input_h; /* the model's */
    bool bgr;
    float mean[3], scale[3];

    /* priors and post-processing from the metadata */
    prior_kind priors_kind;
    char *prior_blob; /* caffe: PriorBox output (or their Concat) */
    int n_groups;     /* anchors / ultraface: one per feature map */
    char *feature_blobs[MAX_PRIOR_GROUPS];
    int n_sizes[MAX_PRIOR_GROUPS];
    float sizes[MAX_PRIOR_GROUPS][SSD_MAX_SIZES]; /* anchor sizes or min boxes (px) */
    int strides[MAX_PRIOR_GROUPS];
    int n_ratios;
    float ratios[SSD_MAX_SIZES];
    ssd_detect_params post; /* threshold/nms/top_k/... defaults; image size per call */
    clip_kind clip;
    float area_offset; /* > 0: AIZOO's class-agnostic NMS with areas (w+o)(h+o) */
    float default_threshold;
    bool clamp_size; /* torchvision: dw, dh <= log(1000/16) */

    /* the network at the current size */
    caffe_net *net;
    caffe_built built;
    ssd_vgg16 vgg;
    face_ssd fssd; /* arch face_ssd: our own detector runs itself (vision/face_ssd.h) */
    nn_model *model;
    char *loc_blob, *conf_blob;
    int loc_id, conf_id;
    int cur_w, cur_h;
    bool priors_ready;
    ssd_priors priors;

    nn_ctx *ctx;
    nn_tensor *input;
    image_buffer resized; /* the image at the network's input size, reused */
    float *boxes, *best; /* AIZOO path scratch: priors x 4, priors */
    int *best_label;
    candidate *order;
    ssd_detection *found; /* priors entries */
    ssd_scratch post_scratch; /* ssd_detect_reuse's buffers, kept between frames */
    detector_timing timing;
};

/* ------------------------------------------------------------ metadata */

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static nn_status meta_error(nn_error *err, const char *key, const char *value, const char *want) {
    return nn_error_set(err, NN_ERR_FORMAT, "model file: metadata \"%s\" = \"%.60s\": %s", key,
                        value ? value : "(missing)", want);
}

/* Parses up to max floats separated by `sep`; returns the count or -1. */
static int parse_floats(const char *s, char sep, float *out, int max) {
    int n = 0;
    while (s && *s) {
        char *end;
        double v = strtod(s, &end);
        if (end == s || !isfinite(v) || n >= max) return -1;
        out[n++] = (float)v;
        while (*end == ' ')
            end++;
        if (*end == sep)
            end++;
        else if (*end)
            return -1;
        s = end;
    }
    return n;
}

static nn_status meta_float(const nn_weights *w, const char *key, float def, float *out,
                            nn_error *err) {
    const char *v = nn_weights_meta(w, key);
    if (!v) {
        *out = def;
        return NN_OK;
    }
    return parse_floats(v, ',', out, 1) == 1 ? NN_OK : meta_error(err, key, v, "expected a number");
}

static nn_status meta_int(const nn_weights *w, const char *key, int def, int lo, int hi, int *out,
                          nn_error *err) {
    float f = 0;
    nn_status st = meta_float(w, key, (float)def, &f, err);
    if (st) return st;
    if (f != floorf(f) || f < (float)lo || f > (float)hi) {
        char want[64];
        snprintf(want, sizeof want, "expected an integer in [%d, %d]", lo, hi);
        return meta_error(err, key, nn_weights_meta(w, key), want);
    }
    *out = (int)f;
    return NN_OK;
}

/* "a,b,c" -> exactly 3 floats */
static nn_status meta_triple(const nn_weights *w, const char *key, float def, float out[3],
                             nn_error *err) {
    const char *v = nn_weights_meta(w, key);
    if (!v) {
        out[0] = out[1] = out[2] = def;
        return NN_OK;
    }
    int n = parse_floats(v, ',', out, 3);
    if (n == 1) out[1] = out[2] = out[0];
    return n == 1 || n == 3 ? NN_OK : meta_error(err, key, v, "expected 1 or 3 numbers");
}

/* "a,b;c,d,e" -> groups of floats; returns the number of groups or -1. */
static int parse_groups(const char *s, float out[][SSD_MAX_SIZES], int *n_each, int max_groups) {
    int g = 0;
    char buf[512];
    while (s && *s) {
        const char *semi = strchr(s, ';');
        size_t len = semi ? (size_t)(semi - s) : strlen(s);
        if (g >= max_groups || len == 0 || len >= sizeof buf) return -1;
        memcpy(buf, s, len);
        buf[len] = 0;
        if ((n_each[g] = parse_floats(buf, ',', out[g], SSD_MAX_SIZES)) < 1) return -1;
        g++;
        s = semi ? semi + 1 : s + len;
    }
    return g;
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

static nn_status parse_classes(detector *d, nn_error *err) {
    const char *v = nn_weights_meta(d->file, "classes");
    if (!v || !*v) return meta_error(err, "classes", v, "expected comma-separated class names");
    int n = 1;
    for (const char *p = v; *p; p++)
        n += *p == ',';
    if (n > MAX_CLASSES) return meta_error(err, "classes", v, "too many classes");
    d->classes = calloc((size_t)n, sizeof *d->classes);
    if (!d->classes) return nn_error_set(err, NN_ERR_NOMEM, "out of memory");
    const char *s = v;
    for (int i = 0; i < n; i++) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        if (len == 0) return meta_error(err, "classes", v, "empty class name");
        if (!(d->classes[i] = strndup(s, len)))
            return nn_error_set(err, NN_ERR_NOMEM, "out of memory");
        d->num_classes = i + 1;
        s = comma ? comma + 1 : s + len;
    }
    return NN_OK;
}

static nn_status parse_input(detector *d, nn_error *err) {
    nn_status st;
    if ((st = meta_int(d->file, "input.width", -1, 1, MAX_INPUT_SIDE, &d->input_w, err)) ||
        (st = meta_int(d->file, "input.height", -1, 1, MAX_INPUT_SIDE, &d->input_h, err)))
        return st;
    const char *order = nn_weights_meta(d->file, "input.channel_order");
    if (!order || (strcmp(order, "rgb") && strcmp(order, "bgr")))
        return meta_error(err, "input.channel_order", order, "expected rgb or bgr");
    d->bgr = !strcmp(order, "bgr");
    if ((st = meta_triple(d->file, "input.mean", 0.0f, d->mean, err)) ||
        (st = meta_triple(d->file, "input.scale", 1.0f, d->scale, err)))
        return st;
    return NN_OK;
}

static nn_status parse_post(detector *d, nn_error *err) {
    const nn_weights *w = d->file;
    ssd_detect_params *p = &d->post;
    *p = ssd_detect_default(d->num_classes);
    nn_status st;
    if ((st =
             meta_int(w, "ssd.background", 0, -1, d->num_classes - 1, &p->background_label, err)) ||
        (st = meta_float(w, "ssd.nms", 0.45f, &p->nms_threshold, err)) ||
        (st = meta_int(w, "ssd.top_k", -1, -1, SSD_MAX_PRIORS, &p->top_k, err)) ||
        (st = meta_int(w, "ssd.keep_top_k", -1, -1, SSD_MAX_PRIORS, &p->keep_top_k, err)) ||
        (st = meta_float(w, "ssd.threshold", 0.5f, &d->default_threshold, err)) ||
        (st = meta_float(w, "ssd.nms_area_offset", 0.0f, &d->area_offset, err)))
        return st;
    int agnostic, in_target;
    if ((st = meta_int(w, "ssd.class_agnostic", 0, 0, 1, &agnostic, err)) ||
        (st = meta_int(w, "ssd.variance_in_target", 0, 0, 1, &in_target, err)))
        return st;
    p->class_agnostic = agnostic, p->variance_in_target = in_target;
    const char *code = nn_weights_meta(w, "ssd.code");
    if (!code || !strcmp(code, "center_size"))
        p->code_type = SSD_CODE_CENTER_SIZE;
    else if (!strcmp(code, "corner"))
        p->code_type = SSD_CODE_CORNER;
    else if (!strcmp(code, "corner_size"))
        p->code_type = SSD_CODE_CORNER_SIZE;
    else
        return meta_error(err, "ssd.code", code, "expected center_size, corner or corner_size");
    const char *clip = nn_weights_meta(w, "ssd.clip");
    if (!clip || !strcmp(clip, "none"))
        d->clip = CLIP_NONE;
    else if (!strcmp(clip, "before_nms"))
        d->clip = CLIP_BEFORE_NMS;
    else if (!strcmp(clip, "after_nms"))
        d->clip = CLIP_AFTER_NMS;
    else
        return meta_error(err, "ssd.clip", clip, "expected none, before_nms or after_nms");
    if (d->area_offset > 0 && !p->class_agnostic)
        return meta_error(err, "ssd.nms_area_offset", nn_weights_meta(w, "ssd.nms_area_offset"),
                          "needs ssd.class_agnostic = 1");
    if (!(p->nms_threshold >= 0 && p->nms_threshold <= 1))
        return meta_error(err, "ssd.nms", nn_weights_meta(w, "ssd.nms"),
                          "expected an IoU in [0, 1]");

    const char *kind = nn_weights_meta(w, "ssd.priors");
    if (d->arch == ARCH_SSD_VGG16) {
        d->priors_kind = PRIORS_TORCHVISION;
        d->clamp_size = true;
        return NN_OK;
    }
    if (!kind) return meta_error(err, "ssd.priors", kind, "expected caffe, anchors or ultraface");
    if (!strcmp(kind, "caffe")) {
        d->priors_kind = PRIORS_CAFFE;
        d->prior_blob = dup_or_null(nn_weights_meta(w, "ssd.prior_blob"));
        if (!d->prior_blob)
            return meta_error(err, "ssd.prior_blob", NULL, "the PriorBox output blob is needed");
        return NN_OK;
    }
    float variances[4] = {0.1f, 0.1f, 0.2f, 0.2f};
    const char *var = nn_weights_meta(w, "ssd.variances");
    if (var && parse_floats(var, ',', variances, 4) != 4)
        return meta_error(err, "ssd.variances", var, "expected 4 numbers");
    if (variances[0] != 0.1f || variances[1] != 0.1f || variances[2] != 0.2f ||
        variances[3] != 0.2f)
        return meta_error(err, "ssd.variances", var,
                          "only 0.1,0.1,0.2,0.2 is supported for these priors");
    if (!strcmp(kind, "anchors")) {
        d->priors_kind = PRIORS_ANCHORS;
        const char *sizes = nn_weights_meta(w, "ssd.anchor_sizes");
        const char *ratios = nn_weights_meta(w, "ssd.anchor_ratios");
        const char *blobs = nn_weights_meta(w, "ssd.feature_blobs");
        if ((d->n_groups = parse_groups(sizes, d->sizes, d->n_sizes, MAX_PRIOR_GROUPS)) < 1)
            return meta_error(err, "ssd.anchor_sizes", sizes,
                              "expected sizes per map, maps separated by ';'");
        if ((d->n_ratios = parse_floats(ratios, ',', d->ratios, SSD_MAX_SIZES)) < 1 ||
            d->ratios[0] != 1.0f)
            return meta_error(err, "ssd.anchor_ratios", ratios, "expected ratios starting with 1");
        int n = 0;
        const char *s = blobs;
        while (s && *s && n < MAX_PRIOR_GROUPS) {
            const char *comma = strchr(s, ',');
            size_t len = comma ? (size_t)(comma - s) : strlen(s);
            if (!(d->feature_blobs[n++] = strndup(s, len)))
                return nn_error_set(err, NN_ERR_NOMEM, "out of memory");
            s = comma ? comma + 1 : s + len;
        }
        if (n != d->n_groups)
            return meta_error(err, "ssd.feature_blobs", blobs,
                              "expected one blob name per anchor_sizes group");
        return NN_OK;
    }
    if (!strcmp(kind, "ultraface")) {
        d->priors_kind = PRIORS_ULTRAFACE;
        const char *boxes = nn_weights_meta(w, "ssd.min_boxes");
        const char *strides = nn_weights_meta(w, "ssd.strides");
        if ((d->n_groups = parse_groups(boxes, d->sizes, d->n_sizes, MAX_PRIOR_GROUPS)) < 1)
            return meta_error(err, "ssd.min_boxes", boxes,
                              "expected pixel sizes per map, maps separated by ';'");
        float fs[MAX_PRIOR_GROUPS];
        if (parse_floats(strides, ',', fs, MAX_PRIOR_GROUPS) != d->n_groups)
            return meta_error(err, "ssd.strides", strides,
                              "expected one stride per min_boxes group");
        for (int i = 0; i < d->n_groups; i++) {
            if (!(fs[i] >= 1 && fs[i] <= 1024 && fs[i] == floorf(fs[i])))
                return meta_error(err, "ssd.strides", strides, "strides are integers in [1, 1024]");
            d->strides[i] = (int)fs[i];
        }
        return NN_OK;
    }
    return meta_error(err, "ssd.priors", kind, "expected caffe, anchors or ultraface");
}

/* ------------------------------------------------------- building */

/* A caffe_model view of the file's tensors "<layer>.<k>", for caffe_net_attach_weights. */
static nn_status weights_to_caffe_model(const caffe_net *net, const nn_weights *w,
                                        caffe_model **out, nn_error *err) {
    caffe_model *m = calloc(1, sizeof *m);
    if (!m) return nn_error_set(err, NN_ERR_NOMEM, "out of memory");
    m->layers = calloc((size_t)net->n_layers + 1, sizeof *m->layers);
    if (!m->layers) goto nomem;
    for (int i = 0; i < net->n_layers; i++) {
        const caffe_layer *L = &net->layers[i];
        int n = 0;
        char name[320];
        for (;;) {
            snprintf(name, sizeof name, "%s.%d", L->name, n);
            if (!nn_weights_find(w, name) || n >= CAFFE_MAX_BLOBS) break;
            n++;
        }
        if (n == 0) continue;
        caffe_model_layer *ml = &m->layers[m->n_layers++];
        if (!(ml->name = strdup(L->name)) || !(ml->type = strdup(caffe_layer_type_name(L->type))) ||
            !(ml->blobs = calloc((size_t)n, sizeof *ml->blobs)))
            goto nomem;
        for (int k = 0; k < n; k++) {
            snprintf(name, sizeof name, "%s.%d", L->name, k);
            const nn_tensor *t = nn_weights_find(w, name);
            caffe_blob *b = &ml->blobs[k];
            b->shape.ndim = t->ndim;
            for (int a = 0; a < t->ndim; a++)
                b->shape.dim[a] = t->shape[a];
            b->count = t->numel;
            if (!(b->data = malloc(t->numel * sizeof(float) + 1))) goto nomem;
            memcpy(b->data, t->data, t->numel * sizeof(float));
            ml->n_blobs = k + 1;
        }
    }
    *out = m;
    return NN_OK;
nomem:
    caffe_model_free(m);
    return nn_error_set(err, NN_ERR_NOMEM, "out of memory");
}

/* Sets the (single) input of the net to 1x3xHxW. */
static void set_caffe_input(caffe_net *net, int w, int h) {
    for (int i = 0; i < net->n_inputs; i++)
        if (net->inputs[i].shape.ndim == 4)
            net->inputs[i].shape.dim[2] = h, net->inputs[i].shape.dim[3] = w;
    for (int i = 0; i < net->n_layers; i++) {
        caffe_layer *L = &net->layers[i];
        if (L->type != CAFFE_LAYER_INPUT) continue;
        for (int k = 0; k < L->input.n_shapes; k++)
            if (L->input.shapes[k].ndim == 4)
                L->input.shapes[k].dim[2] = h, L->input.shapes[k].dim[3] = w;
    }
    net->shapes_known = false;
}

static nn_status find_output(detector *d, const char *blob, const char *key, int *id,
                             nn_error *err) {
    *id = caffe_build_find(&d->built, blob);
    if (*id < 0)
        return nn_error_set(err, NN_ERR_NOT_FOUND,
                            "model file: %s blob '%s' is not a tensor the net computes", key, blob);
    return NN_OK;
}

/* Makes the network ready for input size w x h. */
static nn_status prepare(detector *d, int w, int h, nn_error *err) {
    if (d->model && d->cur_w == w && d->cur_h == h) return NN_OK;
    d->priors_ready = false;
    d->cur_w = d->cur_h = 0;
    if (d->arch == ARCH_CAFFE) {
        caffe_build_free(&d->built);
        d->model = NULL;
        set_caffe_input(d->net, w, h);
        nn_status st = caffe_net_infer_shapes(d->net, err);
        if (!st) st = caffe_build(d->net, &d->built, err);
        if (!st) st = find_output(d, d->loc_blob, "ssd.loc", &d->loc_id, err);
        if (!st) st = find_output(d, d->conf_blob, "ssd.conf", &d->conf_id, err);
        if (st) return st;
        d->model = d->built.model;
        nn_model_freeze(d->model); /* weights stay: keep them packed for the kernels */
    }
    nn_tensor_free(d->input);
    if (!(d->input = nn_tensor_new4(1, 3, h, w)))
        return nn_error_set(err, NN_ERR_NOMEM, "out of memory");
    d->cur_w = w, d->cur_h = h;
    return NN_OK;
}

static nn_status caffe_setup(detector *d, nn_error *err) {
    const char *text = nn_weights_meta(d->file, "caffe.prototxt");
    if (!text)
        return meta_error(err, "caffe.prototxt", NULL,
                          "the Caffe net text is needed for arch caffe");
    nn_status st = caffe_net_parse(text, strlen(text), "caffe.prototxt", &d->net, err);
    if (st) return st;
    caffe_model *m = NULL;
    if ((st = caffe_net_infer_shapes(d->net, err)) ||
        (st = weights_to_caffe_model(d->net, d->file, &m, err)))
        return st;
    st = caffe_net_attach_weights(d->net, m, err);
    caffe_model_free(m);
    if (st) return st;
    d->loc_blob = dup_or_null(nn_weights_meta(d->file, "ssd.loc"));
    d->conf_blob = dup_or_null(nn_weights_meta(d->file, "ssd.conf"));
    if (!d->loc_blob) return meta_error(err, "ssd.loc", NULL, "the blob of box offsets is needed");
    if (!d->conf_blob)
        return meta_error(err, "ssd.conf", NULL, "the blob of class scores is needed");
    return NN_OK;
}

static nn_status vgg_setup(detector *d, nn_error *err) {
    nn_status st = ssd_vgg16_build(d->num_classes, &d->vgg, err);
    if (st) return st;
    if ((st = nn_model_load_weights(d->vgg.model, d->file, err))) return st;
    d->model = d->vgg.model;
    /* no batch norm to fold in VGG, but this lets each conv apply its ReLU */
    if ((st = nn_model_fold_batch_norm(d->model, err))) return st;
    nn_model_freeze(d->model);
    d->loc_id = d->vgg.loc_id, d->conf_id = d->vgg.conf_id;
    return NN_OK;
}

nn_status detector_from_weights(nn_weights *w, detector **out, nn_error *err) {
    *out = NULL;
    const char *kind = nn_weights_meta(w, "kind");
    if (!kind || strcmp(kind, "detector"))
        return nn_error_set(
            err, NN_ERR_FORMAT, "model file: kind is \"%s\", not \"detector\"%s",
            kind ? kind : "(missing)",
            kind && !strcmp(kind, "classifier") ? " (a classifier was given as the detector)" : "");
    const char *arch = nn_weights_meta(w, "arch");
    detector *d = calloc(1, sizeof *d);
    if (!d) return nn_error_set(err, NN_ERR_NOMEM, "out of memory");
    d->file = w;
    nn_status st;
    if (arch && !strcmp(arch, "caffe"))
        d->arch = ARCH_CAFFE;
    else if (arch && !strcmp(arch, "ssd_vgg16"))
        d->arch = ARCH_SSD_VGG16;
    else if (arch && !strcmp(arch, "face_ssd"))
        d->arch = ARCH_FACE_SSD;
    else {
        st = meta_error(err, "arch", arch, "expected caffe, ssd_vgg16 or face_ssd for a detector");
        goto fail;
    }
    if (d->arch == ARCH_FACE_SSD) {
        /* its own preprocessing (native resolution or longer side) and priors */
        if ((st = parse_classes(d, err)) || (st = face_ssd_from_weights(w, &d->fssd, err)))
            goto fail;
        d->input_w = d->input_h = 0;
        *out = d;
        return NN_OK;
    }
    if ((st = parse_classes(d, err)) || (st = parse_input(d, err)) || (st = parse_post(d, err)))
        goto fail;
    if (d->num_classes < 2 && d->post.background_label >= 0) {
        st = meta_error(err, "classes", nn_weights_meta(w, "classes"),
                        "a detector needs background plus a class");
        goto fail;
    }
    st = d->arch == ARCH_CAFFE ? caffe_setup(d, err) : vgg_setup(d, err);
    if (st) goto fail;
    if (!(d->ctx = nn_ctx_create())) {
        st = nn_error_set(err, NN_ERR_NOMEM, "out of memory");
        goto fail;
    }
    nn_ctx_set_grad_enabled(d->ctx, false);
    if ((st = prepare(d, d->input_w, d->input_h, err))) goto fail;
    *out = d;
    return NN_OK;
fail:
    d->file = NULL; /* still the caller's */
    detector_free(d);
    return st;
}

nn_status detector_load(const char *path, detector **out, nn_error *err) {
    *out = NULL;
    nn_weights *w;
    nn_status st = nn_weights_load(path, &w, err);
    if (st) return st;
    if ((st = detector_from_weights(w, out, err))) {
        char inner[NN_ERROR_MSG_LEN];
        snprintf(inner, sizeof inner, "%s", err ? err->msg : "");
        nn_error_set(err, st, "%s: %s", path, inner);
        nn_weights_free(w);
    }
    return st;
}

nn_status detector_save(const detector *det, const char *path, nn_error *err) {
    return nn_weights_save(det->file, path, err);
}

void detector_free(detector *d) {
    if (!d) return;
    nn_weights_free(d->file);
    for (int i = 0; i < d->num_classes; i++)
        free(d->classes[i]);
    free(d->classes);
    free(d->prior_blob);
    for (int i = 0; i < MAX_PRIOR_GROUPS; i++)
        free(d->feature_blobs[i]);
    caffe_net_free(d->net);
    caffe_build_free(&d->built);
    ssd_vgg16_free(&d->vgg);
    face_ssd_free(&d->fssd);
    free(d->loc_blob);
    free(d->conf_blob);
    ssd_priors_free(&d->priors);
    nn_ctx_destroy(d->ctx);
    nn_tensor_free(d->input);
    image_buffer_free(&d->resized);
    free(d->boxes);
    free(d->best);
    free(d->best_label);
    free(d->order);
    free(d->found);
    ssd_scratch_free(&d->post_scratch);
    free(d);
}

/* ----------------------------------------------------------- import */

static nn_status set_meta(nn_weights *w, const char *key, const char *value, nn_error *err) {
    return nn_weights_set_meta(w, key, value, err);
}

static nn_status set_metaf(nn_weights *w, const char *key, double v, nn_error *err) {
    char buf[64];
    snprintf(buf, sizeof buf, "%.9g", v);
    return nn_weights_set_meta(w, key, buf, err);
}

static bool has_blob(const caffe_net *net, const char *name) {
    for (int i = 0; i < net->n_layers; i++)
        for (int k = 0; k < net->layers[i].n_tops; k++)
            if (!strcmp(net->layers[i].tops[k], name)) return true;
    return false;
}

/* Metadata defaults for a net with a DetectionOutput layer (Caffe SSD, res10). */
static nn_status defaults_caffe_ssd(const caffe_net *net, const caffe_layer *L, nn_weights *w,
                                    nn_error *err) {
    const caffe_detection_param *p = &L->detection;
    static const char *const codes[] = {"", "corner", "center_size", "corner_size"};
    nn_status st;
    char classes[256] = "background";
    if (p->num_classes == 2)
        snprintf(classes, sizeof classes, "background,face");
    else
        for (int c = 1; c < p->num_classes && c < 20; c++)
            snprintf(classes + strlen(classes), sizeof classes - strlen(classes), ",class%d", c);
    bool res10 =
        caffe_net_find_layer(net, "conv1_h") >= 0 && caffe_net_find_layer(net, "data_bn") >= 0;
    if ((st = set_meta(w, "ssd.priors", "caffe", err)) ||
        (st = set_meta(w, "ssd.loc", L->bottoms[0], err)) ||
        (st = set_meta(w, "ssd.conf", L->bottoms[1], err)) ||
        (st = set_meta(w, "ssd.prior_blob", L->bottoms[2], err)) ||
        (st = set_metaf(w, "ssd.nms", p->nms_threshold, err)) ||
        (st = set_metaf(w, "ssd.top_k", p->top_k, err)) ||
        (st = set_metaf(w, "ssd.keep_top_k", p->keep_top_k, err)) ||
        (st = set_metaf(w, "ssd.background", p->background_label_id, err)) ||
        (st = set_meta(w, "ssd.code", codes[p->code_type], err)) ||
        (st = set_meta(w, "ssd.clip", p->clip ? "before_nms" : "none", err)) ||
        (st = set_metaf(w, "ssd.variance_in_target", p->variance_encoded_in_target, err)) ||
        (st = set_meta(w, "ssd.threshold", "0.5", err)) ||
        (st = set_meta(w, "classes", classes, err)) ||
        (st = set_meta(w, "input.channel_order", "bgr", err)) ||
        /* res10 was trained with its own mean; other Caffe SSDs use VGG's */
        (st = set_meta(w, "input.mean", res10 ? "104,177,123" : "104,117,123", err)) ||
        (st = set_meta(w, "input.scale", "1,1,1", err)))
        return st;
    if (!p->share_location)
        return nn_error_set(err, NN_ERR_FORMAT,
                            "DetectionOutput share_location false is not supported");
    return res10 ? set_meta(w, "name", "opencv_res10_ssd", err) : NN_OK;
}

/* AIZOO face-mask SSD (its README): anchors, sigmoid classes, class-agnostic NMS. */
static nn_status defaults_aizoo(nn_weights *w, nn_error *err) {
    static const char *const kv[][2] = {
        {"name", "aizoo_face_mask_ssd"},
        {"classes", "mask,no_mask"},
        {"input.channel_order", "rgb"},
        {"input.mean", "0,0,0"},
        {"input.scale", "0.00392156863,0.00392156863,0.00392156863"},
        {"ssd.loc", "loc_branch_concat"},
        {"ssd.conf", "cls_branch_concat"},
        {"ssd.priors", "anchors"},
        {"ssd.feature_blobs", "conv2d_3,conv2d_4,conv2d_5,conv2d_6,conv2d_7"},
        {"ssd.anchor_sizes", "0.04,0.056;0.08,0.11;0.16,0.22;0.32,0.45;0.64,0.72"},
        {"ssd.anchor_ratios", "1,0.62,0.42"},
        {"ssd.variances", "0.1,0.1,0.2,0.2"},
        {"ssd.background", "-1"},
        {"ssd.class_agnostic", "1"},
        {"ssd.nms", "0.4"},
        {"ssd.nms_area_offset", "0.001"},
        {"ssd.top_k", "-1"},
        {"ssd.keep_top_k", "-1"},
        {"ssd.clip", "after_nms"},
        {"ssd.threshold", "0.5"},
    };
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++) {
        nn_status st = set_meta(w, kv[i][0], kv[i][1], err);
        if (st) return st;
    }
    return NN_OK;
}

/* UltraFace RFB-320 (its README): pixel min_boxes per stride, softmax classes. */
static nn_status defaults_ultraface(nn_weights *w, nn_error *err) {
    static const char *const kv[][2] = {
        {"name", "ultraface_rfb320"},
        {"classes", "background,face"},
        {"input.channel_order", "rgb"},
        {"input.mean", "127,127,127"},
        {"input.scale", "0.0078125,0.0078125,0.0078125"},
        {"ssd.loc", "boxes"},
        {"ssd.conf", "scores"},
        {"ssd.priors", "ultraface"},
        {"ssd.min_boxes", "10,16,24;32,48;64,96;128,192,256"},
        {"ssd.strides", "8,16,32,64"},
        {"ssd.variances", "0.1,0.1,0.2,0.2"},
        {"ssd.background", "0"},
        {"ssd.nms", "0.3"},
        {"ssd.top_k", "200"},
        {"ssd.keep_top_k", "-1"},
        {"ssd.clip", "none"},
        {"ssd.threshold", "0.7"},
    };
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++) {
        nn_status st = set_meta(w, kv[i][0], kv[i][1], err);
        if (st) return st;
    }
    return NN_OK;
}

/* Every attached blob as tensor "<layer>.<k>". */
static nn_status add_blobs(const caffe_net *net, nn_weights *w, nn_error *err) {
    for (int i = 0; i < net->n_layers; i++) {
        const caffe_layer *L = &net->layers[i];
        for (int k = 0; k < L->n_blobs; k++) {
            const caffe_blob *b = &L->blobs[k];
            int shape[NN_MAX_DIMS], nd = b->shape.ndim;
            if (nd >= 1 && nd <= NN_MAX_DIMS) {
                for (int a = 0; a < nd; a++)
                    shape[a] = b->shape.dim[a];
            } else {
                nd = 1, shape[0] = (int)b->count;
            }
            if (nn_shape_numel(nd, shape) != b->count) nd = 1, shape[0] = (int)b->count;
            nn_tensor *t = nn_tensor_new(nd, shape);
            if (!t) return nn_error_set(err, NN_ERR_NOMEM, "out of memory");
            memcpy(t->data, b->data, b->count * sizeof(float));
            char name[320];
            snprintf(name, sizeof name, "%s.%d", L->name, k);
            nn_status st = nn_weights_add(w, name, t, NN_DTYPE_F32, err);
            nn_tensor_free(t);
            if (st) return st;
        }
    }
    return NN_OK;
}

nn_status detector_import_caffe(const char *prototxt, const char *caffemodel, nn_weights **out,
                                nn_error *err) {
    *out = NULL;
    char *text = NULL;
    size_t len = 0;
    caffe_net *net = NULL;
    caffe_model *model = NULL;
    nn_weights *w = NULL;
    nn_status st = nn_read_file(prototxt, CAFFE_MAX_FILE_BYTES, &text, &len, err);
    if (st) return st;
    if (memchr(text, 0, len)) {
        st = nn_error_set(err, NN_ERR_FORMAT, "%s: contains a NUL byte; not a prototxt", prototxt);
        goto done;
    }
    if ((st = caffe_net_parse(text, len, prototxt, &net, err)) ||
        (st = caffe_net_infer_shapes(net, err)) ||
        (st = caffe_model_load(caffemodel, &model, err)) ||
        (st = caffe_net_attach_weights(net, model, err)))
        goto done;
    if (!(w = nn_weights_create())) {
        st = nn_error_set(err, NN_ERR_NOMEM, "out of memory");
        goto done;
    }
    /* the input size */
    const caffe_shape *in = net->n_inputs ? &net->inputs[0].shape : NULL;
    for (int i = 0; i < net->n_layers && !in; i++)
        if (net->layers[i].type == CAFFE_LAYER_INPUT) in = &net->layers[i].top_shapes[0];
    if (!in || in->ndim != 4 || in->dim[1] != 3) {
        st = nn_error_set(err, NN_ERR_SHAPE, "%s: expected one 1x3xHxW input", prototxt);
        goto done;
    }
    if ((st = set_meta(w, "kind", "detector", err)) || (st = set_meta(w, "arch", "caffe", err)) ||
        (st = set_meta(w, "caffe.prototxt", text, err)) ||
        (st = set_metaf(w, "input.width", in->dim[3], err)) ||
        (st = set_metaf(w, "input.height", in->dim[2], err)))
        goto done;
    int det_layer = -1;
    for (int i = 0; i < net->n_layers; i++)
        if (net->layers[i].type == CAFFE_LAYER_DETECTION_OUTPUT) det_layer = i;
    if (det_layer >= 0)
        st = defaults_caffe_ssd(net, &net->layers[det_layer], w, err);
    else if (has_blob(net, "loc_branch_concat") && has_blob(net, "cls_branch_concat"))
        st = defaults_aizoo(w, err);
    else if (has_blob(net, "boxes") && has_blob(net, "scores"))
        st = defaults_ultraface(w, err);
    else
        st = nn_error_set(
            err, NN_ERR_FORMAT,
            "%s: no DetectionOutput layer and not a model we know (AIZOO face-mask SSD, "
            "UltraFace): cannot tell how to decode its outputs",
            prototxt);
    if (!st) st = add_blobs(net, w, err);
done:
    free(text);
    caffe_net_free(net);
    caffe_model_free(model);
    if (st)
        nn_weights_free(w);
    else
        *out = w;
    return st;
}

nn_status detector_from_caffe(const char *prototxt, const char *caffemodel, detector **out,
                              nn_error *err) {
    *out = NULL;
    nn_weights *w;
    nn_status st = detector_import_caffe(prototxt, caffemodel, &w, err);
    if (st) return st;
    if ((st = detector_from_weights(w, out, err))) nn_weights_free(w);
    return st;
}

/* ------------------------------------------------------------- priors */

/* Spatial size of the value blob `name` ends with (after shape inference). */
static nn_status blob_map_size(const caffe_net *net, const char *name, int *fw, int *fh,
                               nn_error *err) {
    for (int i = net->n_layers - 1; i >= 0; i--)
        for (int k = 0; k < net->layers[i].n_tops; k++)
            if (!strcmp(net->layers[i].tops[k], name)) {
                const caffe_shape *s = &net->layers[i].top_shapes[k];
                if (s->ndim != 4) break;
                *fh = s->dim[2], *fw = s->dim[3];
                return NN_OK;
            }
    return nn_error_set(err, NN_ERR_NOT_FOUND,
                        "model file: ssd.feature_blobs names '%s', not a 4-D blob of the net",
                        name);
}

static nn_status make_priors(detector *d, nn_error *err) {
    ssd_priors *p = &d->priors;
    ssd_priors_free(p);
    nn_status st = NN_OK;
    switch (d->priors_kind) {
    case PRIORS_CAFFE: st = caffe_net_priors(d->net, d->prior_blob, p, err); break;
    case PRIORS_ANCHORS:
        for (int g = 0; g < d->n_groups && !st; g++) {
            int fw = 0, fh = 0;
            if (!(st = blob_map_size(d->net, d->feature_blobs[g], &fw, &fh, err)))
                st = ssd_priors_add_anchors(p, d->sizes[g], d->n_sizes[g], d->ratios, d->n_ratios,
                                            fw, fh, err);
        }
        break;
    case PRIORS_ULTRAFACE:
        for (int g = 0; g < d->n_groups && !st; g++)
            st = ssd_priors_add_ultraface(p, d->sizes[g], d->n_sizes[g], d->strides[g], d->cur_w,
                                          d->cur_h, err);
        break;
    case PRIORS_TORCHVISION: {
        /* torchvision's ssd300_vgg16 DefaultBoxGenerator; steps stay in pixels */
        static const int steps[6] = {8, 16, 32, 64, 100, 300}, n_ars[6] = {1, 2, 2, 2, 1, 1};
        static const float scales[7] = {0.07f, 0.15f, 0.33f, 0.51f, 0.69f, 0.87f, 1.05f},
                           ars[2] = {2, 3};
        for (int k = 0; k < SSD_VGG16_FEATURE_MAPS && !st; k++) {
            nn_tensor *f = nn_model_output(d->model, d->vgg.source_id[k]);
            if (!f) return nn_error_set(err, NN_ERR_STATE, "ssd_vgg16: feature map %d missing", k);
            st =
                ssd_priors_add_torchvision(p, scales[k], scales[k + 1], ars, n_ars[k], steps[k],
                                           f->shape[3], f->shape[2], d->cur_w, d->cur_h, true, err);
        }
        break;
    }
    }
    if (st) return st;
    size_t n = (size_t)p->count;
    free(d->boxes), free(d->best), free(d->best_label), free(d->order), free(d->found);
    d->boxes = malloc(n * 4 * sizeof(float) + 1);
    d->best = malloc(n * sizeof(float) + 1);
    d->best_label = malloc(n * sizeof(int) + 1);
    d->order = malloc(n * sizeof(candidate) + 1);
    d->found = malloc(n * sizeof(ssd_detection) + 1);
    if (!d->boxes || !d->best || !d->best_label || !d->order || !d->found)
        return nn_error_set(err, NN_ERR_NOMEM, "out of memory for %zu priors", n);
    d->priors_ready = true;
    return NN_OK;
}

/* -------------------------------------------------------- detection */

static int cmp_candidate(const void *pa, const void *pb) {
    const candidate *a = pa, *b = pb;
    if (a->score != b->score) return a->score > b->score ? -1 : 1;
    return (a->index > b->index) - (a->index < b->index);
}

static int cmp_detection(const void *pa, const void *pb) {
    const ssd_detection *a = pa, *b = pb;
    if (a->score != b->score) return a->score > b->score ? -1 : 1;
    return (a->label > b->label) - (a->label < b->label);
}

static float area_offset(const float *b, float o) { return (b[2] - b[0] + o) * (b[3] - b[1] + o); }

/* AIZOO's single_class_non_max_suppression: the best class per prior, score >
 * threshold, greedy by score, IoU with areas (w + o)(h + o); boxes clipped
 * after NMS (its drawing code clips). */
static int aizoo_detect(detector *d, const float *loc, const float *conf,
                        const ssd_detect_params *p) {
    int n = d->priors.count, nc = d->num_classes, m = 0;
    for (int i = 0; i < n; i++) {
        float best = -INFINITY;
        int label = -1;
        for (int c = 0; c < nc; c++)
            if (c != p->background_label && conf[(size_t)i * nc + c] > best)
                best = conf[(size_t)i * nc + c], label = c;
        d->best[i] = best, d->best_label[i] = label;
        if (best > p->confidence_threshold) d->order[m++] = (candidate){best, i};
    }
    qsort(d->order, (size_t)m, sizeof *d->order, cmp_candidate);
    if (p->top_k >= 0 && m > p->top_k) m = p->top_k;
    for (int k = 0; k < m; k++) {
        int i = d->order[k].index;
        ssd_decode_box(d->priors.boxes + (size_t)i * 4, d->priors.variances + (size_t)i * 4,
                       loc + (size_t)i * 4, p->code_type, p->variance_in_target,
                       d->boxes + (size_t)i * 4);
    }
    int kept = 0;
    for (int k = 0; k < m; k++) {
        int i = d->order[k].index;
        const float *b = d->boxes + (size_t)i * 4;
        bool ok = true;
        for (int j = 0; j < kept && ok; j++) {
            const float *a = d->boxes + (size_t)d->order[j].index * 4;
            float iw = fmaxf(0.0f, fminf(a[2], b[2]) - fmaxf(a[0], b[0]));
            float ih = fmaxf(0.0f, fminf(a[3], b[3]) - fmaxf(a[1], b[1]));
            float inter = iw * ih;
            float iou =
                inter / (area_offset(a, d->area_offset) + area_offset(b, d->area_offset) - inter);
            ok = iou <= p->nms_threshold;
        }
        if (ok) d->order[kept++] = d->order[k]; /* order[j] for j < kept are the kept ones */
    }
    if (p->keep_top_k >= 0 && kept > p->keep_top_k) kept = p->keep_top_k;
    for (int k = 0; k < kept; k++) {
        int i = d->order[k].index;
        const float *b = d->boxes + (size_t)i * 4;
        ssd_detection *o = &d->found[k];
        o->x1 = b[0], o->y1 = b[1], o->x2 = b[2], o->y2 = b[3];
        o->label = d->best_label[i], o->score = d->best[i];
    }
    return kept;
}

nn_status detector_detect_tensor(detector *d, const nn_tensor *input, float image_w, float image_h,
                                 const detector_params *prm, ssd_detection *out, int max_out,
                                 int *n_out, nn_error *err) {
    *n_out = 0;
    if (d->arch == ARCH_FACE_SSD)
        return nn_error_set(err, NN_ERR_ARG, "detector: face_ssd models take images, not tensors");
    detector_params def = detector_params_default();
    if (!prm) prm = &def;
    int w = prm->input_w > 0 ? prm->input_w : d->input_w,
        h = prm->input_h > 0 ? prm->input_h : d->input_h;
    if (w > MAX_INPUT_SIDE || h > MAX_INPUT_SIDE || w < 1 || h < 1)
        return nn_error_set(err, NN_ERR_ARG, "detector: input size %dx%d out of range", w, h);
    if (!input || input->ndim != 4 || input->shape[0] != 1 || input->shape[1] != 3 ||
        input->shape[2] != h || input->shape[3] != w)
        return nn_error_set(err, NN_ERR_SHAPE, "detector: input should be 1x3x%dx%d", h, w);
    if (!(image_w > 0 && image_h > 0))
        return nn_error_set(err, NN_ERR_ARG, "detector: bad image size");
    nn_status st = prepare(d, w, h, err);
    if (st) return st;

    double t0 = now_ms();
    nn_ctx_reset(d->ctx);
    if (!nn_model_forward(d->model, d->ctx, (nn_tensor *)input))
        return nn_error_set(err, nn_ctx_status(d->ctx), "detector: %s", nn_ctx_error(d->ctx));
    double t1 = now_ms();
    d->timing.forward_ms = t1 - t0;
    if (!d->priors_ready && (st = make_priors(d, err))) return st;
    nn_tensor *loc = nn_model_output(d->model, d->loc_id),
              *conf = nn_model_output(d->model, d->conf_id);
    size_t n = (size_t)d->priors.count;
    if (!loc || !conf || loc->numel != n * 4 || conf->numel != n * (size_t)d->num_classes)
        return nn_error_set(
            err, NN_ERR_SHAPE,
            "detector: the net gives %zu box values and %zu scores, but %zu priors x %d "
            "classes need %zu and %zu",
            loc ? loc->numel : 0, conf ? conf->numel : 0, n, d->num_classes, n * 4,
            n * (size_t)d->num_classes);
    if (d->clamp_size) { /* torchvision's BoxCoder: dw, dh at most log(1000/16) */
        const float max_code = logf(1000.0f / 16.0f) / 0.2f;
        for (size_t i = 0; i < n; i++)
            for (int k = 2; k < 4; k++)
                loc->data[i * 4 + k] = fminf(loc->data[i * 4 + k], max_code);
    }
    if (d->arch == ARCH_SSD_VGG16) { /* logits -> class probabilities */
        nn_tensor *probs =
            nn_softmax(d->ctx, nn_reshape(d->ctx, conf, 2, (int[]){(int)n, d->num_classes}), 1);
        if (!probs)
            return nn_error_set(err, nn_ctx_status(d->ctx), "detector: %s", nn_ctx_error(d->ctx));
        conf = probs;
    }

    ssd_detect_params p = d->post;
    p.confidence_threshold = prm->threshold >= 0 ? prm->threshold : d->default_threshold;
    if (prm->nms_iou >= 0) p.nms_threshold = prm->nms_iou;
    if (prm->top_k != 0) p.top_k = prm->top_k;
    if (prm->keep_top_k != 0) p.keep_top_k = prm->keep_top_k;
    if (prm->box_vote > 0) p.vote_iou = p.nms_threshold, p.vote_floor = SSD_VOTE_FLOOR;
    p.clip = d->clip == CLIP_BEFORE_NMS;
    int found = 0;
    if (d->area_offset > 0) {
        if (prm->box_vote > 0)
            return nn_error_set(err, NN_ERR_ARG,
                                "detector: box voting is not supported for AIZOO's NMS");
        found = aizoo_detect(d, loc->data, conf->data, &p);
    } else if ((st = ssd_detect_reuse(&d->priors, loc->data, conf->data, &p, d->found, (int)n,
                                      &found, &d->post_scratch, err))) {
        return st;
    }
    if (found > max_out)
        return nn_error_set(err, NN_ERR_LIMIT, "detector: %d detections but room for %d", found,
                            max_out);
    for (int k = 0; k < found; k++) {
        ssd_detection *o = &d->found[k];
        if (d->clip == CLIP_AFTER_NMS) {
            o->x1 = fminf(fmaxf(o->x1, 0.f), 1.f), o->y1 = fminf(fmaxf(o->y1, 0.f), 1.f);
            o->x2 = fminf(fmaxf(o->x2, 0.f), 1.f), o->y2 = fminf(fmaxf(o->y2, 0.f), 1.f);
        }
        out[k] = *o;
        out[k].x1 *= image_w, out[k].x2 *= image_w;
        out[k].y1 *= image_h, out[k].y2 *= image_h;
    }
    qsort(out, (size_t)found, sizeof *out, cmp_detection);
    *n_out = found;
    d->timing.postprocess_ms = now_ms() - t1;
    return NN_OK;
}

/* Our face SSD: an input size override sets the longer side it runs at. */
static nn_status face_ssd_run(detector *d, const image *img, const detector_params *prm,
                              ssd_detection *out, int max_out, int *n_out, nn_error *err) {
    int saved_long_side = d->fssd.input_long_side;
    bool saved_vote = d->fssd.box_vote;
    if (prm->input_w > 0 || prm->input_h > 0)
        d->fssd.input_long_side = prm->input_w > prm->input_h ? prm->input_w : prm->input_h;
    if (prm->box_vote >= 0) d->fssd.box_vote = prm->box_vote > 0;
    nn_status st = face_ssd_detect(&d->fssd, img, prm->threshold, prm->nms_iou, out, max_out,
                                   n_out, err);
    d->fssd.input_long_side = saved_long_side, d->fssd.box_vote = saved_vote;
    d->timing = (detector_timing){d->fssd.preprocess_ms, d->fssd.forward_ms,
                                  d->fssd.postprocess_ms};
    return st;
}

nn_status detector_detect(detector *d, const image *img, const detector_params *prm,
                          ssd_detection *out, int max_out, int *n_out, nn_error *err) {
    *n_out = 0;
    detector_params def = detector_params_default();
    if (!prm) prm = &def;
    if (!img || !img->pixels || img->width < 1 || img->height < 1 ||
        (img->channels != 3 && img->channels != 1))
        return nn_error_set(err, NN_ERR_ARG, "detector: need a 1- or 3-channel image");
    if (d->arch == ARCH_FACE_SSD) return face_ssd_run(d, img, prm, out, max_out, n_out, err);
    int w = prm->input_w > 0 ? prm->input_w : d->input_w,
        h = prm->input_h > 0 ? prm->input_h : d->input_h;
    if (w > MAX_INPUT_SIDE || h > MAX_INPUT_SIDE)
        return nn_error_set(err, NN_ERR_ARG, "detector: input size %dx%d out of range", w, h);
    double t0 = now_ms();
    nn_status st = prepare(d, w, h, err);
    if (st) return st;
    image sized;
    if ((st = image_resize_into(img, w, h, &d->resized, &sized, err))) return st;
    image_to_chw(&sized, d->mean, d->scale, d->bgr, d->input->data);
    double pre = now_ms() - t0;
    st = detector_detect_tensor(d, d->input, (float)img->width, (float)img->height, prm, out,
                                max_out, n_out, err);
    d->timing.preprocess_ms = pre;
    return st;
}

detector_params detector_params_default(void) {
    return (detector_params){
        .threshold = -1.0f, .nms_iou = -1.0f, .top_k = 0, .keep_top_k = 0, .box_vote = -1};
}

int detector_num_classes(const detector *d) { return d->num_classes; }
const char *detector_class_name(const detector *d, int label) {
    return label >= 0 && label < d->num_classes ? d->classes[label] : "?";
}
float detector_default_threshold(const detector *det) {
    return det->arch == ARCH_FACE_SSD ? det->fssd.conf_threshold : det->default_threshold;
}

void detector_input_size(const detector *d, int *width, int *height) {
    *width = d->input_w, *height = d->input_h;
}
const char *detector_meta(const detector *d, const char *key) {
    return nn_weights_meta(d->file, key);
}
detector_timing detector_last_timing(const detector *d) { return d->timing; }
nn_ctx *detector_ctx(detector *d) { return d->ctx; }
