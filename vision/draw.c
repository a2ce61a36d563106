/*
 * draw.c - clipped drawing primitives on interleaved 8-bit images: pixels,
 * filled and outlined rectangles, thick lines, bitmap-font text and label
 * boxes. All shapes are reduced to filled rectangles clipped once against the
 * image, so no primitive can write outside the pixel buffer.
 */
#include "draw.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

#include "font.h"

static bool drawable(const image *img) {
    return img && img->pixels && img->width > 0 && img->height > 0 &&
           (img->channels == 1 || img->channels == 3 || img->channels == 4);
}

/* The colour as the bytes of one pixel of this image. */
static void color_bytes(const image *img, draw_color c, uint8_t out[4]) {
    if (img->channels == 1) {
        out[0] = (uint8_t)((299 * c.r + 587 * c.g + 114 * c.b + 500) / 1000);
        return;
    }
    out[0] = c.r, out[1] = c.g, out[2] = c.b, out[3] = 255;
}

void draw_fill_rect(image *img, int x, int y, int w, int h, draw_color color) {
    if (!drawable(img) || w <= 0 || h <= 0) return;
    /* clip in 64-bit so x + w cannot overflow */
    long long x0 = x, y0 = y, x1 = (long long)x + w, y1 = (long long)y + h;
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    if (x1 > img->width) x1 = img->width;
    if (y1 > img->height) y1 = img->height;
    if (x0 >= x1 || y0 >= y1) return;
    uint8_t px[4];
    color_bytes(img, color, px);
    int c = img->channels;
    for (long long yy = y0; yy < y1; yy++) {
        uint8_t *p = img->pixels + ((size_t)yy * img->width + (size_t)x0) * c;
        for (long long xx = x0; xx < x1; xx++, p += c)
            for (int k = 0; k < c; k++) p[k] = px[k];
    }
}

void draw_pixel(image *img, int x, int y, draw_color color) {
    draw_fill_rect(img, x, y, 1, 1, color);
}

void draw_rect(image *img, int x, int y, int w, int h, int thickness, draw_color color) {
    if (w <= 0 || h <= 0 || thickness <= 0) return;
    if (2LL * thickness >= w || 2LL * thickness >= h) {
        draw_fill_rect(img, x, y, w, h, color);
        return;
    }
    int t = thickness;
    draw_fill_rect(img, x, y, w, t, color);                 /* top */
    draw_fill_rect(img, x, y + h - t, w, t, color);         /* bottom */
    draw_fill_rect(img, x, y + t, t, h - 2 * t, color);     /* left */
    draw_fill_rect(img, x + w - t, y + t, t, h - 2 * t, color); /* right */
}

/* Liang-Barsky: one parametric pass against the four edges. */
bool draw_clip_segment(double *x0, double *y0, double *x1, double *y1, double lo_x, double lo_y,
                         double hi_x, double hi_y) {
    double dx = *x1 - *x0, dy = *y1 - *y0, t0 = 0, t1 = 1;
    double p[4] = {-dx, dx, -dy, dy};
    double q[4] = {*x0 - lo_x, hi_x - *x0, *y0 - lo_y, hi_y - *y0};
    for (int i = 0; i < 4; i++) {
        if (p[i] == 0) {
            if (q[i] < 0) return false; /* parallel and outside */
            continue;
        }
        double t = q[i] / p[i];
        if (p[i] < 0 && t > t0) t0 = t;
        if (p[i] > 0 && t < t1) t1 = t;
    }
    if (t0 > t1) return false;
    double ax = *x0 + t0 * dx, ay = *y0 + t0 * dy;
    *x1 = *x0 + t1 * dx, *y1 = *y0 + t1 * dy;
    *x0 = ax, *y0 = ay;
    return true;
}

void draw_line(image *img, int x0, int y0, int x1, int y1, int thickness, draw_color color) {
    if (!drawable(img) || thickness <= 0) return;
    if (thickness > IMAGE_MAX_SIDE) thickness = IMAGE_MAX_SIDE;
    /* Clip to the image plus a brush-sized margin, so the loop below only
     * walks pixels that can show, whatever the end points. */
    double ax = x0, ay = y0, bx = x1, by = y1, m = thickness;
    if (!draw_clip_segment(&ax, &ay, &bx, &by, -m, -m, img->width - 1 + m, img->height - 1 + m))
        return;
    int xa = (int)lround(ax), ya = (int)lround(ay), xb = (int)lround(bx), yb = (int)lround(by);
    int dx = abs(xb - xa), dy = -abs(yb - ya);
    int sx = xa < xb ? 1 : -1, sy = ya < yb ? 1 : -1;
    int e = dx + dy, half = (thickness - 1) / 2;
    for (;;) {
        draw_fill_rect(img, xa - half, ya - half, thickness, thickness, color);
        if (xa == xb && ya == yb) break;
        int e2 = 2 * e;
        if (e2 >= dy) e += dy, xa += sx;
        if (e2 <= dx) e += dx, ya += sy;
    }
}

void draw_text(image *img, int x, int y, const char *text, int scale, draw_color color) {
    if (!drawable(img) || !text) return;
    if (scale < 1) scale = 1;
    long long pen_x = x, pen_y = y;
    for (const char *p = text; *p; p++) {
        if (*p == '\n') {
            pen_x = x;
            pen_y += (long long)FONT_CELL_H * scale;
            continue;
        }
        /* skip glyphs wholly outside (also keeps pen coordinates in int range) */
        if (pen_x < img->width && pen_y < img->height && pen_x + FONT_CELL_W * scale > 0 &&
            pen_y + FONT_CELL_H * scale > 0) {
            for (int row = 0; row < FONT_GLYPH_H; row++)
                for (int col = 0; col < FONT_GLYPH_W; col++)
                    if (font_pixel(*p, col, row))
                        draw_fill_rect(img, (int)pen_x + col * scale, (int)pen_y + row * scale,
                                       scale, scale, color);
        }
        pen_x += (long long)FONT_CELL_W * scale;
    }
}

void draw_label(image *img, int x, int y, const char *text, int scale, draw_color bg,
                draw_color fg) {
    if (!drawable(img) || !text) return;
    if (scale < 1) scale = 1;
    int text_w, text_h;
    font_text_size(text, scale, &text_w, &text_h);
    int pad = 2 * scale;
    int box_w = text_w + 2 * pad, box_h = text_h + 2 * pad;
    int top = y - box_h;
    if (top < 0) top = y; /* no room above: hang below the point */
    int left = x;
    if (left + box_w > img->width) left = img->width - box_w;
    if (left < 0) left = 0;
    draw_fill_rect(img, left, top, box_w, box_h, bg);
    draw_text(img, left + pad, top + pad, text, scale, fg);
}

draw_color draw_class_color(int class_id) {
    static const draw_color palette[10] = {
        {0, 200, 0},     /* green */
        {230, 20, 20},   /* red */
        {255, 150, 0},   /* orange */
        {30, 100, 255},  /* blue */
        {200, 0, 200},   /* magenta */
        {0, 200, 200},   /* cyan */
        {220, 200, 0},   /* yellow */
        {140, 80, 30},   /* brown */
        {120, 120, 255}, /* lavender */
        {0, 110, 60},    /* dark green */
    };
    if (class_id < 0) return (draw_color){128, 128, 128};
    return palette[class_id % 10];
}
