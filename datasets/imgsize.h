/*
 * imgsize.h - an image's width and height from its file header, without decoding.
 *
 * Data-set readers need sizes for every image (to clamp boxes, to size
 * whole-image faces) and decoding thousands of JPEGs just for that is slow.
 * Reads PNG (IHDR), JPEG (the first SOFn marker) and BMP headers.
 */
#ifndef DATASETS_IMGSIZE_H
#define DATASETS_IMGSIZE_H

#include "nn.h"

/* NN_ERR_IO if the file cannot be opened, NN_ERR_FORMAT if it is no image we know. */
nn_status imgsize_read(const char *path, int *width_px, int *height_px, nn_error *err);

/* True when the file name ends in an image extension we read (.jpg .jpeg .png .bmp, any case). */
int imgsize_is_image_name(const char *name);

#endif
