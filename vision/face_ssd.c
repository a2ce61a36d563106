/*
 * face_ssd.c - the VGG-style face SSD (see face_ssd.h): network, priors,
 * model files and detection.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "face_ssd.h"

static const float VARIANCES[4] = {0.1f, 0.1f, 0.2f, 0.2f};

face_ssd_spec face_ssd_default_spec(void) {
    face_ssd_spec s = {.n_maps = 5,
                       .widths = {16, 32, 48, 96, 160, 160},
                       .n_sizes = {3, 3, 3, 3, 3},
                       .sizes = {{8, 10, 13}, {16, 20, 25}, {32, 40, 50}, {64, 80, 100},
                                 {128, 180, 256}},
                       .n_ratios = 1,
                       .ratios = {1.2f}};
    return s;
}

int face_ssd_stride(int map) { return 4 << map; }

int face_ssd_boxes_per_cell(const face_ssd_spec *spec, int map) {
    return spec->n_sizes[map] * spec->n_ratios;
}

static nn_status check_spec(const face_ssd_spec *s, nn_error *err) {
    if (s->n_maps < 1 || s->n_maps > FACE_SSD_MAX_MAPS || s->n_ratios < 1 ||
        s->n_ratios > FACE_SSD_MAX_RATIOS)
        return nn_error_set(err, NN_ERR_ARG, "face_ssd: %d maps / %d ratios out of range",
                            s->n_maps, s->n_ratios);
    for (int i = 0; i < 6; i++)
        if (s->widths[i] < 1 || s->widths[i] > 4096)
            return nn_error_set(err, NN_ERR_ARG, "face_ssd: width %d of stage %d", s->widths[i], i);
    for (int m = 0; m < s->n_maps; m++) {
        if (s->n_sizes[m] < 1 || s->n_sizes[m] > FACE_SSD_MAX_SIZES)
            return nn_error_set(err, NN_ERR_ARG, "face_ssd: map %d has %d sizes", m, s->n_sizes[m]);
        for (int k = 0; k < s->n_sizes[m]; k++)
            if (!(s->sizes[m][k] > 0.0f && s->sizes[m][k] < 1e5f))
                return nn_error_set(err, NN_ERR_ARG, "face_ssd: bad prior size on map %d", m);
    }
    if (s->top_down < 0 || s->top_down >= s->n_maps)
        return nn_error_set(err, NN_ERR_ARG, "face_ssd: top-down path into %d of %d maps",
                            s->top_down, s->n_maps);
    for (int r = 0; r < s->n_ratios; r++)
        if (!(s->ratios[r] > 0.01f && s->ratios[r] < 100.0f))
            return nn_error_set(err, NN_ERR_ARG, "face_ssd: bad aspect ratio %g",
                                (double)s->ratios[r]);
    return NN_OK;
}

/* ------------------------------------------------------------- network */

typedef struct {
    nn_model *m;
    int last;
    bool ok;
} builder;

static void conv_bn_relu(builder *b, const char *name, int cout, int stride) {
    if (!b->ok) return;
    nn_conv2d_params p = nn_conv2d_default();
    p.stride_h = p.stride_w = stride;
    p.pad_h = p.pad_w = 1;
    char bn[64], relu[64];
    snprintf(bn, sizeof bn, "%s_bn", name);
    snprintf(relu, sizeof relu, "%s_relu", name);
    int id = nn_model_conv2d(b->m, name, b->last, cout, 3, &p, false);
    id = id < 0 ? -1 : nn_model_batch_norm(b->m, bn, id, 0.1f, 1e-5f);
    id = id < 0 ? -1 : nn_model_relu(b->m, relu, id);
    b->last = id;
    b->ok = id >= 0;
}

static void pool(builder *b, const char *name) {
    if (!b->ok) return;
    nn_pool2d_params p = nn_pool2d_default(2, 2);
    p.ceil_mode = true;
    b->last = nn_model_max_pool2d(b->m, name, b->last, &p);
    b->ok = b->last >= 0;
}

static int head(builder *b, const char *name, int src, int cout) {
    if (!b->ok) return -1;
    nn_conv2d_params p = nn_conv2d_default();
    p.pad_h = p.pad_w = 1;
    char n1[64], n2[64];
    snprintf(n1, sizeof n1, "%s_perm", name);
    snprintf(n2, sizeof n2, "%s_flat", name);
    int perm[4] = {0, 2, 3, 1};
    int id = nn_model_conv2d(b->m, name, src, cout, 3, &p, true);
    id = id < 0 ? -1 : nn_model_permute(b->m, n1, id, 4, perm);
    id = id < 0 ? -1 : nn_model_flatten(b->m, n2, id);
    b->ok = id >= 0;
    return id;
}

/* fused[m] = src[m] + upsample2x(lat(fused[m+1])), lat a 1x1 conv to `width`
 * channels; src[m + 1] already holds fused[m + 1]. */
static int top_down(builder *b, int m, const int *src, int width) {
    char lat[16], up[16], sum[16];
    snprintf(lat, sizeof lat, "lat%d", m);
    snprintf(up, sizeof up, "up%d", m);
    snprintf(sum, sizeof sum, "fuse%d", m);
    nn_conv2d_params p = nn_conv2d_default();
    int id = nn_model_conv2d(b->m, lat, src[m + 1], width, 1, &p, true);
    id = id < 0 ? -1 : nn_model_upsample2x(b->m, up, id, src[m]);
    id = id < 0 ? -1 : nn_model_add(b->m, sum, src[m], id);
    b->ok = id >= 0;
    return id;
}

nn_status face_ssd_build(const face_ssd_spec *spec, int num_classes,
                         const char *const *class_names, face_ssd *out, nn_error *err) {
    memset(out, 0, sizeof *out);
    if (!spec || check_spec(spec, err) != NN_OK) return spec ? err->code : NN_ERR_ARG;
    if (num_classes < 2 || num_classes > FACE_SSD_MAX_CLASSES)
        return nn_error_set(err, NN_ERR_ARG, "face_ssd: %d classes (2..%d with background)",
                            num_classes, FACE_SSD_MAX_CLASSES);
    out->spec = *spec;
    out->num_classes = num_classes;
    for (int c = 0; c < num_classes; c++) {
        const char *n = class_names ? class_names[c] : (c == 0 ? "background" : "face");
        snprintf(out->class_names[c], sizeof out->class_names[c], "%s", n ? n : "?");
    }
    out->input_scale = 1.0f;
    out->conf_threshold = 0.5f;
    out->nms_threshold = 0.4f;
    out->box_vote = true;
    builder b = {.m = nn_model_create(3), .last = NN_MODEL_INPUT, .ok = true};
    if (!b.m) return nn_error_set(err, NN_ERR_NOMEM, "face_ssd: out of memory");
    const int *w = spec->widths;
    conv_bn_relu(&b, "conv1", w[0], 2);
    pool(&b, "pool1");
    int src[FACE_SSD_MAX_MAPS];
    for (int m = 0; m < spec->n_maps; m++) {
        char name[32];
        if (m > 0) {
            snprintf(name, sizeof name, "pool%d", m + 1);
            pool(&b, name);
        }
        snprintf(name, sizeof name, "conv%d_1", m + 2);
        conv_bn_relu(&b, name, w[m + 1], 1);
        if (m < 4) { /* the last (stride 64) stage has one conv */
            snprintf(name, sizeof name, "conv%d_2", m + 2);
            conv_bn_relu(&b, name, w[m + 1], 1);
        }
        src[m] = b.last;
    }
    for (int m = spec->top_down - 1; m >= 0 && b.ok; m--) src[m] = top_down(&b, m, src, w[m + 1]);
    int loc[FACE_SSD_MAX_MAPS], conf[FACE_SSD_MAX_MAPS];
    for (int m = 0; m < spec->n_maps; m++) {
        char name[16];
        int a = face_ssd_boxes_per_cell(spec, m);
        snprintf(name, sizeof name, "loc%d", m);
        loc[m] = head(&b, name, src[m], a * 4);
        snprintf(name, sizeof name, "conf%d", m);
        conf[m] = head(&b, name, src[m], a * num_classes);
    }
    if (b.ok) out->loc_id = nn_model_concat(b.m, "loc", spec->n_maps, loc, 1);
    if (b.ok) out->conf_id = nn_model_concat(b.m, "conf", spec->n_maps, conf, 1);
    if (!b.ok || out->loc_id < 0 || out->conf_id < 0) {
        nn_status st = nn_error_set(err, NN_ERR_STATE, "face_ssd: %s", nn_model_error(b.m));
        nn_model_free(b.m);
        memset(out, 0, sizeof *out);
        return st;
    }
    for (int m = 0; m < spec->n_maps; m++) out->source_id[m] = src[m];
    out->model = b.m;
    ssd_priors_init(&out->priors);
    return NN_OK;
}

void face_ssd_free(face_ssd *f) {
    if (!f) return;
    nn_model_free(f->model);
    nn_ctx_destroy(f->ctx);
    ssd_priors_free(&f->priors);
    image_buffer_free(&f->resized);
    nn_aligned_free(f->input);
    ssd_scratch_free(&f->post);
    memset(f, 0, sizeof *f);
}

/* Map side after conv1 (stride 2, pad 1, k 3) and k ceil-mode 2x2 pools. */
static int map_side(int in, int map) {
    int s = (in - 1) / 2 + 1;              /* conv1 */
    for (int k = 0; k <= map; k++) s = (s + 1) / 2; /* pool1 .. pool(map+1) */
    return s;
}

double face_ssd_flops(const face_ssd *f, int in_w, int in_h) {
    const face_ssd_spec *s = &f->spec;
    double fl = 2.0 * map_side(in_w, -1) * map_side(in_h, -1) * s->widths[0] * 27;
    int cin = s->widths[0];
    for (int m = 0; m < s->n_maps; m++) {
        double px = (double)map_side(in_w, m) * map_side(in_h, m);
        int c = s->widths[m + 1];
        fl += 2.0 * px * c * cin * 9;
        if (m < 4) fl += 2.0 * px * c * c * 9;
        fl += 2.0 * px * face_ssd_boxes_per_cell(s, m) * (4 + f->num_classes) * c * 9;
        if (m < s->top_down) /* the 1x1 conv at map m + 1's size into map m */
            fl += 2.0 * map_side(in_w, m + 1) * map_side(in_h, m + 1) * c * s->widths[m + 2];
        cin = c;
    }
    return fl;
}

/* ------------------------------------------------------------- priors */

nn_status face_ssd_priors(const face_ssd_spec *spec, int in_w, int in_h, ssd_priors *out,
                          nn_error *err) {
    if (check_spec(spec, err) != NN_OK) return err->code;
    if (in_w < 1 || in_h < 1 || in_w > IMAGE_MAX_SIDE || in_h > IMAGE_MAX_SIDE)
        return nn_error_set(err, NN_ERR_ARG, "face_ssd: bad input size %dx%d", in_w, in_h);
    long long total = 0;
    for (int m = 0; m < spec->n_maps; m++)
        total += (long long)map_side(in_w, m) * map_side(in_h, m) *
                 face_ssd_boxes_per_cell(spec, m);
    if (total + out->count > SSD_MAX_PRIORS)
        return nn_error_set(err, NN_ERR_LIMIT, "face_ssd: %lld priors exceed the limit", total);
    int need = out->count + (int)total;
    if (need > out->capacity) {
        float *b = realloc(out->boxes, (size_t)need * 4 * sizeof(float));
        if (b) out->boxes = b;
        float *v = b ? realloc(out->variances, (size_t)need * 4 * sizeof(float)) : NULL;
        if (!b || !v) return nn_error_set(err, NN_ERR_NOMEM, "face_ssd: out of memory for priors");
        out->variances = v;
        out->capacity = need;
    }
    for (int m = 0; m < spec->n_maps; m++) {
        int fw = map_side(in_w, m), fh = map_side(in_h, m), stride = face_ssd_stride(m);
        for (int y = 0; y < fh; y++)
            for (int x = 0; x < fw; x++)
                for (int k = 0; k < spec->n_sizes[m]; k++)
                    for (int r = 0; r < spec->n_ratios; r++) {
                        float cx = (x + 0.5f) * stride, cy = (y + 0.5f) * stride;
                        float sq = sqrtf(spec->ratios[r]);
                        float bw = spec->sizes[m][k] / sq, bh = spec->sizes[m][k] * sq;
                        float *b = out->boxes + (size_t)out->count * 4;
                        b[0] = (cx - bw / 2) / in_w, b[1] = (cy - bh / 2) / in_h;
                        b[2] = (cx + bw / 2) / in_w, b[3] = (cy + bh / 2) / in_h;
                        memcpy(out->variances + (size_t)out->count * 4, VARIANCES,
                               sizeof VARIANCES);
                        out->count++;
                    }
    }
    return NN_OK;
}

/* Parses up to max comma-separated numbers; returns the count or -1. */
static int parse_floats(const char *s, float *out, int max);

nn_status face_ssd_parse_sizes(const char *text, face_ssd_spec *spec, nn_error *err) {
    int m = 0;
    const char *sz = text;
    while (*sz && m < FACE_SSD_MAX_MAPS) {
        char part[128];
        size_t len = strcspn(sz, ";");
        if (len >= sizeof part) break;
        memcpy(part, sz, len);
        part[len] = '\0';
        spec->n_sizes[m] = parse_floats(part, spec->sizes[m], FACE_SSD_MAX_SIZES);
        if (spec->n_sizes[m] < 1) break;
        for (int k = 0; k < spec->n_sizes[m]; k++)
            if (!(spec->sizes[m][k] > 0.0f && spec->sizes[m][k] < 1e5f))
                return nn_error_set(err, NN_ERR_ARG, "prior sizes \"%s\": bad size", text);
        m++;
        sz += len + (sz[len] == ';');
        if (sz[-1] == ';' && !*sz) m = -1; /* a trailing ';' names an empty map */
    }
    if (m < 1 || *sz)
        return nn_error_set(err, NN_ERR_ARG,
                            "prior sizes \"%s\": want 1..%d maps of 1..%d sizes (8,10;16,20;...)",
                            text, FACE_SSD_MAX_MAPS, FACE_SSD_MAX_SIZES);
    spec->n_maps = m;
    return NN_OK;
}

void face_ssd_format_sizes(const face_ssd_spec *spec, char *buf, size_t len) {
    size_t used = 0;
    buf[0] = '\0';
    for (int m = 0; m < spec->n_maps; m++)
        for (int k = 0; k < spec->n_sizes[m] && used < len; k++)
            used += (size_t)snprintf(buf + used, len - used, "%s%g", k ? "," : (m ? ";" : ""),
                                     (double)spec->sizes[m][k]);
}

/* ------------------------------------------------------------- model files */

static nn_status set_meta_list(nn_weights *w, const char *key, const float *v, int n,
                               const char *sep_after_each, nn_error *err) {
    char buf[256] = "";
    size_t len = 0;
    for (int i = 0; i < n && len < sizeof buf; i++)
        len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%g", i ? sep_after_each : "",
                                (double)v[i]);
    return nn_weights_set_meta(w, key, buf, err);
}

nn_status face_ssd_to_weights(const face_ssd *f, nn_weights *w, nn_dtype dtype, nn_error *err) {
    if (nn_model_to_weights(f->model, w, dtype, err) != NN_OK) return err->code;
    const face_ssd_spec *s = &f->spec;
    char buf[512], classes[FACE_SSD_MAX_CLASSES * 33] = "";
    size_t len = 0;
    for (int c = 0; c < f->num_classes; c++)
        len += (size_t)snprintf(classes + len, sizeof classes - len, "%s%s", c ? "," : "",
                                f->class_names[c]);
    float widths[6], strides[FACE_SSD_MAX_MAPS];
    for (int i = 0; i < 6; i++) widths[i] = (float)s->widths[i];
    for (int m = 0; m < s->n_maps; m++) strides[m] = (float)face_ssd_stride(m);
    face_ssd_format_sizes(s, buf, sizeof buf);
    char num[32];
    struct {
        const char *k, *v;
    } kv[] = {{"kind", "detector"},
              {"arch", "face_ssd"},
              {"classes", classes},
              {"input.channel_order", "rgb"},
              {"input.mean", "127.5,127.5,127.5"},
              {"input.scale", "0.0078431373,0.0078431373,0.0078431373"},
              {"input.resize", "native"},
              {"face_ssd.sizes", buf}};
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
        if (nn_weights_set_meta(w, kv[i].k, kv[i].v, err) != NN_OK) return err->code;
    if (set_meta_list(w, "face_ssd.widths", widths, 6, ",", err) != NN_OK ||
        set_meta_list(w, "face_ssd.strides", strides, s->n_maps, ",", err) != NN_OK ||
        set_meta_list(w, "face_ssd.ratios", s->ratios, s->n_ratios, ",", err) != NN_OK ||
        set_meta_list(w, "face_ssd.variances", VARIANCES, 4, ",", err) != NN_OK ||
        set_meta_list(w, "face_ssd.input_scale", &f->input_scale, 1, ",", err) != NN_OK ||
        set_meta_list(w, "face_ssd.input_long_side", &(float){(float)f->input_long_side}, 1, ",",
                      err) != NN_OK ||
        set_meta_list(w, "ssd.threshold", &f->conf_threshold, 1, ",", err) != NN_OK ||
        set_meta_list(w, "ssd.nms", &f->nms_threshold, 1, ",", err) != NN_OK)
        return err->code;
    if (s->top_down > 0 &&
        set_meta_list(w, "face_ssd.top_down", &(float){(float)s->top_down}, 1, ",", err) != NN_OK)
        return err->code;
    snprintf(num, sizeof num, "%d", 640);
    if (nn_weights_set_meta(w, "input.width", num, err) != NN_OK) return err->code;
    snprintf(num, sizeof num, "%d", 480);
    return nn_weights_set_meta(w, "input.height", num, err);
}

/* Parses up to max comma-separated numbers; returns the count or -1. */
static int parse_floats(const char *s, float *out, int max) {
    int n = 0;
    while (s && *s) {
        if (n == max) return -1;
        char *end;
        double v = strtod(s, &end);
        if (end == s || !isfinite(v)) return -1;
        out[n++] = (float)v;
        s = end;
        if (*s == ',') s++;
        else if (*s) return -1;
    }
    return n;
}

static nn_status meta_floats(const nn_weights *w, const char *key, float *out, int min, int max,
                             int *n, nn_error *err) {
    const char *v = nn_weights_meta(w, key);
    int got = v ? parse_floats(v, out, max) : -1;
    if (got < min)
        return nn_error_set(err, NN_ERR_FORMAT, "face_ssd model: metadata %s is %s%s%s", key,
                            v ? "\"" : "missing", v ? v : "", v ? "\" (bad list)" : "");
    if (n) *n = got;
    return NN_OK;
}

bool face_ssd_is_model(const nn_weights *w) {
    const char *kind = nn_weights_meta(w, "kind"), *arch = nn_weights_meta(w, "arch");
    return kind && arch && !strcmp(kind, "detector") && !strcmp(arch, "face_ssd");
}

nn_status face_ssd_from_weights(const nn_weights *w, face_ssd *out, nn_error *err) {
    memset(out, 0, sizeof *out);
    if (!face_ssd_is_model(w))
        return nn_error_set(err, NN_ERR_FORMAT, "not a face_ssd detector (kind/arch metadata)");
    face_ssd_spec s = {0};
    float widths[6], strides[FACE_SSD_MAX_MAPS], one;
    int n_strides;
    if (meta_floats(w, "face_ssd.widths", widths, 6, 6, NULL, err) != NN_OK ||
        meta_floats(w, "face_ssd.strides", strides, 1, FACE_SSD_MAX_MAPS, &n_strides, err) != NN_OK ||
        meta_floats(w, "face_ssd.ratios", s.ratios, 1, FACE_SSD_MAX_RATIOS, &s.n_ratios, err) !=
            NN_OK)
        return err->code;
    for (int i = 0; i < 6; i++) s.widths[i] = (int)widths[i];
    s.n_maps = n_strides;
    for (int m = 0; m < n_strides; m++)
        if (strides[m] != (float)face_ssd_stride(m))
            return nn_error_set(err, NN_ERR_FORMAT, "face_ssd model: stride %g of map %d (want %d)",
                                (double)strides[m], m, face_ssd_stride(m));
    if (nn_weights_meta(w, "face_ssd.top_down")) { /* absent: 0, as before it existed */
        if (meta_floats(w, "face_ssd.top_down", &one, 1, 1, NULL, err) != NN_OK) return err->code;
        if (!(one >= 0 && one < n_strides && one == (float)(int)one))
            return nn_error_set(err, NN_ERR_FORMAT, "face_ssd model: top_down %g with %d maps",
                                (double)one, n_strides);
        s.top_down = (int)one;
    }
    const char *sz = nn_weights_meta(w, "face_ssd.sizes");
    face_ssd_spec parsed = s;
    if (!sz || face_ssd_parse_sizes(sz, &parsed, err) != NN_OK || parsed.n_maps != s.n_maps)
        return nn_error_set(err, NN_ERR_FORMAT,
                            "face_ssd model: metadata face_ssd.sizes does not give %d maps",
                            s.n_maps);
    s = parsed;
    const char *classes = nn_weights_meta(w, "classes");
    char names[FACE_SSD_MAX_CLASSES][32];
    const char *name_ptr[FACE_SSD_MAX_CLASSES];
    int nc = 0;
    while (classes && *classes && nc < FACE_SSD_MAX_CLASSES) {
        size_t len = strcspn(classes, ",");
        snprintf(names[nc], sizeof names[nc], "%.*s", (int)(len < 31 ? len : 31), classes);
        name_ptr[nc] = names[nc];
        nc++;
        classes += len + (classes[len] == ',');
    }
    if (nc < 2 || (classes && *classes))
        return nn_error_set(err, NN_ERR_FORMAT, "face_ssd model: bad classes metadata");
    if (face_ssd_build(&s, nc, name_ptr, out, err) != NN_OK) return err->code;
    if (nn_model_load_weights(out->model, w, err) != NN_OK ||
        nn_model_fold_batch_norm(out->model, err) != NN_OK) {
        face_ssd_free(out);
        return err->code;
    }
    nn_model_freeze(out->model); /* inference only: keep conv weights packed */
    if (meta_floats(w, "face_ssd.input_scale", &one, 0, 1, NULL, err) == NN_OK &&
        nn_weights_meta(w, "face_ssd.input_scale") && one > 0.05f && one <= 8.0f)
        out->input_scale = one;
    if (nn_weights_meta(w, "face_ssd.input_long_side") &&
        meta_floats(w, "face_ssd.input_long_side", &one, 1, 1, NULL, err) == NN_OK && one >= 0 &&
        one <= IMAGE_MAX_SIDE)
        out->input_long_side = (int)one;
    if (nn_weights_meta(w, "ssd.threshold") &&
        meta_floats(w, "ssd.threshold", &one, 1, 1, NULL, err) == NN_OK)
        out->conf_threshold = one;
    if (nn_weights_meta(w, "ssd.nms") && meta_floats(w, "ssd.nms", &one, 1, 1, NULL, err) == NN_OK)
        out->nms_threshold = one;
    return NN_OK;
}

nn_status face_ssd_load(const char *path, face_ssd *out, nn_error *err) {
    memset(out, 0, sizeof *out);
    nn_weights *w = NULL;
    if (nn_weights_load(path, &w, err) != NN_OK) return err->code;
    nn_status st = face_ssd_from_weights(w, out, err);
    if (st != NN_OK && err->msg[0]) {
        char msg[NN_ERROR_MSG_LEN];
        snprintf(msg, sizeof msg, "%s", err->msg);
        nn_error_set(err, st, "%s: %s", path, msg);
    }
    nn_weights_free(w);
    return st;
}

/* ------------------------------------------------------------- detection */

/* The image size times input_scale (or scaled to input_long_side), at least 1 x 1. */
static void scaled_size(const face_ssd *f, const image *img, int *w, int *h) {
    *w = img->width, *h = img->height;
    float scale = f->input_scale;
    if (f->input_long_side > 0)
        scale = (float)f->input_long_side / (float)(img->width > img->height ? img->width : img->height);
    if (scale != 1.0f) {
        *w = (int)lroundf(img->width * scale);
        *h = (int)lroundf(img->height * scale);
        *w = *w < 1 ? 1 : (*w > IMAGE_MAX_SIDE ? IMAGE_MAX_SIDE : *w);
        *h = *h < 1 ? 1 : (*h > IMAGE_MAX_SIDE ? IMAGE_MAX_SIDE : *h);
    }
}

/* Smallest input side for which every pooling still sees 2 x 2 cells. */
static int min_input_side(const face_ssd *f) { return 4 << (f->spec.n_maps - 1); }

/* Grows *buf (64-byte aligned, for the kernels) to at least n floats. */
static bool reserve_floats(float **buf, size_t *cap, size_t n) {
    if (n <= *cap) return true;
    float *grown = nn_aligned_alloc(n * sizeof(float));
    if (!grown) return false;
    nn_aligned_free(*buf);
    *buf = grown;
    *cap = n;
    return true;
}

/* (px - 127.5) / 127.5 as CHW planes nw x nh, the image in the top-left corner
 * and zeros (the mean) right and below it; a grey image fills all three planes. */
static void to_padded_chw(const image *src, int nw, int nh, float *out) {
    const float mean[3] = {127.5f, 127.5f, 127.5f}, scale[3] = {1 / 127.5f, 1 / 127.5f, 1 / 127.5f};
    if (nw == src->width && nh == src->height) {
        image_to_chw(src, mean, scale, false, out);
        return;
    }
    memset(out, 0, (size_t)3 * nw * nh * sizeof(float));
    int c = src->channels;
    for (int oc = 0; oc < 3; oc++)
        for (int y = 0; y < src->height; y++) {
            const uint8_t *p = src->pixels + (size_t)y * src->width * c + (c == 1 ? 0 : oc);
            float *o = out + ((size_t)oc * nh + y) * nw;
            for (int x = 0; x < src->width; x++) o[x] = ((float)p[x * c] - mean[oc]) * scale[oc];
        }
}

/* The network input of img into *input (grown as needed), the resized image in `resized`. */
static nn_status preprocess_into(const face_ssd *f, const image *img, image_buffer *resized,
                                 float **input, size_t *input_cap, int *in_w, int *in_h,
                                 nn_error *err) {
    if (!img || !img->pixels || (img->channels != 1 && img->channels != 3))
        return nn_error_set(err, NN_ERR_ARG, "face_ssd: need a grey or RGB image");
    int w, h;
    scaled_size(f, img, &w, &h);
    image scaled;
    const image *src = img;
    if (w != img->width || h != img->height) {
        if (image_resize_into(img, w, h, resized, &scaled, err) != NN_OK) return err->code;
        src = &scaled;
    }
    /* tiny images are padded right and bottom with the mean (0 after scaling) */
    int nw = w < min_input_side(f) ? min_input_side(f) : w;
    int nh = h < min_input_side(f) ? min_input_side(f) : h;
    if (!reserve_floats(input, input_cap, (size_t)3 * nw * nh))
        return nn_error_set(err, NN_ERR_NOMEM, "face_ssd: out of memory for a %dx%d input", nw, nh);
    to_padded_chw(src, nw, nh, *input);
    *in_w = nw, *in_h = nh;
    return NN_OK;
}

nn_status face_ssd_preprocess(const face_ssd *f, const image *img, float **chw, int *in_w,
                              int *in_h, nn_error *err) {
    *chw = NULL;
    image_buffer resized = {0};
    size_t cap = 0;
    nn_status st = preprocess_into(f, img, &resized, chw, &cap, in_w, in_h, err);
    image_buffer_free(&resized);
    if (st != NN_OK) {
        nn_aligned_free(*chw);
        *chw = NULL;
    }
    return st;
}

nn_status face_ssd_preprocess_reuse(face_ssd *f, const image *img, const float **chw, int *in_w,
                                    int *in_h, nn_error *err) {
    nn_status st = preprocess_into(f, img, &f->resized, &f->input, &f->input_cap, in_w, in_h, err);
    *chw = st == NN_OK ? f->input : NULL;
    return st;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

nn_status face_ssd_detect(face_ssd *f, const image *img, float conf_threshold,
                          float nms_threshold, ssd_detection *out, int max_out, int *n_out,
                          nn_error *err) {
    *n_out = 0;
    f->preprocess_ms = f->forward_ms = f->postprocess_ms = 0;
    double t0 = now_ms();
    const float *chw;
    int w, h;
    if (face_ssd_preprocess_reuse(f, img, &chw, &w, &h, err) != NN_OK) return err->code;
    if (!f->ctx) {
        f->ctx = nn_ctx_create();
        if (!f->ctx) return nn_error_set(err, NN_ERR_NOMEM, "face_ssd: out of memory");
        nn_ctx_set_grad_enabled(f->ctx, false);
        nn_ctx_set_training(f->ctx, false);
    }
    if (f->priors_w != w || f->priors_h != h) {
        ssd_priors_free(&f->priors);
        f->priors_w = f->priors_h = 0;
        if (face_ssd_priors(&f->spec, w, h, &f->priors, err) != NN_OK) return err->code;
        f->priors_w = w, f->priors_h = h;
    }
    double t1 = now_ms();
    /* the forward pass only reads its input */
    nn_tensor x = {.data = (float *)chw, .ndim = 4, .shape = {1, 3, h, w},
                   .numel = (size_t)3 * w * h};
    nn_ctx_reset(f->ctx);
    nn_model_forward(f->model, f->ctx, &x);
    nn_tensor *loc = nn_model_output(f->model, f->loc_id);
    nn_tensor *conf = nn_model_output(f->model, f->conf_id);
    if (nn_ctx_status(f->ctx) != NN_OK || !loc || !conf)
        return nn_error_set(err, nn_ctx_status(f->ctx) ? nn_ctx_status(f->ctx) : NN_ERR_STATE,
                            "face_ssd: %s", nn_ctx_error(f->ctx));
    double t2 = now_ms();
    int np = f->priors.count, nc = f->num_classes;
    if (loc->numel != (size_t)np * 4 || conf->numel != (size_t)np * nc)
        return nn_error_set(err, NN_ERR_SHAPE, "face_ssd: heads do not match %d priors", np);
    /* softmax per prior, in place (the ctx's activations are ours until reset) */
    for (int p = 0; p < np; p++) {
        float *z = conf->data + (size_t)p * nc, zmax = z[0], sum = 0.0f;
        for (int c = 1; c < nc; c++) zmax = z[c] > zmax ? z[c] : zmax;
        for (int c = 0; c < nc; c++) sum += (z[c] = expf(z[c] - zmax));
        for (int c = 0; c < nc; c++) z[c] /= sum;
    }
    ssd_detect_params dp = ssd_detect_default(nc);
    dp.confidence_threshold = conf_threshold >= 0 ? conf_threshold : f->conf_threshold;
    dp.nms_threshold = nms_threshold >= 0 ? nms_threshold : f->nms_threshold;
    dp.top_k = 2000;
    dp.keep_top_k = max_out;
    dp.class_agnostic = nc > 2;
    /* normalised coordinates are of the (padded) input: back to image pixels */
    int sw, sh;
    scaled_size(f, img, &sw, &sh);
    dp.image_w = (float)img->width * w / sw, dp.image_h = (float)img->height * h / sh;
    dp.clip = false;
    if (f->box_vote) dp.vote_iou = dp.nms_threshold, dp.vote_floor = SSD_VOTE_FLOOR;
    nn_status st =
        ssd_detect_reuse(&f->priors, loc->data, conf->data, &dp, out, max_out, n_out, &f->post, err);
    /* A pass that outgrew the arena left it in several blocks; resetting now
     * merges them, so the next frame of this size allocates nothing. */
    nn_ctx_reset(f->ctx);
    f->preprocess_ms = t1 - t0, f->forward_ms = t2 - t1, f->postprocess_ms = now_ms() - t2;
    return st;
}
