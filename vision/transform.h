/*
 * transform.h - image augmentation and geometry on 8-bit images (image.h):
 * a seedable random generator, padding and letterboxing, colour jitter
 * (brightness / contrast / saturation / hue, as torchvision's ColorJitter)
 * and small rotations.
 *
 * There is no hidden random state: every random transform takes the
 * generator it draws from, so a data loader can give each worker its own.
 * In-place functions accept 1, 3 or 4 channel images; colour operations
 * leave a 4th (alpha) channel alone and treat 1 channel as grey.
 */
#ifndef VISION_TRANSFORM_H
#define VISION_TRANSFORM_H

#include <stdbool.h>
#include <stdint.h>

#include "image.h"

/* ---- random numbers: splitmix64, one 64-bit word of state ---- */
typedef struct {
    uint64_t state;
} transform_rng;

void transform_rng_seed(transform_rng *rng, uint64_t seed);
uint64_t transform_rng_next(transform_rng *rng);
/* Uniform in [lo, hi). */
float transform_rng_uniform(transform_rng *rng, float lo, float hi);
/* Uniform integer in [lo, hi] (inclusive); lo when hi <= lo. */
int transform_rng_int(transform_rng *rng, int lo, int hi);
/* true with probability p. */
bool transform_rng_chance(transform_rng *rng, float p);

/* ---- geometry ---- */

/* Adds borders of the given widths (pixels, >= 0) filled with `fill`. */
nn_status transform_pad(const image *src, int left, int top, int right, int bottom, uint8_t fill,
                        image *dst, nn_error *err);

/* How a letterboxed image relates to its source: a source point (x, y), in
 * pixel-edge coordinates as box corners use, lands at
 * (x * scale_x + offset_x, y * scale_y + offset_y) in the output. */
typedef struct {
    float scale_x, scale_y;
    int offset_x, offset_y;
} transform_letterbox_map;

/* Resizes src to fit inside width x height keeping its aspect ratio, centres
 * it and fills the bars with `fill`. map (may be NULL) receives the mapping. */
nn_status transform_letterbox(const image *src, int width, int height, uint8_t fill, image *dst,
                              transform_letterbox_map *map, nn_error *err);

typedef enum {
    TRANSFORM_BORDER_CONSTANT = 0, /* outside the source is `fill` */
    TRANSFORM_BORDER_REPLICATE,    /* outside the source repeats the edge pixel */
} transform_border;

/* General affine warp into a width x height image. `inverse` maps output
 * pixel coordinates to source coordinates (pixel centres at integers):
 *   src_x = m[0] x + m[1] y + m[2],  src_y = m[3] x + m[4] y + m[5]
 * (cv2.warpAffine with WARP_INVERSE_MAP). Bilinear. */
nn_status transform_warp_affine(const image *src, const double inverse[6], int width, int height,
                                transform_border border, uint8_t fill, image *dst,
                                nn_error *err);

/* Rotates about the image centre ((w-1)/2, (h-1)/2) by angle_deg, counter-
 * clockwise as displayed (x right, y down), keeping the size. Bilinear;
 * source pixels outside the image count as `fill`. */
nn_status transform_rotate(const image *src, float angle_deg, uint8_t fill, image *dst,
                           nn_error *err);
/* Where the source point (x, y) of a width x height image goes under
 * transform_rotate(angle_deg) (to rotate box corners). */
void transform_rotate_point(int width, int height, float angle_deg, float *x, float *y);

/* Random geometric augmentation in the manner of Keras' ImageDataGenerator
 * (the original classifier's rotation / zoom / shift / shear / flip). Each
 * value is drawn uniformly from its range; 0 disables it. */
typedef struct {
    float rotation_deg;     /* angle in [-rotation_deg, rotation_deg] */
    float zoom;             /* x and y scale, each in [1 - zoom, 1 + zoom], zoom < 1 */
    float shift_x, shift_y; /* translation, fraction of width / height */
    float shear_deg;        /* shear angle in [-shear_deg, shear_deg] */
    float flip_probability; /* horizontal mirror */
} transform_affine_ranges;

/* Same size output; see transform.c for the exact matrix. Keras' fill_mode
 * "nearest" is TRANSFORM_BORDER_REPLICATE. */
nn_status transform_random_affine(const image *src, const transform_affine_ranges *ranges,
                                  transform_rng *rng, transform_border border, uint8_t fill,
                                  image *dst, nn_error *err);

/* ---- colour (in place) ----
 * Computed in float on 0..255 values, rounded to nearest and clamped:
 *   brightness f:  v' = f * v
 *   contrast f:    v' = f * v + (1 - f) * mean_grey   (mean over the image)
 *   saturation f:  v' = f * v + (1 - f) * grey         (grey of that pixel)
 *   hue shift h:   rotate the HSV hue by h turns, h in [-0.5, 0.5]
 * grey = 0.2989 R + 0.587 G + 0.114 B (torchvision's rgb_to_grayscale).
 * Factor 1 (shift 0) leaves the image unchanged. */
void transform_adjust_brightness(image *img, float factor);
void transform_adjust_contrast(image *img, float factor);
void transform_adjust_saturation(image *img, float factor);
void transform_adjust_hue(image *img, float shift_turns);

/* torchvision ColorJitter: factors drawn uniformly from [max(0, 1 - x), 1 + x]
 * for brightness, contrast and saturation, the hue shift from [-hue, hue]
 * (hue <= 0.5); the four applied in a random order. 0 disables one. */
typedef struct {
    float brightness, contrast, saturation, hue;
} transform_jitter;

void transform_color_jitter(image *img, const transform_jitter *jitter, transform_rng *rng);

#endif
