/*
 * maskdet.c - the pipeline behind maskdet.h: a detector (vision/detector.h)
 * finds faces, then a classifier (vision/classifier_run.h) labels each face
 * crop mask / no_mask. The command line (apps/cmd_detect.c, apps/cmd_eval.c)
 * runs the same code, so what the library returns is what the tool prints.
 */
#include "maskdet.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bundled.h"
#include "classifier_run.h"
#include "detector.h"
#include "face_ssd.h"

#define MAX_FOUND 1000 /* detections kept per frame before classification */
#define CLASSIFY_BATCH 16 /* faces classified per network pass */

static const char *const bundled_classifiers[] = {BUNDLED_CLASSIFIER, BUNDLED_CLASSIFIER_B};
#define BUNDLED_N_CLASSIFIERS 2
_Static_assert(MASKDET_MAX_CLASSIFIERS == 4, "the error message in open_classifiers says 4");

struct maskdet {
    detector *det;
    detector_params params;
    /* the classifiers (their probabilities are averaged); none: the detector's
     * own labels (or detector_only). All have the same classes. */
    classifier_runner *cls[MASKDET_MAX_CLASSIFIERS];
    int n_cls;
    bool mirror;             /* each crop also seen mirrored (test-time augmentation) */
    int cls_mask, cls_no_mask; /* classifier outputs of "mask" and "no_mask"      */
    int cls_background;      /* its "background" output, or -1 when it has none  */
    float face_check_weight; /* w: face score x (1 - w + w P(face))              */
    float face_threshold;    /* final face score kept: set when the classifier checks
                                faces (the options', or MASKDET_CHECKED_FACE_THRESHOLD) */
    maskdet_label det_label[8]; /* the detector's classes as labels            */
    float mask_threshold;
    int min_face_px;         /* 0: the model's input size (or the caller's)      */
    float target_face_px;    /* input pixels a min_face_px face is scaled to     */
    bool fixed_size;         /* a Caffe net with its own input size (not face_ssd) */
    int sized_for_w, sized_for_h; /* frame size params.input_w/h were chosen for  */
    image frame;             /* the caller's rows, packed, when they are not (reused) */
    int reserved_w, reserved_h; /* the frame size the classifier's memory is sized for */
    float input_scale;       /* > 0: the detector's input size follows each frame */
    ssd_detection found[MAX_FOUND];
    maskdet_face checked[MAX_FOUND]; /* the faces before the classifier's check */
    maskdet_timing timing;
};

static const char *const label_names[] = {"face", "mask", "no_mask"};

maskdet_options maskdet_options_default(void) {
    return (maskdet_options){.face_threshold = -1.f, .mask_threshold = 0.5f};
}

static int fail(maskdet_error *err, const char *fmt, const char *arg) {
    if (err) snprintf(err->msg, sizeof err->msg, fmt, arg);
    return -1;
}

static int fail_nn(maskdet_error *err, const nn_error *e) {
    if (err) snprintf(err->msg, sizeof err->msg, "%s", e->msg);
    return -1;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

/* The bundled model FILE: in models_dir when given, else where
 * bundled_model_path looks ($MASKDET_MODELS, ./models, beside the program). */
static void bundled_path(const char *models_dir, const char *file, char *path, size_t len) {
    if (models_dir)
        snprintf(path, len, "%s/%s", models_dir, file);
    else
        bundled_model_path(file, path, len);
}

/* What a class name of a one-stage detector means. */
static maskdet_label label_of_class(const char *name) {
    static const char *const masked[] = {"mask", "face_mask", "with_mask", "face_with_mask"};
    static const char *const unmasked[] = {"no_mask", "without_mask", "face_no_mask",
                                           "mask_weared_incorrect", "face_with_mask_incorrect"};
    for (size_t i = 0; i < sizeof masked / sizeof *masked; i++)
        if (!strcmp(name, masked[i])) return MASKDET_MASK;
    for (size_t i = 0; i < sizeof unmasked / sizeof *unmasked; i++)
        if (!strcmp(name, unmasked[i])) return MASKDET_NO_MASK;
    return MASKDET_FACE;
}

/* The smallest value of `key: number` in a Caffe prototxt (0 when none). */
static float prototxt_min_value(const char *text, const char *key) {
    float best = 0;
    size_t key_len = strlen(key);
    for (const char *p = text ? strstr(text, key) : NULL; p; p = strstr(p + key_len, key)) {
        const char *q = p + key_len;
        while (*q == ' ' || *q == '\t') q++;
        if (*q != ':') continue;
        float v = strtof(q + 1, NULL);
        if (v > 0 && (best == 0 || v < best)) best = v;
    }
    return best;
}

/* The smallest number of a list like "10,16,24;32,48" (0 when none). */
static float list_min_value(const char *text) {
    float best = 0;
    for (const char *p = text; p && *p;) {
        char *end;
        float v = strtof(p, &end);
        if (end == p) {
            p++;
            continue;
        }
        if (v > 0 && (best == 0 || v < best)) best = v;
        p = end;
    }
    return best;
}

/* How min_face_px can steer this detector: the face size in input pixels
 * it finds reliably, or 0 when its priors are fractions of the image (see
 * maskdet.h: twice the smallest prior for face_ssd, the smallest prior else). */
static float target_face_px(const detector *det, bool *fixed_size) {
    const char *arch = detector_meta(det, "arch");
    const char *priors = detector_meta(det, "ssd.priors");
    *fixed_size = true;
    if (arch && !strcmp(arch, "face_ssd")) {
        *fixed_size = false;
        face_ssd_spec spec = face_ssd_default_spec();
        const char *sizes = detector_meta(det, "face_ssd.sizes");
        nn_error e;
        if (sizes && face_ssd_parse_sizes(sizes, &spec, &e)) return 0;
        float best = 0;
        for (int m = 0; m < spec.n_maps; m++)
            for (int k = 0; k < spec.n_sizes[m]; k++)
                if (spec.sizes[m][k] > 0 && (best == 0 || spec.sizes[m][k] < best))
                    best = spec.sizes[m][k];
        return 2 * best;
    }
    if (!arch || strcmp(arch, "caffe") || !priors) return 0;
    if (!strcmp(priors, "caffe"))
        return prototxt_min_value(detector_meta(det, "caffe.prototxt"), "min_size");
    if (!strcmp(priors, "ultraface")) return list_min_value(detector_meta(det, "ssd.min_boxes"));
    return 0;
}

/* Chooses the network input for a width x height frame from min_face_px. */
static void size_input_for(maskdet *md, int width, int height) {
    md->sized_for_w = width, md->sized_for_h = height;
    float scale = md->target_face_px / (float)md->min_face_px;
    if (scale > MASKDET_MAX_UPSCALE) scale = MASKDET_MAX_UPSCALE;
    float long_side = (float)(width > height ? width : height);
    if (long_side * scale > MASKDET_MAX_INPUT_SIDE) scale = MASKDET_MAX_INPUT_SIDE / long_side;
    float floor_side = 64;
    if (md->fixed_size) { /* a Caffe net is never run smaller than its own size */
        int model_w, model_h;
        detector_input_size(md->det, &model_w, &model_h);
        floor_side = (float)(model_w > model_h ? model_w : model_h);
    }
    if (long_side * scale < floor_side) scale = floor_side / long_side;
    int in_w = (int)lroundf(width * scale), in_h = (int)lroundf(height * scale);
    md->params.input_w = in_w < 1 ? 1 : in_w;
    md->params.input_h = in_h < 1 ? 1 : in_h;
}

/* The rows of a full classifier batch: CLASSIFY_BATCH crops, and their
 * mirror images when the classifiers look at those too. */
static int batch_rows(const maskdet *md) { return md->mirror ? 2 * CLASSIFY_BATCH : CLASSIFY_BATCH; }

/* Opens one classifier of the list; the second and later ones must have the
 * first one's classes, in its order (their outputs are averaged). */
static int open_classifier(maskdet *md, const char *path, maskdet_error *err) {
    nn_error e;
    classifier_runner *r;
    if (classifier_run_load(path, &r, &e)) return fail_nn(err, &e);
    md->cls[md->n_cls++] = r;
    const classifier_info *info = classifier_run_info(r);
    if (md->n_cls > 1) {
        const classifier_info *first = classifier_run_info(md->cls[0]);
        bool same = info->n_classes == first->n_classes;
        for (int c = 0; same && c < info->n_classes; c++)
            same = !strcmp(info->classes[c], first->classes[c]);
        if (!same)
            return fail(err, "%.400s: its classes differ from the first classifier's (an "
                        "ensemble needs the same classes in the same order)", path);
        return classifier_run_reserve(r, batch_rows(md), 0, 0, &e) ? fail_nn(err, &e) : 0;
    }
    md->cls_mask = md->cls_no_mask = md->cls_background = -1;
    for (int c = 0; c < info->n_classes; c++) {
        if (label_of_class(info->classes[c]) == MASKDET_MASK) md->cls_mask = c;
        if (label_of_class(info->classes[c]) == MASKDET_NO_MASK) md->cls_no_mask = c;
        if (!strcmp(info->classes[c], "background")) md->cls_background = c;
    }
    if (md->cls_mask < 0 || md->cls_no_mask < 0)
        return fail(err, "%.400s: a classifier with classes mask and no_mask is needed", path);
    /* size its memory for full batches now, not in the first frame */
    if (classifier_run_reserve(r, batch_rows(md), 0, 0, &e)) return fail_nn(err, &e);
    return 0;
}

/* Opens the classifiers of a comma-separated list of files. */
static int open_classifiers(maskdet *md, const char *list, maskdet_error *err) {
    const char *p = list;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char path[4200];
        if (len == 0 || len >= sizeof path)
            return fail(err, "maskdet_open: an empty or too long name in the classifier list "
                        "\"%.400s\"", list);
        if (md->n_cls == MASKDET_MAX_CLASSIFIERS)
            return fail(err, "maskdet_open: more than 4 classifiers in the list \"%.400s\"",
                        list);
        memcpy(path, p, len), path[len] = 0;
        if (open_classifier(md, path, err)) return -1;
        if (!comma) return 0;
        p = comma + 1;
    }
}

int maskdet_open(const maskdet_options *opt, maskdet **out, maskdet_error *err) {
    *out = NULL;
    maskdet_options def = maskdet_options_default();
    if (!opt) opt = &def;
    if (!(opt->mask_threshold >= 0 && opt->mask_threshold <= 1))
        return fail(err, "maskdet_open: mask_threshold must be in [0, 1]%s", "");
    if (opt->face_threshold > 1)
        return fail(err, "maskdet_open: face_threshold must be at most 1%s", "");
    if (!(opt->face_check_weight >= 0 && opt->face_check_weight <= 1))
        return fail(err, "maskdet_open: face_check_weight must be in [0, 1]%s", "");
    if (opt->min_face_px < 0 || opt->threads < 0 || opt->threads > 256)
        return fail(err, "maskdet_open: min_face_px and threads must be >= 0%s", "");
    if (opt->input_width < 0 || opt->input_height < 0 || opt->input_width > 4096 ||
        opt->input_height > 4096 || (opt->input_width > 0) != (opt->input_height > 0))
        return fail(err, "maskdet_open: input_width and input_height must both be in 1..4096%s",
                    "");
    if (opt->input_long_side < 0 || opt->input_long_side > 8192 ||
        !(opt->input_scale >= 0 && opt->input_scale <= 8))
        return fail(err, "maskdet_open: input_long_side must be in [0, 8192], input_scale "
                    "in [0, 8]%s", "");
    if (opt->input_width > 0 && (opt->input_long_side > 0 || opt->input_scale > 0))
        return fail(err, "maskdet_open: give input_width/height or input_long_side / "
                    "input_scale, not both%s", "");
    if (opt->min_face_px > 0 &&
        (opt->input_width > 0 || opt->input_long_side > 0 || opt->input_scale > 0))
        return fail(err, "maskdet_open: give min_face_px or an input size, not both%s", "");
    maskdet *md = calloc(1, sizeof *md);
    if (!md) return fail(err, "maskdet_open: out of memory%s", "");
    if (opt->threads > 0) nn_threads_set(opt->threads);
    md->params = detector_params_default();
    md->params.threshold = opt->face_threshold;
    /* at most MAX_FOUND boxes a frame, the best ones (at low thresholds a
     * detector like AIZOO leaves more) */
    md->params.keep_top_k = MAX_FOUND;
    if (opt->no_box_vote) md->params.box_vote = 0;
    md->face_threshold = opt->face_threshold;
    md->face_check_weight = opt->face_check_weight > 0 ? opt->face_check_weight
                                                       : MASKDET_FACE_CHECK_WEIGHT;
    md->params.input_w = opt->input_width, md->params.input_h = opt->input_height;
    md->min_face_px = opt->min_face_px;
    md->mask_threshold = opt->mask_threshold;

    char path[4200];
    const char *det_path = opt->detector_path;
    if (!det_path) {
        bundled_path(opt->models_dir, "face_detector.nnw", path, sizeof path);
        det_path = path;
    }
    nn_error e;
    if (detector_load(det_path, &md->det, &e)) {
        maskdet_close(md);
        return fail_nn(err, &e);
    }
    int n_classes = detector_num_classes(md->det);
    for (int c = 0; c < n_classes && c < 8; c++)
        md->det_label[c] = label_of_class(detector_class_name(md->det, c));
    /* A face-only detector gets the classifier; a mask detector labels itself. */
    bool labels_masks = false;
    for (int c = 0; c < n_classes && c < 8; c++) labels_masks |= md->det_label[c] != MASKDET_FACE;
    if (!opt->detector_only && (!labels_masks || opt->classifier_path)) {
        int failed = 0;
        md->mirror = !opt->no_tta;
        if (opt->classifier_path) {
            failed = open_classifiers(md, opt->classifier_path, err);
        } else {
            for (int i = 0; !failed && i < BUNDLED_N_CLASSIFIERS; i++) {
                bundled_path(opt->models_dir, bundled_classifiers[i], path, sizeof path);
                failed = open_classifier(md, path, err);
            }
        }
        if (failed) {
            maskdet_close(md);
            return -1;
        }
        if (opt->no_face_check) md->cls_background = -1;
        /* A checked face score has its own default threshold (maskdet.h); the
         * detector can run at it too, as the check only lowers scores. */
        if (md->cls_background >= 0 && opt->face_threshold < 0)
            md->face_threshold = md->params.threshold = MASKDET_CHECKED_FACE_THRESHOLD;
    }
    if (opt->detector_only)
        for (int c = 0; c < 8; c++) md->det_label[c] = MASKDET_FACE;
    if (md->min_face_px > 0) {
        md->target_face_px = target_face_px(md->det, &md->fixed_size);
        if (md->target_face_px <= 0) {
            fail(err, "%.400s: min_face_px needs a detector whose prior boxes are in input "
                      "pixels (face_ssd, Caffe PriorBox, UltraFace)", det_path);
            maskdet_close(md);
            return -1;
        }
    }
    if (opt->input_long_side > 0 || opt->input_scale > 0) {
        const char *arch = detector_meta(md->det, "arch");
        if (!arch || strcmp(arch, "face_ssd")) {
            maskdet_close(md);
            return fail(err, "maskdet_open: input_long_side / input_scale: face_ssd detectors "
                        "only (%.100s has its own input size)", arch ? arch : "this detector");
        }
        md->params.input_w = md->params.input_h = opt->input_long_side;
        md->input_scale = opt->input_scale;
    }
    *out = md;
    return 0;
}

void maskdet_close(maskdet *md) {
    if (!md) return;
    for (int i = 0; i < md->n_cls; i++) classifier_run_free(md->cls[i]);
    detector_free(md->det);
    image_free(&md->frame);
    free(md);
}

/* The classifiers' verdict on faces[0..n): the faces go through each network
 * CLASSIFY_BATCH at a time (twice that with the mirrored crops), cropped
 * straight from the frame into the classifier's reused buffers, so no crop is
 * kept and nothing is allocated. The probabilities are averaged over the
 * classifiers (and the mirror images): an ensemble's mean is a better guess
 * than any one member's (models/README.md).
 * A classifier with a background class also checks that each box is a face:
 * with P(face) = 1 - P(background), the detector's score is multiplied by
 * 1 - w + w P(face) (w = face_check_weight), and P(mask) is taken among the
 * face classes, P(mask) / (P(mask) + P(no_mask)). So a face's score as mask
 * stays face_score x P(mask | face). */
static int classify_faces(maskdet *md, const image *frame, int n, maskdet_face *faces,
                          maskdet_error *err) {
    nn_error e;
    if (md->reserved_w != frame->width || md->reserved_h != frame->height) {
        for (int k = 0; k < md->n_cls; k++)
            if (classifier_run_reserve(md->cls[k], batch_rows(md), frame->width, frame->height,
                                       &e))
                return fail_nn(err, &e);
        md->reserved_w = frame->width, md->reserved_h = frame->height;
    }
    int n_classes = classifier_run_info(md->cls[0])->n_classes;
    for (int first = 0; first < n; first += CLASSIFY_BATCH) {
        int batch = n - first < CLASSIFY_BATCH ? n - first : CLASSIFY_BATCH;
        float boxes[CLASSIFY_BATCH * 4], probs[CLASSIFY_BATCH * CLASSIFIER_MAX_CLASSES];
        float one[CLASSIFY_BATCH * CLASSIFIER_MAX_CLASSES];
        for (int i = 0; i < batch; i++) {
            const maskdet_face *f = &faces[first + i];
            float *b = boxes + 4 * i;
            b[0] = f->x1, b[1] = f->y1, b[2] = f->x2, b[3] = f->y2;
        }
        for (int k = 0; k < md->n_cls; k++) {
            nn_status st = md->mirror
                               ? classifier_run_faces_mirrored(md->cls[k], frame, batch, boxes,
                                                               k ? one : probs, &e)
                               : classifier_run_faces(md->cls[k], frame, batch, boxes,
                                                      k ? one : probs, &e);
            if (st) return fail_nn(err, &e);
            for (int i = 0; k > 0 && i < batch * n_classes; i++) probs[i] += one[i];
        }
        for (int i = 0; md->n_cls > 1 && i < batch * n_classes; i++) probs[i] /= md->n_cls;
        for (int i = 0; i < batch; i++) {
            maskdet_face *f = &faces[first + i];
            const float *p = probs + (size_t)i * n_classes;
            float p_mask = p[md->cls_mask], p_no_mask = p[md->cls_no_mask];
            if (n_classes > 2) { /* P(mask) among the face classes */
                float p_face = p_mask + p_no_mask;
                if (md->cls_background >= 0)
                    f->face_score *= 1 - md->face_check_weight + md->face_check_weight * p_face;
                p_mask = p_face > 0 ? p_mask / p_face : 0.5f;
                p_no_mask = 1 - p_mask;
            }
            f->label = p_mask >= md->mask_threshold ? MASKDET_MASK : MASKDET_NO_MASK;
            f->score = f->label == MASKDET_MASK ? p_mask : p_no_mask;
            f->label_name = label_names[f->label];
        }
    }
    return 0;
}

/* After the classifier's check: the faces of md->checked[0..n) whose face
 * score still passes the threshold, best first (a stable insertion sort: the
 * scores are mostly in order already), the first max_faces of them copied to
 * faces. Returns how many passed. */
static int keep_checked_faces(maskdet *md, int n, maskdet_face *faces, int max_faces) {
    int kept = 0;
    for (int i = 0; i < n; i++) {
        maskdet_face f = md->checked[i];
        if (!(f.face_score > md->face_threshold)) continue;
        int j = kept++;
        while (j > 0 && md->checked[j - 1].face_score < f.face_score) {
            md->checked[j] = md->checked[j - 1];
            j--;
        }
        md->checked[j] = f;
    }
    for (int i = 0; i < kept && i < max_faces; i++)
        faces[i] = md->checked[i];
    return kept;
}

int maskdet_detect(maskdet *md, const uint8_t *rgb, int width, int height, int stride_bytes,
                   maskdet_face *faces, int max_faces, maskdet_error *err) {
    double t0 = now_ms();
    if (!md) return fail(err, "maskdet_detect: NULL handle%s", "");
    md->timing = (maskdet_timing){0};
    if (!rgb) return fail(err, "maskdet_detect: NULL frame buffer%s", "");
    if (width < 1 || height < 1 || width > IMAGE_MAX_SIDE || height > IMAGE_MAX_SIDE) {
        if (err)
            snprintf(err->msg, sizeof err->msg,
                     "maskdet_detect: frame size %dx%d out of range (1..%d a side)", width, height,
                     IMAGE_MAX_SIDE);
        return -1;
    }
    if (stride_bytes < 3 * width) {
        if (err)
            snprintf(err->msg, sizeof err->msg,
                     "maskdet_detect: stride %d bytes is less than a row (3 x %d)", stride_bytes,
                     width);
        return -1;
    }
    if (max_faces < 0 || (max_faces > 0 && !faces))
        return fail(err, "maskdet_detect: no room for results (faces NULL or max_faces < 0)%s", "");
    nn_error e;
    /* Packed rows are used in place (nothing writes to the frame); padded
     * ones are packed into a reused copy. */
    image frame = {width, height, 3, (uint8_t *)rgb};
    if (stride_bytes != 3 * width) {
        if (md->frame.width != width || md->frame.height != height) {
            image_free(&md->frame);
            if (image_alloc(&md->frame, width, height, 3, &e)) return fail_nn(err, &e);
        }
        for (int y = 0; y < height; y++)
            memcpy(md->frame.pixels + (size_t)y * width * 3, rgb + (size_t)y * stride_bytes,
                   (size_t)width * 3);
        frame = md->frame;
    }
    if (md->min_face_px > 0 && (md->sized_for_w != width || md->sized_for_h != height))
        size_input_for(md, width, height);
    if (md->input_scale > 0) {
        int side = (int)lroundf(md->input_scale * (float)(width > height ? width : height));
        md->params.input_w = md->params.input_h = side < 16 ? 16 : side;
    }
    int n = 0;
    if (detector_detect(md->det, &frame, &md->params, md->found, MAX_FOUND, &n, &e))
        return fail_nn(err, &e);
    detector_timing dt = detector_last_timing(md->det);
    /* A box clipped to the frame's edge can be empty (res10 at low thresholds):
     * not a face, and nothing to classify. */
    int kept = 0;
    for (int i = 0; i < n; i++)
        if (md->found[i].x2 > md->found[i].x1 && md->found[i].y2 > md->found[i].y1)
            md->found[kept++] = md->found[i];
    n = kept;
    double t1 = now_ms();
    /* A classifier that checks faces may reorder and drop them: it sees every
     * box first, in md->checked; otherwise the boxes go straight to faces. */
    bool checks = md->n_cls > 0 && md->cls_background >= 0;
    maskdet_face *out = checks ? md->checked : faces;
    int n_out = checks ? n : n < max_faces ? n : max_faces;
    for (int i = 0; i < n_out; i++) {
        const ssd_detection *d = &md->found[i];
        maskdet_face *f = &out[i];
        *f = (maskdet_face){d->x1, d->y1, d->x2, d->y2, MASKDET_FACE, NULL, d->score, d->score};
        if (!md->n_cls)
            f->label = d->label >= 0 && d->label < 8 ? md->det_label[d->label] : MASKDET_FACE;
        f->label_name = label_names[f->label];
    }
    /* also with no face: the first frame of a size sizes the classifier's memory */
    if (md->n_cls > 0 && classify_faces(md, &frame, n_out, out, err)) return -1;
    if (checks) n = keep_checked_faces(md, n, faces, max_faces);
    double t2 = now_ms();
    md->timing.preprocess_ms = dt.preprocess_ms;
    md->timing.detect_ms = dt.forward_ms;
    md->timing.postprocess_ms = dt.postprocess_ms;
    md->timing.classify_ms = t2 - t1;
    md->timing.total_ms = t2 - t0;
    return n;
}

maskdet_timing maskdet_last_timing(const maskdet *md) { return md->timing; }

float maskdet_default_face_threshold(const maskdet *md) {
    return md->n_cls > 0 && md->cls_background >= 0 ? MASKDET_CHECKED_FACE_THRESHOLD
                                              : detector_default_threshold(md->det);
}

const char *maskdet_model_info(const maskdet *md, const char *which, const char *key) {
    if (!strcmp(which, "detector")) return detector_meta(md->det, key);
    if (!strcmp(which, "classifier") && md->n_cls > 0) {
        const classifier_info *info = classifier_run_info(md->cls[0]);
        if (!strcmp(key, "arch")) return info->arch;
    }
    return NULL;
}
