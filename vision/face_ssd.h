/*
 * face_ssd.h - our own VGG-style SSD face detector, fully convolutional, run
 * at the photo's own resolution.
 *
 *   input 3 x H x W (RGB, (px - 127.5) / 127.5)
 *   conv1   3x3 stride 2, c0           + BN + ReLU             stride 2
 *   pool1   2x2 (ceil)                                         stride 4
 *   conv2_1, conv2_2  3x3, c1          + BN + ReLU ......... source 0 (stride 4)
 *   pool2, conv3_1, conv3_2  3x3, c2   + BN + ReLU ......... source 1 (stride 8)
 *   pool3, conv4_1, conv4_2  3x3, c3   ................. ... source 2 (stride 16)
 *   pool4, conv5_1, conv5_2  3x3, c4   ..................... source 3 (stride 32)
 *   pool5, conv6_1           3x3, c5   ..................... source 4 (stride 64)
 * Each source feeds a 3x3 loc head (4 per prior) and conf head (classes per
 * prior), permuted to NHWC and flattened, so prior index = (map, y, x, box)
 * as ssd_vgg16. With top_down = k > 0 (a feature-pyramid path, Lin et al.
 * 2017), the heads of maps k-1 .. 0 read, instead of their source,
 *   fused[m] = source[m] + upsample2x(lat[m](fused[m+1]))   (fused[k] = source[k])
 * where lat[m] is a 1x1 conv (with bias) to map m's width: the small faces of
 * the stride-4 map then get the context of the deeper, coarser map. Max pools use ceil mode, so a map of stride s over an input
 * W wide is ceil(W / s) wide (conv1 rounds the same way).
 *
 * Priors per cell of the map of stride s: every size in sizes[map] (pixels of
 * the input) at every aspect ratio r = height / width (w = size / sqrt(r),
 * h = size * sqrt(r)), centred at ((x + 0.5) s, (y + 0.5) s), normalised by
 * the input size, not clipped; variances 0.1, 0.1, 0.2, 0.2.
 *
 * Model files (.nnw): kind=detector, arch=face_ssd, classes, input.* and the
 * face_ssd.* keys that rebuild the network and its priors (face_ssd.widths,
 * .strides, .sizes, .ratios, and .top_down when it is not 0), plus ssd.threshold / ssd.nms defaults (docs/model-files.md) and
 * input.resize = "native" (the detector runs at the image's own size times
 * face_ssd.input_scale, or, when face_ssd.input_long_side is set, resized so
 * its longer side has that many pixels).
 */
#ifndef VISION_FACE_SSD_H
#define VISION_FACE_SSD_H

#include <stdbool.h>
#include <stddef.h>

#include "image.h"
#include "nn.h"
#include "ssd.h"

#define FACE_SSD_MAX_MAPS 5
#define FACE_SSD_MAX_SIZES 4
#define FACE_SSD_MAX_RATIOS 4
#define FACE_SSD_MAX_CLASSES 8

typedef struct {
    int n_maps;                        /* sources used, 1..5 (strides 4, 8, ..) */
    int widths[6];                     /* channels c0..c5 above              */
    int n_sizes[FACE_SSD_MAX_MAPS];
    float sizes[FACE_SSD_MAX_MAPS][FACE_SSD_MAX_SIZES]; /* prior sizes, input px */
    int n_ratios;
    float ratios[FACE_SSD_MAX_RATIOS]; /* height / width */
    int top_down; /* maps 0..top_down-1 also get the next map's features (below) */
} face_ssd_spec;

/* The shipped design: widths 16, 32, 48, 96, 160, 160; sizes 8,10,13 /
 * 16,20,25 / 32,40,50 / 64,80,100 / 128,180,256; ratio 1.2. */
face_ssd_spec face_ssd_default_spec(void);
int face_ssd_stride(int map); /* 4 << map */
int face_ssd_boxes_per_cell(const face_ssd_spec *spec, int map);

typedef struct {
    nn_model *model;
    face_ssd_spec spec;
    int num_classes; /* with background */
    char class_names[FACE_SSD_MAX_CLASSES][32];
    int loc_id, conf_id;
    int source_id[FACE_SSD_MAX_MAPS];
    float input_scale;        /* detection runs at image size x this ...          */
    int input_long_side;      /* ... or, when > 0, with the longer side this long */
    float conf_threshold;     /* defaults for face_ssd_detect */
    float nms_threshold;
    bool box_vote;            /* box voting at the NMS IoU (ssd_detect); on by default */
    /* inference state, reused by every face_ssd_detect: after the first call
     * at a given image size nothing is allocated */
    nn_ctx *ctx;
    ssd_priors priors;
    int priors_w, priors_h; /* input size the cached priors are for */
    image_buffer resized;   /* the image at the network's scale */
    float *input;           /* the network input, CHW */
    size_t input_cap;       /* floats */
    ssd_scratch post;       /* decoding and NMS */
    double preprocess_ms, forward_ms, postprocess_ms; /* of the last face_ssd_detect */
} face_ssd;

/* Builds the network (weights uninitialised; nn_model_init them). class_names
 * has num_classes entries starting with "background" (NULL: background, face). */
nn_status face_ssd_build(const face_ssd_spec *spec, int num_classes,
                         const char *const *class_names, face_ssd *out, nn_error *err);
void face_ssd_free(face_ssd *f);

/* The priors of an input in_w x in_h (normalised corners), appended to out. */
nn_status face_ssd_priors(const face_ssd_spec *spec, int in_w, int in_h, ssd_priors *out,
                          nn_error *err);

/* Prior sizes as text: maps separated by ';', sizes by ',' ("8,10,13;16,20,25").
 * parse sets n_maps, n_sizes and sizes; format writes the same form. */
nn_status face_ssd_parse_sizes(const char *text, face_ssd_spec *spec, nn_error *err);
void face_ssd_format_sizes(const face_ssd_spec *spec, char *buf, size_t len);

/* Multiply-adds x 2 of one forward pass at in_w x in_h (convolutions only). */
double face_ssd_flops(const face_ssd *f, int in_w, int in_h);

/* Model file <-> detector. to_weights writes the parameters (dtype) and all
 * metadata; load builds the network from the metadata and loads the weights
 * (batch norm folded for inference). */
nn_status face_ssd_to_weights(const face_ssd *f, nn_weights *w, nn_dtype dtype, nn_error *err);
nn_status face_ssd_from_weights(const nn_weights *w, face_ssd *out, nn_error *err);
nn_status face_ssd_load(const char *path, face_ssd *out, nn_error *err);
/* true when the metadata says kind=detector, arch=face_ssd. */
bool face_ssd_is_model(const nn_weights *w);

/* The network input of an image (RGB or grey): resized to image x input_scale
 * (or to input_long_side) when that changes its size, as CHW floats, padded right and bottom with zeros (the
 * mean) to at least 4 << (n_maps - 1) pixels a side so every pooling has
 * input. in_w, in_h receive the size; the caller frees *chw (nn_aligned_free). */
nn_status face_ssd_preprocess(const face_ssd *f, const image *img, float **chw, int *in_w,
                              int *in_h, nn_error *err);
/* The same into f's reused buffers: *chw stays owned by f (valid until the
 * next call). */
nn_status face_ssd_preprocess_reuse(face_ssd *f, const image *img, const float **chw, int *in_w,
                                    int *in_h, nn_error *err);

/* Detects faces: boxes in image pixels, label = class index (1 = face for a
 * face-only model), score = softmax probability; at most max_out kept (best
 * first). conf_threshold / nms_threshold < 0 take the model's defaults.
 * With f->box_vote, each kept box is the score-weighted mean of the boxes it
 * suppressed and itself (those scoring above SSD_VOTE_FLOOR, whatever
 * conf_threshold is, so a face's box does not depend on the threshold): the
 * SSD's neighbouring priors each place the face a little differently, and
 * their mean is closer to it than the best-scoring one alone (measured in
 * models/README.md). */
nn_status face_ssd_detect(face_ssd *f, const image *img, float conf_threshold,
                          float nms_threshold, ssd_detection *out, int max_out, int *n_out,
                          nn_error *err);

#endif
