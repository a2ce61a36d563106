/*
 * ssd.h - SSD box math: prior (default) boxes, box decoding and encoding,
 * non-maximum suppression and the DetectionOutput step.
 *
 * Coordinates: priors and decoded boxes are normalized to [0, 1] of the
 * network input (x right, y down) and stored as corners (xmin, ymin, xmax,
 * ymax), as Caffe's PriorBox emits them. Detections are in image pixels.
 *
 * Prior generators (each appends one feature map's priors, location-major:
 * row y, then column x, then the boxes of that location):
 *   ssd_priors_add_caffe        Caffe SSD PriorBox layer (res10)
 *   ssd_priors_add_torchvision  torchvision DefaultBoxGenerator (ssd300_vgg16)
 *   ssd_priors_add_anchors      AIZOO face-mask anchors (sizes x ratios)
 *   ssd_priors_add_ultraface    Ultra-Light-Fast RFB-320 min_boxes
 */
#ifndef VISION_SSD_H
#define VISION_SSD_H

#include <stdbool.h>
#include <stddef.h>

#include "nn.h"

#define SSD_MAX_SIZES 16  /* min_size / max_size / aspect_ratio entries per layer */
#define SSD_MAX_PRIORS (1 << 22)
#define SSD_MAX_CANDIDATES (1 << 24) /* priors x searched classes in ssd_detect */

/* Caffe SSD PriorBox parameters (prior_box_param); defaults from ssd_caffe_prior_default. */
typedef struct {
    int n_min_sizes;
    float min_sizes[SSD_MAX_SIZES]; /* pixels of the network input */
    int n_max_sizes;                /* 0, or as many as min_sizes   */
    float max_sizes[SSD_MAX_SIZES];
    int n_aspect_ratios; /* as written in the prototxt, before 1 and flips are added */
    float aspect_ratios[SSD_MAX_SIZES];
    bool flip;           /* also emit 1/ar (default true)  */
    bool clip;           /* clamp corners to [0,1] (default false) */
    int n_variances;     /* 0 (-> 0.1), 1 or 4 */
    float variances[4];
    int img_w, img_h;    /* 0: take from the image input */
    float step_w, step_h; /* 0: img / feature size */
    float offset;        /* default 0.5 */
} ssd_caffe_prior_params;

ssd_caffe_prior_params ssd_caffe_prior_default(void);
/* Boxes per location (Caffe's num_priors_), or -1 with err set if the params are invalid. */
int ssd_caffe_priors_per_location(const ssd_caffe_prior_params *p, nn_error *err);

/* A growing list of priors: boxes[i*4 .. i*4+3] corners, variances likewise. */
typedef struct {
    int count, capacity;
    float *boxes;
    float *variances;
} ssd_priors;

void ssd_priors_init(ssd_priors *p);  /* empty; no allocation */
void ssd_priors_free(ssd_priors *p);  /* and re-init */

/* Caffe PriorBox over a feat_w x feat_h map of an img_w x img_h input. */
nn_status ssd_priors_add_caffe(ssd_priors *p, const ssd_caffe_prior_params *prm, int feat_w,
                               int feat_h, int img_w, int img_h, nn_error *err);

/* torchvision DefaultBoxGenerator, one feature map k: scale = scales[k],
 * next_scale = scales[k+1], aspect ratios (each adds (w,h) and (h,w)), step in
 * pixels (0: use the feature size), clip of (w,h) to [0,1] in center form.
 * Variances are set to (0.1, 0.1, 0.2, 0.2), torchvision's weights (10,10,5,5). */
nn_status ssd_priors_add_torchvision(ssd_priors *p, float scale, float next_scale,
                                     const float *aspect_ratios, int n_aspect_ratios, int step_px,
                                     int feat_w, int feat_h, int img_w, int img_h, bool clip,
                                     nn_error *err);

/* AIZOO anchors on an f_w x f_h map: per location sizes[0..n) at ratio 1, then
 * sizes[0] at each of ratios[1..n_ratios) (ratios[0] must be 1). Centre
 * ((x+0.5)/f_w, (y+0.5)/f_h), w = s*sqrt(r), h = s/sqrt(r). Variances 0.1/0.2. */
nn_status ssd_priors_add_anchors(ssd_priors *p, const float *sizes, int n_sizes,
                                 const float *ratios, int n_ratios, int feat_w, int feat_h,
                                 nn_error *err);

/* UltraFace priors for one stride: map ceil(W/stride) x ceil(H/stride), centre
 * ((i+0.5)*stride/W, (j+0.5)*stride/H), w = box/W, h = box/H; the (cx,cy,w,h)
 * values are clamped to [0,1] as the original does. Variances 0.1/0.2. */
nn_status ssd_priors_add_ultraface(ssd_priors *p, const float *min_boxes_px, int n_boxes,
                                   int stride_px, int img_w, int img_h, nn_error *err);

/* ------------------------------------------------------------ box coding */

/* Caffe's PriorBoxParameter.CodeType numbering. */
typedef enum {
    SSD_CODE_CORNER = 1,
    SSD_CODE_CENTER_SIZE = 2,
    SSD_CODE_CORNER_SIZE = 3,
} ssd_code_type;

/* One box from its prior (corners), variances and the 4 predicted offsets.
 * variance_in_target: the offsets already include the variances. */
void ssd_decode_box(const float prior[4], const float variance[4], const float loc[4],
                    ssd_code_type code, bool variance_in_target, float out[4]);
/* The inverse of ssd_decode_box (the training target for a ground-truth box). */
void ssd_encode_box(const float prior[4], const float variance[4], const float box[4],
                    ssd_code_type code, bool variance_in_target, float loc[4]);

/* IoU of two corner boxes (no +1; 0 when they do not overlap or a box is empty). */
float ssd_iou(const float a[4], const float b[4]);

/* Caffe's ApplyNMSFast: candidates with score > score_threshold, sorted by
 * score (descending; ties: lower index first), cut to top_k (< 0: all), then
 * greedy: keep a box when its IoU with every kept box is <= iou_threshold.
 * boxes [n][4], scores [n] (stride score_stride floats apart). keep receives
 * at most n indices, in order of decreasing score. Allocates n (score, index)
 * pairs of scratch. */
nn_status ssd_nms(const float *boxes, const float *scores, size_t score_stride, int n,
                  float score_threshold, float iou_threshold, int top_k, int *keep, int *n_keep,
                  nn_error *err);

/* --------------------------------------------------------- detection */

typedef struct {
    float x1, y1, x2, y2; /* image pixels */
    int label;            /* class index in conf                */
    float score;
} ssd_detection;

typedef struct {
    int num_classes;
    int background_label;       /* skipped class, -1 for none               */
    float confidence_threshold; /* kept when score > threshold              */
    float nms_threshold;        /* IoU                                       */
    int top_k;                  /* per class, before NMS; < 0: all          */
    int keep_top_k;             /* after merging classes; < 0: all          */
    ssd_code_type code_type;
    bool variance_in_target;
    bool clip;                  /* clamp decoded boxes to [0,1]             */
    bool class_agnostic;        /* one NMS over all classes: per prior take the best
                                   non-background class (AIZOO's rule)       */
    float image_w, image_h;     /* pixel size of the output boxes           */
    float vote_iou;             /* > 0: box voting (see ssd_detect)          */
    float vote_floor;           /* the boxes that vote score above this,
                                   usually SSD_VOTE_FLOOR                    */
} ssd_detect_params;

/* A vote floor low enough that a box's voters do not depend on the
 * threshold a caller reports faces at (down to 0.01, as SSD's evaluation). */
#define SSD_VOTE_FLOOR 0.01f

/* Caffe DetectionOutput defaults: background 0, nms 0.3, top_k -1 (all),
 * keep_top_k -1, CENTER_SIZE, no clip, per class; image 1x1 (normalized). */
ssd_detect_params ssd_detect_default(int num_classes);

/*
 * The DetectionOutput step. loc [num_priors*4] (shared across classes), conf
 * [num_priors*num_classes] (already softmaxed or sigmoided). Per class: NMS as
 * ssd_nms; then all classes merged, and if more than keep_top_k survive, the
 * best keep_top_k by score are kept. Output order: by label ascending, then by
 * score descending (Caffe's order). out has room for max_out detections;
 * more than that is an NN_ERR_LIMIT error (size it with keep_top_k).
 * Box voting (vote_iou > 0; Gidaris & Komodakis 2015): each kept box is
 * replaced by the score-weighted mean of the boxes of its class with IoU >=
 * vote_iou with it (itself included, suppressed ones too) among the priors
 * scoring above vote_floor; its score stays. 0 (the default): no voting.
 */
nn_status ssd_detect(const ssd_priors *priors, const float *loc, const float *conf,
                     const ssd_detect_params *p, ssd_detection *out, int max_out, int *n_out,
                     nn_error *err);

/* Scratch memory ssd_detect_reuse keeps between calls (start zeroed, release
 * with ssd_scratch_free): after the first call at a given prior count and
 * class count it allocates nothing, not even inside qsort. */
typedef struct {
    float *boxes, *best;
    float *kept; /* the boxes NMS keeps, column by column: 5 per prior */
    int *best_label, *keep, *voters;
    void *cand, *all; /* (score, index) pairs */
    float *sort_keys; /* room for sorting them */
    float *voted;     /* box voting: 4 per merged candidate (voted_cap of them) */
    void *sort_tmp;
    size_t priors_cap, all_cap, voted_cap;
} ssd_scratch;
void ssd_scratch_free(ssd_scratch *s);
/* ssd_detect with its buffers in s: the same detections. */
nn_status ssd_detect_reuse(const ssd_priors *priors, const float *loc, const float *conf,
                           const ssd_detect_params *p, ssd_detection *out, int max_out,
                           int *n_out, ssd_scratch *s, nn_error *err);

#endif
