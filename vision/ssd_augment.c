/*
 * ssd_augment.c - SSD augmentation with boxes (see ssd_augment.h).
 *
 * Zoom-out and crop are done as one image_crop: the zoom-out canvas is only
 * imagined (the image at offset ox, oy on a canvas cw x ch), the patch is a
 * rectangle of that canvas, and image_crop fills whatever lies outside the
 * image with the canvas colour. Then one resize and an optional flip.
 */
#include <math.h>
#include <string.h>

#include "ssd_augment.h"

ssd_augment_config ssd_augment_default(int out_w, int out_h) {
    return (ssd_augment_config){.out_w = out_w,
                                .out_h = out_h,
                                .photometric_prob = 0.5f,
                                .jitter = {0.25f, 0.5f, 0.5f, 0.05f},
                                .expand_prob = 0.3f,
                                .expand_max = 2.0f,
                                .fill = 128,
                                .crop = true,
                                .crop_min_scale = 0.3f,
                                .crop_min_aspect = 0.5f,
                                .flip_prob = 0.5f,
                                .min_face_px = 4.0f};
}

ssd_augment_config ssd_augment_none(int out_w, int out_h) {
    return (ssd_augment_config){
        .out_w = out_w, .out_h = out_h, .fill = 128, .expand_max = 1.0f, .min_face_px = 4.0f};
}

static float box_iou(float ax1, float ay1, float ax2, float ay2, const ssd_aug_box *b) {
    float ix = fminf(ax2, b->x2) - fmaxf(ax1, b->x1), iy = fminf(ay2, b->y2) - fmaxf(ay1, b->y1);
    if (ix <= 0 || iy <= 0) return 0.0f;
    float inter = ix * iy;
    float uni = (ax2 - ax1) * (ay2 - ay1) + (b->x2 - b->x1) * (b->y2 - b->y1) - inter;
    return uni > 0 ? inter / uni : 0.0f;
}

static bool centre_inside(const ssd_aug_box *b, float x1, float y1, float x2, float y2) {
    float cx = 0.5f * (b->x1 + b->x2), cy = 0.5f * (b->y1 + b->y2);
    return cx >= x1 && cx < x2 && cy >= y1 && cy < y2;
}

/* The whole canvas cw x ch as the patch; with keep_aspect, grown along one
 * side to the output's aspect ratio, the canvas at a random spot in it. */
static void whole_canvas(const ssd_augment_config *cfg, transform_rng *rng, int cw, int ch,
                         int *px, int *py, int *pw, int *ph) {
    *px = 0, *py = 0, *pw = cw, *ph = ch;
    if (!cfg->keep_aspect) return;
    double out_aspect = (double)cfg->out_w / cfg->out_h;
    if ((double)cw / ch > out_aspect) { /* wider than the output: pad above and below */
        *ph = (int)lround(cw / out_aspect);
        *py = -transform_rng_int(rng, 0, *ph - ch);
    } else {
        *pw = (int)lround(ch * out_aspect);
        *px = -transform_rng_int(rng, 0, *pw - cw);
    }
}

/* The crop sampler: a patch [x1, x2) x [y1, y2) of the canvas cw x ch, whose
 * boxes (already in canvas coordinates) are moved[n]. */
static void sample_patch(const ssd_augment_config *cfg, transform_rng *rng, int cw, int ch,
                         const ssd_aug_box *moved, int n, int *px, int *py, int *pw, int *ph) {
    static const float min_iou[7] = {-1.0f, 0.0f, 0.1f, 0.3f, 0.5f, 0.7f, 0.9f};
    int mode = transform_rng_int(rng, 0, 6);
    if (!cfg->crop || mode == 0 || n == 0) {
        whole_canvas(cfg, rng, cw, ch, px, py, pw, ph);
        return;
    }
    float short_side = (float)(cw < ch ? cw : ch);
    float amin = cfg->crop_min_aspect > 0 && cfg->crop_min_aspect <= 1 ? cfg->crop_min_aspect : 1;
    for (int attempt = 0; attempt < 50; attempt++) {
        float s = transform_rng_uniform(rng, cfg->crop_min_scale, 1.0f);
        float a = expf(transform_rng_uniform(rng, logf(amin), -logf(amin)));
        /* keep_aspect fixes the aspect, but the draw above still happens: the
         * random stream stays the same shape, so runs stay reproducible */
        if (cfg->keep_aspect) a = (float)cfg->out_w / (float)cfg->out_h;
        float fw = short_side * s * sqrtf(a), fh = short_side * s / sqrtf(a);
        if (cfg->keep_aspect && fw > cw) fh *= cw / fw, fw = (float)cw; /* shrink, same ratio */
        if (cfg->keep_aspect && fh > ch) fw *= ch / fh, fh = (float)ch;
        int w = (int)lroundf(fw), h = (int)lroundf(fh);
        w = w < 2 ? 2 : (w > cw ? cw : w);
        h = h < 2 ? 2 : (h > ch ? ch : h);
        int x = transform_rng_int(rng, 0, cw - w), y = transform_rng_int(rng, 0, ch - h);
        bool iou_ok = min_iou[mode] <= 0.0f, has_centre = false;
        for (int i = 0; i < n; i++) {
            if (moved[i].ignore) continue;
            if (!iou_ok && box_iou((float)x, (float)y, (float)(x + w), (float)(y + h), &moved[i]) >=
                               min_iou[mode])
                iou_ok = true;
            if (centre_inside(&moved[i], (float)x, (float)y, (float)(x + w), (float)(y + h)))
                has_centre = true;
        }
        if (iou_ok && has_centre) {
            *px = x, *py = y, *pw = w, *ph = h;
            return;
        }
    }
    whole_canvas(cfg, rng, cw, ch, px, py, pw, ph);
}

nn_status ssd_augment(const image *src, const ssd_aug_box *boxes, int n,
                      const ssd_augment_config *cfg, transform_rng *rng, image *out,
                      ssd_aug_box *out_boxes, int *n_out, nn_error *err) {
    memset(out, 0, sizeof *out);
    *n_out = 0;
    if (!src || !src->pixels || src->channels != 3 || n < 0 || (n > 0 && (!boxes || !out_boxes)) ||
        cfg->out_w < 1 || cfg->out_h < 1 || cfg->out_w > IMAGE_MAX_SIDE ||
        cfg->out_h > IMAGE_MAX_SIDE)
        return nn_error_set(err, NN_ERR_ARG, "ssd_augment: need an RGB image and an output size");

    /* 1. photometric distortion, on a copy */
    image work = {0};
    const image *img = src;
    if (cfg->photometric_prob > 0 && transform_rng_chance(rng, cfg->photometric_prob)) {
        if (image_copy(src, &work, err) != NN_OK) return err->code;
        transform_color_jitter(&work, &cfg->jitter, rng);
        img = &work;
    }

    /* 2. zoom out: where the image sits on the imagined canvas */
    int cw = img->width, ch = img->height, ox = 0, oy = 0;
    if (cfg->expand_max > 1.0f && cfg->expand_prob > 0 &&
        transform_rng_chance(rng, cfg->expand_prob)) {
        float e = transform_rng_uniform(rng, 1.0f, cfg->expand_max);
        cw = (int)(img->width * e), ch = (int)(img->height * e);
        ox = transform_rng_int(rng, 0, cw - img->width);
        oy = transform_rng_int(rng, 0, ch - img->height);
    }
    for (int i = 0; i < n; i++) {
        out_boxes[i] = boxes[i];
        out_boxes[i].x1 += ox, out_boxes[i].x2 += ox;
        out_boxes[i].y1 += oy, out_boxes[i].y2 += oy;
    }

    /* 3. crop */
    int px, py, pw, ph;
    sample_patch(cfg, rng, cw, ch, out_boxes, n, &px, &py, &pw, &ph);
    image patch = {0};
    nn_status st = image_crop(img, px - ox, py - oy, pw, ph, cfg->fill, &patch, err);
    image_free(&work);
    if (st != NN_OK) return st;

    /* 4. resize */
    st = image_resize(&patch, cfg->out_w, cfg->out_h, out, err);
    image_free(&patch);
    if (st != NN_OK) return st;
    float sx = (float)cfg->out_w / pw, sy = (float)cfg->out_h / ph;

    /* 5. flip */
    bool flip = cfg->flip_prob > 0 && transform_rng_chance(rng, cfg->flip_prob);
    if (flip) image_flip_horizontal(out);

    int kept = 0;
    for (int i = 0; i < n; i++) {
        ssd_aug_box b = out_boxes[i];
        if (!centre_inside(&b, (float)px, (float)py, (float)(px + pw), (float)(py + ph))) continue;
        b.x1 = (fmaxf(b.x1, (float)px) - px) * sx;
        b.x2 = (fminf(b.x2, (float)(px + pw)) - px) * sx;
        b.y1 = (fmaxf(b.y1, (float)py) - py) * sy;
        b.y2 = (fminf(b.y2, (float)(py + ph)) - py) * sy;
        /* rounding of the scale must not push an edge past the output */
        b.x2 = fminf(b.x2, (float)cfg->out_w), b.y2 = fminf(b.y2, (float)cfg->out_h);
        if (flip) {
            float x1 = cfg->out_w - b.x2;
            b.x2 = cfg->out_w - b.x1;
            b.x1 = x1;
        }
        if (!(b.x2 > b.x1 && b.y2 > b.y1)) continue;
        if (fmaxf(b.x2 - b.x1, b.y2 - b.y1) < cfg->min_face_px) b.ignore = true;
        out_boxes[kept++] = b;
    }
    *n_out = kept;
    return NN_OK;
}
