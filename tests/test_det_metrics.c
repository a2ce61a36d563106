/* test_det_metrics.c - VOC AP, AP by size, precision/recall at a threshold and
 * per-class AP on hand-made cases whose values are worked out in comments. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "det_metrics.h"
#include "image.h"
#include "testutil.h"

#define NEAR(a, b) ck_assert_msg(fabs((a) - (b)) < 1e-9, "%s = %.12g, want %.12g", #a, (double)(a), (double)(b))

/* Three faces A, B, C; five detections by score:
 *   .9 on A (TP)  .8 on nothing (FP)  .7 on A again (FP, duplicate)
 *   .6 on B (TP)  .5 on nothing (FP); C is never found.
 * recall    1/3 1/3 1/3 2/3 2/3
 * precision 1   1/2 1/3 1/2 2/5
 * envelope  1   1/2 1/2 1/2 2/5
 * AP = 1/3 * 1 + 1/3 * 1/2 = 1/2. At score >= .65: TP 1, FP 2 -> P = R = 1/3. */
START_TEST(ap_hand_case) {
    det_gt gt[3] = {{0, 0, 10, 10, 0, false}, {20, 0, 30, 10, 0, false}, {40, 0, 50, 10, 0, false}};
    det_pred pred[5] = {{60, 0, 70, 10, 0, 0.8f},
                        {0, 0, 10, 10, 0, 0.9f},
                        {20, 0, 30, 11, 0, 0.6f},
                        {1, 0, 10, 10, 0, 0.7f},
                        {80, 0, 90, 10, 0, 0.5f}};
    det_image im = {gt, 3, pred, 5};
    det_eval_params p = det_eval_default();
    p.score_threshold = 0.65f;
    det_ap_result r;
    nn_error err = {0};
    ck_assert_int_eq(det_evaluate(&im, 1, &p, &r, &err), NN_OK);
    NEAR(r.ap, 0.5);
    ck_assert_int_eq(r.n_gt, 3);
    ck_assert_int_eq(r.n_points, 5);
    NEAR(r.precision_at_threshold, 1.0 / 3);
    NEAR(r.recall_at_threshold, 1.0 / 3);
    NEAR(r.precision[4], 0.4);
    NEAR(r.recall[3], 2.0 / 3);
    /* the two false positives above .65: .8 on nothing, .7 a second box on A */
    ck_assert_int_eq(r.n_fp_duplicate, 1);
    ck_assert_int_eq(r.n_fp_misplaced, 0);
    ck_assert_int_eq(r.n_fp_no_face, 1);
    det_ap_result_free(&r);

    /* at 0: the .5 on nothing joins; a box half off B (IoU 1/3) is misplaced */
    p.score_threshold = 0.0f;
    det_pred off[6];
    memcpy(off, pred, sizeof pred);
    off[5] = (det_pred){25, 0, 35, 10, 0, 0.3f};
    det_image im_off = {gt, 3, off, 6};
    ck_assert_int_eq(det_evaluate(&im_off, 1, &p, &r, &err), NN_OK);
    ck_assert_int_eq(r.n_fp_at_threshold, 4);
    ck_assert_int_eq(r.n_fp_duplicate, 1);
    ck_assert_int_eq(r.n_fp_misplaced, 1);
    ck_assert_int_eq(r.n_fp_no_face, 2);
    det_ap_result_free(&r);
    p.score_threshold = 0.65f;

    /* the same split over two images gives the same AP */
    det_image two[2] = {{gt, 2, pred, 4}, {gt + 2, 1, pred + 4, 1}};
    ck_assert_int_eq(det_evaluate(two, 2, &p, &r, &err), NN_OK);
    NEAR(r.ap, 0.5);
    det_ap_result_free(&r);

    /* no ground truth: AP undefined */
    det_image none = {NULL, 0, pred, 5};
    ck_assert_int_eq(det_evaluate(&none, 1, &p, &r, &err), NN_OK);
    ck_assert(isnan(r.ap));
    det_ap_result_free(&r);
}
END_TEST

/* Faces: S (10 px), M (20 px), L (50 px). Detections by score:
 *   .95 a 8 px box on nothing   .9 on S   .8 on L   .7 on M   .5 a 60 px box on nothing
 * small  [0,16):  .95 FP, .9 TP; L and M ignored (their matches left out),
 *                 the 60 px miss is out of range -> left out. AP = 1 * 1/2 = .5
 * medium [16,32): only .7 counts, TP -> AP 1
 * large  [32,-):  .8 TP, then .5 FP (60 px, in range) -> AP 1
 * all:  FP TP TP TP FP -> precision 0 .5 .667 .75 .6, recall 0 1/3 2/3 1 1,
 *       envelope .75 up to recall 1 -> AP .75 */
START_TEST(ap_by_size_hand_case) {
    det_gt gt[3] = {{0, 0, 10, 10, 0, false}, {20, 0, 40, 20, 0, false}, {50, 0, 100, 50, 0, false}};
    det_pred pred[5] = {{200, 200, 208, 208, 0, 0.95f},
                        {0, 0, 10, 10, 0, 0.9f},
                        {50, 0, 100, 50, 0, 0.8f},
                        {20, 0, 40, 20, 0, 0.7f},
                        {300, 300, 360, 360, 0, 0.5f}};
    det_image im = {gt, 3, pred, 5};
    nn_error err = {0};
    const double want[DET_N_SIZE_RANGES] = {0.5, 1.0, 1.0};
    for (int k = 0; k < DET_N_SIZE_RANGES; k++) {
        det_eval_params p = det_eval_default();
        p.size_min_px = det_size_ranges[k][0];
        p.size_max_px = det_size_ranges[k][1];
        det_ap_result r;
        ck_assert_int_eq(det_evaluate(&im, 1, &p, &r, &err), NN_OK);
        ck_assert_int_eq(r.n_gt, 1);
        ck_assert_msg(fabs(r.ap - want[k]) < 1e-9, "range %s: AP %g, want %g",
                      det_size_range_names[k], r.ap, want[k]);
        det_ap_result_free(&r);
    }
    det_eval_params p = det_eval_default();
    det_ap_result r;
    ck_assert_int_eq(det_evaluate(&im, 1, &p, &r, &err), NN_OK);
    NEAR(r.ap, 0.75);
    det_ap_result_free(&r);
    /* an ignored ("difficult") face: a detection on it is neither TP nor FP */
    gt[0].ignore = true;
    ck_assert_int_eq(det_evaluate(&im, 1, &p, &r, &err), NN_OK);
    ck_assert_int_eq(r.n_gt, 2);
    ck_assert_int_eq(r.n_points, 4);
    det_ap_result_free(&r);
    ck_assert_float_eq(det_box_size(0, 0, 10, 30), 30.0f);
}
END_TEST

/* Two classes: A (class 1), B (class 2). A class-2 detection on A is a false
 * positive for class 2 (no class-2 face there); class 1 finds nothing. */
START_TEST(per_class_ap) {
    det_gt gt[2] = {{0, 0, 10, 10, 1, false}, {20, 0, 30, 10, 2, false}};
    det_pred pred[2] = {{0, 0, 10, 10, 2, 0.9f}, {20, 0, 30, 10, 2, 0.8f}};
    det_image im = {gt, 2, pred, 2};
    nn_error err = {0};
    det_eval_params p = det_eval_default();
    det_ap_result r;
    p.label = 2;
    ck_assert_int_eq(det_evaluate(&im, 1, &p, &r, &err), NN_OK);
    NEAR(r.ap, 0.5); /* FP then TP */
    ck_assert_int_eq(r.n_gt, 1);
    det_ap_result_free(&r);
    p.label = 1;
    ck_assert_int_eq(det_evaluate(&im, 1, &p, &r, &err), NN_OK);
    NEAR(r.ap, 0.0);
    ck_assert_int_eq(r.n_points, 0);
    det_ap_result_free(&r);
    p.label = -1; /* class-agnostic: both found */
    ck_assert_int_eq(det_evaluate(&im, 1, &p, &r, &err), NN_OK);
    NEAR(r.ap, 1.0);
    det_ap_result_free(&r);
}
END_TEST

START_TEST(split_by_name_is_stable) {
    int val = 0;
    for (int i = 0; i < 2000; i++) {
        char key[32];
        snprintf(key, sizeof key, "photo%d", i);
        bool v = det_split_is_val(key, 1, 0.15f);
        ck_assert(v == det_split_is_val(key, 1, 0.15f));
        ck_assert(!det_split_is_val(key, 1, 0.0f));
        ck_assert(det_split_is_val(key, 1, 1.0f));
        val += v;
    }
    ck_assert_msg(val > 240 && val < 360, "%d of 2000 held out at 15%%", val);
    int differ = 0;
    for (int i = 0; i < 200; i++) {
        char key[32];
        snprintf(key, sizeof key, "photo%d", i);
        differ += det_split_is_val(key, 1, 0.5f) != det_split_is_val(key, 2, 0.5f);
    }
    ck_assert_int_gt(differ, 50);
}
END_TEST

START_TEST(pr_plot_png) {
    det_gt gt[2] = {{0, 0, 10, 10, 0, false}, {20, 0, 30, 10, 0, false}};
    det_pred pred[3] = {{0, 0, 10, 10, 0, 0.9f}, {50, 0, 60, 10, 0, 0.8f}, {20, 0, 30, 10, 0, 0.7f}};
    det_image im = {gt, 2, pred, 3};
    det_eval_params p = det_eval_default();
    det_ap_result r;
    nn_error err = {0};
    ck_assert_int_eq(det_evaluate(&im, 1, &p, &r, &err), NN_OK);
    char path[256];
    snprintf(path, sizeof path, "/tmp/test_det_pr_%d.png", (int)getpid());
    const char *names[1] = {"test"};
    ck_assert_msg(det_plot_pr(path, "pr", 1, &r, names, &err) == NN_OK, "%s", err.msg);
    image img;
    ck_assert_int_eq(image_load(path, 3, &img, &err), NN_OK);
    ck_assert_int_eq(img.width, 640);
    image_free(&img);
    unlink(path);
    det_ap_result_free(&r);
}
END_TEST

Suite *det_metrics_suite(void) {
    Suite *s = suite_create("det_metrics");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, ap_hand_case);
    tcase_add_test(tc, ap_by_size_hand_case);
    tcase_add_test(tc, per_class_ap);
    tcase_add_test(tc, split_by_name_is_stable);
    tcase_add_test(tc, pr_plot_png);
    suite_add_tcase(s, tc);
    return s;
}
