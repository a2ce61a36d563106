/*
 * cmd_eval.c - `maskdet eval`: how well the whole pipeline does on an
 * annotated folder (VOC or Kaggle JSON).
 *
 * Every photo goes through the embedding API (apps/lib/maskdet.h), the very
 * code `maskdet detect` and library users run: the detector finds faces, the
 * classifier labels each one (or a one-stage mask detector labels them
 * itself). The report (datasets/det_metrics.h for the matching rules):
 *   - AP@0.5 (VOC all-point) of mask and no_mask (mask_weared_incorrect
 *     counts as no_mask) and their mean, mAP;
 *   - class-agnostic face AP@0.5, overall and by face size (the longer side:
 *     < 16, 16-32, >= 32 px);
 *   - precision and recall at the chosen thresholds, for faces and per class,
 *     of what `maskdet detect` would report;
 *   - optionally the precision-recall curves as a PNG and the detections in
 *     the `maskdet detect --json` format.
 * --detector-only scores faces only (the detector alone, no classifier).
 *
 * The score of a face as class c is face_score x P(c | face): the chance that
 * the box is a face times the classifier's chance that this face is c, which
 * is what a user reads as "how sure is it that this is an unmasked face". By
 * default a face gives one entry per class (VOC style, as a multi-class
 * detector scores every class of every box): a face the classifier gets
 * wrong still appears, lower in the ranking, under its true class, so a
 * hesitant classifier costs recall only at low precision (on the held-out
 * split: mAP 0.752 against 0.747 for argmax, models/README.md). --class-scores
 * argmax keeps only the reported class (what `detect` prints). A one-stage
 * detector (AIZOO) is scored with its own labels and scores.
 *
 * --split val (with the --seed / --val-fraction of the training runs) scores
 * exactly the photos the training held out.
 */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bundled.h"
#include "det_data.h"
#include "face_ssd.h"
#include "maskdet.h"

/* Detections below this face score are not scored (--min-score). The AP
 * curve needs the low-scoring tail: SSD's own evaluation keeps boxes down to
 * 0.01, and so do we. It matters once the classifier checks faces, as that
 * moves real faces it doubts down the ranking rather than out of it (0.1
 * cost 0.015 face AP on the held-out photos). Each box costs classifier
 * runs (four with the bundled pair and the mirrored look): about 430 boxes
 * and 2.5 s a photo here. */
#define EVAL_MIN_FACE_SCORE 0.01f
#define EVAL_N_CLASSES 2 /* photo labels 1 = mask, 2 = no_mask */

static void usage(FILE *f) {
    fprintf(f,
            "usage: maskdet eval --data PATH [options]\n"
            "Runs the whole pipeline (detector, then the classifier on each face) on an\n"
            "annotated folder (VOC or Kaggle JSON) and reports AP@0.5 (VOC all-point) of\n"
            "mask and no_mask (mask_weared_incorrect counts as no_mask), their mean (mAP),\n"
            "face AP@0.5 overall and by face size (< 16, 16-32, >= 32 px, the longer side),\n"
            "and precision / recall at the chosen thresholds, with the false positives\n"
            "by cause (a second box on a face, a misplaced box, no labelled face near).\n"
            "A face's score as class c is face_score x P(c | face) from the classifier; a\n"
            "one-stage mask detector (e.g. AIZOO) is scored with its own labels and scores.\n"
            "  --detector MODEL     detector model file (default: the bundled face detector)\n"
            "  --classifier MODEL[,MODEL...]  classifier model file(s); several: their\n"
            "                       probabilities are averaged (default: the bundled pair)\n"
            "  --no-tta             each classifier sees a face once, not also mirrored\n"
            "  --no-box-vote        face_ssd: keep the best box, not its vote with the\n"
            "                       boxes it suppressed\n"
            "  --detector-only      score faces only (no classifier)\n"
            "  --no-face-check      a classifier with a background class labels the faces\n"
            "                       but does not check them (face score: the detector's)\n"
            "  --face-check-weight W  face score = detector's x (1 - W + W x P(face))\n"
            "                       (default 0.7)\n"
            "  --data PATH          annotated photos\n"
            "  --split all|val|train  photos to score (default all); val/train: the\n"
            "                       hash split of the training runs (--seed, --val-fraction)\n"
            "  --seed N             (default 1)   --val-fraction X (default 0.15)\n"
            "  --threshold X        face score for precision/recall (default: the model's)\n"
            "  --mask-threshold X   \"mask\" when P(mask) >= X (default 0.5)\n"
            "  --class-scores per-class|argmax  a face counts for every class with its\n"
            "                       score (default) or for its reported class only\n"
            "  --input-scale X      face_ssd: run the detector at image size x X\n"
            "  --input-long-side N  face_ssd: run it with the longer side resized to N\n"
            "                       (0: at the image's own size; default: the model's)\n"
            "  --limit N            score at most N photos\n"
            "  --pr PNG             write the precision-recall curves\n"
            "  --min-score X        score the faces with face score >= X (default %.2f)\n"
            "  --save-detections FILE  the scored detections (face score >= min-score),\n"
            "                       one JSON object per photo as `maskdet detect --json`\n"
            "  --json               one JSON object on stdout\n"
            "  --threads N          worker threads\n"
            "  --speed WxH          only time the detector on a WxH frame (median of 21 runs)\n",
            EVAL_MIN_FACE_SCORE);
}

typedef struct {
    const char *detector, *classifier, *data, *pr_path, *save_path;
    bool detector_only, no_face_check, no_tta, no_box_vote, json, argmax_only;
    det_split split;
    uint64_t seed;
    float val_fraction, face_threshold, mask_threshold, input_scale, min_score, check_weight;
    int long_side; /* -1: the model's */
    int limit, threads, speed_w, speed_h;
} eval_options;

static int fail_msg(const char *msg) {
    fprintf(stderr, "eval: %s\n", msg);
    return 1;
}

/* A pipeline through the API, at one input size (long_side -1: the model's,
 * 0: the image's own size, else that longer side; input_scale wins if > 0). */
static int open_pipeline(const eval_options *o, float face_threshold, int long_side,
                         bool detector_only, maskdet **md, maskdet_error *err) {
    maskdet_options mo = maskdet_options_default();
    mo.detector_path = o->detector;
    mo.classifier_path = o->classifier;
    mo.detector_only = detector_only;
    mo.no_face_check = o->no_face_check;
    mo.no_tta = o->no_tta;
    mo.no_box_vote = o->no_box_vote;
    mo.face_check_weight = o->check_weight;
    mo.face_threshold = face_threshold;
    mo.mask_threshold = o->mask_threshold;
    mo.threads = o->threads;
    if (o->input_scale > 0) mo.input_scale = o->input_scale;
    else if (long_side == 0) mo.input_scale = 1.0f;
    else if (long_side > 0) mo.input_long_side = long_side;
    return maskdet_open(&mo, md, err);
}

/* A model metadata number, or fallback when absent. */
static double model_number(const maskdet *md, const char *key, double fallback) {
    const char *v = maskdet_model_info(md, "detector", key);
    char *end;
    double x = v ? strtod(v, &end) : 0.0;
    return v && end != v ? x : fallback;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static cJSON *num_or_null(double v) {
    return isnan(v) ? cJSON_CreateNull() : cJSON_CreateNumber(v);
}

/* Median detector time on a synthetic frame (a smooth gradient), after one
 * warm-up run, at the model's own score threshold (as `maskdet detect` runs). */
static int speed_test(const eval_options *o) {
    int w = o->speed_w, h = o->speed_h;
    maskdet *md = NULL;
    maskdet_error err = {{0}};
    if (open_pipeline(o, -1.0f, o->long_side, true, &md, &err)) return fail_msg(err.msg);
    uint8_t *frame = malloc((size_t)w * h * 3);
    maskdet_face *faces = malloc(DET_MAX_DETECTIONS * sizeof *faces);
    if (!frame || !faces) {
        free(frame), free(faces), maskdet_close(md);
        return fail_msg("out of memory");
    }
    for (int i = 0; i < w * h * 3; i++) frame[i] = (uint8_t)((i / 3 % w + i / 3 / w) % 256);
    enum { RUNS = 21 };
    double ms[RUNS];
    for (int r = -1; r < RUNS; r++) {
        if (maskdet_detect(md, frame, w, h, 3 * w, faces, DET_MAX_DETECTIONS, &err) < 0) {
            free(frame), free(faces), maskdet_close(md);
            return fail_msg(err.msg);
        }
        maskdet_timing t = maskdet_last_timing(md);
        if (r >= 0) ms[r] = t.preprocess_ms + t.detect_ms + t.postprocess_ms;
    }
    qsort(ms, RUNS, sizeof ms[0], cmp_double);

    /* Convolution FLOPs are known for our own network only, at the size the
     * detector ran the frame at. */
    double gflop = NAN;
    char bundled[4096];
    bundled_model_path(BUNDLED_DETECTOR, bundled, sizeof bundled);
    const char *path = o->detector ? o->detector : bundled;
    face_ssd f;
    nn_error e;
    image img = {.width = w, .height = h, .channels = 3, .pixels = frame};
    if (face_ssd_load(path, &f, &e) == NN_OK) {
        if (o->input_scale > 0) f.input_scale = o->input_scale, f.input_long_side = 0;
        else if (o->long_side == 0) f.input_scale = 1.0f, f.input_long_side = 0;
        else if (o->long_side > 0) f.input_long_side = o->long_side;
        float *chw = NULL;
        int in_w, in_h;
        if (face_ssd_preprocess(&f, &img, &chw, &in_w, &in_h, &e) == NN_OK)
            gflop = face_ssd_flops(&f, in_w, in_h) / 1e9;
        nn_aligned_free(chw);
        face_ssd_free(&f);
    }
    if (o->json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "detector", path);
        cJSON_AddNumberToObject(j, "width", w);
        cJSON_AddNumberToObject(j, "height", h);
        cJSON_AddNumberToObject(j, "threads", nn_threads_get());
        cJSON_AddNumberToObject(j, "median_ms", ms[RUNS / 2]);
        cJSON_AddNumberToObject(j, "min_ms", ms[0]);
        cJSON_AddItemToObject(j, "gflop", num_or_null(gflop));
        char *text = cJSON_PrintUnformatted(j);
        if (text) printf("%s\n", text);
        free(text);
        cJSON_Delete(j);
    } else {
        printf("detector %s on a %dx%d frame, %d threads: median %.2f ms, min %.2f ms "
               "(%.2f GFLOP, %.1f GFLOP/s at the median)\n",
               path, w, h, nn_threads_get(), ms[RUNS / 2], ms[0], gflop,
               gflop / (ms[RUNS / 2] / 1e3));
    }
    free(frame), free(faces), maskdet_close(md);
    return 0;
}

/* What eval needs from one API result: the face, the class it is reported
 * as, and its score as each class. classified: the labels come from our
 * classifier, whose two outputs are mask and no_mask, so P(no_mask) =
 * 1 - P(mask) and the API's score (the probability of the reported label)
 * gives both. Otherwise the label is a one-stage detector's own, with its
 * score. */
static det_face_pred face_pred_of(const maskdet_face *f, bool classified) {
    det_face_pred p = {f->x1, f->y1, f->x2, f->y2, f->face_score, 0, {0}};
    if (f->label == MASKDET_FACE) return p;
    p.label = f->label == MASKDET_MASK ? 1 : 2;
    if (classified) {
        float p_mask = f->label == MASKDET_MASK ? f->score : 1.0f - f->score;
        p.class_score[0] = f->face_score * p_mask;
        p.class_score[1] = f->face_score * (1.0f - p_mask);
    } else {
        p.class_score[p.label - 1] = f->score;
    }
    return p;
}

/* One photo's detections as `maskdet detect --json` writes them. */
static void write_detections(FILE *f, const det_photo *ph, const det_face_pred *faces, int n) {
    static const char *const names[] = {"face", "mask", "no_mask"};
    cJSON *o = cJSON_CreateObject(), *dets = cJSON_CreateArray();
    cJSON_AddStringToObject(o, "image", ph->image_path);
    cJSON_AddNumberToObject(o, "width", ph->img.width);
    cJSON_AddNumberToObject(o, "height", ph->img.height);
    for (int i = 0; i < n; i++) {
        const det_face_pred *d = &faces[i];
        double box[4] = {d->x1, d->y1, d->x2, d->y2};
        cJSON *e = cJSON_CreateObject();
        cJSON_AddItemToObject(e, "box", cJSON_CreateDoubleArray(box, 4));
        cJSON_AddStringToObject(e, "label", names[d->label]);
        /* the probability of the label, as the API reports it */
        float score = d->label > 0 && d->face_score > 0
                          ? d->class_score[d->label - 1] / d->face_score : d->face_score;
        cJSON_AddNumberToObject(e, "score", score);
        cJSON_AddNumberToObject(e, "face_score", d->face_score);
        cJSON_AddItemToArray(dets, e);
    }
    cJSON_AddItemToObject(o, "detections", dets);
    char *text = cJSON_PrintUnformatted(o);
    if (text) fprintf(f, "%s\n", text);
    free(text);
    cJSON_Delete(o);
}

/* Mean milliseconds per photo of each stage. */
typedef struct {
    double detect, classify, total;
} stage_ms;

/* Runs the pipeline over every photo: faces[i][0..n_found[i]). */
static int run_photos(maskdet *md, bool classified, const det_photos *photos,
                      det_face_pred **faces, int *n_found, FILE *save, stage_ms *ms) {
    maskdet_face *found = malloc(DET_MAX_DETECTIONS * sizeof *found);
    if (!found) return fail_msg("out of memory");
    maskdet_error err = {{0}};
    int rc = 0;
    *ms = (stage_ms){0};
    bool tty = isatty(fileno(stderr));
    for (int i = 0; i < photos->n && rc == 0; i++) {
        const det_photo *ph = &photos->photos[i];
        int n = maskdet_detect(md, ph->img.pixels, ph->img.width, ph->img.height,
                               3 * ph->img.width, found, DET_MAX_DETECTIONS, &err);
        if (n < 0) {
            fprintf(stderr, "eval: %s: %s\n", ph->image_path, err.msg);
            rc = 1;
            break;
        }
        if (n > DET_MAX_DETECTIONS) n = DET_MAX_DETECTIONS;
        maskdet_timing t = maskdet_last_timing(md);
        ms->detect += t.preprocess_ms + t.detect_ms + t.postprocess_ms;
        ms->classify += t.classify_ms;
        ms->total += t.total_ms;
        faces[i] = malloc((size_t)(n > 0 ? n : 1) * sizeof **faces);
        if (!faces[i]) {
            rc = fail_msg("out of memory");
            break;
        }
        for (int k = 0; k < n; k++) faces[i][k] = face_pred_of(&found[k], classified);
        n_found[i] = n;
        if (save) write_detections(save, ph, faces[i], n);
        if (tty)
            fprintf(stderr, "\reval: %d / %d photos", i + 1, photos->n);
        else if ((i + 1) % 100 == 0 || i + 1 == photos->n)
            fprintf(stderr, "eval: %d / %d photos\n", i + 1, photos->n);
    }
    if (tty && photos->n > 0) fprintf(stderr, "\n");
    if (photos->n > 0) ms->detect /= photos->n, ms->classify /= photos->n, ms->total /= photos->n;
    free(found);
    return rc;
}

static int write_pr(const char *path, const det_eval_summary *es, int n_labels,
                    const char *const *class_names) {
    det_ap_result curves[1 + DET_N_SIZE_RANGES + EVAL_N_CLASSES];
    const char *names[1 + DET_N_SIZE_RANGES + EVAL_N_CLASSES] = {"faces", "faces < 16 px",
                                                                 "faces 16-32 px",
                                                                 "faces >= 32 px"};
    int n = 0;
    curves[n++] = es->face;
    for (int r = 0; r < DET_N_SIZE_RANGES; r++) curves[n++] = es->by_size[r];
    for (int c = 0; c < n_labels; c++) names[n] = class_names[c], curves[n++] = es->per_class[c];
    nn_error e;
    if (det_plot_pr(path, "precision-recall, IoU 0.5", n, curves, names, &e) != NN_OK)
        return fail_msg(e.msg);
    return 0;
}

static void report(const eval_options *o, const char *det_path, const det_eval_summary *es,
                   int n_labels, const stage_ms *ms, float face_threshold,
                   const maskdet *md) {
    static const char *const class_names[EVAL_N_CLASSES] = {"mask", "no_mask"};
    double scale = model_number(md, "face_ssd.input_scale", NAN);
    double long_side = model_number(md, "face_ssd.input_long_side", NAN);
    if (o->input_scale > 0) scale = o->input_scale, long_side = 0;
    else if (o->long_side == 0) scale = 1.0, long_side = 0;
    else if (o->long_side > 0) long_side = o->long_side;
    if (o->json) {
        cJSON *j = cJSON_CreateObject(), *by = cJSON_CreateObject(), *nby = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "detector", det_path);
        if (n_labels > 0 && maskdet_model_info(md, "classifier", "arch"))
            cJSON_AddStringToObject(j, "classifier", o->classifier ? o->classifier : "bundled");
        cJSON_AddStringToObject(j, "data", o->data);
        cJSON_AddNumberToObject(j, "n_images", es->n_images);
        cJSON_AddNumberToObject(j, "n_faces", es->n_faces);
        if (n_labels > 0) {
            cJSON *ap = cJSON_CreateObject(), *p = cJSON_CreateObject(), *r = cJSON_CreateObject();
            for (int c = 0; c < n_labels; c++) {
                cJSON_AddItemToObject(ap, class_names[c], num_or_null(es->per_class[c].ap));
                cJSON_AddItemToObject(p, class_names[c], num_or_null(es->class_precision[c]));
                cJSON_AddItemToObject(r, class_names[c], num_or_null(es->class_recall[c]));
            }
            cJSON_AddItemToObject(j, "map50", num_or_null(es->map));
            cJSON_AddItemToObject(j, "ap50", ap);
            cJSON_AddItemToObject(j, "class_precision", p);
            cJSON_AddItemToObject(j, "class_recall", r);
            cJSON_AddStringToObject(j, "class_scores", o->argmax_only ? "argmax" : "per-class");
            cJSON_AddNumberToObject(j, "mask_threshold", o->mask_threshold);
        }
        cJSON_AddItemToObject(j, "face_ap50", num_or_null(es->face.ap));
        for (int r = 0; r < DET_N_SIZE_RANGES; r++) {
            cJSON_AddItemToObject(by, det_size_range_names[r], num_or_null(es->by_size[r].ap));
            cJSON_AddNumberToObject(nby, det_size_range_names[r], es->by_size[r].n_gt);
        }
        cJSON_AddItemToObject(j, "face_ap50_by_size", by);
        cJSON_AddItemToObject(j, "n_faces_by_size", nby);
        cJSON_AddNumberToObject(j, "threshold", face_threshold);
        cJSON_AddItemToObject(j, "precision", num_or_null(es->face.precision_at_threshold));
        cJSON_AddItemToObject(j, "recall", num_or_null(es->face.recall_at_threshold));
        cJSON *fp = cJSON_CreateObject();
        cJSON_AddNumberToObject(fp, "duplicate", es->face.n_fp_duplicate);
        cJSON_AddNumberToObject(fp, "misplaced", es->face.n_fp_misplaced);
        cJSON_AddNumberToObject(fp, "no_face", es->face.n_fp_no_face);
        cJSON_AddItemToObject(j, "false_positives", fp);
        cJSON_AddItemToObject(j, "input_scale", num_or_null(scale));
        cJSON_AddItemToObject(j, "input_long_side", num_or_null(long_side));
        cJSON_AddNumberToObject(j, "detect_ms_per_image", ms->detect);
        cJSON_AddNumberToObject(j, "classify_ms_per_image", ms->classify);
        cJSON_AddNumberToObject(j, "total_ms_per_image", ms->total);
        char *text = cJSON_PrintUnformatted(j);
        if (text) printf("%s\n", text);
        free(text);
        cJSON_Delete(j);
        return;
    }
    printf("detector %s on %s: %d photos, %d faces\n", det_path, o->data, es->n_images,
           es->n_faces);
    if (n_labels > 0) {
        for (int c = 0; c < n_labels; c++)
            printf("AP@0.5 %-8s     %.4f\n", class_names[c], es->per_class[c].ap);
        printf("mAP@0.5              %.4f   (class scores: %s)\n", es->map,
               o->argmax_only ? "argmax" : "per-class");
    }
    printf("face AP@0.5          %.4f\n", es->face.ap);
    for (int r = 0; r < DET_N_SIZE_RANGES; r++)
        printf("  %-8s (%4d faces) %.4f\n", det_size_range_names[r], es->by_size[r].n_gt,
               es->by_size[r].ap);
    printf("at face score >= %.2f: precision %.4f, recall %.4f\n", face_threshold,
           es->face.precision_at_threshold, es->face.recall_at_threshold);
    printf("  false positives %d: %d second boxes on a face, %d misplaced (IoU 0.1-0.5), "
           "%d with no labelled face near\n",
           es->face.n_fp_at_threshold, es->face.n_fp_duplicate, es->face.n_fp_misplaced,
           es->face.n_fp_no_face);
    for (int c = 0; c < n_labels; c++)
        printf("  reported %-8s precision %.4f, recall %.4f\n", class_names[c],
               es->class_precision[c], es->class_recall[c]);
    printf("time per photo: detector %.1f ms, classifier %.1f ms\n", ms->detect, ms->classify);
}

static int parse_options(int argc, char **argv, eval_options *o) {
    *o = (eval_options){.seed = 1, .val_fraction = 0.15f, .face_threshold = -1.0f,
                        .mask_threshold = 0.5f, .long_side = -1,
                        .min_score = EVAL_MIN_FACE_SCORE};
    static const struct option longs[] = {
        {"detector-only", no_argument, 0, 'D'},   {"detector", required_argument, 0, 'd'},
        {"no-face-check", no_argument, 0, 'F'},  {"face-check-weight", required_argument, 0, 'W'},
        {"classifier", required_argument, 0, 'c'}, {"data", required_argument, 0, 'a'},
        {"no-tta", no_argument, 0, 'A'},          {"no-box-vote", no_argument, 0, 'B'},
        {"split", required_argument, 0, 's'},     {"seed", required_argument, 0, 'S'},
        {"val-fraction", required_argument, 0, 'v'}, {"threshold", required_argument, 0, 'T'},
        {"mask-threshold", required_argument, 0, 'm'},
        {"class-scores", required_argument, 0, 'C'}, {"min-score", required_argument, 0, 'n'},
        {"input-scale", required_argument, 0, 'i'}, {"input-long-side", required_argument, 0, 'g'},
        {"limit", required_argument, 0, 'L'},
        {"pr", required_argument, 0, 'p'},        {"save-detections", required_argument, 0, 'o'},
        {"json", no_argument, 0, 'j'},            {"threads", required_argument, 0, 't'},
        {"speed", required_argument, 0, 'P'},     {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    optind = 1;
    opterr = 0;
    int c;
    char *end;
    while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        bool bad = false;
        switch (c) {
        case 'D': o->detector_only = true; break;
        case 'F': o->no_face_check = true; break;
        case 'A': o->no_tta = true; break;
        case 'B': o->no_box_vote = true; break;
        case 'W':
            o->check_weight = strtof(optarg, &end);
            bad = *end || !(o->check_weight > 0 && o->check_weight <= 1);
            break;
        case 'd': o->detector = optarg; break;
        case 'c': o->classifier = optarg; break;
        case 'a': o->data = optarg; break;
        case 's':
            if (!strcmp(optarg, "all")) o->split = DET_SPLIT_ALL;
            else if (!strcmp(optarg, "val")) o->split = DET_SPLIT_VAL;
            else if (!strcmp(optarg, "train")) o->split = DET_SPLIT_TRAIN;
            else bad = true;
            break;
        case 'S': o->seed = strtoull(optarg, &end, 10), bad = *end != '\0'; break;
        case 'v':
            o->val_fraction = strtof(optarg, &end);
            bad = *end || !(o->val_fraction >= 0 && o->val_fraction <= 1);
            break;
        case 'T':
            o->face_threshold = strtof(optarg, &end);
            bad = *end || !(o->face_threshold >= 0 && o->face_threshold <= 1);
            break;
        case 'm':
            o->mask_threshold = strtof(optarg, &end);
            bad = *end || !(o->mask_threshold >= 0 && o->mask_threshold <= 1);
            break;
        case 'n':
            o->min_score = strtof(optarg, &end);
            bad = *end || !(o->min_score >= 0 && o->min_score <= 1);
            break;
        case 'C':
            if (!strcmp(optarg, "per-class")) o->argmax_only = false;
            else if (!strcmp(optarg, "argmax")) o->argmax_only = true;
            else bad = true;
            break;
        case 'g':
            o->long_side = (int)strtol(optarg, &end, 10);
            bad = *end || o->long_side < 0 || o->long_side > 8192;
            break;
        case 'i':
            o->input_scale = strtof(optarg, &end);
            bad = *end || !(o->input_scale > 0.05f && o->input_scale <= 8);
            break;
        case 'L': o->limit = (int)strtol(optarg, &end, 10), bad = *end || o->limit < 0; break;
        case 'p': o->pr_path = optarg; break;
        case 'o': o->save_path = optarg; break;
        case 'j': o->json = true; break;
        case 't':
            o->threads = (int)strtol(optarg, &end, 10);
            bad = *end || o->threads < 1 || o->threads > 256;
            break;
        case 'P':
            bad = sscanf(optarg, "%dx%d", &o->speed_w, &o->speed_h) != 2 || o->speed_w < 1 ||
                  o->speed_h < 1 || o->speed_w > 8192 || o->speed_h > 8192;
            break;
        case 'h': usage(stdout); return 0;
        default: bad = true;
        }
        if (bad) {
            fprintf(stderr, "eval: bad option %s\n", argv[optind - 1]);
            usage(stderr);
            return 2;
        }
    }
    if (o->speed_w > 0 && optind == argc) return -1;
    const char *problem = NULL;
    if (optind < argc) problem = "unexpected argument";
    else if (!o->data) problem = "--data is required";
    if (problem) {
        fprintf(stderr, "eval: %s\n", problem);
        usage(stderr);
        return 2;
    }
    return -1;
}

int cmd_eval(int argc, char **argv) {
    eval_options o;
    int rc = parse_options(argc, argv, &o);
    if (rc >= 0) return rc;
    if (o.speed_w > 0) return speed_test(&o);

    maskdet *md = NULL;
    maskdet_error err = {{0}};
    det_photos photos = {0};
    det_face_pred **faces = NULL;
    int *n_found = NULL;
    FILE *save = NULL;
    det_eval_summary es;
    bool have_summary = false;
    rc = 1;
    if (open_pipeline(&o, o.min_score, o.long_side, o.detector_only, &md, &err)) {
        fail_msg(err.msg);
        goto done;
    }
    /* classes: from our classifier, or a one-stage detector's own labels */
    bool classified = maskdet_model_info(md, "classifier", "arch") != NULL;
    bool labels_masks = false;
    for (const char *cls = maskdet_model_info(md, "detector", "classes"); cls && *cls;) {
        size_t len = strcspn(cls, ",");
        labels_masks |= (len == 4 && !strncmp(cls, "mask", 4)) ||
                        (len == 7 && !strncmp(cls, "no_mask", 7));
        cls += len + (cls[len] == ',');
    }
    int n_labels = !o.detector_only && (classified || labels_masks) ? EVAL_N_CLASSES : 0;
    float face_threshold =
        o.face_threshold >= 0 ? o.face_threshold : maskdet_default_face_threshold(md);

    nn_error e;
    if (det_data_load(o.data, o.split, o.seed, o.val_fraction, o.limit, &photos, &e) != NN_OK) {
        fail_msg(e.msg);
        goto done;
    }
    faces = calloc((size_t)(photos.n > 0 ? photos.n : 1), sizeof *faces);
    n_found = calloc((size_t)(photos.n > 0 ? photos.n : 1), sizeof *n_found);
    if (!faces || !n_found) {
        fail_msg("out of memory");
        goto done;
    }
    if (o.save_path && !(save = fopen(o.save_path, "w"))) {
        fprintf(stderr, "eval: %s: cannot write\n", o.save_path);
        goto done;
    }
    stage_ms ms;
    if (run_photos(md, classified, &photos, faces, n_found, save, &ms))
        goto done;
    if (save) {
        int bad = ferror(save);
        bad |= fclose(save);
        save = NULL;
        if (bad) {
            fprintf(stderr, "eval: %s: write failed\n", o.save_path);
            goto done;
        }
    }
    det_score_params sp = {.face_threshold = face_threshold, .n_labels = n_labels,
                           .argmax_only = o.argmax_only};
    if (det_data_score(&photos, (const det_face_pred *const *)faces, n_found, &sp, &es, &e)) {
        fail_msg(e.msg);
        goto done;
    }
    have_summary = true;
    static const char *const class_names[EVAL_N_CLASSES] = {"mask", "no_mask"};
    if (o.pr_path && write_pr(o.pr_path, &es, n_labels, class_names)) goto done;
    char bundled[4096];
    bundled_model_path(BUNDLED_DETECTOR, bundled, sizeof bundled);
    report(&o, o.detector ? o.detector : bundled, &es, n_labels, &ms, face_threshold, md);
    rc = 0;
done:
    if (save) fclose(save);
    if (have_summary) det_eval_summary_free(&es);
    for (int i = 0; faces && i < photos.n; i++) free(faces[i]);
    free(faces), free(n_found);
    det_data_free(&photos);
    maskdet_close(md);
    return rc;
}
