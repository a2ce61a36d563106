/*
 * det_metrics.h - detection evaluation: average precision (Pascal VOC
 * all-point interpolation), AP by face size, precision and recall at a score
 * threshold, per-class AP / mAP, and the precision-recall curve as a PNG.
 *
 * Matching (VOC devkit rule): all detections of the evaluated class, over all
 * images, sorted by score (descending; ties: image order, then input order).
 * Each is compared with every ground-truth box of its image; the one of
 * highest IoU is taken. IoU >= iou_threshold and that box is "ignore" ->
 * the detection is neither true nor false positive; a box not yet matched ->
 * true positive (the box is now matched); already matched -> false positive
 * (a duplicate). IoU below the threshold -> false positive.
 *
 * AP by size: a size range [size_min_px, size_max_px) of the box's longer
 * side. Ground truth outside the range is marked "ignore" (as VOC's
 * "difficult"), so finding it is neither rewarded nor punished; and a
 * detection that matches nothing and whose own size is outside the range is
 * left out too (COCO's rule for area ranges), so a good detector of large
 * faces is not charged with false positives in the small-face AP.
 *
 * AP = sum over recall steps of (r_k - r_{k-1}) * p_interp(r_k), with
 * p_interp the precision envelope (max precision at recall >= r), as the
 * VOC2010+ devkit. With no ground truth the AP is NaN (not defined).
 */
#ifndef DATASETS_DET_METRICS_H
#define DATASETS_DET_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "annot.h"
#include "nn.h"

typedef struct {
    float x1, y1, x2, y2; /* pixels */
    int label;            /* class index (any non-negative number) */
    bool ignore;          /* difficult: matching it is neither TP nor FP */
} det_gt;

typedef struct {
    float x1, y1, x2, y2;
    int label;
    float score;
} det_pred;

typedef struct {
    const det_gt *gt;
    int n_gt;
    const det_pred *pred;
    int n_pred;
} det_image;

typedef struct {
    int label;                /* -1: class-agnostic (all labels match each other) */
    float iou_threshold;      /* 0.5 */
    float size_min_px;        /* range of the longer side: [min, max) */
    float size_max_px;        /* <= 0: no upper bound */
    float score_threshold;    /* for precision / recall at a threshold */
} det_eval_params;

/* Class-agnostic, IoU 0.5, all sizes, score threshold 0.5. */
det_eval_params det_eval_default(void);

typedef struct {
    double ap;               /* NaN when n_gt == 0 */
    int n_gt;                /* ground truth counted (not ignored) */
    int n_pred;              /* detections counted (not left out) */
    int n_tp_at_threshold, n_fp_at_threshold;
    /* The false positives at the threshold by cause, after the best IoU with
     * a ground-truth box of the label: a second box on a face already found
     * (IoU >= iou_threshold), a box misplaced on a face (IoU 0.1 up to
     * iou_threshold), or no labelled face near (IoU < 0.1: background, or a
     * face the annotations leave out). They add up to n_fp_at_threshold. */
    int n_fp_duplicate, n_fp_misplaced, n_fp_no_face;
    double precision_at_threshold, recall_at_threshold; /* NaN when undefined */
    int n_points;            /* the PR curve: one point per counted detection */
    double *recall, *precision; /* malloc'ed (NULL when n_points == 0) */
} det_ap_result;

nn_status det_evaluate(const det_image *images, int n_images, const det_eval_params *p,
                       det_ap_result *out, nn_error *err);
void det_ap_result_free(det_ap_result *r);

/* The longer side of a box. */
float det_box_size(float x1, float y1, float x2, float y2);

/* Size ranges used by the reports: < 16, 16-32, >= 32 px. */
#define DET_N_SIZE_RANGES 3
extern const float det_size_ranges[DET_N_SIZE_RANGES][2];
extern const char *const det_size_range_names[DET_N_SIZE_RANGES]; /* "small", "medium", "large" */

/* A hash split by photo: true when the image named `key` (its file stem) is
 * held out for validation, for this seed and fraction. Independent of the
 * order and of the other images, so any tool gives the same split. */
bool det_split_is_val(const char *key, uint64_t seed, float val_fraction);
/* The same for an annotated photo: its key is the stem of its annotation file
 * (of its image for class folders), as maskdet eval and train-detector use. */
bool det_split_item_is_val(const annot_item *item, uint64_t seed, float val_fraction);

/* One PNG with a precision-recall curve per result, named in the legend. */
nn_status det_plot_pr(const char *path, const char *title, int n, const det_ap_result *results,
                      const char *const *names, nn_error *err);

#endif
