/*
 * crops.h - cutting the faces of an annotated set out into class folders.
 *
 * Each face box (class_id >= 0) whose longest side is at least min_size_px is
 * widened by margin times its width (left and right) and height (top and
 * bottom), clipped to the image, and written to
 * OUTDIR/<class>/<image stem>_<box index>.jpg (or .png). Names depend only on
 * the input, so running twice gives the same files.
 */
#ifndef DATASETS_CROPS_H
#define DATASETS_CROPS_H

#include <stdbool.h>
#include <stddef.h>

#include "annot.h"
#include "nn.h"

typedef struct {
    float margin;     /* fraction of the box size added on each side */
    int min_size_px;  /* faces with a smaller longest side are skipped */
    bool png;         /* PNG instead of JPEG */
    int jpeg_quality; /* 1..100 */
    void (*progress)(void *user, size_t done, size_t total);
    void *progress_user;
} crops_options;

typedef struct {
    size_t n_written;
    size_t per_class[CLASSMAP_MAX_CLASSES];
    size_t n_too_small;
} crops_result;

crops_options crops_default_options(void); /* margin 0.1, min size 0, JPEG quality 95 */

/* The crop rectangle for a box: [x, x+w) x [y, y+h) in the image, never empty. */
void crops_rect(const annot_box *box, int image_w, int image_h, float margin, int *x, int *y,
                int *w, int *h);

nn_status crops_extract(const annot_set *set, const char *outdir, const crops_options *opt,
                        crops_result *result, nn_error *err);

#endif
