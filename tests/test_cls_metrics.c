/*
 * test_cls_metrics.c - datasets/cls_metrics on confusion matrices whose
 * metrics are worked out by hand in the comments.
 */
#include <check.h>
#include <math.h>

#include "cls_metrics.h"

#define EQ(a, b) ck_assert_msg(fabs((a) - (b)) < 1e-12, "%s = %.15g, want %.15g", #a, (double)(a), (double)(b))

static void add_n(cls_confusion *c, int truth, int pred, int n) {
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(cls_confusion_add(c, truth, pred), 1);
}

START_TEST(two_classes) {
    /* truth 0: 6 right, 2 called 1; truth 1: 1 right, 1 called 0
     *   confusion [[6, 2], [1, 1]], n 10, accuracy 7/10
     *   recall 6/8, 1/2 -> balanced (0.75 + 0.5) / 2 = 0.625
     *   precision 6/7, 1/3
     *   F1_0 = 2 (6/7)(3/4) / (6/7 + 3/4) = (9/7) / (45/28) = 0.8
     *   F1_1 = 2 (1/3)(1/2) / (1/3 + 1/2) = (1/3) / (5/6) = 0.4 */
    cls_confusion c;
    cls_confusion_init(&c, 2);
    add_n(&c, 0, 0, 6);
    add_n(&c, 0, 1, 2);
    add_n(&c, 1, 1, 1);
    add_n(&c, 1, 0, 1);
    ck_assert_int_eq(cls_confusion_add(&c, 2, 0), 0); /* out of range: ignored */
    ck_assert_int_eq(cls_confusion_add(&c, 0, -1), 0);
    ck_assert_uint_eq(cls_confusion_total(&c), 10);
    cls_report r;
    cls_report_compute(&c, &r);
    ck_assert_uint_eq(r.n, 10);
    EQ(r.accuracy, 0.7);
    EQ(r.balanced_accuracy, 0.625);
    EQ(r.precision[0], 6.0 / 7);
    EQ(r.precision[1], 1.0 / 3);
    EQ(r.recall[0], 0.75);
    EQ(r.recall[1], 0.5);
    EQ(r.f1[0], 0.8);
    EQ(r.f1[1], 0.4);
    ck_assert_uint_eq(r.support[0], 8);
    ck_assert_uint_eq(r.support[1], 2);
}
END_TEST

START_TEST(empty_cases) {
    /* 3 classes, class 2 absent and never predicted; class 1 never predicted:
     *   [[3, 0, 0], [2, 0, 0], [0, 0, 0]]: accuracy 3/5,
     *   recall 1, 0, (absent) -> balanced (1 + 0) / 2 = 0.5
     *   precision 3/5, 0 (never predicted), 0; F1_1 = 0, F1_2 = 0
     *   F1_0 = 2 (3/5)(1) / (8/5) = 0.75 */
    cls_confusion c;
    cls_confusion_init(&c, 3);
    add_n(&c, 0, 0, 3);
    add_n(&c, 1, 0, 2);
    cls_report r;
    cls_report_compute(&c, &r);
    EQ(r.accuracy, 0.6);
    EQ(r.balanced_accuracy, 0.5);
    EQ(r.precision[0], 0.6);
    EQ(r.precision[1], 0);
    EQ(r.recall[2], 0);
    EQ(r.f1[0], 0.75);
    EQ(r.f1[1], 0);
    EQ(r.f1[2], 0);
    /* nothing at all */
    cls_confusion_init(&c, 2);
    cls_report_compute(&c, &r);
    ck_assert_uint_eq(r.n, 0);
    EQ(r.accuracy, 0);
    EQ(r.balanced_accuracy, 0);
    /* class count clamped */
    cls_confusion_init(&c, 100);
    ck_assert_int_eq(c.n_classes, CLS_MAX_CLASSES);
    cls_confusion_init(&c, 0);
    ck_assert_int_eq(c.n_classes, 1);
}
END_TEST

START_TEST(by_size) {
    const float edges[] = {0, 16, 32, 64};
    cls_size_table t;
    cls_size_table_init(&t, 2, 4, edges);
    ck_assert_int_eq(t.n_ranges, 4);
    ck_assert_int_eq(cls_size_table_add(&t, 10, 0, 0), 1);    /* <16 */
    ck_assert_int_eq(cls_size_table_add(&t, 16, 1, 0), 1);    /* 16-32: wrong */
    ck_assert_int_eq(cls_size_table_add(&t, 31.9f, 1, 1), 1); /* 16-32 */
    ck_assert_int_eq(cls_size_table_add(&t, 32, 0, 0), 1);    /* 32-64 */
    ck_assert_int_eq(cls_size_table_add(&t, 1000, 0, 1), 1);  /* >=64: wrong */
    ck_assert_int_eq(cls_size_table_add(&t, -1, 0, 0), 0);    /* below the first edge */
    ck_assert_int_eq(cls_size_table_add(&t, NAN, 0, 0), 0);
    size_t totals[4] = {1, 2, 1, 1};
    double acc[4] = {1, 0.5, 1, 0};
    for (int i = 0; i < 4; i++) {
        ck_assert_uint_eq(cls_confusion_total(&t.conf[i]), totals[i]);
        cls_report r;
        cls_report_compute(&t.conf[i], &r);
        EQ(r.accuracy, acc[i]);
    }
    char name[32];
    const char *want[4] = {"<16", "16-32", "32-64", ">=64"};
    for (int i = 0; i < 4; i++) {
        cls_size_range_name(&t, i, name, sizeof name);
        ck_assert_str_eq(name, want[i]);
    }
    cls_size_range_name(&t, 9, name, sizeof name);
    ck_assert_str_eq(name, "?");
    /* a first edge above 0 */
    const float from16[] = {16, 48};
    cls_size_table_init(&t, 2, 2, from16);
    cls_size_range_name(&t, 0, name, sizeof name);
    ck_assert_str_eq(name, "16-48");
    ck_assert_int_eq(cls_size_table_add(&t, 15, 0, 0), 0);
}
END_TEST

Suite *cls_metrics_suite(void) {
    Suite *s = suite_create("cls_metrics");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, two_classes);
    tcase_add_test(tc, empty_cases);
    tcase_add_test(tc, by_size);
    suite_add_tcase(s, tc);
    return s;
}
