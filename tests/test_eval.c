/* test_eval.c - the scoring behind `maskdet eval` (apps/det_data.h,
 * det_data_score) on a tiny VOC set written by the test, with detections
 * made by hand and every expected number worked out by hand below:
 * per-class AP with a face counted for every class (face_score x P(c)) or
 * for its reported class only, a duplicate detection (a false positive),
 * mask / no_mask labels swapped in the ground truth (AP falls), face AP by
 * size, and precision / recall of what the pipeline reports. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "apps/det_data.h"
#include "dsfixture.h"
#include "image.h"
#include "testutil.h"

/* Two 64 x 64 photos (VOC). Ground truth, [x1, y1, x2, y2] in pixels:
 *   p0: A with_mask             [10, 10, 30, 30]  20 px (medium)
 *       B mask_weared_incorrect [40, 10, 60, 30]  20 px (medium) -> no_mask
 *   p1: C without_mask          [ 8,  8, 48, 48]  40 px (large)
 *       D with_mask             [50, 50, 60, 60]  10 px (small)
 * swapped: with_mask <-> without_mask (B stays no_mask: it is the incorrectly
 * worn mask, which counts as no_mask either way; A and D become no_mask, C
 * mask). */
static void write_set(const char *root, const char *dir, bool swapped) {
    const char *mask = swapped ? "without_mask" : "with_mask";
    const char *no_mask = swapped ? "with_mask" : "without_mask";
    const char *objects[2][2] = {{mask, "mask_weared_incorrect"}, {no_mask, mask}};
    const int boxes[2][2][4] = {{{10, 10, 30, 30}, {40, 10, 60, 30}},
                                {{8, 8, 48, 48}, {50, 50, 60, 60}}};
    nn_error err = {0};
    for (int p = 0; p < 2; p++) {
        image img = {0};
        ck_assert_int_eq(image_alloc(&img, 64, 64, 3, &err), NN_OK);
        memset(img.pixels, 90 + 40 * p, 64 * 64 * 3);
        char rel[256], path[1024], xml[2048];
        snprintf(rel, sizeof rel, "%s/images/p%d.png", dir, p);
        dsf_write_text(root, rel, "");
        snprintf(path, sizeof path, "%s/%s", root, rel);
        ck_assert_int_eq(image_save(&img, path, 90, &err), NN_OK);
        image_free(&img);
        int n = snprintf(xml, sizeof xml,
                         "<annotation><filename>p%d.png</filename>\n"
                         "<size><width>64</width><height>64</height><depth>3</depth></size>\n",
                         p);
        for (int o = 0; o < 2; o++) {
            const int *b = boxes[p][o];
            n += snprintf(xml + n, sizeof xml - (size_t)n,
                          "<object><name>%s</name><bndbox><xmin>%d</xmin><ymin>%d</ymin>"
                          "<xmax>%d</xmax><ymax>%d</ymax></bndbox></object>\n",
                          objects[p][o], b[0], b[1], b[2], b[3]);
        }
        snprintf(xml + n, sizeof xml - (size_t)n, "</annotation>\n");
        snprintf(rel, sizeof rel, "%s/annotations/p%d.xml", dir, p);
        dsf_write_text(root, rel, xml);
    }
}

/* A face as the pipeline reports it: class scores face_score x P(c), label
 * the argmax (mask when P(mask) >= 0.5). */
static det_face_pred face(float x1, float y1, float x2, float y2, float face_score,
                          float p_mask) {
    det_face_pred f = {x1, y1, x2, y2, face_score, p_mask >= 0.5f ? 1 : 2, {0}};
    f.class_score[0] = face_score * p_mask;
    f.class_score[1] = face_score * (1.0f - p_mask);
    return f;
}

/* The detections (face score, P(mask) -> mask score / no_mask score):
 *   p0: d1 on A exactly           0.9, 0.8 -> 0.72 / 0.18  (label mask)
 *       d2 on B exactly           0.8, 0.3 -> 0.24 / 0.56  (no_mask)
 *       d3 [12,12,32,32], A again 0.6, 0.9 -> 0.54 / 0.06  (mask; IoU with A
 *          324 / 476 = 0.68: a duplicate, found after d1, so a false positive)
 *   p1: d4 on C exactly           0.7, 0.6 -> 0.42 / 0.28  (mask: wrong)
 *       d5 [0,50,12,62] nothing   0.5, 0.5 -> 0.25 / 0.25  (mask), 12 px
 * (D, the 10 px face, is missed.) */
static void hand_detections(det_face_pred p0[3], det_face_pred p1[2]) {
    p0[0] = face(10, 10, 30, 30, 0.9f, 0.8f);
    p0[1] = face(40, 10, 60, 30, 0.8f, 0.3f);
    p0[2] = face(12, 12, 32, 32, 0.6f, 0.9f);
    p1[0] = face(8, 8, 48, 48, 0.7f, 0.6f);
    p1[1] = face(0, 50, 12, 62, 0.5f, 0.5f);
}

static void score(const char *root, const char *dir, bool argmax_only, det_eval_summary *es) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", root, dir);
    det_photos photos;
    nn_error err = {0};
    ck_assert_msg(det_data_load(path, DET_SPLIT_ALL, 1, 0.15f, 0, &photos, &err) == NN_OK, "%s",
                  err.msg);
    ck_assert_int_eq(photos.n, 2);
    ck_assert_int_eq(photos.n_faces, 4);
    det_face_pred p0[3], p1[2];
    hand_detections(p0, p1);
    /* photos come in file order: p0, p1 */
    ck_assert_str_eq(photos.photos[0].name, "p0");
    const det_face_pred *faces[2] = {p0, p1};
    int n_found[2] = {3, 2};
    det_score_params sp = {.face_threshold = 0.55f, .n_labels = 2, .argmax_only = argmax_only};
    ck_assert_msg(det_data_score(&photos, faces, n_found, &sp, es, &err) == NN_OK, "%s", err.msg);
    det_data_free(&photos);
}

START_TEST(faces_and_classes_by_hand) {
    char tmp[512];
    dsf_make_tempdir(tmp, sizeof tmp);
    write_set(tmp, "set", false);
    det_eval_summary es;
    score(tmp, "set", false, &es);
    ck_assert_int_eq(es.n_images, 2);
    ck_assert_int_eq(es.n_faces, 4);

    /* Faces, by face score: d1 TP (A), d2 TP (B), d4 TP (C), d3 FP (A again),
     * d5 FP. Recall reaches 3/4 at precision 1: AP = 0.75. At face score
     * >= 0.55 (d1, d2, d4, d3): 3 TP, 1 FP -> precision 0.75, recall 0.75. */
    ck_assert_double_eq_tol(es.face.ap, 0.75, 1e-9);
    ck_assert_double_eq_tol(es.face.precision_at_threshold, 0.75, 1e-9);
    ck_assert_double_eq_tol(es.face.recall_at_threshold, 0.75, 1e-9);

    /* By size (the other sizes' faces ignored, unmatched detections of
     * another size left out):
     *   small (D only): d5 (12 px) matches nothing -> FP; AP 0.
     *   medium (A, B): d1 TP, d2 TP, d3 FP (A taken), d4 -> C ignored,
     *     d5 12 px left out: AP 1.
     *   large (C): d4 TP; d1, d2, d3 match ignored faces: AP 1. */
    ck_assert_int_eq(es.by_size[0].n_gt, 1);
    ck_assert_double_eq_tol(es.by_size[0].ap, 0.0, 1e-9);
    ck_assert_int_eq(es.by_size[1].n_gt, 2);
    ck_assert_double_eq_tol(es.by_size[1].ap, 1.0, 1e-9);
    ck_assert_int_eq(es.by_size[2].n_gt, 1);
    ck_assert_double_eq_tol(es.by_size[2].ap, 1.0, 1e-9);

    /* mask (A, D), every face an entry: d1 .72 TP, d3 .54 FP (duplicate),
     * d4 .42 FP (C is no_mask), d5 .25 FP, d2 .24 FP. D never found:
     * recall 1/2 at precision 1 -> AP 0.5.
     * no_mask (B, C): d2 .56 TP, d4 .28 TP (the misclassified face still
     * counts, lower), then d5 .25, d1 .18, d3 .06 FP -> AP 1.
     * mAP = 0.75. */
    ck_assert_double_eq_tol(es.per_class[0].ap, 0.5, 1e-6);
    ck_assert_double_eq_tol(es.per_class[1].ap, 1.0, 1e-6);
    ck_assert_double_eq_tol(es.map, 0.75, 1e-6);

    /* Reported at face score >= 0.55: mask = d1 (TP), d3 (duplicate), d4
     * (C is no_mask) -> precision 1/3, recall 1/2; no_mask = d2 (TP) ->
     * precision 1, recall 1/2. */
    ck_assert_double_eq_tol(es.class_precision[0], 1.0 / 3.0, 1e-9);
    ck_assert_double_eq_tol(es.class_recall[0], 0.5, 1e-9);
    ck_assert_double_eq_tol(es.class_precision[1], 1.0, 1e-9);
    ck_assert_double_eq_tol(es.class_recall[1], 0.5, 1e-9);
    det_eval_summary_free(&es);

    /* Argmax only: mask entries d1 .72 TP, d3 .54 FP, d4 .42 FP, d5 .25 FP
     * -> AP 0.5; no_mask only d2 .56 TP (d4 is reported as mask) -> recall
     * 1/2, AP 0.5. mAP 0.5: the wrong label costs the whole face. */
    score(tmp, "set", true, &es);
    ck_assert_double_eq_tol(es.per_class[0].ap, 0.5, 1e-6);
    ck_assert_double_eq_tol(es.per_class[1].ap, 0.5, 1e-6);
    ck_assert_double_eq_tol(es.map, 0.5, 1e-6);
    ck_assert_double_eq_tol(es.face.ap, 0.75, 1e-9); /* faces do not depend on it */
    det_eval_summary_free(&es);
    dsf_remove_tree(tmp);
}
END_TEST

START_TEST(swapped_labels_lower_the_ap) {
    char tmp[512];
    dsf_make_tempdir(tmp, sizeof tmp);
    write_set(tmp, "swapped", true);
    det_eval_summary es;
    score(tmp, "swapped", false, &es);
    /* Ground truth now: mask = C; no_mask = A, B, D.
     * mask (C): d1 .72 FP, d3 .54 FP, d4 .42 TP, d5 .25 FP, d2 .24 FP
     *   -> recall 1 at precision 1/3: AP 1/3.
     * no_mask (A, B, D): d2 .56 TP (B), d5 .25 FP, d1 .18 TP (A), d3 .06
     *   FP (A again); d4 .28 (p1 has D only, no overlap) FP. Order: d2 TP
     *   (r 1/3, p 1), d4 FP, d5 FP, d1 TP (r 2/3, p 2/4), d3 FP.
     *   AP = 1/3 x 1 + 1/3 x 1/2 = 1/2.
     * mAP = (1/3 + 1/2) / 2 = 5/12, below the 0.75 of the right labels;
     * face AP is the same 0.75. */
    ck_assert_double_eq_tol(es.per_class[0].ap, 1.0 / 3.0, 1e-6);
    ck_assert_double_eq_tol(es.per_class[1].ap, 0.5, 1e-6);
    ck_assert_double_eq_tol(es.map, 5.0 / 12.0, 1e-6);
    ck_assert_double_eq_tol(es.face.ap, 0.75, 1e-9);
    det_eval_summary_free(&es);
    dsf_remove_tree(tmp);
}
END_TEST

START_TEST(bad_arguments) {
    det_photos photos = {0};
    det_eval_summary es;
    nn_error err = {0};
    det_score_params sp = {.n_labels = DET_MAX_LABELS + 1};
    int n_found[1] = {0};
    ck_assert_int_eq(det_data_score(&photos, NULL, n_found, &sp, &es, &err), NN_ERR_ARG);
    ck_assert(strstr(err.msg, "det_data_score") != NULL);
    det_eval_summary_free(&es);
}
END_TEST

Suite *eval_suite(void) {
    Suite *s = suite_create("eval");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, faces_and_classes_by_hand);
    tcase_add_test(tc, swapped_labels_lower_the_ap);
    tcase_add_test(tc, bad_arguments);
    suite_add_tcase(s, tc);
    return s;
}
