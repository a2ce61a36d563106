/*
 * cls_metrics.h - classification metrics from a confusion matrix:
 * accuracy, balanced accuracy (mean recall over the classes present),
 * per-class precision / recall / F1, and the same split by face size.
 *
 * confusion[t][p] counts samples of true class t predicted as p.
 * Conventions for empty cases: precision of a class never predicted is 0,
 * recall of a class with no samples is 0 and it is left out of the balanced
 * accuracy; F1 is 0 when precision + recall is 0; accuracy of nothing is 0.
 */
#ifndef DATASETS_CLS_METRICS_H
#define DATASETS_CLS_METRICS_H

#include <stddef.h>

#define CLS_MAX_CLASSES 8

typedef struct {
    int n_classes;
    size_t confusion[CLS_MAX_CLASSES][CLS_MAX_CLASSES]; /* [true][predicted] */
} cls_confusion;

typedef struct {
    size_t n;
    double accuracy;
    double balanced_accuracy;
    double precision[CLS_MAX_CLASSES], recall[CLS_MAX_CLASSES], f1[CLS_MAX_CLASSES];
    size_t support[CLS_MAX_CLASSES]; /* samples of each true class */
} cls_report;

/* n_classes is clamped to 1..CLS_MAX_CLASSES. */
void cls_confusion_init(cls_confusion *c, int n_classes);
/* Ignores labels out of range (returns 0 then, 1 when counted). */
int cls_confusion_add(cls_confusion *c, int truth, int predicted);
size_t cls_confusion_total(const cls_confusion *c);
void cls_report_compute(const cls_confusion *c, cls_report *r);

/* ---- by face size: one confusion matrix per range [edge[i], edge[i+1]) of
 * the face's longest side in pixels; the last range is open-ended. */
#define CLS_MAX_SIZE_RANGES 8

typedef struct {
    int n_ranges;
    float lo_px[CLS_MAX_SIZE_RANGES]; /* range i is [lo_px[i], lo_px[i+1]) */
    cls_confusion conf[CLS_MAX_SIZE_RANGES];
} cls_size_table;

/* edges: n_edges increasing lower bounds (e.g. {0, 16, 32, 64}: <16, 16-32,
 * 32-64, >=64); n_edges is clamped to 1..CLS_MAX_SIZE_RANGES. */
void cls_size_table_init(cls_size_table *t, int n_classes, int n_edges, const float *edges_px);
/* Sizes below the first edge are not counted (returns 0). */
int cls_size_table_add(cls_size_table *t, float size_px, int truth, int predicted);
/* "16-32" or ">=64" (or "<16" when the first edge is 0 and range 0 ends at 16). */
void cls_size_range_name(const cls_size_table *t, int range, char *buf, size_t len);

#endif
