/*
 * image.h - 8-bit images: load, save, resize, crop, flip, gamma, to tensor.
 *
 * An image is interleaved (RGBRGB...), row-major, `channels` in {1, 3, 4},
 * stride = width * channels. Functions return nn_status and fill nn_error;
 * output images are allocated by the callee and released with image_free.
 */
#ifndef VISION_IMAGE_H
#define VISION_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nn.h"

/* Refused before decoding/allocating: no side over this, no more pixels than that. */
#define IMAGE_MAX_SIDE 16384
#define IMAGE_MAX_PIXELS ((size_t)64 << 20)

typedef struct {
    int width, height, channels;
    uint8_t *pixels; /* width * height * channels bytes */
} image;

nn_status image_alloc(image *img, int width, int height, int channels, nn_error *err);
void image_free(image *img); /* frees pixels, zeroes the struct; safe on a zeroed image */
/* A deep copy (dst is allocated). */
nn_status image_copy(const image *src, image *dst, nn_error *err);

/* Loads JPEG / PNG / BMP, converted to `channels` (1, 3 or 4; 3 = RGB).
 * 16-bit PNGs become 8-bit; alpha is dropped for 3 channels; EXIF rotation is
 * not applied. Errors name the file: NN_ERR_NOT_FOUND (missing), NN_ERR_IO
 * (unreadable, a directory), NN_ERR_FORMAT (not an image, corrupt),
 * NN_ERR_TRUNCATED (file ends early, also for JPEGs stb would pad),
 * NN_ERR_LIMIT (declared size over the limits, checked before decoding). */
nn_status image_load(const char *path, int channels, image *out, nn_error *err);
nn_status image_load_memory(const uint8_t *buf, size_t len, int channels, image *out,
                            nn_error *err);
/* Atomic writes (temp file + rename). Format from the extension: .png or
 * .jpg/.jpeg (any case). jpeg_quality 1..100 for JPEG, ignored for PNG. */
nn_status image_save(const image *img, const char *path, int jpeg_quality, nn_error *err);

/* Bilinear resize with OpenCV INTER_LINEAR semantics (half-pixel centres,
 * its 11-bit fixed-point weights: matches cv2.resize exactly on our tests). */
nn_status image_resize(const image *src, int width, int height, image *dst, nn_error *err);
/* Copies the rectangle [x, x+w) x [y, y+h); parts outside src are filled with `fill`. */
nn_status image_crop(const image *src, int x, int y, int w, int h, uint8_t fill, image *dst,
                     nn_error *err);

/* Memory that image_resize_into / image_crop_into reuse from call to call, so
 * a video loop allocates only when a frame needs more than any frame before.
 * Start zeroed ({0}); release with image_buffer_free. */
typedef struct {
    uint8_t *pixels; /* the output image's pixels */
    size_t pixels_cap;
    void *taps; /* resize: per output column and row, which source pixels and weights */
    size_t taps_cap;
    int32_t *rows; /* resize: two rows of the horizontal pass */
    size_t rows_cap;
} image_buffer;
void image_buffer_free(image_buffer *buf);
/* image_resize / image_crop into buf: *dst is a view of buf->pixels, valid
 * until buf is used again or freed (do not image_free it). Same pixels as the
 * allocating versions. */
nn_status image_resize_into(const image *src, int width, int height, image_buffer *buf,
                            image *dst, nn_error *err);
nn_status image_crop_into(const image *src, int x, int y, int w, int h, uint8_t fill,
                          image_buffer *buf, image *dst, nn_error *err);
void image_flip_horizontal(image *img);
/* The original's adjust_gamma: out = 255 * (in/255)^(1/gamma), via a lookup table. */
void image_adjust_gamma(image *img, float gamma);

/* Writes a 3-channel image as CHW float: out[c][y][x] = (px - mean[c]) * scale[c],
 * with channels in BGR order when bgr is true (Caffe models). out has 3*w*h floats.
 * mean/scale are indexed by output plane. A grey image fills all three planes. */
void image_to_chw(const image *img, const float mean[3], const float scale[3], bool bgr,
                  float *out);

#endif
