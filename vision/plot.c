/*
 * plot.c - bar charts and line plots drawn with draw.h into an RGB image.
 *
 * Layout of a chart inside its rectangle, top to bottom: title, y-axis label,
 * the plot area (grid, axes, data, legend), x tick labels, x-axis label. The
 * left margin is as wide as the widest y tick label. Data coordinates map
 * linearly (or log10 for log_y) onto the plot area's pixel range.
 */
#include "plot.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "font.h"

#define PLOT_MIN_W 100
#define PLOT_MIN_H 80
#define PLOT_DEFAULT_W 640
#define PLOT_DEFAULT_H 400

static const draw_color GRID = {225, 225, 225};
static const draw_color AXIS = {60, 60, 60};
static const draw_color BAR_BLUE = {60, 110, 200};
static const draw_color BAR_GREY = {150, 150, 150};

void plot_nice_ticks(double lo, double hi, int target, double *first, double *step, int *count) {
    if (!isfinite(lo) || !isfinite(hi)) lo = 0, hi = 1;
    if (hi <= lo) hi = lo + 1;
    if (target < 1) target = 1;
    double raw = (hi - lo) / target;
    double mag = pow(10.0, floor(log10(raw)));
    double norm = raw / mag;
    double s = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
    double f = ceil(lo / s - 1e-9) * s;
    *first = f;
    *step = s;
    *count = (int)floor((hi - f) / s + 1e-9) + 1;
}

/* Tick label with as many decimals as the step needs. */
static void format_tick(double v, double step, char *buf, size_t n) {
    if (fabs(v) < step * 1e-6) v = 0; /* no "-0" */
    if (fabs(v) >= 1e6 || (fabs(v) > 0 && fabs(v) < 1e-4)) {
        snprintf(buf, n, "%.3g", v);
        return;
    }
    int decimals = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    if (decimals > 6) decimals = 6;
    snprintf(buf, n, "%.*f", decimals, v);
}

static int text_w(const char *s, int scale) {
    int w;
    font_text_size(s, scale, &w, NULL);
    return w;
}

/* A linear (or log10) axis: data value -> pixel. */
typedef struct {
    double lo, hi;  /* in axis units (log10 of the value for log axes) */
    int px_lo, px_hi; /* pixel of lo and of hi */
    bool log;
} axis;

static double axis_px(const axis *a, double v) {
    double u = a->log ? log10(v) : v;
    return a->px_lo + (u - a->lo) / (a->hi - a->lo) * (a->px_hi - a->px_lo);
}

/* Ticks of an axis in axis units: first, step, count. Log axes tick at
 * whole decades (every second one past 8 decades). */
static void axis_ticks(const axis *a, int target, double *first, double *step, int *count) {
    if (a->log) {
        *step = a->hi - a->lo > 8 ? 2 : 1;
        *first = ceil(a->lo - 1e-9);
        *count = (int)floor((a->hi - *first) / *step + 1e-9) + 1;
        return;
    }
    plot_nice_ticks(a->lo, a->hi, target, first, step, count);
}

static void tick_label(const axis *a, double u, double step, char *buf, size_t n) {
    if (a->log) snprintf(buf, n, "%g", pow(10.0, u));
    else format_tick(u, step, buf, n);
}

/* Range for an axis: fixed if lo < hi, else the data widened to whole ticks. */
static void axis_range(axis *a, double data_lo, double data_hi, double fix_lo, double fix_hi,
                       int target) {
    if (fix_lo < fix_hi && (!a->log || fix_lo > 0)) {
        a->lo = a->log ? log10(fix_lo) : fix_lo;
        a->hi = a->log ? log10(fix_hi) : fix_hi;
        return;
    }
    if (!(data_lo <= data_hi)) data_lo = 0, data_hi = 1; /* no data */
    if (a->log) {
        a->lo = floor(log10(data_lo));
        a->hi = ceil(log10(data_hi));
        if (a->hi <= a->lo) a->hi = a->lo + 1;
        return;
    }
    if (data_hi == data_lo) {
        double pad = data_lo == 0 ? 1 : fabs(data_lo) * 0.5;
        data_lo -= pad, data_hi += pad;
    }
    double first, step;
    int count;
    plot_nice_ticks(data_lo, data_hi, target, &first, &step, &count);
    a->lo = floor(data_lo / step + 1e-9) * step;
    a->hi = ceil(data_hi / step - 1e-9) * step;
    if (a->hi <= a->lo) a->hi = a->lo + step;
}

/* The frame shared by both chart kinds. */
typedef struct {
    int left, top, right, bottom; /* plot area, inclusive pixel bounds */
    int scale;                    /* text scale */
    int line_h;                   /* one text line, pixels */
} frame;

static nn_status check_canvas(const image *canvas, int x, int y, int w, int h, nn_error *err) {
    if (!canvas || !canvas->pixels)
        return nn_error_set(err, NN_ERR_ARG, "plot: no canvas image");
    if (x < 0 || y < 0 || w <= 0 || h <= 0 || (long long)x + w > canvas->width ||
        (long long)y + h > canvas->height)
        return nn_error_set(err, NN_ERR_ARG,
                            "plot: rectangle %d,%d %dx%d is outside the %dx%d canvas", x, y, w, h,
                            canvas->width, canvas->height);
    if (w < PLOT_MIN_W || h < PLOT_MIN_H)
        return nn_error_set(err, NN_ERR_ARG, "plot: %dx%d is too small for a chart (min %dx%d)", w,
                            h, PLOT_MIN_W, PLOT_MIN_H);
    return NN_OK;
}

/*
 * Clears the rectangle, draws title and axis labels and works out the plot
 * area. y_tick_w is the width in pixels of the widest y tick label.
 */
static frame layout(image *canvas, int x, int y, int w, int h, const plot_options *opt,
                    int y_tick_w) {
    frame f;
    f.scale = opt->text_scale > 0 ? opt->text_scale : 1;
    f.line_h = FONT_CELL_H * f.scale;
    draw_fill_rect(canvas, x, y, w, h, DRAW_WHITE);
    int top = y + 6, bottom = y + h - 6;
    if (opt->title && *opt->title) {
        int ts = w >= 300 ? 2 * f.scale : f.scale, tw, th;
        font_text_size(opt->title, ts, &tw, &th);
        draw_text(canvas, x + (w - tw) / 2, top, opt->title, ts, DRAW_BLACK);
        top += th + 8;
    }
    int left = x + 8 + y_tick_w + 6;
    if (opt->y_label && *opt->y_label) {
        draw_text(canvas, x + 8, top, opt->y_label, f.scale, DRAW_BLACK);
        top += f.line_h + 8;
    } else {
        top += f.line_h / 2; /* room for the top tick label */
    }
    if (opt->x_label && *opt->x_label) {
        int lw = text_w(opt->x_label, f.scale);
        bottom -= f.line_h;
        draw_text(canvas, left + (x + w - 12 - left - lw) / 2, bottom + 2, opt->x_label, f.scale,
                  DRAW_BLACK);
        bottom -= 4;
    }
    bottom -= f.line_h + 6; /* x tick labels and tick marks */
    f.left = left;
    f.top = top;
    f.right = x + w - 12;
    f.bottom = bottom;
    return f;
}

/* Horizontal grid lines, y tick marks and labels. */
static void draw_y_axis(image *canvas, const frame *f, const axis *ya) {
    double first, step;
    int count;
    axis_ticks(ya, (f->bottom - f->top) / (3 * f->line_h) + 1, &first, &step, &count);
    for (int i = 0; i < count && i < 100; i++) {
        double u = first + i * step;
        int py = (int)lround(ya->px_lo +
                             (u - ya->lo) / (ya->hi - ya->lo) * (ya->px_hi - ya->px_lo));
        if (py < f->top - 1 || py > f->bottom + 1) continue;
        draw_line(canvas, f->left, py, f->right, py, 1, GRID);
        draw_line(canvas, f->left - 4, py, f->left, py, 1, AXIS);
        char buf[32];
        tick_label(ya, u, step, buf, sizeof buf);
        draw_text(canvas, f->left - 6 - text_w(buf, f->scale), py - 4 * f->scale, buf, f->scale,
                  DRAW_BLACK);
    }
}

/* Widest tick label of an axis (to size the left margin before layout). */
static int widest_tick(const axis *a, int target) {
    double first, step;
    int count, widest = 0;
    axis_ticks(a, target, &first, &step, &count);
    for (int i = 0; i < count && i < 100; i++) {
        char buf[32];
        tick_label(a, first + i * step, step, buf, sizeof buf);
        int w = text_w(buf, 1);
        if (w > widest) widest = w;
    }
    return widest;
}

static void draw_axes_lines(image *canvas, const frame *f) {
    draw_line(canvas, f->left, f->top, f->left, f->bottom, 1, AXIS);
    draw_line(canvas, f->left, f->bottom, f->right, f->bottom, 1, AXIS);
}

/* ---- bar chart ---------------------------------------------------------------- */

static void format_value(double v, char *buf, size_t n) {
    if (v == floor(v) && fabs(v) < 1e9) snprintf(buf, n, "%.0f", v);
    else snprintf(buf, n, "%.3g", v);
}

nn_status plot_bars(image *canvas, int x, int y, int w, int h, const plot_options *opt,
                    int n_bars, const char *const *labels, const double *values, nn_error *err) {
    nn_status st = check_canvas(canvas, x, y, w, h, err);
    if (st != NN_OK) return st;
    if (n_bars <= 0 || !values)
        return nn_error_set(err, NN_ERR_ARG, "plot_bars: no values (%d bars)", n_bars);
    plot_options defaults = {0};
    if (!opt) opt = &defaults;

    double lo = 0, hi = 0; /* bars grow from 0 */
    for (int i = 0; i < n_bars; i++)
        if (isfinite(values[i])) {
            if (values[i] < lo) lo = values[i];
            if (values[i] > hi) hi = values[i];
        }
    if (hi > 0) hi *= 1.08; /* headroom for the value written above the tallest bar */
    if (lo < 0) lo *= 1.08;
    axis ya = {.log = false};
    int target = h / 60 + 2;
    axis_range(&ya, lo, hi, opt->y_min, opt->y_max, target);
    int scale = opt->text_scale > 0 ? opt->text_scale : 1;
    frame f = layout(canvas, x, y, w, h, opt, widest_tick(&ya, target) * scale);
    if (f.bottom - f.top < 10 || f.right - f.left < 10)
        return nn_error_set(err, NN_ERR_ARG, "plot_bars: %dx%d leaves no room for bars", w, h);
    ya.px_lo = f.bottom, ya.px_hi = f.top;
    draw_y_axis(canvas, &f, &ya);

    double slot = (double)(f.right - f.left) / n_bars;
    int bar_w = (int)(slot * 0.7);
    if (bar_w < 1) bar_w = 1;
    /* label every k-th bar so that labels do not overlap */
    int widest = 0;
    char buf[64];
    for (int i = 0; i < n_bars; i++) {
        if (labels && labels[i]) snprintf(buf, sizeof buf, "%s", labels[i]);
        else snprintf(buf, sizeof buf, "%d", i);
        int lw = text_w(buf, f.scale);
        if (lw > widest) widest = lw;
    }
    int every = (int)ceil((widest + 6) / slot);
    if (every < 1) every = 1;

    int zero_py = (int)lround(axis_px(&ya, fmax(ya.lo, fmin(ya.hi, 0.0))));
    for (int i = 0; i < n_bars; i++) {
        int cx = f.left + (int)lround(slot * (i + 0.5));
        if (isfinite(values[i])) {
            double v = fmax(ya.lo, fmin(ya.hi, values[i]));
            int py = (int)lround(axis_px(&ya, v));
            int top = py < zero_py ? py : zero_py, bottom = py < zero_py ? zero_py : py;
            draw_color c = opt->color_per_bar ? draw_class_color(i) : BAR_BLUE;
            if (opt->bar_class)
                c = opt->bar_class[i] >= 0 ? draw_class_color(opt->bar_class[i]) : BAR_GREY;
            draw_fill_rect(canvas, cx - bar_w / 2, top, bar_w, bottom - top + 1, c);
            /* the value above the bar if it fits in the slot */
            format_value(values[i], buf, sizeof buf);
            int vw = text_w(buf, f.scale);
            if (vw <= slot - 2)
                draw_text(canvas, cx - vw / 2, top - f.line_h, buf, f.scale, DRAW_BLACK);
        }
        if (i % every == 0) {
            if (labels && labels[i]) snprintf(buf, sizeof buf, "%s", labels[i]);
            else snprintf(buf, sizeof buf, "%d", i);
            int lw = text_w(buf, f.scale);
            draw_text(canvas, cx - lw / 2, f.bottom + 6, buf, f.scale, DRAW_BLACK);
            draw_line(canvas, cx, f.bottom, cx, f.bottom + 3, 1, AXIS);
        }
    }
    draw_axes_lines(canvas, &f);
    return NN_OK;
}

/* ---- line plot ------------------------------------------------------------------ */

static draw_color series_color(const plot_series *s, int i) {
    if (s->color.r == 0 && s->color.g == 0 && s->color.b == 0) return draw_class_color(i);
    return s->color;
}

static void draw_legend(image *canvas, const frame *f, const plot_options *opt, int n_series,
                        const plot_series *series) {
    if (opt->legend == PLOT_LEGEND_NONE) return;
    int widest = 0, entries = 0;
    for (int i = 0; i < n_series; i++) {
        if (!series[i].name) continue;
        int w = text_w(series[i].name, f->scale);
        if (w > widest) widest = w;
        entries++;
    }
    if (!entries) return;
    int swatch = 16 * f->scale, pad = 5;
    int box_w = pad + swatch + 5 + widest + pad, box_h = pad + entries * f->line_h + pad - 1;
    bool right = opt->legend == PLOT_LEGEND_TOP_RIGHT || opt->legend == PLOT_LEGEND_BOTTOM_RIGHT;
    bool top = opt->legend == PLOT_LEGEND_TOP_RIGHT || opt->legend == PLOT_LEGEND_TOP_LEFT;
    int bx = right ? f->right - 6 - box_w : f->left + 6;
    int by = top ? f->top + 6 : f->bottom - 6 - box_h;
    draw_fill_rect(canvas, bx, by, box_w, box_h, DRAW_WHITE);
    draw_rect(canvas, bx, by, box_w, box_h, 1, (draw_color){170, 170, 170});
    int row = 0;
    for (int i = 0; i < n_series; i++) {
        if (!series[i].name) continue;
        int ty = by + pad + row * f->line_h;
        int mid = ty + 4 * f->scale;
        draw_line(canvas, bx + pad, mid, bx + pad + swatch, mid, 2, series_color(&series[i], i));
        draw_text(canvas, bx + pad + swatch + 5, ty, series[i].name, f->scale, DRAW_BLACK);
        row++;
    }
}

nn_status plot_lines(image *canvas, int x, int y, int w, int h, const plot_options *opt,
                     int n_series, const plot_series *series, nn_error *err) {
    nn_status st = check_canvas(canvas, x, y, w, h, err);
    if (st != NN_OK) return st;
    if (n_series < 0 || (n_series > 0 && !series))
        return nn_error_set(err, NN_ERR_ARG, "plot_lines: bad series list");
    plot_options defaults = {0};
    if (!opt) opt = &defaults;
    double x_lo = INFINITY, x_hi = -INFINITY, y_lo = INFINITY, y_hi = -INFINITY;
    for (int s = 0; s < n_series; s++) {
        const plot_series *ps = &series[s];
        if (ps->n_points < 0 || (ps->n_points > 0 && (!ps->x || !ps->y)))
            return nn_error_set(err, NN_ERR_ARG, "plot_lines: series %d (%s) has no data", s,
                                ps->name ? ps->name : "unnamed");
        for (int i = 0; i < ps->n_points; i++) {
            double px = ps->x[i], py = ps->y[i];
            if (!isfinite(px) || !isfinite(py) || (opt->log_y && py <= 0)) continue;
            x_lo = fmin(x_lo, px), x_hi = fmax(x_hi, px);
            y_lo = fmin(y_lo, py), y_hi = fmax(y_hi, py);
        }
    }
    axis xa = {.log = false}, ya = {.log = opt->log_y};
    int y_target = h / 60 + 2, x_target = w / 90 + 2;
    axis_range(&xa, x_lo, x_hi, opt->x_min, opt->x_max, x_target);
    axis_range(&ya, y_lo, y_hi, opt->y_min, opt->y_max, y_target);
    int scale = opt->text_scale > 0 ? opt->text_scale : 1;
    frame f = layout(canvas, x, y, w, h, opt, widest_tick(&ya, y_target) * scale);
    if (f.bottom - f.top < 10 || f.right - f.left < 10)
        return nn_error_set(err, NN_ERR_ARG, "plot_lines: %dx%d leaves no room to plot", w, h);
    xa.px_lo = f.left, xa.px_hi = f.right;
    ya.px_lo = f.bottom, ya.px_hi = f.top;
    draw_y_axis(canvas, &f, &ya);

    /* x ticks: vertical grid, marks and labels under the axis */
    double first, step;
    int count;
    axis_ticks(&xa, x_target, &first, &step, &count);
    for (int i = 0; i < count && i < 100; i++) {
        double u = first + i * step;
        int px = (int)lround(axis_px(&xa, u));
        if (px < f.left - 1 || px > f.right + 1) continue;
        draw_line(canvas, px, f.top, px, f.bottom, 1, GRID);
        draw_line(canvas, px, f.bottom, px, f.bottom + 3, 1, AXIS);
        char buf[32];
        format_tick(u, step, buf, sizeof buf);
        draw_text(canvas, px - text_w(buf, f.scale) / 2, f.bottom + 6, buf, f.scale, DRAW_BLACK);
    }

    int thickness = f.right - f.left >= 300 ? 2 : 1;
    for (int s = 0; s < n_series; s++) {
        const plot_series *ps = &series[s];
        draw_color c = series_color(ps, s);
        bool have_prev = false;
        double prev_x = 0, prev_y = 0;
        int drawn_points = 0;
        for (int i = 0; i < ps->n_points; i++) {
            double vx = ps->x[i], vy = ps->y[i];
            if (!isfinite(vx) || !isfinite(vy) || (ya.log && vy <= 0)) {
                have_prev = false; /* a gap */
                continue;
            }
            double px = axis_px(&xa, vx), py = axis_px(&ya, vy);
            if (have_prev) {
                double ax = prev_x, ay = prev_y, bx = px, by = py;
                if (draw_clip_segment(&ax, &ay, &bx, &by, f.left, f.top, f.right, f.bottom))
                    draw_line(canvas, (int)lround(ax), (int)lround(ay), (int)lround(bx),
                              (int)lround(by), thickness, c);
            }
            prev_x = px, prev_y = py, have_prev = true;
            drawn_points++;
        }
        /* a lone point has no line: mark it */
        if (drawn_points == 1 && prev_x >= f.left && prev_x <= f.right && prev_y >= f.top &&
            prev_y <= f.bottom)
            draw_fill_rect(canvas, (int)lround(prev_x) - 2, (int)lround(prev_y) - 2, 5, 5, c);
    }
    draw_axes_lines(canvas, &f);
    draw_legend(canvas, &f, opt, n_series, series);
    return NN_OK;
}

/* ---- straight to PNG ------------------------------------------------------------ */

static nn_status new_canvas(const plot_options *opt, image *canvas, nn_error *err) {
    int w = opt && opt->width_px > 0 ? opt->width_px : PLOT_DEFAULT_W;
    int h = opt && opt->height_px > 0 ? opt->height_px : PLOT_DEFAULT_H;
    return image_alloc(canvas, w, h, 3, err);
}

nn_status plot_bars_png(const char *path, const plot_options *opt, int n_bars,
                        const char *const *labels, const double *values, nn_error *err) {
    image canvas;
    nn_status st = new_canvas(opt, &canvas, err);
    if (st != NN_OK) return st;
    st = plot_bars(&canvas, 0, 0, canvas.width, canvas.height, opt, n_bars, labels, values, err);
    if (st == NN_OK) st = image_save(&canvas, path, 0, err);
    image_free(&canvas);
    return st;
}

nn_status plot_lines_png(const char *path, const plot_options *opt, int n_series,
                         const plot_series *series, nn_error *err) {
    image canvas;
    nn_status st = new_canvas(opt, &canvas, err);
    if (st != NN_OK) return st;
    st = plot_lines(&canvas, 0, 0, canvas.width, canvas.height, opt, n_series, series, err);
    if (st == NN_OK) st = image_save(&canvas, path, 0, err);
    image_free(&canvas);
    return st;
}
