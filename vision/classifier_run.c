/*
 * classifier_run.c - load a classifier .nnw, fold batch norm, run face crops
 * (see classifier_run.h).
 *
 * The runner keeps one ctx (its arena grows to the largest batch seen and is
 * reused), one input tensor whose capacity grows the same way (a smaller
 * batch uses the front of it with a smaller leading dimension), and the
 * buffers a crop and its resized copy are made in, so a video loop that
 * classifies the faces of every frame allocates nothing once warmed up
 * (classifier_run_reserve warms it up for a batch size).
 */
#include "classifier_run.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "classifier.h"

struct classifier_runner {
    classifier_info info;
    nn_model *model;
    nn_ctx *ctx;
    nn_tensor *input; /* [capacity, 3, h, w]; shape[0] set per call */
    int capacity;
    float *pair_probs; /* [capacity][n_classes]: classifier_run_faces_mirrored's output */
    int largest_run; /* the largest batch the network has run: the arena holds it */
    image_buffer crop, sized; /* one face crop and its copy at the input size */
};

const classifier_info *classifier_run_info(const classifier_runner *r) { return &r->info; }

int classifier_argmax(const float *probs, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (probs[i] > probs[best]) best = i;
    return best;
}

/* "a,b,c" -> three floats. */
static bool parse_three(const char *text, float *out) {
    const char *p = text;
    for (int i = 0; i < 3; i++) {
        char *end;
        double v = strtod(p, &end);
        if (end == p || !isfinite(v)) return false;
        out[i] = (float)v;
        p = end;
        if (i < 2) {
            if (*p != ',') return false;
            p++;
        }
    }
    return *p == '\0';
}

static nn_status parse_int(const nn_weights *w, const char *key, int lo, int hi, int *out,
                           nn_error *err) {
    const char *text = nn_weights_meta(w, key);
    if (!text) return nn_error_set(err, NN_ERR_FORMAT, "classifier file: no '%s' metadata", key);
    char *end;
    long v = strtol(text, &end, 10);
    if (end == text || *end || v < lo || v > hi)
        return nn_error_set(err, NN_ERR_FORMAT, "classifier file: %s '%s' not in %d..%d", key,
                            text, lo, hi);
    *out = (int)v;
    return NN_OK;
}

/* Reads everything the metadata says into info. */
static nn_status read_info(const nn_weights *w, classifier_info *info, nn_error *err) {
    memset(info, 0, sizeof *info);
    const char *kind = nn_weights_meta(w, "kind");
    if (!kind || strcmp(kind, "classifier") != 0)
        return nn_error_set(err, NN_ERR_FORMAT, "not a classifier file (kind is '%s')",
                            kind ? kind : "missing");
    const char *arch = nn_weights_meta(w, "arch");
    if (!arch || !classifier_default_input(arch))
        return nn_error_set(err, NN_ERR_FORMAT, "classifier file: unknown arch '%s'",
                            arch ? arch : "missing");
    snprintf(info->arch, sizeof info->arch, "%s", arch);
    nn_status st = parse_int(w, "input.width", 8, 1024, &info->input_w, err);
    if (!st) st = parse_int(w, "input.height", 8, 1024, &info->input_h, err);
    if (st) return st;
    if (info->input_w != info->input_h)
        return nn_error_set(err, NN_ERR_FORMAT, "classifier file: input %dx%d is not square",
                            info->input_w, info->input_h);
    const char *mean = nn_weights_meta(w, "input.mean"), *scale = nn_weights_meta(w, "input.scale");
    if (!mean || !parse_three(mean, info->mean))
        return nn_error_set(err, NN_ERR_FORMAT, "classifier file: bad input.mean '%s'",
                            mean ? mean : "missing");
    if (!scale || !parse_three(scale, info->scale))
        return nn_error_set(err, NN_ERR_FORMAT, "classifier file: bad input.scale '%s'",
                            scale ? scale : "missing");
    const char *order = nn_weights_meta(w, "input.channel_order");
    if (order && strcmp(order, "rgb") != 0 && strcmp(order, "bgr") != 0)
        return nn_error_set(err, NN_ERR_FORMAT, "classifier file: channel order '%s'", order);
    info->bgr = order && !strcmp(order, "bgr");
    const char *classes = nn_weights_meta(w, "classes");
    if (!classes) return nn_error_set(err, NN_ERR_FORMAT, "classifier file: no 'classes'");
    for (const char *p = classes;;) {
        size_t len = strcspn(p, ",");
        if (len == 0 || len >= CLASSIFIER_CLASS_NAME_LEN ||
            info->n_classes == CLASSIFIER_MAX_CLASSES)
            return nn_error_set(err, NN_ERR_FORMAT, "classifier file: bad classes '%s'", classes);
        memcpy(info->classes[info->n_classes], p, len);
        info->classes[info->n_classes++][len] = '\0';
        if (!p[len]) break;
        p += len + 1;
    }
    if (info->n_classes < 2)
        return nn_error_set(err, NN_ERR_FORMAT, "classifier file: fewer than 2 classes");
    const char *margin = nn_weights_meta(w, "crop.margin");
    if (margin) {
        char *end;
        double v = strtod(margin, &end);
        if (end == margin || *end || !(v >= 0 && v <= 10))
            return nn_error_set(err, NN_ERR_FORMAT, "classifier file: bad crop.margin '%s'",
                                margin);
        info->crop_margin = (float)v;
    }
    return NN_OK;
}

nn_status classifier_run_from_weights(const nn_weights *w, classifier_runner **out,
                                      nn_error *err) {
    *out = NULL;
    classifier_runner *r = calloc(1, sizeof *r);
    if (!r) return nn_error_set(err, NN_ERR_NOMEM, "out of memory");
    nn_status st = read_info(w, &r->info, err);
    if (!st) st = classifier_build(r->info.arch, r->info.input_w, r->info.n_classes, &r->model, err);
    if (!st) st = nn_model_load_weights(r->model, w, err);
    if (!st) st = nn_model_fold_batch_norm(r->model, err);
    if (!st) nn_model_freeze(r->model); /* inference only: conv weights stay packed */
    if (!st && !(r->ctx = nn_ctx_create())) st = nn_error_set(err, NN_ERR_NOMEM, "out of memory");
    if (st) {
        classifier_run_free(r);
        return st;
    }
    nn_ctx_set_grad_enabled(r->ctx, false);
    nn_ctx_set_training(r->ctx, false);
    *out = r;
    return NN_OK;
}

nn_status classifier_run_load(const char *path, classifier_runner **out, nn_error *err) {
    *out = NULL;
    nn_weights *w;
    nn_status st = nn_weights_load(path, &w, err);
    if (st) return st;
    st = classifier_run_from_weights(w, out, err);
    nn_weights_free(w);
    if (st) {
        /* say which file */
        char msg[NN_ERROR_MSG_LEN];
        snprintf(msg, sizeof msg, "%s", err ? err->msg : "");
        nn_error_set(err, st, "%s: %s", path, msg);
    }
    return st;
}

void classifier_run_free(classifier_runner *r) {
    if (!r) return;
    nn_model_free(r->model);
    nn_ctx_destroy(r->ctx);
    nn_tensor_free(r->input);
    free(r->pair_probs);
    image_buffer_free(&r->crop);
    image_buffer_free(&r->sized);
    free(r);
}

/* The input tensor with n rows (grown when n exceeds the capacity). */
static nn_status input_for(classifier_runner *r, int n, nn_error *err) {
    if (n < 1 || n > 65536) return nn_error_set(err, NN_ERR_ARG, "batch of %d crops", n);
    if (n > r->capacity) {
        nn_tensor_free(r->input), free(r->pair_probs);
        r->input = nn_tensor_new4(n, 3, r->info.input_h, r->info.input_w);
        r->pair_probs = malloc((size_t)n * (size_t)r->info.n_classes * sizeof *r->pair_probs);
        r->capacity = r->input && r->pair_probs ? n : 0;
        if (!r->capacity) {
            nn_tensor_free(r->input), free(r->pair_probs);
            r->input = NULL, r->pair_probs = NULL;
            return nn_error_set(err, NN_ERR_NOMEM, "out of memory for %d crops", n);
        }
    }
    r->input->shape[0] = n;
    r->input->numel = (size_t)n * 3 * (size_t)r->info.input_h * (size_t)r->info.input_w;
    return NN_OK;
}

/* Forward of r->input, softmax into probs. */
static nn_status run_input(classifier_runner *r, int n, float *probs, nn_error *err) {
    nn_ctx_reset(r->ctx);
    nn_tensor *logits = nn_model_forward(r->model, r->ctx, r->input);
    nn_tensor *p = logits ? nn_softmax(r->ctx, logits, 1) : NULL;
    if (!p)
        return nn_error_set(err, nn_ctx_status(r->ctx) ? nn_ctx_status(r->ctx) : NN_ERR_STATE,
                            "classifier: %s", nn_ctx_error(r->ctx));
    if (p->ndim != 2 || p->shape[0] != n || p->shape[1] != r->info.n_classes)
        return nn_error_set(err, NN_ERR_SHAPE, "classifier: output is not [%d, %d]", n,
                            r->info.n_classes);
    memcpy(probs, p->data, (size_t)n * (size_t)r->info.n_classes * sizeof *probs);
    if (n > r->largest_run) r->largest_run = n;
    /* A pass that outgrew the arena left it in several blocks; resetting now
     * merges them, so the next call of this size allocates nothing. */
    nn_ctx_reset(r->ctx);
    return NN_OK;
}

/* Resizes one RGB or grey crop to the input size into row i of the input tensor. */
static nn_status put_crop(classifier_runner *r, const image *face, int i, nn_error *err) {
    if (!face->pixels || (face->channels != 3 && face->channels != 1))
        return nn_error_set(err, NN_ERR_ARG, "classifier: crop %d is not an RGB or grey image", i);
    size_t per = 3 * (size_t)r->info.input_h * (size_t)r->info.input_w;
    image sized;
    nn_status st = image_resize_into(face, r->info.input_w, r->info.input_h, &r->sized, &sized, err);
    if (st) return st;
    image_to_chw(&sized, r->info.mean, r->info.scale, r->info.bgr, r->input->data + (size_t)i * per);
    return NN_OK;
}

static nn_status crop_rect(const classifier_runner *r, const image *img, float x1, float y1,
                           float x2, float y2, image_buffer *buf, image *out, nn_error *err);

nn_status classifier_run_tensor(classifier_runner *r, int n, const float *chw, float *probs,
                                nn_error *err) {
    if (!r || !chw || !probs) return nn_error_set(err, NN_ERR_ARG, "classifier: NULL argument");
    nn_status st = input_for(r, n, err);
    if (st) return st;
    memcpy(r->input->data, chw, r->input->numel * sizeof(float));
    return run_input(r, n, probs, err);
}

nn_status classifier_run_batch(classifier_runner *r, int n, const image *faces, float *probs,
                               nn_error *err) {
    if (!r || !faces || !probs) return nn_error_set(err, NN_ERR_ARG, "classifier: NULL argument");
    nn_status st = input_for(r, n, err);
    if (st) return st;
    for (int i = 0; i < n; i++)
        if ((st = put_crop(r, &faces[i], i, err))) return st;
    return run_input(r, n, probs, err);
}

/* The crops of n face boxes of img into rows 0..n-1 of the input. */
static nn_status put_faces(classifier_runner *r, const image *img, int n, const float *boxes,
                           nn_error *err) {
    for (int i = 0; i < n; i++) {
        const float *b = boxes + (size_t)i * 4;
        image face;
        nn_status st = crop_rect(r, img, b[0], b[1], b[2], b[3], &r->crop, &face, err);
        if (st || (st = put_crop(r, &face, i, err))) return st;
    }
    return NN_OK;
}

nn_status classifier_run_faces(classifier_runner *r, const image *img, int n, const float *boxes,
                               float *probs, nn_error *err) {
    if (!r || !img || !boxes || !probs)
        return nn_error_set(err, NN_ERR_ARG, "classifier: NULL argument");
    nn_status st = input_for(r, n, err);
    if (st || (st = put_faces(r, img, n, boxes, err))) return st;
    return run_input(r, n, probs, err);
}

/* Row `to` of the input becomes row `from` mirrored left to right (every
 * channel's rows reversed): the crop as a mirror would show it. */
static void mirror_row(classifier_runner *r, int from, int to) {
    int w = r->info.input_w, h = r->info.input_h;
    size_t per = 3 * (size_t)h * (size_t)w;
    const float *src = r->input->data + (size_t)from * per;
    float *dst = r->input->data + (size_t)to * per;
    for (size_t row = 0; row < 3 * (size_t)h; row++)
        for (int x = 0; x < w; x++) dst[row * w + x] = src[row * w + (w - 1 - x)];
}

nn_status classifier_run_faces_mirrored(classifier_runner *r, const image *img, int n,
                                        const float *boxes, float *probs, nn_error *err) {
    if (!r || !img || !boxes || !probs)
        return nn_error_set(err, NN_ERR_ARG, "classifier: NULL argument");
    if (n < 1 || n > 32768) return nn_error_set(err, NN_ERR_ARG, "batch of %d crops", n);
    nn_status st = input_for(r, 2 * n, err);
    if (st || (st = put_faces(r, img, n, boxes, err))) return st;
    for (int i = 0; i < n; i++) mirror_row(r, i, n + i);
    if ((st = run_input(r, 2 * n, r->pair_probs, err))) return st;
    int nc = r->info.n_classes;
    for (int i = 0; i < n; i++)
        for (int c = 0; c < nc; c++)
            probs[i * nc + c] =
                0.5f * (r->pair_probs[i * nc + c] + r->pair_probs[(size_t)(n + i) * nc + c]);
    return NN_OK;
}

nn_status classifier_run_reserve(classifier_runner *r, int n, int frame_w, int frame_h,
                                 nn_error *err) {
    if (!r) return nn_error_set(err, NN_ERR_ARG, "classifier: NULL argument");
    nn_status st = input_for(r, n, err);
    if (st) return st;
    /* the crop of a face as large as the frame, margins included (best effort:
     * not past the image limits): cut from a 1 x 1 image, it is all fill, and
     * it leaves the buffer that large */
    float grow = 1 + 2 * r->info.crop_margin;
    double crop_w = ceil(frame_w * grow) + 2, crop_h = ceil(frame_h * grow) + 2;
    if (frame_w > 0 && frame_h > 0 && crop_w <= IMAGE_MAX_SIDE && crop_h <= IMAGE_MAX_SIDE &&
        crop_w * crop_h <= (double)IMAGE_MAX_PIXELS) {
        uint8_t px[3] = {0};
        image dot = {1, 1, 3, px}, crop;
        if ((st = image_crop_into(&dot, 0, 0, (int)crop_w, (int)crop_h, 0, &r->crop, &crop, err)))
            return st;
    }
    if (n <= r->largest_run) return NN_OK;
    /* one pass over a blank batch sizes the arena */
    memset(r->input->data, 0, r->input->numel * sizeof(float));
    float *probs = malloc((size_t)n * r->info.n_classes * sizeof *probs);
    if (!probs) return nn_error_set(err, NN_ERR_NOMEM, "out of memory for %d crops", n);
    st = run_input(r, n, probs, err);
    free(probs);
    return st;
}

nn_status classifier_run_image(classifier_runner *r, const image *face, float *probs,
                               nn_error *err) {
    return classifier_run_batch(r, 1, face, probs, err);
}

/* The crop rectangle of a face box (see classifier_crop_face), cut into buf. */
static nn_status crop_rect(const classifier_runner *r, const image *img, float x1, float y1,
                           float x2, float y2, image_buffer *buf, image *out, nn_error *err) {
    if (!(x2 > x1 && y2 > y1) || !isfinite(x1) || !isfinite(y1) || !isfinite(x2) ||
        !isfinite(y2) || fabsf(x1) > 1e6f || fabsf(y1) > 1e6f || fabsf(x2) > 1e6f ||
        fabsf(y2) > 1e6f)
        return nn_error_set(err, NN_ERR_ARG, "classifier: bad face box");
    /* the same rectangle the training loader cut (datasets/loader.c) */
    float margin = r->info.crop_margin;
    float cx = 0.5f * (x1 + x2), cy = 0.5f * (y1 + y2);
    float half_w = 0.5f * (x2 - x1) * (1 + 2 * margin), half_h = 0.5f * (y2 - y1) * (1 + 2 * margin);
    int rx = (int)floorf(cx - half_w), ry = (int)floorf(cy - half_h);
    int rw = (int)ceilf(cx + half_w) - rx, rh = (int)ceilf(cy + half_h) - ry;
    if (rw < 1) rw = 1;
    if (rh < 1) rh = 1;
    return image_crop_into(img, rx, ry, rw, rh, 0, buf, out, err);
}

nn_status classifier_crop_face(const classifier_runner *r, const image *img, float x1, float y1,
                               float x2, float y2, image *out, nn_error *err) {
    if (!out) return nn_error_set(err, NN_ERR_ARG, "classifier: NULL output");
    image_buffer buf = {0}; /* a crop uses only buf.pixels, which out then owns */
    nn_status st = crop_rect(r, img, x1, y1, x2, y2, &buf, out, err);
    if (st) free(buf.pixels);
    return st;
}
