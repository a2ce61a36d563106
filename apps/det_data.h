/*
 * det_data.h - what the detector commands (train-detector, eval) share: a
 * detection set decoded into memory with its face boxes, the train /
 * validation split by photo, and the evaluation of a detector over it
 * (face AP@0.5 overall and by size, precision/recall at a threshold, and
 * per-class AP for a mask/no_mask detector).
 */
#ifndef APPS_DET_DATA_H
#define APPS_DET_DATA_H

#include <stdbool.h>
#include <stdint.h>

#include "det_metrics.h"
#include "image.h"
#include "ssd_augment.h"

typedef struct {
    char *name;  /* file stem, the split key */
    char *image_path;
    image img;   /* RGB */
    ssd_aug_box *boxes; /* label = project class id + 1 (1 = mask, 2 = no_mask, ...) */
    int n_boxes;
} det_photo;

typedef struct {
    det_photo *photos;
    int n;
    int n_faces;
} det_photos;

typedef enum { DET_SPLIT_ALL = 0, DET_SPLIT_TRAIN, DET_SPLIT_VAL } det_split;

/* Loads a VOC / Kaggle-JSON folder; keeps the photos of one side of the
 * split (det_split_is_val(stem, seed, val_fraction)); at most limit photos
 * (<= 0: all). Objects that are not faces are left out. */
nn_status det_data_load(const char *path, det_split split, uint64_t seed, float val_fraction,
                        int limit, det_photos *out, nn_error *err);
void det_data_free(det_photos *d);

/* A detector: fills out[0..*n) (pixels; label as the photo boxes' labels). */
typedef nn_status (*det_detect_fn)(void *user, const image *img, det_pred *out, int max_out,
                                   int *n, nn_error *err);

#define DET_MAX_DETECTIONS 1000
#define DET_MAX_LABELS 4

typedef struct {
    det_ap_result face;                       /* class-agnostic, all sizes */
    det_ap_result by_size[DET_N_SIZE_RANGES]; /* class-agnostic */
    int n_labels;                             /* per-class results when > 0 */
    det_ap_result per_class[DET_MAX_LABELS];  /* label i + 1 */
    double map;                               /* mean of per-class APs with ground truth */
    double class_precision[DET_MAX_LABELS];   /* of the reported faces (det_data_score) */
    double class_recall[DET_MAX_LABELS];
    int n_images, n_faces;
    double detect_ms;                         /* mean detector time per image */
} det_eval_summary;

/* Runs the detector over every photo and evaluates. n_labels > 0 also gives
 * per-class AP for labels 1..n_labels, each detection counting for its own
 * label with its score. */
nn_status det_data_evaluate(const det_photos *d, det_detect_fn detect, void *user,
                            float score_threshold, int n_labels, det_eval_summary *out,
                            nn_error *err);
void det_eval_summary_free(det_eval_summary *s);

/* One face found by a whole pipeline (a face detector and a classifier, or a
 * one-stage mask detector), in photo label numbering (1 = mask, 2 = no_mask). */
typedef struct {
    float x1, y1, x2, y2;              /* pixels */
    float face_score;                  /* the detector's confidence that it is a face */
    int label;                         /* the class the pipeline reports (0: none) */
    float class_score[DET_MAX_LABELS]; /* its score as class i + 1; <= 0: no entry */
} det_face_pred;

typedef struct {
    float face_threshold; /* a face is reported when face_score >= this */
    int n_labels;         /* per-class AP for labels 1..n_labels (0: faces only) */
    bool argmax_only;     /* per-class AP: a face counts for its reported label
                             only; false: for every class it has a score for */
} det_score_params;

/* Scores the faces found in each photo (faces[i][0..n_found[i]) for photo i):
 * face AP (class-agnostic, by face_score) overall and by size, face precision
 * and recall at face_threshold, per-class AP and mAP, and per-class precision
 * and recall of what the pipeline reports (face_score >= face_threshold, its
 * label). detect_ms is left 0 for the caller. */
nn_status det_data_score(const det_photos *d, const det_face_pred *const *faces,
                         const int *n_found, const det_score_params *p, det_eval_summary *out,
                         nn_error *err);

/* Monotonic clock in milliseconds. */
double det_now_ms(void);

#endif
