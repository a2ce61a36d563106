/*
 * transform.c - augmentation for 8-bit interleaved images: splitmix64 random
 * numbers, pad / letterbox, bilinear rotation, and torchvision-style colour
 * jitter. See transform.h for the exact math of each operation.
 */
#include "transform.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- random numbers ------------------------------------------------------ */

void transform_rng_seed(transform_rng *rng, uint64_t seed) { rng->state = seed; }

/* splitmix64 (Steele, Lea, Flood 2014): a Weyl sequence through a mixer. */
uint64_t transform_rng_next(transform_rng *rng) {
    uint64_t z = (rng->state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

float transform_rng_uniform(transform_rng *rng, float lo, float hi) {
    /* 24 random bits -> [0, 1) exactly representable in float */
    float u = (float)(transform_rng_next(rng) >> 40) * (1.0f / 16777216.0f);
    float v = lo + (hi - lo) * u;
    return v < hi ? v : lo; /* rounding must not reach hi */
}

int transform_rng_int(transform_rng *rng, int lo, int hi) {
    if (hi <= lo) return lo;
    uint64_t span = (uint64_t)((int64_t)hi - lo) + 1;
    return (int)((int64_t)lo + (int64_t)(transform_rng_next(rng) % span));
}

bool transform_rng_chance(transform_rng *rng, float p) {
    return transform_rng_uniform(rng, 0.f, 1.f) < p;
}

/* ---- geometry ------------------------------------------------------------- */

nn_status transform_pad(const image *src, int left, int top, int right, int bottom, uint8_t fill,
                        image *dst, nn_error *err) {
    if (!dst) return nn_error_set(err, NN_ERR_ARG, "transform_pad: NULL output");
    memset(dst, 0, sizeof *dst);
    if (!src || !src->pixels) return nn_error_set(err, NN_ERR_ARG, "transform_pad: no source");
    if (left < 0 || top < 0 || right < 0 || bottom < 0)
        return nn_error_set(err, NN_ERR_ARG, "transform_pad: negative border %d,%d,%d,%d", left,
                            top, right, bottom);
    long long w = (long long)src->width + left + right, h = (long long)src->height + top + bottom;
    if (w > IMAGE_MAX_SIDE || h > IMAGE_MAX_SIDE)
        return nn_error_set(err, NN_ERR_LIMIT, "transform_pad: %lldx%lld is too large", w, h);
    return image_crop(src, -left, -top, (int)w, (int)h, fill, dst, err);
}

nn_status transform_letterbox(const image *src, int width, int height, uint8_t fill, image *dst,
                              transform_letterbox_map *map, nn_error *err) {
    if (!dst) return nn_error_set(err, NN_ERR_ARG, "transform_letterbox: NULL output");
    memset(dst, 0, sizeof *dst);
    if (!src || !src->pixels || src->width <= 0 || src->height <= 0)
        return nn_error_set(err, NN_ERR_ARG, "transform_letterbox: no source");
    if (width <= 0 || height <= 0)
        return nn_error_set(err, NN_ERR_ARG, "transform_letterbox: bad size %dx%d", width, height);
    double scale = fmin((double)width / src->width, (double)height / src->height);
    int inner_w = (int)lround(src->width * scale), inner_h = (int)lround(src->height * scale);
    if (inner_w < 1) inner_w = 1;
    if (inner_h < 1) inner_h = 1;
    if (inner_w > width) inner_w = width;
    if (inner_h > height) inner_h = height;
    image inner;
    nn_status st = image_resize(src, inner_w, inner_h, &inner, err);
    if (st != NN_OK) return st;
    int off_x = (width - inner_w) / 2, off_y = (height - inner_h) / 2;
    /* "crop" a window larger than the inner image: the outside is the fill */
    st = image_crop(&inner, -off_x, -off_y, width, height, fill, dst, err);
    image_free(&inner);
    if (st != NN_OK) return st;
    if (map) {
        map->scale_x = (float)inner_w / (float)src->width;
        map->scale_y = (float)inner_h / (float)src->height;
        map->offset_x = off_x;
        map->offset_y = off_y;
    }
    return NN_OK;
}

/* One output pixel by bilinear interpolation at source point (sx, sy). */
static void sample_bilinear(const image *src, double sx, double sy, transform_border border,
                            uint8_t fill, uint8_t *out) {
    int w = src->width, h = src->height, c = src->channels;
    /* snap values within 1e-6 of a pixel centre (cos 90 deg is not exactly 0) */
    if (fabs(sx - nearbyint(sx)) < 1e-6) sx = nearbyint(sx);
    if (fabs(sy - nearbyint(sy)) < 1e-6) sy = nearbyint(sy);
    if (border == TRANSFORM_BORDER_REPLICATE) { /* clamping the point = repeating the edge */
        sx = fmin(fmax(sx, 0.0), w - 1.0);
        sy = fmin(fmax(sy, 0.0), h - 1.0);
    }
    if (!(sx > -1.0 && sy > -1.0 && sx < w && sy < h)) { /* no tap inside (or NaN) */
        memset(out, fill, (size_t)c);
        return;
    }
    double fx0 = floor(sx), fy0 = floor(sy);
    float fx = (float)(sx - fx0), fy = (float)(sy - fy0);
    int x0 = (int)fx0, y0 = (int)fy0;
    const int tx[4] = {x0, x0 + 1, x0, x0 + 1}, ty[4] = {y0, y0, y0 + 1, y0 + 1};
    const float wt[4] = {(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy};
    const uint8_t *taps[4];
    for (int t = 0; t < 4; t++)
        taps[t] = (tx[t] >= 0 && tx[t] < w && ty[t] >= 0 && ty[t] < h && wt[t] != 0.f)
                      ? src->pixels + ((size_t)ty[t] * w + tx[t]) * c
                      : NULL;
    for (int k = 0; k < c; k++) {
        float v = 0;
        for (int t = 0; t < 4; t++) v += wt[t] * (taps[t] ? taps[t][k] : fill);
        out[k] = (uint8_t)lrintf(v < 0 ? 0 : (v > 255 ? 255 : v));
    }
}

nn_status transform_warp_affine(const image *src, const double inverse[6], int width, int height,
                                transform_border border, uint8_t fill, image *dst, nn_error *err) {
    if (!dst) return nn_error_set(err, NN_ERR_ARG, "transform_warp_affine: NULL output");
    memset(dst, 0, sizeof *dst);
    if (!src || !src->pixels || !inverse)
        return nn_error_set(err, NN_ERR_ARG, "transform_warp_affine: no source or matrix");
    for (int i = 0; i < 6; i++)
        if (!isfinite(inverse[i]))
            return nn_error_set(err, NN_ERR_ARG, "transform_warp_affine: matrix is not finite");
    nn_status st = image_alloc(dst, width, height, src->channels, err);
    if (st != NN_OK) return st;
    int c = src->channels;
    for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++) {
            double sx = inverse[0] * x + inverse[1] * y + inverse[2];
            double sy = inverse[3] * x + inverse[4] * y + inverse[5];
            sample_bilinear(src, sx, sy, border, fill, dst->pixels + ((size_t)y * width + x) * c);
        }
    return NN_OK;
}

/*
 * Rotation by inverse mapping: for each output pixel p, the source point is
 * c + R(-angle) (p - c). With y pointing down, a counter-clockwise turn by
 * a on screen maps (dx, dy) -> (dx cos a + dy sin a, -dx sin a + dy cos a),
 * so its inverse is (dx cos a - dy sin a, dx sin a + dy cos a).
 */
nn_status transform_rotate(const image *src, float angle_deg, uint8_t fill, image *dst,
                           nn_error *err) {
    if (!dst) return nn_error_set(err, NN_ERR_ARG, "transform_rotate: NULL output");
    memset(dst, 0, sizeof *dst);
    if (!src || !src->pixels) return nn_error_set(err, NN_ERR_ARG, "transform_rotate: no source");
    if (!isfinite(angle_deg))
        return nn_error_set(err, NN_ERR_ARG, "transform_rotate: angle is not finite");
    double a = angle_deg * (M_PI / 180.0), cos_a = cos(a), sin_a = sin(a);
    double cx = (src->width - 1) * 0.5, cy = (src->height - 1) * 0.5;
    const double inverse[6] = {cos_a, -sin_a, cx - cx * cos_a + cy * sin_a,
                               sin_a, cos_a,  cy - cx * sin_a - cy * cos_a};
    return transform_warp_affine(src, inverse, src->width, src->height,
                                 TRANSFORM_BORDER_CONSTANT, fill, dst, err);
}

/*
 * Random affine, forward direction about the centre c:
 *   p_dst = c + t + R(rotation) * Shear(shear) * diag(zoom_x, zoom_y) * (p_src - c)
 * with Shear(s) = [[1, -sin s], [0, cos s]] (Keras' convention: x leans with
 * y) and t = (shift_x * width, shift_y * height). Warped through its inverse.
 */
nn_status transform_random_affine(const image *src, const transform_affine_ranges *ranges,
                                  transform_rng *rng, transform_border border, uint8_t fill,
                                  image *dst, nn_error *err) {
    if (!dst) return nn_error_set(err, NN_ERR_ARG, "transform_random_affine: NULL output");
    memset(dst, 0, sizeof *dst);
    if (!src || !src->pixels || !ranges || !rng)
        return nn_error_set(err, NN_ERR_ARG, "transform_random_affine: missing argument");
    const transform_affine_ranges *r = ranges;
    if (!(r->zoom >= 0.f && r->zoom < 1.f))
        return nn_error_set(err, NN_ERR_ARG, "transform_random_affine: zoom %g not in [0, 1)",
                            r->zoom);
    double rot = 0, shear = 0, tx = 0, ty = 0;
    if (r->rotation_deg > 0) rot = transform_rng_uniform(rng, -r->rotation_deg, r->rotation_deg);
    if (r->shear_deg > 0) shear = transform_rng_uniform(rng, -r->shear_deg, r->shear_deg);
    double zx = 1, zy = 1;
    if (r->zoom > 0) {
        zx = transform_rng_uniform(rng, 1 - r->zoom, 1 + r->zoom);
        zy = transform_rng_uniform(rng, 1 - r->zoom, 1 + r->zoom);
    }
    if (r->shift_x > 0) tx = transform_rng_uniform(rng, -r->shift_x, r->shift_x) * src->width;
    if (r->shift_y > 0) ty = transform_rng_uniform(rng, -r->shift_y, r->shift_y) * src->height;
    bool flip = r->flip_probability > 0 && transform_rng_chance(rng, r->flip_probability);

    double a = rot * (M_PI / 180.0), s = shear * (M_PI / 180.0);
    /* rotation as displayed with y down: [[cos, sin], [-sin, cos]] */
    double R[4] = {cos(a), sin(a), -sin(a), cos(a)};
    double S[4] = {1, -sin(s), 0, cos(s)};
    double RS[4] = {R[0] * S[0] + R[1] * S[2], R[0] * S[1] + R[1] * S[3],
                    R[2] * S[0] + R[3] * S[2], R[2] * S[1] + R[3] * S[3]};
    double F[4] = {RS[0] * zx * (flip ? -1 : 1), RS[1] * zy, RS[2] * zx * (flip ? -1 : 1),
                   RS[3] * zy};
    double det = F[0] * F[3] - F[1] * F[2];
    if (fabs(det) < 1e-9)
        return nn_error_set(err, NN_ERR_ARG, "transform_random_affine: degenerate transform");
    double inv[4] = {F[3] / det, -F[1] / det, -F[2] / det, F[0] / det};
    double cx = (src->width - 1) * 0.5, cy = (src->height - 1) * 0.5;
    /* p_src = c + inv * (p_dst - c - t) */
    double ox = cx + tx, oy = cy + ty;
    const double inverse[6] = {inv[0], inv[1], cx - inv[0] * ox - inv[1] * oy,
                               inv[2], inv[3], cy - inv[2] * ox - inv[3] * oy};
    return transform_warp_affine(src, inverse, src->width, src->height, border, fill, dst, err);
}

void transform_rotate_point(int width, int height, float angle_deg, float *x, float *y) {
    double a = angle_deg * (M_PI / 180.0), cos_a = cos(a), sin_a = sin(a);
    double cx = (width - 1) * 0.5, cy = (height - 1) * 0.5;
    double dx = *x - cx, dy = *y - cy;
    *x = (float)(cx + dx * cos_a + dy * sin_a);
    *y = (float)(cy - dx * sin_a + dy * cos_a);
}

/* ---- colour ----------------------------------------------------------------- */

static uint8_t to_byte(float v) {
    return (uint8_t)(v <= 0.f ? 0 : (v >= 255.f ? 255 : (int)lrintf(v)));
}

static float grey_of(const uint8_t *p) { return 0.2989f * p[0] + 0.587f * p[1] + 0.114f * p[2]; }

static bool colour_ok(const image *img) {
    return img && img->pixels && img->width > 0 && img->height > 0 &&
           (img->channels == 1 || img->channels == 3 || img->channels == 4);
}

void transform_adjust_brightness(image *img, float factor) {
    if (!colour_ok(img) || factor == 1.f) return;
    int c = img->channels, colours = c == 4 ? 3 : c;
    size_t n = (size_t)img->width * img->height;
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < colours; k++) {
            uint8_t *v = img->pixels + i * c + k;
            *v = to_byte(factor * *v);
        }
}

void transform_adjust_contrast(image *img, float factor) {
    if (!colour_ok(img) || factor == 1.f) return;
    int c = img->channels, colours = c == 4 ? 3 : c;
    size_t n = (size_t)img->width * img->height;
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += c == 1 ? img->pixels[i] : grey_of(img->pixels + i * c);
    float offset = (1.f - factor) * (float)(sum / (double)n);
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < colours; k++) {
            uint8_t *v = img->pixels + i * c + k;
            *v = to_byte(factor * *v + offset);
        }
}

void transform_adjust_saturation(image *img, float factor) {
    if (!colour_ok(img) || img->channels == 1 || factor == 1.f) return;
    int c = img->channels;
    size_t n = (size_t)img->width * img->height;
    for (size_t i = 0; i < n; i++) {
        uint8_t *p = img->pixels + i * c;
        float grey_part = (1.f - factor) * grey_of(p);
        for (int k = 0; k < 3; k++) p[k] = to_byte(factor * p[k] + grey_part);
    }
}

/* HSV in [0, 1] as torchvision's _rgb2hsv / _hsv2rgb compute it. */
static void rgb_to_hsv(float r, float g, float b, float *h, float *s, float *v) {
    float maxc = fmaxf(r, fmaxf(g, b)), minc = fminf(r, fminf(g, b));
    float range = maxc - minc;
    *v = maxc;
    if (range == 0.f) {
        *h = 0.f, *s = 0.f;
        return;
    }
    *s = range / maxc;
    float rc = (maxc - r) / range, gc = (maxc - g) / range, bc = (maxc - b) / range;
    float hue;
    if (maxc == r) hue = bc - gc;
    else if (maxc == g) hue = 2.f + rc - bc;
    else hue = 4.f + gc - rc;
    hue = fmodf(hue / 6.f + 1.f, 1.f);
    *h = hue;
}

static void hsv_to_rgb(float h, float s, float v, float *r, float *g, float *b) {
    float h6 = h * 6.f;
    float sector = floorf(h6), f = h6 - sector;
    int i = ((int)sector % 6 + 6) % 6;
    float p = fminf(fmaxf(v * (1.f - s), 0.f), 1.f);
    float q = fminf(fmaxf(v * (1.f - s * f), 0.f), 1.f);
    float t = fminf(fmaxf(v * (1.f - s * (1.f - f)), 0.f), 1.f);
    switch (i) {
    case 0: *r = v, *g = t, *b = p; break;
    case 1: *r = q, *g = v, *b = p; break;
    case 2: *r = p, *g = v, *b = t; break;
    case 3: *r = p, *g = q, *b = v; break;
    case 4: *r = t, *g = p, *b = v; break;
    default: *r = v, *g = p, *b = q; break;
    }
}

void transform_adjust_hue(image *img, float shift_turns) {
    if (!colour_ok(img) || img->channels == 1 || shift_turns == 0.f || !isfinite(shift_turns))
        return;
    int c = img->channels;
    size_t n = (size_t)img->width * img->height;
    for (size_t i = 0; i < n; i++) {
        uint8_t *p = img->pixels + i * c;
        float h, s, v, r, g, b;
        rgb_to_hsv(p[0] / 255.f, p[1] / 255.f, p[2] / 255.f, &h, &s, &v);
        h = fmodf(h + shift_turns, 1.f);
        if (h < 0) h += 1.f;
        hsv_to_rgb(h, s, v, &r, &g, &b);
        p[0] = to_byte(r * 255.f), p[1] = to_byte(g * 255.f), p[2] = to_byte(b * 255.f);
    }
}

void transform_color_jitter(image *img, const transform_jitter *jitter, transform_rng *rng) {
    if (!colour_ok(img) || !jitter || !rng) return;
    /* Draw all factors first, then a random order (Fisher-Yates), as torchvision. */
    float factor[4] = {1.f, 1.f, 1.f, 0.f};
    const float amount[3] = {jitter->brightness, jitter->contrast, jitter->saturation};
    for (int k = 0; k < 3; k++)
        if (amount[k] > 0.f)
            factor[k] = transform_rng_uniform(rng, fmaxf(0.f, 1.f - amount[k]), 1.f + amount[k]);
    if (jitter->hue > 0.f) {
        float hue = fminf(jitter->hue, 0.5f);
        factor[3] = transform_rng_uniform(rng, -hue, hue);
    }
    int order[4] = {0, 1, 2, 3};
    for (int i = 3; i > 0; i--) {
        int j = transform_rng_int(rng, 0, i);
        int t = order[i];
        order[i] = order[j], order[j] = t;
    }
    for (int i = 0; i < 4; i++) {
        switch (order[i]) {
        case 0: transform_adjust_brightness(img, factor[0]); break;
        case 1: transform_adjust_contrast(img, factor[1]); break;
        case 2: transform_adjust_saturation(img, factor[2]); break;
        default: transform_adjust_hue(img, factor[3]); break;
        }
    }
}
