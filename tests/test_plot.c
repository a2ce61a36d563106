/* test_plot.c - tick choice by hand, bar and line charts: PNG of the requested
 * size, bars of proportional height, a straight series drawn straight, charts
 * stay inside their rectangle, bad arguments. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plot.h"
#include "testutil.h"

static bool pixel_is(const image *img, int x, int y, draw_color c) {
    const uint8_t *p = img->pixels + ((size_t)y * img->width + x) * img->channels;
    return p[0] == c.r && p[1] == c.g && p[2] == c.b;
}

static int count_color(const image *img, draw_color c) {
    int n = 0;
    for (int y = 0; y < img->height; y++)
        for (int x = 0; x < img->width; x++) n += pixel_is(img, x, y, c);
    return n;
}

/* Height of the tallest run of colour c in any column. */
static int column_height(const image *img, draw_color c) {
    int best = 0;
    for (int x = 0; x < img->width; x++) {
        int n = 0;
        for (int y = 0; y < img->height; y++) n += pixel_is(img, x, y, c);
        if (n > best) best = n;
    }
    return best;
}

START_TEST(nice_ticks_by_hand) {
    double first, step;
    int count;
    plot_nice_ticks(0, 10, 5, &first, &step, &count);
    ck_assert_double_eq_tol(first, 0, 1e-12);
    ck_assert_double_eq_tol(step, 2, 1e-12);
    ck_assert_int_eq(count, 6); /* 0 2 4 6 8 10 */
    plot_nice_ticks(0.13, 0.97, 4, &first, &step, &count);
    ck_assert_double_eq_tol(first, 0.2, 1e-12);
    ck_assert_double_eq_tol(step, 0.2, 1e-12);
    ck_assert_int_eq(count, 4); /* 0.2 0.4 0.6 0.8 */
    plot_nice_ticks(-3, 7, 5, &first, &step, &count);
    ck_assert_double_eq_tol(first, -2, 1e-12);
    ck_assert_int_eq(count, 5); /* -2 0 2 4 6 */
    plot_nice_ticks(0, 3500, 6, &first, &step, &count);
    ck_assert_double_eq_tol(step, 500, 1e-9);
    plot_nice_ticks(5, 5, 5, &first, &step, &count); /* empty range: still ticks */
    ck_assert(step > 0 && count >= 1);
    plot_nice_ticks(NAN, 1, 5, &first, &step, &count);
    ck_assert(step > 0 && count >= 1);
}
END_TEST

START_TEST(bars_png_size_and_heights) {
    char path[] = "/tmp/test_plot_XXXXXX.png";
    int fd = mkstemps(path, 4);
    ck_assert_int_ge(fd, 0);
    close(fd);
    const char *labels[] = {"with_mask", "without_mask", "mask_weared_incorrect"};
    const double values[] = {300, 100, 0};
    plot_options opt = {.title = "Faces per class", .y_label = "faces", .x_label = "class",
                        .width_px = 500, .height_px = 320, .color_per_bar = true};
    nn_error err;
    ck_assert_msg(plot_bars_png(path, &opt, 3, labels, values, &err) == NN_OK, "%s", err.msg);
    image img;
    ck_assert_msg(image_load(path, 3, &img, &err) == NN_OK, "%s", err.msg);
    ck_assert_int_eq(img.width, 500);
    ck_assert_int_eq(img.height, 320);
    /* bars in the class colours, heights proportional to the values */
    int h0 = column_height(&img, draw_class_color(0));
    int h1 = column_height(&img, draw_class_color(1));
    ck_assert_msg(h0 > 100, "tallest bar only %d px", h0);
    ck_assert_msg(abs(h0 - 3 * h1) <= 3, "bar heights %d and %d, want 3:1", h0, h1);
    ck_assert_int_eq(count_color(&img, draw_class_color(2)), 0); /* value 0: no area */
    /* background white, text and axes dark */
    ck_assert(pixel_is(&img, 0, 0, DRAW_WHITE));
    ck_assert_int_gt(count_color(&img, DRAW_BLACK), 200);
    image_free(&img);
    unlink(path);
}
END_TEST

START_TEST(bars_many_and_odd_values) {
    nn_error err;
    image canvas;
    ck_assert_int_eq(image_alloc(&canvas, 400, 300, 3, &err), NN_OK);
    double values[40];
    for (int i = 0; i < 40; i++) values[i] = i % 7 == 0 ? NAN : (i - 10) * 1.5;
    values[3] = INFINITY;
    ck_assert_int_eq(plot_bars(&canvas, 0, 0, 400, 300, NULL, 40, NULL, values, &err), NN_OK);
    ck_assert_int_gt(count_color(&canvas, (draw_color){60, 110, 200}), 100);
    /* fixed y range clips the bars */
    plot_options opt = {.y_min = 0, .y_max = 10};
    ck_assert_int_eq(plot_bars(&canvas, 0, 0, 400, 300, &opt, 40, NULL, values, &err), NN_OK);
    image_free(&canvas);
}
END_TEST

/* y = x over fixed [0, 1] axes: every series pixel lies on the plot area's
 * diagonal, and the line spans the whole area. */
START_TEST(line_plot_straight_series) {
    nn_error err;
    image canvas;
    ck_assert_int_eq(image_alloc(&canvas, 420, 300, 3, &err), NN_OK);
    double xs[11], ys[11];
    for (int i = 0; i <= 10; i++) xs[i] = ys[i] = i / 10.0;
    const draw_color c = {200, 30, 160};
    plot_series s = {.name = "y=x", .n_points = 11, .x = xs, .y = ys, .color = c};
    plot_options opt = {.title = "diagonal", .x_label = "x", .y_label = "y", .x_min = 0,
                         .x_max = 1, .y_min = 0, .y_max = 1, .legend = PLOT_LEGEND_NONE};
    ck_assert_int_eq(plot_lines(&canvas, 0, 0, 420, 300, &opt, 1, &s, &err), NN_OK);
    int min_x = 9999, max_x = -1, min_y = 9999, max_y = -1, n = 0;
    for (int y = 0; y < 300; y++)
        for (int x = 0; x < 420; x++)
            if (pixel_is(&canvas, x, y, c)) {
                min_x = x < min_x ? x : min_x, max_x = x > max_x ? x : max_x;
                min_y = y < min_y ? y : min_y, max_y = y > max_y ? y : max_y;
                n++;
            }
    ck_assert_int_gt(n, 300);
    ck_assert_int_gt(max_x - min_x, 300); /* spans most of the width */
    /* distance of each pixel from the segment (min_x, max_y)-(max_x, min_y) */
    double dx = max_x - min_x, dy = min_y - max_y, len = sqrt(dx * dx + dy * dy);
    for (int y = 0; y < 300; y++)
        for (int x = 0; x < 420; x++)
            if (pixel_is(&canvas, x, y, c)) {
                double d = fabs(dy * (x - min_x) - dx * (y - max_y)) / len;
                ck_assert_msg(d <= 2.0, "pixel %d,%d is %.2f px off the line", x, y, d);
            }
    image_free(&canvas);
}
END_TEST

START_TEST(line_plot_legend_gaps_log) {
    char path[] = "/tmp/test_plot_XXXXXX.png";
    int fd = mkstemps(path, 4);
    ck_assert_int_ge(fd, 0);
    close(fd);
    double ep[20], train[20], val[20];
    for (int i = 0; i < 20; i++) {
        ep[i] = i + 1;
        train[i] = 2.0 * exp(-i / 5.0);
        val[i] = i == 7 ? NAN : 2.2 * exp(-i / 6.0);
    }
    val[12] = -1; /* skipped on a log axis */
    plot_series s[3] = {{"train", 20, ep, train, {0}}, {"val", 20, ep, val, {0}},
                        {"one point", 1, ep, train, {0}}};
    plot_options opt = {.title = "Loss", .x_label = "epoch", .y_label = "loss", .log_y = true};
    nn_error err;
    ck_assert_msg(plot_lines_png(path, &opt, 3, s, &err) == NN_OK, "%s", err.msg);
    image img;
    ck_assert_int_eq(image_load(path, 3, &img, &err), NN_OK);
    ck_assert_int_eq(img.width, 640); /* the default size */
    ck_assert_int_eq(img.height, 400);
    for (int i = 0; i < 3; i++) /* each series (and its legend swatch) shows */
        ck_assert_int_gt(count_color(&img, draw_class_color(i)), 20);
    image_free(&img);
    unlink(path);
}
END_TEST

START_TEST(chart_stays_in_its_rectangle) {
    nn_error err;
    image canvas;
    ck_assert_int_eq(image_alloc(&canvas, 500, 400, 3, &err), NN_OK); /* black */
    const double v[2] = {5, 8};
    ck_assert_int_eq(plot_bars(&canvas, 20, 30, 200, 150, NULL, 2, NULL, v, &err), NN_OK);
    double xs[2] = {0, 100}, ys[2] = {-50, 1e6};
    plot_series s = {"wild", 2, xs, ys, {0}};
    plot_options opt = {.y_min = 0, .y_max = 1}; /* the series leaves the range */
    ck_assert_int_eq(plot_lines(&canvas, 250, 200, 240, 180, &opt, 1, &s, &err), NN_OK);
    for (int y = 0; y < 400; y++)
        for (int x = 0; x < 500; x++) {
            bool in_a = x >= 20 && x < 220 && y >= 30 && y < 180;
            bool in_b = x >= 250 && x < 490 && y >= 200 && y < 380;
            if (!in_a && !in_b) ck_assert_msg(pixel_is(&canvas, x, y, DRAW_BLACK), "%d,%d", x, y);
        }
    int in_a = 0;
    for (int y = 30; y < 180; y++)
        for (int x = 20; x < 220; x++) in_a += !pixel_is(&canvas, x, y, DRAW_WHITE);
    ck_assert_int_gt(in_a, 500); /* bars, axes, labels */
    image_free(&canvas);
}
END_TEST

START_TEST(bad_arguments) {
    nn_error err;
    image canvas;
    ck_assert_int_eq(image_alloc(&canvas, 300, 200, 3, &err), NN_OK);
    const double v[1] = {1};
    ck_assert_int_eq(plot_bars(&canvas, 0, 0, 301, 200, NULL, 1, NULL, v, &err), NN_ERR_ARG);
    ck_assert_int_eq(plot_bars(&canvas, -1, 0, 100, 100, NULL, 1, NULL, v, &err), NN_ERR_ARG);
    ck_assert_int_eq(plot_bars(&canvas, 0, 0, 50, 40, NULL, 1, NULL, v, &err), NN_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(err.msg, "too small"));
    ck_assert_int_eq(plot_bars(&canvas, 0, 0, 300, 200, NULL, 0, NULL, v, &err), NN_ERR_ARG);
    ck_assert_int_eq(plot_bars(NULL, 0, 0, 300, 200, NULL, 1, NULL, v, &err), NN_ERR_ARG);
    plot_series s = {"no data", 3, NULL, NULL, {0}};
    ck_assert_int_eq(plot_lines(&canvas, 0, 0, 300, 200, NULL, 1, &s, &err), NN_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(err.msg, "no data"));
    /* no series at all: empty axes are fine */
    ck_assert_int_eq(plot_lines(&canvas, 0, 0, 300, 200, NULL, 0, NULL, &err), NN_OK);
    ck_assert_int_eq(plot_bars_png("/nonexistent-dir/x.png", NULL, 1, NULL, v, &err), NN_ERR_IO);
    image_free(&canvas);
}
END_TEST

Suite *plot_suite(void) {
    Suite *s = suite_create("plot");
    TCase *tc = tcase_create("plot");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, nice_ticks_by_hand);
    tcase_add_test(tc, bars_png_size_and_heights);
    tcase_add_test(tc, bars_many_and_odd_values);
    tcase_add_test(tc, line_plot_straight_series);
    tcase_add_test(tc, line_plot_legend_gaps_log);
    tcase_add_test(tc, chart_stays_in_its_rectangle);
    tcase_add_test(tc, bad_arguments);
    suite_add_tcase(s, tc);
    return s;
}
