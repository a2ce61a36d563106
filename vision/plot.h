/*
 * plot.h - charts drawn into RGB images and saved as PNG: a bar chart
 * (class counts, size histograms) and a line plot of named series
 * (training curves, precision-recall curves), with axes, tick labels, grid,
 * title and legend, in the built-in font.
 *
 * Each chart can be drawn into a rectangle of an existing RGB canvas (to put
 * several charts in one picture) or straight into a new PNG file.
 */
#ifndef VISION_PLOT_H
#define VISION_PLOT_H

#include <stdbool.h>

#include "draw.h"
#include "image.h"

typedef enum {
    PLOT_LEGEND_TOP_RIGHT = 0,
    PLOT_LEGEND_TOP_LEFT,
    PLOT_LEGEND_BOTTOM_RIGHT,
    PLOT_LEGEND_BOTTOM_LEFT,
    PLOT_LEGEND_NONE,
} plot_legend;

/* Zero-initialise and set what you need: every field has a sensible 0. */
typedef struct {
    const char *title;        /* above the plot, NULL for none */
    const char *x_label;      /* under the x axis */
    const char *y_label;      /* above the y axis */
    int width_px, height_px;  /* *_png only: image size, 0 -> 640 x 400 */
    int text_scale;           /* font scale, 0 -> 1 (2 for the title) */
    /* Axis ranges: used when min < max, else taken from the data and
     * widened to round tick values. Bar charts use y_min/y_max only. */
    double x_min, x_max, y_min, y_max;
    bool log_y;               /* line plots: logarithmic y (values <= 0 skipped) */
    bool color_per_bar;       /* bar charts: draw_class_color(i) per bar, else one blue */
    const int *bar_class;     /* bar charts: if set, bar i has draw_class_color(bar_class[i]),
                                 grey where bar_class[i] < 0 (overrides color_per_bar) */
    plot_legend legend;       /* line plots: where the legend box goes */
} plot_options;

/* One bar per label, its value written above it. labels may be NULL
 * (bars numbered from 0); a NaN or infinite value draws no bar. */
nn_status plot_bars(image *canvas, int x, int y, int w, int h, const plot_options *opt,
                    int n_bars, const char *const *labels, const double *values, nn_error *err);
nn_status plot_bars_png(const char *path, const plot_options *opt, int n_bars,
                        const char *const *labels, const double *values, nn_error *err);

/* A named series of points joined by lines; a NaN y breaks the line.
 * color: all zero -> draw_class_color(series index). */
typedef struct {
    const char *name; /* legend entry; NULL keeps it out of the legend */
    int n_points;
    const double *x, *y;
    draw_color color;
} plot_series;

nn_status plot_lines(image *canvas, int x, int y, int w, int h, const plot_options *opt,
                     int n_series, const plot_series *series, nn_error *err);
nn_status plot_lines_png(const char *path, const plot_options *opt, int n_series,
                         const plot_series *series, nn_error *err);

/* Round tick positions covering [lo, hi]: about `target` steps of 1, 2 or 5
 * times a power of ten. Writes the first tick, the step and the count. */
void plot_nice_ticks(double lo, double hi, int target, double *first, double *step, int *count);

#endif
