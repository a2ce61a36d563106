/*
 * multibox.h - SSD training: matching priors to ground-truth boxes, the
 * regression targets, hard negative mining and the MultiBox loss.
 *
 * Matching (Caffe SSD, match_type PER_PREDICTION):
 *   1. bipartite: repeatedly take the (ground truth, prior) pair of highest
 *      IoU among the ground truths and priors not matched yet, and match them,
 *      until every ground truth that overlaps some free prior has one. So each
 *      box gets its best prior, and a box whose best prior was taken by a box
 *      of higher IoU gets its best free prior instead. Ties: the lower prior
 *      index, then the lower ground-truth index (Caffe's scan order).
 *   2. every prior still free takes the ground truth it overlaps most, when
 *      that IoU is >= the overlap threshold (0.5).
 *   3. optional (min_matches > 0), S3FD's scale compensation (Zhang et al.
 *      2017, section 3.2): a box left with fewer than min_matches priors,
 *      as a tiny face is (no prior overlaps it much), also takes its best
 *      free priors of IoU >= compensate_iou (0.1), best first, up to
 *      min_matches. Ignored boxes take none.
 * A prior matched to an ignored box (a face too small after augmentation) is
 * neither positive nor negative: it contributes nothing to the loss.
 *
 * Loss (Liu et al. 2016, Caffe's MultiBoxLoss with normalization VALID):
 *   L = (sum over positives of smooth-L1(loc - encoded gt)
 *        + sum over positives and mined negatives of softmax cross-entropy) / N
 * with N the number of positive priors in the batch (1 when there are none).
 * Mined negatives, per image: the unmatched priors with the highest background
 * loss -log softmax(conf)[0], at most neg_pos_ratio times that image's
 * positives. Built from nn ops (nn_smooth_l1 with a mask, nn_cross_entropy
 * with ignored targets), so nn_backward gives the gradients.
 *
 * Boxes are corners normalised to [0, 1] of the network input, as priors.
 * Class 0 is the background; ground-truth labels are 1 .. num_classes-1.
 */
#ifndef VISION_MULTIBOX_H
#define VISION_MULTIBOX_H

#include <stdbool.h>

#include "nn.h"
#include "ssd.h"

#define MULTIBOX_MAX_GT 4096 /* ground-truth boxes per image */

typedef struct {
    float box[4]; /* x1, y1, x2, y2 normalised */
    int label;    /* 1 .. num_classes-1 */
    bool ignore;  /* matched priors are neither positive nor negative */
} multibox_gt;

typedef struct {
    const multibox_gt *gt;
    int n_gt;
} multibox_image;

typedef struct {
    int num_classes;         /* with background; >= 2 */
    float overlap_threshold; /* 0.5 */
    float neg_pos_ratio;     /* 3 */
    float loc_weight;        /* alpha, 1 */
    float smooth_l1_beta;    /* 1 (Caffe) */
    int min_matches;         /* step 3 of the matching: 0 (off) */
    float compensate_iou;    /* its IoU floor, 0.1 */
} multibox_config;

multibox_config multibox_default_config(int num_classes);

/* Per prior: match[p] = index of the matched ground truth or -1. Allocates an
 * n_gt-sized scratch; fails only on bad arguments or out of memory. */
nn_status multibox_match(const ssd_priors *priors, const multibox_gt *gt, int n_gt,
                         float overlap_threshold, int *match, nn_error *err);

/* Step 3 on the matches of multibox_match: boxes with fewer than
 * min_matches priors take their best free priors of IoU >= min_iou. */
nn_status multibox_match_compensate(const ssd_priors *priors, const multibox_gt *gt, int n_gt,
                                    int min_matches, float min_iou, int *match, nn_error *err);

/* Targets of one image from its matches: labels[p] = gt label (positive),
 * 0 (background candidate) or -1 (matched to an ignored box); loc[p*4..] =
 * the encoded box (ssd_encode_box, CENTER_SIZE, prior variances) for positives,
 * 0 elsewhere. Returns the number of positives. */
int multibox_encode(const ssd_priors *priors, const multibox_gt *gt, const int *match,
                    int *labels, float *loc);

/* Hard negative mining on one image: conf [n_priors * num_classes] logits.
 * Of the priors whose label is 0, keeps the min(count, floor(ratio * n_pos))
 * with the highest background loss as 0 and sets the others to -1. Ties: lower
 * prior index first. Returns the number of negatives kept. */
int multibox_mine_negatives(const float *conf, int n_priors, int num_classes, int *labels,
                            int n_pos, float neg_pos_ratio, nn_error *err);

typedef struct {
    float loss, loc_loss, conf_loss; /* conf_loss and loc_loss already / N */
    int n_pos, n_neg, n_ignored;     /* over the batch */
} multibox_stats;

/* The MultiBox loss of a batch: loc [B, P*4], conf [B, P*num_classes] (the
 * head outputs), images[B]. Returns a one-element tensor on ctx's tape (NULL
 * on error, reason in ctx). stats may be NULL. */
nn_tensor *multibox_loss(nn_ctx *ctx, nn_tensor *loc, nn_tensor *conf, const ssd_priors *priors,
                         const multibox_image *images, const multibox_config *cfg,
                         multibox_stats *stats);

#endif
