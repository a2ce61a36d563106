/* test_eval_cmd.c - `maskdet eval` run as a program with the bundled models:
 * the JSON keys, --save-detections parsed back (one object per photo, in the
 * `maskdet detect --json` format), the APs recomputed from those saved
 * detections by a separate, plain VOC AP written here (on three photos of
 * ../shared, skipped when absent), swapped mask labels lowering the mAP, and
 * the usage and model errors. */
#include <check.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps/det_data.h"
#include "dsfixture.h"
#include "image.h"
#include "testutil.h"

static int run(const char *args, char **out, char **err) {
    setenv("NN_THREADS", "1", 1);
    return tu_run_maskdet(args, out, err);
}

static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) n = 0;
    if (s) s[n] = '\0';
    fclose(f);
    return s;
}

/* Two 96 x 72 photos with a pale square "face" each (the detector may or may
 * not find them: this set checks the output's form, not its numbers). */
static void write_pattern_set(const char *root) {
    nn_error err = {0};
    for (int p = 0; p < 2; p++) {
        image img = {0};
        ck_assert_int_eq(image_alloc(&img, 96, 72, 3, &err), NN_OK);
        for (int k = 0; k < 96 * 72 * 3; k++) img.pixels[k] = (uint8_t)(30 + (k * 5 + p * 11) % 60);
        for (int y = 20; y < 52; y++)
            for (int x = 30 + 10 * p; x < 62 + 10 * p; x++)
                for (int c = 0; c < 3; c++)
                    img.pixels[(y * 96 + x) * 3 + c] = (uint8_t)(200 - 30 * c);
        char rel[256], path[1024], xml[1024];
        snprintf(rel, sizeof rel, "set/images/q%d.png", p);
        dsf_write_text(root, rel, "");
        snprintf(path, sizeof path, "%s/%s", root, rel);
        ck_assert_int_eq(image_save(&img, path, 90, &err), NN_OK);
        image_free(&img);
        snprintf(xml, sizeof xml,
                 "<annotation><filename>q%d.png</filename><size><width>96</width>"
                 "<height>72</height><depth>3</depth></size><object><name>%s</name><bndbox>"
                 "<xmin>%d</xmin><ymin>20</ymin><xmax>%d</xmax><ymax>52</ymax></bndbox>"
                 "</object></annotation>\n",
                 p, p ? "without_mask" : "with_mask", 30 + 10 * p, 62 + 10 * p);
        snprintf(rel, sizeof rel, "set/annotations/q%d.xml", p);
        dsf_write_text(root, rel, xml);
    }
}

/* Checks the saved detections' form; returns the parsed photos (a JSON array
 * made of the file's lines). */
static cJSON *parse_saved(const char *path, int n_photos, float min_face_score) {
    char *text = read_text(path);
    ck_assert_msg(text != NULL, "%s not written", path);
    cJSON *photos = cJSON_CreateArray();
    int lines = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"), lines++) {
        cJSON *o = cJSON_Parse(line);
        ck_assert_msg(o != NULL, "line %d is not JSON: %s", lines + 1, line);
        ck_assert(cJSON_IsString(cJSON_GetObjectItem(o, "image")));
        ck_assert(cJSON_GetObjectItem(o, "width")->valueint > 0);
        ck_assert(cJSON_GetObjectItem(o, "height")->valueint > 0);
        cJSON *dets = cJSON_GetObjectItem(o, "detections"), *d;
        ck_assert(cJSON_IsArray(dets));
        cJSON_ArrayForEach(d, dets) {
            cJSON *box = cJSON_GetObjectItem(d, "box");
            ck_assert_int_eq(cJSON_GetArraySize(box), 4);
            const char *label = cJSON_GetObjectItem(d, "label")->valuestring;
            ck_assert(!strcmp(label, "mask") || !strcmp(label, "no_mask"));
            double score = cJSON_GetObjectItem(d, "score")->valuedouble;
            double face_score = cJSON_GetObjectItem(d, "face_score")->valuedouble;
            ck_assert(score >= 0.5 - 1e-6 && score <= 1.0 + 1e-6); /* the argmax of two */
            ck_assert(face_score >= min_face_score - 1e-6 && face_score <= 1.0 + 1e-6);
        }
        cJSON_AddItemToArray(photos, o);
    }
    free(text);
    ck_assert_int_eq(lines, n_photos);
    return photos;
}

START_TEST(json_keys_and_saved_detections) {
    char tmp[512], args[4096];
    dsf_make_tempdir(tmp, sizeof tmp);
    write_pattern_set(tmp);
    char *out = NULL;
    snprintf(args, sizeof args,
             "eval --data '%s/set' --json --save-detections '%s/d.jsonl' --pr '%s/pr.png' "
             "--min-score 0.05",
             tmp, tmp, tmp);
    ck_assert_int_eq(run(args, &out, NULL), 0);
    cJSON *j = cJSON_Parse(out);
    ck_assert_msg(j != NULL, "not JSON: %s", out);
    ck_assert_int_eq(cJSON_GetObjectItem(j, "n_images")->valueint, 2);
    ck_assert_int_eq(cJSON_GetObjectItem(j, "n_faces")->valueint, 2);
    const char *keys[] = {"map50", "face_ap50", "precision", "recall"};
    for (int k = 0; k < 4; k++) ck_assert_ptr_nonnull(cJSON_GetObjectItem(j, keys[k]));
    cJSON *ap = cJSON_GetObjectItem(j, "ap50"), *by = cJSON_GetObjectItem(j, "face_ap50_by_size");
    ck_assert_ptr_nonnull(cJSON_GetObjectItem(ap, "mask"));
    ck_assert_ptr_nonnull(cJSON_GetObjectItem(ap, "no_mask"));
    ck_assert_ptr_nonnull(cJSON_GetObjectItem(by, "small"));
    ck_assert_ptr_nonnull(cJSON_GetObjectItem(by, "medium"));
    ck_assert_ptr_nonnull(cJSON_GetObjectItem(by, "large"));
    /* both faces are 32 px: large only, so small and medium have no AP */
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(by, "small")));
    ck_assert(cJSON_IsNumber(cJSON_GetObjectItem(by, "large")));
    /* the false positives by cause add up to those precision and recall imply */
    cJSON *fp = cJSON_GetObjectItem(j, "false_positives");
    const char *causes[] = {"duplicate", "misplaced", "no_face"};
    int n_fp = 0;
    for (int k = 0; k < 3; k++) {
        cJSON *v = cJSON_GetObjectItem(fp, causes[k]);
        ck_assert_msg(cJSON_IsNumber(v) && v->valueint >= 0, "false_positives.%s", causes[k]);
        n_fp += v->valueint;
    }
    cJSON *prec = cJSON_GetObjectItem(j, "precision"), *rec = cJSON_GetObjectItem(j, "recall");
    if (cJSON_IsNumber(prec) && prec->valuedouble > 0) {
        double tp = rec->valuedouble * 2;
        ck_assert_msg(fabs(tp / prec->valuedouble - tp - n_fp) < 1e-6, "%d false positives", n_fp);
    }
    ck_assert(dsf_exists(tmp, "pr.png"));
    cJSON *saved = parse_saved(strcat(strcpy(args, tmp), "/d.jsonl"), 2, 0.05f);
    cJSON_Delete(saved);
    cJSON_Delete(j);
    free(out);
    dsf_remove_tree(tmp);
}
END_TEST

/* ---- a plain VOC AP, written again here, on the saved detections */

typedef struct {
    int photo;
    float box[4];
    double score;
} entry;

static int by_score(const void *pa, const void *pb) {
    const entry *a = pa, *b = pb;
    return (a->score < b->score) - (a->score > b->score);
}

static double iou(const float *a, float x1, float y1, float x2, float y2) {
    double iw = fmin(a[2], x2) - fmax(a[0], x1), ih = fmin(a[3], y2) - fmax(a[1], y1);
    if (iw <= 0 || ih <= 0) return 0.0;
    double inter = iw * ih;
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (x2 - x1) * (y2 - y1) - inter);
}

/* AP of entries against the photos' boxes of label (0: any), VOC all-point. */
static double voc_ap(entry *e, int n, const det_photos *gt, int label) {
    qsort(e, (size_t)n, sizeof *e, by_score);
    int n_gt = 0;
    bool taken[64][64] = {{false}};
    for (int p = 0; p < gt->n; p++)
        for (int b = 0; b < gt->photos[p].n_boxes; b++)
            n_gt += !label || gt->photos[p].boxes[b].label == label;
    double prec[4096], rec[4096];
    int tp = 0;
    for (int i = 0; i < n; i++) {
        const det_photo *ph = &gt->photos[e[i].photo];
        double best = 0.0;
        int best_b = -1;
        for (int b = 0; b < ph->n_boxes; b++) {
            if (label && ph->boxes[b].label != label) continue;
            double v = iou(e[i].box, ph->boxes[b].x1, ph->boxes[b].y1, ph->boxes[b].x2,
                           ph->boxes[b].y2);
            if (v > best) best = v, best_b = b;
        }
        if (best >= 0.5 && !taken[e[i].photo][best_b]) taken[e[i].photo][best_b] = true, tp++;
        prec[i] = (double)tp / (i + 1);
        rec[i] = (double)tp / n_gt;
    }
    double ap = 0.0, prev = 0.0;
    for (int i = 0; i < n; i++) {
        double best_p = 0.0; /* the best precision at this recall or beyond */
        for (int k = i; k < n; k++) best_p = fmax(best_p, prec[k]);
        ap += (rec[i] - prev) * best_p;
        prev = rec[i];
    }
    return ap;
}

/* Entries of the saved detections: label 0 = faces by face score; 1 / 2 =
 * mask / no_mask scored face_score x P(class), P(other class) = 1 - score. */
static int entries_of(cJSON *saved, const det_photos *gt, int label, entry *e, int max) {
    int n = 0, p = 0;
    cJSON *photo, *d;
    cJSON_ArrayForEach(photo, saved) {
        /* the saved image path ends with the photo's name */
        const char *image_path = cJSON_GetObjectItem(photo, "image")->valuestring;
        ck_assert(strstr(image_path, gt->photos[p].name) != NULL);
        cJSON_ArrayForEach(d, cJSON_GetObjectItem(photo, "detections")) {
            ck_assert_int_lt(n, max);
            cJSON *box = cJSON_GetObjectItem(d, "box");
            double fs = cJSON_GetObjectItem(d, "face_score")->valuedouble;
            double s = cJSON_GetObjectItem(d, "score")->valuedouble;
            bool is_mask = !strcmp(cJSON_GetObjectItem(d, "label")->valuestring, "mask");
            double p_mask = is_mask ? s : 1.0 - s;
            e[n].photo = p;
            for (int k = 0; k < 4; k++)
                e[n].box[k] = (float)cJSON_GetArrayItem(box, k)->valuedouble;
            e[n].score = label == 0 ? fs : label == 1 ? fs * p_mask : fs * (1.0 - p_mask);
            n++;
        }
        p++;
    }
    return n;
}

/* xml with every "<name>with_mask<" and "<name>without_mask<" exchanged
 * (malloc'ed). */
static char *swap_mask_labels(const char *xml) {
    static const char with[] = "<name>with_mask<", without[] = "<name>without_mask<";
    char *out = malloc(strlen(xml) * 2 + 1), *o = out;
    ck_assert_ptr_nonnull(out);
    while (*xml) {
        if (!strncmp(xml, with, strlen(with)))
            o = stpcpy(o, without), xml += strlen(with);
        else if (!strncmp(xml, without, strlen(without)))
            o = stpcpy(o, with), xml += strlen(without);
        else
            *o++ = *xml++;
    }
    *o = '\0';
    return out;
}

/* Three photos of the detection set (8 faces) copied into root/dir. */
static bool copy_shared_photos(const char *root, const char *dir, bool swapped) {
    const char *shared = tu_shared_dir();
    if (!shared) return false;
    const char *names[] = {"maksssksksss0", "maksssksksss2", "maksssksksss4"};
    for (int i = 0; i < 3; i++) {
        char path[1024], rel[512];
        snprintf(path, sizeof path, "%s/datasets/facemask_detection_andrewmvd/images/%s.jpg",
                 shared, names[i]);
        FILE *f = fopen(path, "rb");
        if (!f) return false;
        static char bytes[4 << 20];
        size_t n = fread(bytes, 1, sizeof bytes, f);
        fclose(f);
        snprintf(rel, sizeof rel, "%s/images/%s.jpg", dir, names[i]);
        dsf_write(root, rel, bytes, n);
        snprintf(path, sizeof path, "%s/datasets/facemask_detection_andrewmvd/annotations/%s.xml",
                 shared, names[i]);
        char *xml = read_text(path);
        if (!xml) return false;
        if (swapped) {
            char *t = swap_mask_labels(xml);
            free(xml);
            xml = t;
        }
        snprintf(rel, sizeof rel, "%s/annotations/%s.xml", dir, names[i]);
        dsf_write_text(root, rel, xml);
        free(xml);
    }
    return true;
}

/* From face score 0.2, not the default 0.01: the classifiers then check tens
 * of boxes a photo, not hundreds (slow under the sanitizers). */
static cJSON *eval_json(const char *root, const char *dir, const char *save) {
    char args[4096], *out = NULL;
    snprintf(args, sizeof args,
             "eval --data '%s/%s' --json --min-score 0.2 --save-detections '%s/%s'", root, dir,
             root, save);
    ck_assert_int_eq(run(args, &out, NULL), 0);
    cJSON *j = cJSON_Parse(out);
    ck_assert_msg(j != NULL, "not JSON: %s", out);
    free(out);
    return j;
}

START_TEST(saved_detections_give_the_same_ap) {
    char tmp[512], path[1024];
    dsf_make_tempdir(tmp, sizeof tmp);
    if (!copy_shared_photos(tmp, "set", false)) {
        fprintf(stderr, "eval_cmd: ../shared/datasets/facemask_detection_andrewmvd absent, "
                        "skipping the shared-photo test\n");
        dsf_remove_tree(tmp);
        return;
    }
    cJSON *j = eval_json(tmp, "set", "d.jsonl");
    ck_assert_int_eq(cJSON_GetObjectItem(j, "n_images")->valueint, 3);
    ck_assert_int_eq(cJSON_GetObjectItem(j, "n_faces")->valueint, 8);
    snprintf(path, sizeof path, "%s/d.jsonl", tmp);
    cJSON *saved = parse_saved(path, 3, 0.2f); /* eval_json's --min-score */

    /* the ground truth, loaded as eval loads it (mask_weared_incorrect -> no_mask) */
    det_photos gt;
    nn_error err = {0};
    snprintf(path, sizeof path, "%s/set", tmp);
    ck_assert_int_eq(det_data_load(path, DET_SPLIT_ALL, 1, 0.15f, 0, &gt, &err), NN_OK);
    static entry e[3 * 1000];
    int n = entries_of(saved, &gt, 0, e, 3000);
    ck_assert_int_gt(n, 0);
    double face_ap = voc_ap(e, n, &gt, 0);
    n = entries_of(saved, &gt, 1, e, 3000);
    double mask_ap = voc_ap(e, n, &gt, 1);
    n = entries_of(saved, &gt, 2, e, 3000);
    double no_mask_ap = voc_ap(e, n, &gt, 2);
    cJSON *ap = cJSON_GetObjectItem(j, "ap50");
    ck_assert_double_eq_tol(cJSON_GetObjectItem(j, "face_ap50")->valuedouble, face_ap, 1e-4);
    ck_assert_double_eq_tol(cJSON_GetObjectItem(ap, "mask")->valuedouble, mask_ap, 1e-4);
    ck_assert_double_eq_tol(cJSON_GetObjectItem(ap, "no_mask")->valuedouble, no_mask_ap, 1e-4);
    ck_assert_double_eq_tol(cJSON_GetObjectItem(j, "map50")->valuedouble,
                            (mask_ap + no_mask_ap) / 2, 1e-4);
    /* the pipeline finds and labels most of these faces */
    ck_assert(face_ap > 0.5);
    double map = cJSON_GetObjectItem(j, "map50")->valuedouble;
    cJSON_Delete(saved);
    cJSON_Delete(j);
    det_data_free(&gt);

    /* The same photos with mask and no_mask exchanged: the same faces, the
     * same detections, a lower mAP. */
    ck_assert(copy_shared_photos(tmp, "swapped", true));
    j = eval_json(tmp, "swapped", "s.jsonl");
    ck_assert_double_eq_tol(cJSON_GetObjectItem(j, "face_ap50")->valuedouble, face_ap, 1e-9);
    double swapped_map = cJSON_GetObjectItem(j, "map50")->valuedouble;
    ck_assert_msg(swapped_map < map - 0.2, "mAP %.3f with swapped labels, %.3f right", swapped_map,
                  map);
    cJSON_Delete(j);
    dsf_remove_tree(tmp);
}
END_TEST

START_TEST(errors) {
    char tmp[512], args[2048], *err = NULL;
    dsf_make_tempdir(tmp, sizeof tmp);
    write_pattern_set(tmp);
    ck_assert_int_eq(run("eval", NULL, NULL), 2);                    /* no --data */
    ck_assert_int_eq(run("eval --data x --class-scores best", NULL, NULL), 2);
    ck_assert_int_eq(run("eval --data x --input-long-side -5", NULL, NULL), 2);
    ck_assert_int_eq(run("eval --data x --face-check-weight 0", NULL, NULL), 2);
    ck_assert_int_eq(run("eval --data x --face-check-weight 2", NULL, NULL), 2);
    ck_assert_int_eq(run("eval --help", NULL, NULL), 0);
    snprintf(args, sizeof args, "eval --data '%s/none'", tmp);
    ck_assert_int_eq(run(args, NULL, NULL), 1);
    /* the classifier given as the detector: refused, and said so */
    snprintf(args, sizeof args, "eval --data '%s/set' --detector ../models/classifier.nnw", tmp);
    ck_assert_int_eq(run(args, NULL, &err), 1);
    ck_assert_msg(strstr(err, "classifier") && strstr(err, "detector"), "%s", err);
    free(err);
    err = NULL;
    /* and a detector given as the classifier */
    snprintf(args, sizeof args,
             "eval --data '%s/set' --classifier ../models/face_detector.nnw", tmp);
    ck_assert_int_eq(run(args, NULL, &err), 1);
    ck_assert_msg(strstr(err, "face_detector.nnw") != NULL, "%s", err);
    free(err);
    dsf_remove_tree(tmp);
}
END_TEST

Suite *eval_cmd_suite(void) {
    Suite *s = suite_create("eval_cmd");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, json_keys_and_saved_detections);
    tcase_add_test(tc, saved_detections_give_the_same_ap);
    tcase_add_test(tc, errors);
    suite_add_tcase(s, tc);
    return s;
}
