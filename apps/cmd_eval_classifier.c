/*
 * cmd_eval_classifier.c - `maskdet eval-classifier`: a classifier's accuracy,
 * balanced accuracy, per-class precision / recall / F1 and confusion matrix
 * on a data set (class folders, or annotated photos whose faces are cropped
 * with the model's margin, as in training), with accuracy per face-size
 * range for photos. Optional pictures: the confusion matrix, and a sheet of
 * the misclassified faces.
 *
 * --held-out evaluates only the validation part of the split the model was
 * trained with (the model file records the seed, fraction and minimum face
 * size), so a model is scored on photos it never saw.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "annot.h"
#include "bundled.h"
#include "classifier_run.h"
#include "classmap.h"
#include "cls_metrics.h"
#include "draw.h"
#include "font.h"
#include "image.h"
#include "loader.h"
#include "train_common.h"

#define MAX_ERRORS_SHOWN 64
#define TILE_PX 96

static void usage(FILE *out) {
    fprintf(out,
            "usage: maskdet eval-classifier --data PATH [options]\n"
            "\n"
            "Scores a mask / no-mask classifier on class folders or annotated photos\n"
            "(faces cropped with the model's margin, as in training).\n"
            "\n"
            "  --model MODEL        classifier .nnw (default: the bundled models/classifier.nnw)\n"
            "  --data PATH          the data set (required)\n"
            "  --min-face PX        only faces whose longest side is at least PX (0)\n"
            "  --held-out           only the photos of the validation part of the model's\n"
            "                       training split (seed, fraction and minimum face size from\n"
            "                       the model file); all their faces of at least --min-face\n"
            "  --val-split F --seed N   only the validation part of this split instead\n"
            "  --json               print one JSON object on stdout\n"
            "  --confusion PNG      draw the confusion matrix\n"
            "  --errors PNG         a sheet of misclassified faces (at most %d)\n"
            "  --batch N            crops per forward pass (64)\n"
            "  --threads N          worker threads\n"
            "  --skip-bad           skip malformed files instead of stopping\n"
            "  -h, --help           this help\n",
            MAX_ERRORS_SHOWN);
}

static bool parse_double(const char *text, double lo, double hi, double *out) {
    char *end = NULL;
    double v = strtod(text, &end);
    if (end == text || *end || !(v >= lo && v <= hi)) return false;
    *out = v;
    return true;
}

/* ------------------------------------------------------------ pictures */

/* The confusion matrix as a grid of cells shaded by row fraction. */
static nn_status draw_confusion(const char *path, const cls_confusion *c,
                                const classifier_info *info, nn_error *err) {
    const int cell = 120, left = 110, top = 60, n = c->n_classes;
    image img = {0};
    nn_status st = image_alloc(&img, left + n * cell + 20, top + n * cell + 40, 3, err);
    if (st) return st;
    memset(img.pixels, 255, (size_t)img.width * (size_t)img.height * 3);
    draw_text(&img, 10, 10, "confusion matrix (rows: true, columns: predicted)", 1, DRAW_BLACK);
    for (int p = 0; p < n; p++)
        draw_text(&img, left + p * cell + 8, top - 18, info->classes[p], 1, DRAW_BLACK);
    for (int t = 0; t < n; t++) {
        size_t row = 0;
        for (int p = 0; p < n; p++)
            row += c->confusion[t][p];
        draw_text(&img, 10, top + t * cell + cell / 2 - 5, info->classes[t], 1, DRAW_BLACK);
        for (int p = 0; p < n; p++) {
            double frac = row ? (double)c->confusion[t][p] / (double)row : 0;
            /* white to blue on the diagonal, white to red off it */
            draw_color col = t == p ? (draw_color){(uint8_t)(255 - 180 * frac),
                                                   (uint8_t)(255 - 120 * frac), 255}
                                    : (draw_color){255, (uint8_t)(255 - 180 * frac),
                                                   (uint8_t)(255 - 180 * frac)};
            int x = left + p * cell, y = top + t * cell;
            draw_fill_rect(&img, x, y, cell, cell, col);
            draw_rect(&img, x, y, cell, cell, 1, DRAW_BLACK);
            char text[64];
            snprintf(text, sizeof text, "%zu\n%.1f%%", c->confusion[t][p], 100 * frac);
            int tw, th;
            font_text_size(text, 2, &tw, &th);
            draw_text(&img, x + (cell - tw) / 2, y + (cell - th) / 2, text, 2, DRAW_BLACK);
        }
    }
    st = image_save(&img, path, 0, err);
    image_free(&img);
    return st;
}

/* Pastes src (same channel count) into dst at (x, y), clipped. */
static void paste(image *dst, const image *src, int x, int y) {
    for (int r = 0; r < src->height; r++) {
        int dy = y + r;
        if (dy < 0 || dy >= dst->height) continue;
        for (int c = 0; c < src->width; c++) {
            int dx = x + c;
            if (dx < 0 || dx >= dst->width) continue;
            memcpy(dst->pixels + ((size_t)dy * dst->width + dx) * 3,
                   src->pixels + ((size_t)r * src->width + c) * 3, 3);
        }
    }
}

typedef struct {
    size_t sample;
    int truth, predicted;
    float confidence;
} eval_error;

/* A sheet of misclassified faces, each labelled "true>predicted" and the
 * predicted class's probability. */
static nn_status draw_errors(const char *path, const eval_error *errors, int n,
                             const loader_samples *samples, const classifier_runner *r,
                             nn_error *err) {
    const int cols = 8, label_h = 24;
    int rows = n ? (n + cols - 1) / cols : 1;
    image sheet = {0};
    nn_status st = image_alloc(&sheet, cols * TILE_PX, rows * (TILE_PX + label_h), 3, err);
    if (st) return st;
    memset(sheet.pixels, 255, (size_t)sheet.width * (size_t)sheet.height * 3);
    if (n == 0) draw_text(&sheet, 4, 4, "no errors", 1, DRAW_BLACK);
    const classifier_info *info = classifier_run_info(r);
    for (int i = 0; i < n && !st; i++) {
        const loader_sample *s = &samples->items[errors[i].sample];
        image photo = {0}, crop = {0}, tile = {0};
        if ((st = image_load(s->image_path, 3, &photo, err))) break;
        if (s->has_box)
            st = classifier_crop_face(r, &photo, s->x1, s->y1, s->x2, s->y2, &crop, err);
        else
            st = image_copy(&photo, &crop, err);
        if (!st) st = image_resize(&crop, TILE_PX, TILE_PX, &tile, err);
        if (!st) {
            int x = (i % cols) * TILE_PX, y = (i / cols) * (TILE_PX + label_h);
            paste(&sheet, &tile, x, y);
            char text[64];
            snprintf(text, sizeof text, "%.7s>%.7s\np=%.2f", info->classes[errors[i].truth],
                     info->classes[errors[i].predicted], errors[i].confidence);
            draw_text(&sheet, x + 1, y + TILE_PX + 2, text, 1,
                      draw_class_color(errors[i].predicted));
        }
        image_free(&photo);
        image_free(&crop);
        image_free(&tile);
    }
    if (!st) st = image_save(&sheet, path, 0, err);
    image_free(&sheet);
    return st;
}

/* ------------------------------------------------------------ output */

static cJSON *report_json(const cls_report *rep, const cls_confusion *c,
                          const classifier_info *info) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "n", (double)rep->n);
    cJSON_AddNumberToObject(o, "accuracy", rep->accuracy);
    cJSON_AddNumberToObject(o, "balanced_accuracy", rep->balanced_accuracy);
    if (!info) return o;
    cJSON *per = cJSON_AddObjectToObject(o, "per_class");
    for (int k = 0; k < c->n_classes; k++) {
        cJSON *cls = cJSON_AddObjectToObject(per, info->classes[k]);
        cJSON_AddNumberToObject(cls, "precision", rep->precision[k]);
        cJSON_AddNumberToObject(cls, "recall", rep->recall[k]);
        cJSON_AddNumberToObject(cls, "f1", rep->f1[k]);
        cJSON_AddNumberToObject(cls, "support", (double)rep->support[k]);
    }
    cJSON *conf = cJSON_AddArrayToObject(o, "confusion");
    for (int t = 0; t < c->n_classes; t++) {
        cJSON *row = cJSON_CreateArray();
        for (int p = 0; p < c->n_classes; p++)
            cJSON_AddItemToArray(row, cJSON_CreateNumber((double)c->confusion[t][p]));
        cJSON_AddItemToArray(conf, row);
    }
    return o;
}

/* ------------------------------------------------------------ main */

/* The most likely output among those that are face classes: a classifier
 * with a background output is scored on faces, as mask or no_mask. */
static int face_argmax(const float *probs, int n, const int *class_to_output) {
    int best = -1;
    for (int k = 0; k < n; k++) {
        bool face_class = false;
        for (int c = 0; c < CLASSMAP_MAX_CLASSES; c++)
            face_class |= class_to_output[c] == k;
        if (face_class && (best < 0 || probs[k] > probs[best])) best = k;
    }
    return best < 0 ? classifier_argmax(probs, n) : best;
}

int cmd_eval_classifier(int argc, char **argv) {
    const char *model_path = NULL, *data_path = NULL, *confusion_png = NULL, *errors_png = NULL;
    bool json = false, held_out = false, skip_bad = false;
    double min_face = 0, val_split = 0, seed = 1, batch = 64, threads = 0;
    bool have_split = false, have_seed = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--json")) {
            json = true;
        } else if (!strcmp(a, "--held-out")) {
            held_out = true;
        } else if (!strcmp(a, "--skip-bad")) {
            skip_bad = true;
        } else if (!v) {
            fprintf(stderr, "maskdet eval-classifier: %s: unknown option or missing value "
                            "(see --help)\n", a);
            return 2;
        } else if (!strcmp(a, "--model")) {
            model_path = argv[++i];
        } else if (!strcmp(a, "--data")) {
            data_path = argv[++i];
        } else if (!strcmp(a, "--confusion")) {
            confusion_png = argv[++i];
        } else if (!strcmp(a, "--errors")) {
            errors_png = argv[++i];
        } else if (!strcmp(a, "--min-face") && parse_double(v, 0, 100000, &min_face)) {
            i++;
        } else if (!strcmp(a, "--val-split") && parse_double(v, 0.001, 0.9, &val_split)) {
            have_split = true;
            i++;
        } else if (!strcmp(a, "--seed") && parse_double(v, 0, 9007199254740992.0, &seed)) {
            have_seed = true;
            i++;
        } else if (!strcmp(a, "--batch") && parse_double(v, 1, 4096, &batch)) {
            i++;
        } else if (!strcmp(a, "--threads") && parse_double(v, 1, 256, &threads)) {
            i++;
        } else {
            fprintf(stderr, "maskdet eval-classifier: bad option or value: %s %s (see --help)\n",
                    a, v);
            return 2;
        }
    }
    if (!data_path) {
        fprintf(stderr, "maskdet eval-classifier: missing --data PATH (see --help)\n");
        return 2;
    }
    if (held_out && have_split) {
        fprintf(stderr, "maskdet eval-classifier: --held-out or --val-split, not both\n");
        return 2;
    }
    if (threads > 0) nn_threads_set((int)threads);
    char default_model[4096];
    if (!model_path) {
        bundled_model_path(BUNDLED_CLASSIFIER, default_model, sizeof default_model);
        model_path = default_model;
    }

    nn_error err = {0};
    nn_weights *w = NULL;
    classifier_runner *runner = NULL;
    annot_set set;
    bool set_loaded = false;
    loader_samples all = {0}, train = {0}, val = {0};
    loader *ld = NULL;
    eval_error *errors = NULL;
    float *probs = NULL;
    int rc = 1;
    if (nn_weights_load(model_path, &w, &err) || classifier_run_from_weights(w, &runner, &err)) {
        fprintf(stderr, "maskdet eval-classifier: %s: %s\n", model_path, err.msg);
        goto done;
    }
    const classifier_info *info = classifier_run_info(runner);
    /* model output index of each project class, by name */
    int class_to_output[CLASSMAP_MAX_CLASSES];
    for (int c = 0; c < CLASSMAP_MAX_CLASSES; c++) {
        class_to_output[c] = -1;
        for (int k = 0; k < info->n_classes; k++)
            if (!strcmp(info->classes[k], classmap_class_name(c))) class_to_output[c] = k;
    }
    int split_min_face = (int)min_face;
    bool by_photo_name = true; /* --val-split: the split train-classifier makes now */
    if (held_out) {
        const char *s = nn_weights_meta(w, "train.seed"), *f = nn_weights_meta(w, "train.val_split"),
                   *m = nn_weights_meta(w, "train.min_face");
        if (!s || !f || !parse_double(s, 0, 9007199254740992.0, &seed) ||
            !parse_double(f, 0.001, 0.9, &val_split)) {
            fprintf(stderr, "maskdet eval-classifier: %s does not record its training split "
                            "(train.seed, train.val_split); use --val-split F --seed N\n",
                    model_path);
            rc = 2;
            goto done;
        }
        double mf = 0;
        if (m && parse_double(m, 0, 100000, &mf)) split_min_face = (int)mf;
        /* models trained before the split by photo name shuffled the photos */
        const char *how = nn_weights_meta(w, "train.split");
        by_photo_name = how && !strcmp(how, "photo-hash");
        have_split = true;
    } else if (have_seed && !have_split) {
        fprintf(stderr, "maskdet eval-classifier: --seed goes with --val-split\n");
        rc = 2;
        goto done;
    }

    annot_options ao = annot_default_options();
    ao.skip_bad = skip_bad;
    if (annot_load(data_path, &ao, &set, &err)) {
        fprintf(stderr, "maskdet eval-classifier: %s\n", err.msg);
        goto done;
    }
    set_loaded = true;
    bool photos = set.format != ANNOT_FORMAT_FOLDERS;
    /* The split picks photos as training did (with training's minimum face
     * size); then every face of the held-out photos of at least --min-face
     * is scored, including faces smaller than training used. */
    if (loader_samples_from_set(&set, have_split ? split_min_face : (int)min_face, &all, &err) ||
        (have_split && (by_photo_name
                            ? loader_split_by_photo(&all, &set, (float)val_split, (uint64_t)seed,
                                                    &train, &val, &err)
                            : loader_split(&all, (float)val_split, (uint64_t)seed, &train, &val,
                                           &err)))) {
        fprintf(stderr, "maskdet eval-classifier: %s\n", err.msg);
        goto done;
    }
    if (have_split) {
        bool *held = calloc(set.n_items ? set.n_items : 1, sizeof *held);
        if (!held) {
            fprintf(stderr, "maskdet eval-classifier: out of memory\n");
            goto done;
        }
        for (size_t i = 0; i < val.count; i++)
            held[val.items[i].group] = true;
        loader_samples_free(&val);
        loader_samples faces;
        if (loader_samples_from_set(&set, (int)min_face, &faces, &err)) {
            free(held);
            fprintf(stderr, "maskdet eval-classifier: %s\n", err.msg);
            goto done;
        }
        val = faces;
        size_t n = 0;
        for (size_t i = 0; i < val.count; i++)
            if (held[val.items[i].group]) val.items[n++] = val.items[i];
        val.count = n;
        free(held);
    }
    loader_samples *eval = have_split ? &val : &all;
    size_t kept = 0;
    for (size_t i = 0; i < eval->count; i++) {
        const loader_sample *s = &eval->items[i];
        float size = fmaxf(s->x2 - s->x1, s->y2 - s->y1);
        if (size >= (float)min_face && s->label >= 0 && s->label < CLASSMAP_MAX_CLASSES &&
            class_to_output[s->label] >= 0)
            eval->items[kept++] = *s;
    }
    eval->count = kept;
    if (kept == 0) {
        fprintf(stderr, "maskdet eval-classifier: no faces to evaluate in %s\n", data_path);
        goto done;
    }

    loader_config lc = loader_default_config();
    lc.input_w = info->input_w;
    lc.input_h = info->input_h;
    memcpy(lc.mean, info->mean, sizeof lc.mean);
    memcpy(lc.scale, info->scale, sizeof lc.scale);
    lc.bgr = info->bgr;
    lc.batch_size = (int)batch;
    lc.shuffle = false;
    lc.margin = info->crop_margin;
    lc.cache_bytes = 0;
    if (loader_create(eval, &lc, &ld, &err)) {
        fprintf(stderr, "maskdet eval-classifier: %s\n", err.msg);
        goto done;
    }
    cls_confusion conf;
    cls_confusion_init(&conf, info->n_classes);
    const float edges[] = {0, 16, 32, 64};
    cls_size_table by_size;
    cls_size_table_init(&by_size, info->n_classes, 4, edges);
    errors = malloc(MAX_ERRORS_SHOWN * sizeof *errors);
    probs = malloc((size_t)lc.batch_size * (size_t)info->n_classes * sizeof *probs);
    if (!errors || !probs) {
        fprintf(stderr, "maskdet eval-classifier: out of memory\n");
        goto done;
    }
    int n_errors = 0;
    size_t batches = loader_batches_per_epoch(ld), done_faces = 0;
    train_progress p;
    train_progress_begin(&p, stderr, isatty(2), "eval", batches);
    for (size_t k = 0; k < batches; k++) {
        const loader_batch *b;
        if (loader_next(ld, &b, &err) ||
            classifier_run_tensor(runner, b->count, b->data, probs, &err)) {
            fprintf(stderr, "\nmaskdet eval-classifier: %s\n", err.msg);
            goto done;
        }
        for (int i = 0; i < b->count; i++) {
            const float *pr = probs + (size_t)i * (size_t)info->n_classes;
            int pred = face_argmax(pr, info->n_classes, class_to_output);
            int truth = class_to_output[b->labels[i]];
            const loader_sample *s = &eval->items[b->sample_ids[i]];
            cls_confusion_add(&conf, truth, pred);
            if (photos) cls_size_table_add(&by_size, fmaxf(s->x2 - s->x1, s->y2 - s->y1), truth, pred);
            if (pred != truth && n_errors < MAX_ERRORS_SHOWN)
                errors[n_errors++] = (eval_error){b->sample_ids[i], truth, pred, pr[pred]};
        }
        done_faces += (size_t)b->count;
        train_progress_update(&p, k + 1, done_faces, 0, NULL);
    }
    train_progress_end(&p, done_faces, 0, NULL);

    cls_report rep;
    cls_report_compute(&conf, &rep);
    if (json) {
        cJSON *o = report_json(&rep, &conf, info);
        cJSON_AddStringToObject(o, "model", model_path);
        cJSON_AddStringToObject(o, "data", data_path);
        cJSON_AddBoolToObject(o, "held_out", have_split);
        cJSON_AddNumberToObject(o, "min_face", min_face);
        if (photos) {
            cJSON *sizes = cJSON_AddArrayToObject(o, "by_face_size");
            for (int r = 0; r < by_size.n_ranges; r++) {
                cls_report sr;
                cls_report_compute(&by_size.conf[r], &sr);
                cJSON *e = report_json(&sr, &by_size.conf[r], NULL);
                char name[32];
                cls_size_range_name(&by_size, r, name, sizeof name);
                cJSON_AddStringToObject(e, "range_px", name);
                cJSON_AddItemToArray(sizes, e);
            }
        }
        char *text = cJSON_Print(o);
        printf("%s\n", text ? text : "{}");
        free(text);
        cJSON_Delete(o);
    } else {
        printf("model %s on %s%s: %zu faces\n", model_path, data_path,
               have_split ? " (held-out split)" : "", rep.n);
        printf("accuracy           %.4f\nbalanced accuracy  %.4f\n\n", rep.accuracy,
               rep.balanced_accuracy);
        printf("%-12s %9s %9s %9s %9s\n", "class", "precision", "recall", "f1", "support");
        for (int k = 0; k < info->n_classes; k++)
            printf("%-12s %9.4f %9.4f %9.4f %9zu\n", info->classes[k], rep.precision[k],
                   rep.recall[k], rep.f1[k], rep.support[k]);
        printf("\nconfusion (rows true, columns predicted):\n%-12s", "");
        for (int k = 0; k < info->n_classes; k++)
            printf(" %9s", info->classes[k]);
        printf("\n");
        for (int t = 0; t < info->n_classes; t++) {
            printf("%-12s", info->classes[t]);
            for (int k = 0; k < info->n_classes; k++)
                printf(" %9zu", conf.confusion[t][k]);
            printf("\n");
        }
        if (photos) {
            printf("\nby face size (longest side, px):\n%-8s %7s %9s %9s\n", "range", "faces",
                   "accuracy", "balanced");
            for (int r = 0; r < by_size.n_ranges; r++) {
                cls_report sr;
                cls_report_compute(&by_size.conf[r], &sr);
                char name[32];
                cls_size_range_name(&by_size, r, name, sizeof name);
                if (sr.n)
                    printf("%-8s %7zu %9.4f %9.4f\n", name, sr.n, sr.accuracy,
                           sr.balanced_accuracy);
                else
                    printf("%-8s %7zu %9s %9s\n", name, sr.n, "-", "-");
            }
        }
    }
    if (confusion_png && draw_confusion(confusion_png, &conf, info, &err)) {
        fprintf(stderr, "maskdet eval-classifier: %s\n", err.msg);
        goto done;
    }
    if (errors_png && draw_errors(errors_png, errors, n_errors, eval, runner, &err)) {
        fprintf(stderr, "maskdet eval-classifier: %s\n", err.msg);
        goto done;
    }
    rc = 0;
done:
    free(errors);
    free(probs);
    loader_destroy(ld);
    loader_samples_free(&all);
    loader_samples_free(&train);
    loader_samples_free(&val);
    if (set_loaded) annot_set_free(&set);
    classifier_run_free(runner);
    nn_weights_free(w);
    return rc;
}
