/*
 * ssd_augment.h - SSD training augmentation of an image with its face boxes.
 *
 * In order (Liu et al. 2016, section 2.2 "Data augmentation"):
 *   1. photometric distortion (with probability photometric_prob): colour
 *      jitter of brightness, contrast, saturation and hue (transform.h);
 *   2. zoom out (with probability expand_prob): the image is placed at a
 *      random spot of a canvas expand times its size (expand drawn from
 *      [1, expand_max]) filled with the mean colour, so faces get smaller;
 *   3. random crop, the paper's sampler: a mode is drawn from {no crop, any
 *      patch, min IoU 0.1, 0.3, 0.5, 0.7, 0.9}; up to 50 patches are drawn
 *      (side scale in [crop_min_scale, 1] of the shorter image side, aspect
 *      w/h in [crop_min_aspect, 1/crop_min_aspect]) until one has IoU >= the
 *      mode's minimum with some face and holds at least one face centre;
 *      none found -> no crop. Boxes whose centre falls outside the patch are
 *      dropped, the others clipped to it;
 *   4. resize to out_w x out_h (boxes scaled with it);
 *      with keep_aspect, step 3's patches have the output's aspect ratio
 *      and "no crop" takes the whole canvas padded (canvas colour, at a
 *      random offset) to that ratio, so the resize never stretches: a
 *      detector run on whole photos at their own aspect then sees faces of
 *      the shapes it was trained on;
 *   5. horizontal flip with probability flip_prob.
 * A box whose longer side is under min_face_px after all this is marked
 * ignored (the loss neither rewards nor punishes detecting it), as is a box
 * ignored on input. Everything random comes from the rng passed in, so the
 * same seed gives the same sample.
 */
#ifndef VISION_SSD_AUGMENT_H
#define VISION_SSD_AUGMENT_H

#include <stdbool.h>

#include "image.h"
#include "nn.h"
#include "transform.h"

typedef struct {
    float x1, y1, x2, y2; /* pixels */
    int label;
    bool ignore;
} ssd_aug_box;

typedef struct {
    int out_w, out_h;
    float photometric_prob;  /* 0.5 */
    transform_jitter jitter; /* brightness 0.25, contrast 0.5, saturation 0.5, hue 0.05 */
    float expand_prob;       /* 0.3 */
    float expand_max;        /* 2 */
    uint8_t fill;            /* zoom-out canvas grey level, 128 */
    bool crop;               /* the random crop sampler */
    float crop_min_scale;    /* 0.3 */
    float crop_min_aspect;   /* 0.5 (w/h in [0.5, 2]) */
    bool keep_aspect;        /* false (the paper's sampler stretches) */
    float flip_prob;         /* 0.5 */
    float min_face_px;       /* 4 */
} ssd_augment_config;

ssd_augment_config ssd_augment_default(int out_w, int out_h);
/* Only the resize (to out_w x out_h) and the min_face_px rule: for validation. */
ssd_augment_config ssd_augment_none(int out_w, int out_h);

/* src: RGB image; boxes[n] in its pixels. out is allocated (out_w x out_h,
 * 3 channels); out_boxes has room for n boxes; *n_out receives the count. */
nn_status ssd_augment(const image *src, const ssd_aug_box *boxes, int n,
                      const ssd_augment_config *cfg, transform_rng *rng, image *out,
                      ssd_aug_box *out_boxes, int *n_out, nn_error *err);

#endif
