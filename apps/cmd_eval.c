/*
 * cmd_eval.c - `maskdet eval --detector-only`: face detection quality of a
 * detector model on an annotated folder (VOC or Kaggle JSON): class-agnostic
 * face AP@0.5 (VOC all-point), AP by face size (< 16, 16-32, >= 32 px, the
 * longer side; see datasets/det_metrics.h for how the ranges are scored),
 * precision and recall at a score threshold, per-class AP / mAP for a
 * mask/no_mask detector, and optionally the precision-recall curve as a PNG.
 *
 * --split val (with the --seed / --val-fraction of the training run) scores
 * exactly the photos train-detector held out. Any detector model file runs:
 * face_ssd directly, others (Caffe res10, AIZOO, ssd_vgg16) through
 * vision/detector.h at their own input size, so they score side by side.
 */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bundled.h"
#include "det_data.h"
#include "detector.h"
#include "face_ssd.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: maskdet eval --detector-only --data PATH [options]\n"
            "Scores a face detector on an annotated folder (VOC or Kaggle JSON).\n"
            "  --detector MODEL     detector model file (default models/face_detector.nnw):\n"
            "                       our face_ssd, or any detector file (e.g. the imported res10)\n"
            "  --data PATH          annotated photos\n"
            "  --split all|val|train  photos to score (default all); val/train: the\n"
            "                       hash split of train-detector (--seed, --val-fraction)\n"
            "  --seed N             (default 1)   --val-fraction X (default 0.15)\n"
            "  --threshold X        score for precision/recall (default 0.5)\n"
            "  --input-scale X      run the detector at image size x X (default: the model's)\n"
            "  --input-long-side N  run it with the image's longer side resized to N (0: off)\n"
            "  --limit N            score at most N photos\n"
            "  --pr PNG             write the precision-recall curves\n"
            "  --json               one JSON object on stdout\n"
            "  --threads N          worker threads\n"
            "  --speed WxH          only time the detector on a WxH frame (median of 21 runs)\n");
}

/* A loaded model: our face SSD, or any other detector model file through
 * vision/detector.h (the Caffe res10 and AIZOO models, ssd_vgg16). */
typedef struct {
    face_ssd f;
    detector *other;
} loaded_model;

static nn_status load_model(const char *path, loaded_model *m, nn_error *err) {
    memset(m, 0, sizeof *m);
    nn_weights *w = NULL;
    if (nn_weights_load(path, &w, err) != NN_OK) return err->code;
    nn_status st;
    if (face_ssd_is_model(w)) {
        st = face_ssd_from_weights(w, &m->f, err);
        nn_weights_free(w);
    } else {
        st = detector_from_weights(w, &m->other, err);
        if (st != NN_OK) nn_weights_free(w);
    }
    if (st != NN_OK) {
        char msg[NN_ERROR_MSG_LEN];
        snprintf(msg, sizeof msg, "%s", err->msg);
        nn_error_set(err, st, "%s: %s", path, msg);
    }
    return st;
}

static void free_model(loaded_model *m) {
    face_ssd_free(&m->f);
    detector_free(m->other);
    m->other = NULL;
}

static const char *model_class_name(const loaded_model *m, int label) {
    return m->other ? detector_class_name(m->other, label) : m->f.class_names[label];
}

/* Detections scoring above threshold (0.01 for the AP curve; < 0: the
 * model's own threshold, as `maskdet detect` runs it). */
static nn_status detect_any(loaded_model *m, const image *img, float threshold,
                            ssd_detection *dets, int max_out, int *nd, nn_error *err) {
    if (!m->other) return face_ssd_detect(&m->f, img, threshold, -1.0f, dets, max_out, nd, err);
    detector_params p = detector_params_default();
    p.threshold = threshold;
    p.keep_top_k = max_out;
    return detector_detect(m->other, img, &p, dets, max_out, nd, err);
}

static nn_status detect_adapter(void *user, const image *img, det_pred *out, int max_out, int *n,
                                nn_error *err) {
    ssd_detection dets[DET_MAX_DETECTIONS];
    int nd = 0;
    if (max_out > DET_MAX_DETECTIONS) max_out = DET_MAX_DETECTIONS;
    nn_status st = detect_any(user, img, 0.01f, dets, max_out, &nd, err);
    for (int i = 0; i < nd; i++)
        out[i] = (det_pred){dets[i].x1, dets[i].y1, dets[i].x2, dets[i].y2, dets[i].label,
                            dets[i].score};
    *n = st == NN_OK ? nd : 0;
    return st;
}

static cJSON *num_or_null(double v) { return isnan(v) ? cJSON_CreateNull() : cJSON_CreateNumber(v); }

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median detector time on a synthetic frame (a smooth gradient), after one
 * warm-up run, at the model's own score threshold (as in `maskdet detect`). */
static int speed_test(const char *model_path, int w, int h, bool json) {
    nn_error err = {0};
    loaded_model m;
    image frame = {0};
    if (load_model(model_path, &m, &err) != NN_OK) {
        fprintf(stderr, "eval: %s\n", err.msg);
        return 1;
    }
    if (image_alloc(&frame, w, h, 3, &err) != NN_OK) {
        fprintf(stderr, "eval: %s\n", err.msg);
        free_model(&m);
        return 1;
    }
    for (int i = 0; i < w * h * 3; i++) frame.pixels[i] = (uint8_t)((i / 3 % w + i / 3 / w) % 256);
    enum { RUNS = 21 };
    double ms[RUNS];
    ssd_detection det[DET_MAX_DETECTIONS];
    int nd;
    for (int r = -1; r < RUNS; r++) {
        double t0 = det_now_ms();
        if (detect_any(&m, &frame, -1.0f, det, DET_MAX_DETECTIONS, &nd, &err) != NN_OK) {
            fprintf(stderr, "eval: %s\n", err.msg);
            free_model(&m);
            image_free(&frame);
            return 1;
        }
        if (r >= 0) ms[r] = det_now_ms() - t0;
    }
    qsort(ms, RUNS, sizeof ms[0], cmp_double);
    /* convolution FLOPs are known for our own network only */
    double gflop = m.other ? NAN : face_ssd_flops(&m.f, w, h) / 1e9;
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "detector", model_path);
        cJSON_AddNumberToObject(o, "width", w);
        cJSON_AddNumberToObject(o, "height", h);
        cJSON_AddNumberToObject(o, "threads", nn_threads_get());
        cJSON_AddNumberToObject(o, "median_ms", ms[RUNS / 2]);
        cJSON_AddNumberToObject(o, "min_ms", ms[0]);
        cJSON_AddItemToObject(o, "gflop", num_or_null(gflop));
        char *text = cJSON_PrintUnformatted(o);
        if (text) printf("%s\n", text);
        free(text);
        cJSON_Delete(o);
    }
    else
        printf("detector %s on a %dx%d frame, %d threads: median %.2f ms, min %.2f ms "
               "(%.2f GFLOP, %.1f GFLOP/s at the median)\n",
               model_path, w, h, nn_threads_get(), ms[RUNS / 2], ms[0], gflop,
               gflop / (ms[RUNS / 2] / 1e3));
    free_model(&m);
    image_free(&frame);
    return 0;
}


int cmd_eval(int argc, char **argv) {
    char bundled[4096];
    bundled_model_path(BUNDLED_DETECTOR, bundled, sizeof bundled);
    const char *model_path = bundled, *data = NULL, *pr_path = NULL;
    bool detector_only = false, json = false;
    det_split split = DET_SPLIT_ALL;
    uint64_t seed = 1;
    float val_fraction = 0.15f, threshold = 0.5f, input_scale = 0.0f;
    int long_side = -1;
    int limit = 0, threads = 0, speed_w = 0, speed_h = 0;
    static const struct option longs[] = {
        {"detector-only", no_argument, 0, 'D'},  {"detector", required_argument, 0, 'd'},
        {"data", required_argument, 0, 'a'},     {"split", required_argument, 0, 's'},
        {"seed", required_argument, 0, 'S'},     {"val-fraction", required_argument, 0, 'v'},
        {"threshold", required_argument, 0, 'T'}, {"input-scale", required_argument, 0, 'i'},
        {"input-long-side", required_argument, 0, 'g'},
        {"limit", required_argument, 0, 'L'},    {"pr", required_argument, 0, 'p'},
        {"json", no_argument, 0, 'j'},           {"threads", required_argument, 0, 't'},
        {"speed", required_argument, 0, 'P'},    {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    optind = 1;
    opterr = 0;
    int c;
    char *end;
    while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        bool bad = false;
        switch (c) {
        case 'D': detector_only = true; break;
        case 'd': model_path = optarg; break;
        case 'a': data = optarg; break;
        case 's':
            if (!strcmp(optarg, "all")) split = DET_SPLIT_ALL;
            else if (!strcmp(optarg, "val")) split = DET_SPLIT_VAL;
            else if (!strcmp(optarg, "train")) split = DET_SPLIT_TRAIN;
            else bad = true;
            break;
        case 'S': seed = strtoull(optarg, &end, 10), bad = *end != '\0'; break;
        case 'v': val_fraction = strtof(optarg, &end), bad = *end || !(val_fraction >= 0 && val_fraction <= 1); break;
        case 'T': threshold = strtof(optarg, &end), bad = *end || !(threshold >= 0 && threshold <= 1); break;
        case 'g': long_side = (int)strtol(optarg, &end, 10), bad = *end || long_side < 0 || long_side > 8192; break;
        case 'i': input_scale = strtof(optarg, &end), bad = *end || !(input_scale > 0.05f && input_scale <= 8); break;
        case 'L': limit = (int)strtol(optarg, &end, 10), bad = *end || limit < 0; break;
        case 'p': pr_path = optarg; break;
        case 'j': json = true; break;
        case 't': threads = (int)strtol(optarg, &end, 10), bad = *end || threads < 1; break;
        case 'P':
            bad = sscanf(optarg, "%dx%d", &speed_w, &speed_h) != 2 || speed_w < 1 || speed_h < 1 ||
                  speed_w > 8192 || speed_h > 8192;
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
    if (threads > 0) nn_threads_set(threads);
    if (speed_w > 0 && optind == argc) return speed_test(model_path, speed_w, speed_h, json);
    if (!data || optind < argc) {
        fprintf(stderr, "eval: %s\n", data ? "unexpected argument" : "--data is required");
        usage(stderr);
        return 2;
    }
    if (!detector_only) {
        fprintf(stderr, "eval: only --detector-only evaluation is available so far\n");
        usage(stderr);
        return 2;
    }

    nn_error err = {0};
    loaded_model m = {0};
    det_photos photos = {0};
    det_eval_summary es;
    bool have_summary = false;
    int rc = 1;
    if (load_model(model_path, &m, &err) != NN_OK) goto fail;
    if ((input_scale > 0 || long_side >= 0) && m.other) {
        nn_error_set(&err, NN_ERR_ARG, "--input-scale / --input-long-side: face_ssd models only");
        goto fail;
    }
    if (input_scale > 0) m.f.input_scale = input_scale, m.f.input_long_side = 0;
    if (long_side >= 0) m.f.input_long_side = long_side;
    if (det_data_load(data, split, seed, val_fraction, limit, &photos, &err) != NN_OK) goto fail;
    /* per-class AP for our mask/no_mask detector (labels are project class + 1) */
    int n_labels = !m.other && m.f.num_classes > 2 ? m.f.num_classes - 1 : 0;
    if (n_labels > DET_MAX_LABELS) n_labels = DET_MAX_LABELS;
    if (det_data_evaluate(&photos, detect_adapter, &m, threshold, n_labels, &es, &err) != NN_OK)
        goto fail;
    have_summary = true;

    if (pr_path) {
        det_ap_result curves[1 + DET_N_SIZE_RANGES];
        const char *names[1 + DET_N_SIZE_RANGES] = {"all faces", "< 16 px", "16-32 px", ">= 32 px"};
        curves[0] = es.face;
        for (int r = 0; r < DET_N_SIZE_RANGES; r++) curves[1 + r] = es.by_size[r];
        if (det_plot_pr(pr_path, "face detection, IoU 0.5", 1 + DET_N_SIZE_RANGES, curves, names,
                        &err) != NN_OK)
            goto fail;
    }
    if (json) {
        cJSON *o = cJSON_CreateObject(), *by = cJSON_CreateObject(), *nby = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "detector", model_path);
        cJSON_AddStringToObject(o, "data", data);
        cJSON_AddNumberToObject(o, "n_images", es.n_images);
        cJSON_AddNumberToObject(o, "n_faces", es.n_faces);
        cJSON_AddItemToObject(o, "face_ap50", num_or_null(es.face.ap));
        for (int r = 0; r < DET_N_SIZE_RANGES; r++) {
            cJSON_AddItemToObject(by, det_size_range_names[r], num_or_null(es.by_size[r].ap));
            cJSON_AddNumberToObject(nby, det_size_range_names[r], es.by_size[r].n_gt);
        }
        cJSON_AddItemToObject(o, "face_ap50_by_size", by);
        cJSON_AddItemToObject(o, "n_faces_by_size", nby);
        cJSON_AddNumberToObject(o, "threshold", threshold);
        cJSON_AddItemToObject(o, "precision", num_or_null(es.face.precision_at_threshold));
        cJSON_AddItemToObject(o, "recall", num_or_null(es.face.recall_at_threshold));
        if (n_labels > 0) {
            cJSON *pc = cJSON_CreateObject();
            for (int k = 0; k < n_labels; k++)
                cJSON_AddItemToObject(pc, model_class_name(&m, k + 1), num_or_null(es.per_class[k].ap));
            cJSON_AddItemToObject(o, "class_ap50", pc);
            cJSON_AddItemToObject(o, "map50", num_or_null(es.map));
        }
        if (!m.other) cJSON_AddNumberToObject(o, "input_scale", m.f.input_scale);
        if (!m.other) cJSON_AddNumberToObject(o, "input_long_side", m.f.input_long_side);
        cJSON_AddNumberToObject(o, "detect_ms_per_image", es.detect_ms);
        char *text = cJSON_PrintUnformatted(o);
        if (text) printf("%s\n", text);
        free(text);
        cJSON_Delete(o);
    } else {
        printf("detector %s on %s: %d photos, %d faces\n", model_path, data, es.n_images,
               es.n_faces);
        printf("face AP@0.5          %.4f\n", es.face.ap);
        for (int r = 0; r < DET_N_SIZE_RANGES; r++)
            printf("  %-8s (%4d faces) %.4f\n", det_size_range_names[r], es.by_size[r].n_gt,
                   es.by_size[r].ap);
        printf("at score >= %.2f: precision %.4f, recall %.4f\n", threshold,
               es.face.precision_at_threshold, es.face.recall_at_threshold);
        for (int k = 0; k < n_labels; k++)
            printf("AP@0.5 %-10s %.4f\n", model_class_name(&m, k + 1), es.per_class[k].ap);
        if (n_labels > 0) printf("mAP@0.5 %.4f\n", es.map);
        printf("detector time %.1f ms per photo\n", es.detect_ms);
    }
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "eval: %s\n", err.msg[0] ? err.msg : "failed");
done:
    if (have_summary) det_eval_summary_free(&es);
    det_data_free(&photos);
    free_model(&m);
    return rc;
}
