/*
 * draw.h - drawing on 8-bit images (image.h): rectangles, lines, text in the
 * built-in font (font.h), detection label boxes, and a colour per class.
 *
 * Everything is clipped to the image: any coordinates are safe. Colours are
 * RGB; on a grey image the grey value (299 R + 587 G + 114 B) / 1000 is used,
 * on an RGBA image the alpha channel is set to 255 where something is drawn.
 * Rectangles are given as top-left corner and size in pixels.
 */
#ifndef VISION_DRAW_H
#define VISION_DRAW_H

#include <stdbool.h>
#include <stdint.h>

#include "image.h"

typedef struct {
    uint8_t r, g, b;
} draw_color;

#define DRAW_BLACK ((draw_color){0, 0, 0})
#define DRAW_WHITE ((draw_color){255, 255, 255})

void draw_pixel(image *img, int x, int y, draw_color color);
void draw_fill_rect(image *img, int x, int y, int w, int h, draw_color color);
/* Outline of the rectangle; the border grows inward, `thickness` pixels wide
 * (a thickness of at least half the size gives a filled rectangle). */
void draw_rect(image *img, int x, int y, int w, int h, int thickness, draw_color color);
/* Straight line between two pixel centres (Bresenham), thickness >= 1 pixels
 * (a square brush centred on the line). */
void draw_line(image *img, int x0, int y0, int x1, int y1, int thickness, draw_color color);

/* Clips the segment (x0, y0)-(x1, y1) to the box [lo_x, hi_x] x [lo_y, hi_y]
 * in place; false when no part of it is inside. */
bool draw_clip_segment(double *x0, double *y0, double *x1, double *y1, double lo_x, double lo_y,
                       double hi_x, double hi_y);

/* Text with its top-left corner at (x, y), scaled by `scale` >= 1; '\n'
 * starts a new line. Only the glyph pixels are drawn (no background). */
void draw_text(image *img, int x, int y, const char *text, int scale, draw_color color);

/* A detection label: `text` on a filled box of colour `bg`, drawn with its
 * bottom-left corner at (x, y) (on top of a box whose top-left is x, y), or
 * below y when there is no room above, and moved left to stay in the image. */
void draw_label(image *img, int x, int y, const char *text, int scale, draw_color bg,
                draw_color fg);

/* A distinct colour for class `class_id` (cycles through a fixed palette of
 * 10; class 0 green, 1 red, 2 orange, ...). Negative ids give grey. */
draw_color draw_class_color(int class_id);

#endif
