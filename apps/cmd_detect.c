/*
 * cmd_detect.c - `maskdet detect`: run a detector model file on images and
 * print the detections (text, or one JSON object per image with --json), and
 * optionally write annotated copies of the images.
 *
 * The work per image is a detect_pipeline: the detector finds faces, then,
 * for a face-only detector, the classifier labels each face crop (cropped
 * with the margin it was trained with) as mask / no_mask. A detector that
 * labels masks itself (AIZOO) or --detector-only skips the classifier.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "bundled.h"
#include "classifier_run.h"
#include "detector.h"
#include "draw.h"

#define MAX_DETECTIONS 1000

typedef struct {
    detector *det;
    detector_params params;
    classifier_runner *cls; /* NULL: report the detector's labels */
} detect_pipeline;

typedef struct {
    int n;
    ssd_detection found[MAX_DETECTIONS];
    const char *label[MAX_DETECTIONS]; /* final label: mask / no_mask, or the detector's */
    float label_score[MAX_DETECTIONS]; /* classifier probability (or the detector's score) */
    double total_ms, classify_ms;
    detector_timing timing;
} detect_result;

static int usage(FILE *out, int code) {
    fprintf(
        out,
        "usage: maskdet detect [--detector MODEL] [options] IMAGE...\n\n"
        "Finds faces (and masks, with a face-mask detector) in images.\n\n"
        "options:\n"
        "  --detector MODEL     a detector model file (.nnw; see maskdet import-caffe);\n"
        "                       default: the bundled models/face_detector.nnw\n"
        "  --classifier MODEL   mask / no-mask classifier run on each face found by a\n"
        "                       face-only detector; default: the bundled models/classifier.nnw\n"
        "  --detector-only      report faces without classifying them\n"
        "  --threshold T        keep detections scoring above T (default: the model's, else 0.5)\n"
        "  --input-size WxH     run the network at this size (larger finds smaller faces)\n"
        "  --json               one JSON object per image on stdout\n"
        "  -o DIR               write annotated images into DIR\n"
        "  --threads N          worker threads\n");
    return code;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

/* Detector, then the classifier on each face crop. */
static nn_status detect_pipeline_run(detect_pipeline *pl, const image *img, detect_result *r,
                                     nn_error *err) {
    double t0 = now_ms();
    nn_status st = detector_detect(pl->det, img, &pl->params, r->found, MAX_DETECTIONS, &r->n, err);
    r->timing = detector_last_timing(pl->det);
    double t1 = now_ms();
    for (int i = 0; !st && i < r->n; i++) {
        const ssd_detection *d = &r->found[i];
        r->label[i] = detector_class_name(pl->det, d->label);
        r->label_score[i] = d->score;
        if (!pl->cls) continue;
        image face = {0};
        float probs[CLASSIFIER_MAX_CLASSES];
        st = classifier_crop_face(pl->cls, img, d->x1, d->y1, d->x2, d->y2, &face, err);
        if (!st) st = classifier_run_image(pl->cls, &face, probs, err);
        image_free(&face);
        if (st) break;
        const classifier_info *info = classifier_run_info(pl->cls);
        int best = classifier_argmax(probs, info->n_classes);
        r->label[i] = info->classes[best];
        r->label_score[i] = probs[best];
    }
    r->classify_ms = now_ms() - t1;
    r->total_ms = now_ms() - t0;
    return st;
}

/* Green for faces and masks, red for no mask, the palette otherwise. */
static draw_color label_color(const char *name, int label) {
    if (!strcmp(name, "no_mask")) return (draw_color){220, 30, 30};
    if (!strcmp(name, "mask") || !strcmp(name, "face")) return (draw_color){30, 200, 30};
    return draw_class_color(label);
}

static nn_status write_annotated(const detect_pipeline *pl, const image *img,
                                 const detect_result *r, const char *dir, const char *path,
                                 nn_error *err) {
    image out;
    nn_status st = image_copy(img, &out, err);
    if (st) return st;
    int side = img->width < img->height ? img->width : img->height;
    int thick = side / 300 > 2 ? side / 300 : 2, scale = side / 400 > 1 ? side / 400 : 1;
    for (int i = 0; i < r->n; i++) {
        const ssd_detection *d = &r->found[i];
        const char *name = r->label[i];
        draw_color c = label_color(name, d->label);
        int x = (int)(d->x1 + 0.5f), y = (int)(d->y1 + 0.5f);
        draw_rect(&out, x, y, (int)(d->x2 - d->x1 + 0.5f), (int)(d->y2 - d->y1 + 0.5f), thick, c);
        char text[96];
        snprintf(text, sizeof text, "%s %.2f", name, r->label_score[i]);
        draw_label(&out, x, y, text, scale, c, DRAW_WHITE);
    }
    /* the summary in the corner: faces, masked, unmasked */
    int masked = 0, unmasked = 0;
    for (int i = 0; i < r->n; i++) {
        masked += !strcmp(r->label[i], "mask");
        unmasked += !strcmp(r->label[i], "no_mask");
    }
    char summary[96];
    snprintf(summary, sizeof summary, "faces %d  mask %d  no mask %d", r->n, masked, unmasked);
    draw_label(&out, 0, 0, summary, scale, (draw_color){40, 40, 40}, DRAW_WHITE);
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    char dst[4096];
    const char *ext = strrchr(base, '.');
    bool keep_ext =
        ext && (!strcasecmp(ext, ".png") || !strcasecmp(ext, ".jpg") || !strcasecmp(ext, ".jpeg"));
    if (keep_ext)
        snprintf(dst, sizeof dst, "%s/%s", dir, base);
    else
        snprintf(dst, sizeof dst, "%s/%s.png", dir, base);
    st = image_save(&out, dst, 92, err);
    image_free(&out);
    return st;
}

static void print_json(const detect_pipeline *pl, const char *path, const image *img,
                       const detect_result *r) {
    cJSON *o = cJSON_CreateObject(), *dets = cJSON_CreateArray(), *t = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "image", path);
    cJSON_AddNumberToObject(o, "width", img->width);
    cJSON_AddNumberToObject(o, "height", img->height);
    for (int i = 0; i < r->n; i++) {
        const ssd_detection *d = &r->found[i];
        cJSON *e = cJSON_CreateObject();
        double box[4] = {d->x1, d->y1, d->x2, d->y2};
        cJSON_AddItemToObject(e, "box", cJSON_CreateDoubleArray(box, 4));
        cJSON_AddStringToObject(e, "label", r->label[i]);
        cJSON_AddNumberToObject(e, "score", r->label_score[i]);
        cJSON_AddNumberToObject(e, "face_score", d->score);
        cJSON_AddItemToArray(dets, e);
    }
    cJSON_AddItemToObject(o, "detections", dets);
    cJSON_AddNumberToObject(t, "preprocess", r->timing.preprocess_ms);
    cJSON_AddNumberToObject(t, "forward", r->timing.forward_ms);
    cJSON_AddNumberToObject(t, "postprocess", r->timing.postprocess_ms);
    cJSON_AddNumberToObject(t, "classify", r->classify_ms);
    cJSON_AddNumberToObject(t, "total", r->total_ms);
    cJSON_AddItemToObject(o, "time_ms", t);
    char *s = cJSON_PrintUnformatted(o);
    if (s) printf("%s\n", s);
    free(s);
    cJSON_Delete(o);
}

static void print_text(const detect_pipeline *pl, const char *path, const image *img,
                       const detect_result *r) {
    printf("%s: %d detection%s (%dx%d, %.1f ms)\n", path, r->n, r->n == 1 ? "" : "s", img->width,
           img->height, r->total_ms);
    for (int i = 0; i < r->n; i++) {
        const ssd_detection *d = &r->found[i];
        printf("  %-10s %.3f  face %.3f  [%.1f, %.1f, %.1f, %.1f]\n", r->label[i],
               r->label_score[i], d->score, d->x1, d->y1, d->x2, d->y2);
    }
}

int cmd_detect(int argc, char **argv) {
    const char *model = NULL, *out_dir = NULL, *cls_model = NULL;
    bool json = false, detector_only = false;
    detect_pipeline pl = {.params = detector_params_default()};
    char **images = calloc((size_t)argc + 1, sizeof *images);
    int n_images = 0;
    if (!images) return 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_value = i + 1 < argc;
        char tail;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            free(images);
            return usage(stdout, 0);
        } else if (!strcmp(a, "--detector") && has_value) {
            model = argv[++i];
        } else if (!strcmp(a, "--classifier") && has_value) {
            cls_model = argv[++i];
        } else if (!strcmp(a, "--detector-only")) {
            detector_only = true;
        } else if (!strcmp(a, "--threshold") && has_value) {
            if (sscanf(argv[++i], "%f%c", &pl.params.threshold, &tail) != 1 ||
                !(pl.params.threshold >= 0) || pl.params.threshold > 1) {
                fprintf(stderr, "maskdet detect: --threshold wants a number in [0, 1]\n");
                free(images);
                return 2;
            }
        } else if (!strcmp(a, "--input-size") && has_value) {
            int w, h;
            if (sscanf(argv[++i], "%dx%d%c", &w, &h, &tail) != 2 || w < 1 || h < 1 || w > 4096 ||
                h > 4096) {
                fprintf(stderr, "maskdet detect: --input-size wants WxH, got '%s'\n", argv[i]);
                free(images);
                return 2;
            }
            pl.params.input_w = w, pl.params.input_h = h;
        } else if (!strcmp(a, "--json")) {
            json = true;
        } else if (!strcmp(a, "-o") && has_value) {
            out_dir = argv[++i];
        } else if (!strcmp(a, "--threads") && has_value) {
            int t;
            if (sscanf(argv[++i], "%d%c", &t, &tail) != 1 || t < 1 || t > 256) {
                fprintf(stderr, "maskdet detect: --threads wants a count in [1, 256]\n");
                free(images);
                return 2;
            }
            nn_threads_set(t);
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "maskdet detect: unknown option or missing value: %s\n", a);
            free(images);
            return usage(stderr, 2);
        } else {
            images[n_images++] = argv[i];
        }
    }
    char bundled[4096];
    if (!model) {
        bundled_model_path(BUNDLED_DETECTOR, bundled, sizeof bundled);
        model = bundled;
    }
    if (n_images == 0) {
        free(images);
        return usage(stderr, 2);
    }
    nn_error err;
    if (detector_load(model, &pl.det, &err)) {
        fprintf(stderr, "maskdet detect: %s\n", err.msg);
        free(images);
        return 1;
    }
    /* A face-only detector gets the classifier; a mask detector labels itself. */
    bool face_only = detector_num_classes(pl.det) == 2 &&
                     !strcmp(detector_class_name(pl.det, 1), "face");
    char bundled_cls[4096];
    if (!cls_model && face_only && !detector_only) {
        bundled_model_path(BUNDLED_CLASSIFIER, bundled_cls, sizeof bundled_cls);
        cls_model = bundled_cls;
    }
    if (cls_model && !detector_only && classifier_run_load(cls_model, &pl.cls, &err)) {
        fprintf(stderr, "maskdet detect: %s\n", err.msg);
        detector_free(pl.det);
        free(images);
        return 1;
    }
    if (out_dir && mkdir(out_dir, 0777) && errno != EEXIST) {
        fprintf(stderr, "maskdet detect: cannot create %s: %s\n", out_dir, strerror(errno));
        detector_free(pl.det);
        free(images);
        return 1;
    }
    detect_result *r = malloc(sizeof *r);
    int failures = 0;
    for (int k = 0; r && k < n_images; k++) {
        image img = {0};
        nn_status st = image_load(images[k], 3, &img, &err);
        if (!st) st = detect_pipeline_run(&pl, &img, r, &err);
        if (!st) {
            if (json)
                print_json(&pl, images[k], &img, r);
            else
                print_text(&pl, images[k], &img, r);
            if (out_dir) st = write_annotated(&pl, &img, r, out_dir, images[k], &err);
        }
        image_free(&img);
        if (st) {
            fprintf(stderr, "maskdet detect: %s\n", err.msg);
            failures++;
        }
        fflush(stdout);
    }
    if (!r) failures++;
    free(r);
    classifier_run_free(pl.cls);
    detector_free(pl.det);
    free(images);
    return failures ? 1 : 0;
}
