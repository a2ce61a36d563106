/*
 * font.h - a small built-in bitmap font for printable ASCII (32..126).
 *
 * Each glyph is 5 x 9 pixels: capitals and digits use rows 0..6 (row 6 is
 * the baseline), descenders (g j p q y , ;) reach rows 7..8. Text is laid out
 * in 6 x 10 cells (one pixel of spacing right of and below each glyph) and
 * scaled by an integer factor. Characters outside 32..126 draw as '?'.
 */
#ifndef VISION_FONT_H
#define VISION_FONT_H

#include <stdbool.h>

#define FONT_GLYPH_W 5
#define FONT_GLYPH_H 9
#define FONT_CELL_W 6
#define FONT_CELL_H 10

/* Is pixel (col, row) of ch's glyph ink? false outside the 5 x 9 box. */
bool font_pixel(char ch, int col, int row);

/* Size in pixels of text drawn at `scale` (>= 1): lines split at '\n', width
 * of the longest line, without the spacing after the last column and row. */
void font_text_size(const char *text, int scale, int *width_px, int *height_px);

#endif
