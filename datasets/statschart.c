/*
 * statschart.c - one PNG with three bar charts: boxes per class (source
 * names, then the project classes, marked "="), full width on top; face sizes
 * and faces per image side by side below. Drawn with vision/plot.
 */
#include "statschart.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "plot.h"

#define CHART_W 720 /* half the picture */
#define CHART_H 400

nn_status statschart_write(const stats_summary *s, const char *png_path, nn_error *err) {
    if (!s || !png_path) return nn_error_set(err, NN_ERR_ARG, "statschart_write: NULL argument");
    int n_class_bars = s->n_source + s->n_classes;
    const char **labels = malloc((size_t)(n_class_bars > 0 ? n_class_bars : 1) * sizeof *labels);
    double *values = malloc((size_t)(n_class_bars > 0 ? n_class_bars : 1) * sizeof *values);
    char(*names)[48] = malloc((size_t)(n_class_bars > 0 ? n_class_bars : 1) * sizeof *names);
    int *bar_class = malloc((size_t)(n_class_bars > 0 ? n_class_bars : 1) * sizeof *bar_class);
    image canvas = {0};
    nn_status st = NN_OK;
    if (!labels || !values || !names || !bar_class) {
        st = nn_error_set(err, NN_ERR_NOMEM, "statschart_write: out of memory");
        goto done;
    }
    /* Source names first, then the project classes they map to ("=mask"). */
    for (int i = 0; i < s->n_source; i++) {
        snprintf(names[i], sizeof names[i], "%s", s->source_names[i]);
        labels[i] = names[i];
        values[i] = (double)s->per_source[i];
        bar_class[i] = s->source_class ? s->source_class[i] : -1; /* coloured as its class */
    }
    for (int c = 0; c < s->n_classes; c++) {
        snprintf(names[s->n_source + c], sizeof names[0], "=%s", classmap_class_name(c));
        labels[s->n_source + c] = names[s->n_source + c];
        values[s->n_source + c] = (double)s->per_class[c];
        bar_class[s->n_source + c] = c;
    }
    double sizes[STATS_N_SIZE_BINS], counts[STATS_N_COUNT_BINS];
    for (int b = 0; b < STATS_N_SIZE_BINS; b++)
        sizes[b] = (double)s->size_bins[b];
    for (int b = 0; b < STATS_N_COUNT_BINS; b++)
        counts[b] = (double)s->count_bins[b];

    if ((st = image_alloc(&canvas, 2 * CHART_W, 2 * CHART_H, 3, err))) goto done;
    memset(canvas.pixels, 255, (size_t)canvas.width * (size_t)canvas.height * 3);
    plot_options opt;
    memset(&opt, 0, sizeof opt);
    opt.bar_class = bar_class;
    char title[96];
    snprintf(title, sizeof title, "boxes per class (%zu images)", s->n_images);
    opt.title = title;
    opt.y_label = "boxes";
    if ((st = plot_bars(&canvas, 0, 0, 2 * CHART_W, CHART_H, &opt, n_class_bars, labels, values,
                        err)))
        goto done;
    opt.bar_class = NULL;
    opt.title = "face size (longest side, px)";
    opt.y_label = "faces";
    if ((st = plot_bars(&canvas, 0, CHART_H, CHART_W, CHART_H, &opt, STATS_N_SIZE_BINS,
                        stats_size_bin_names, sizes, err)))
        goto done;
    opt.title = "faces per image";
    opt.y_label = "images";
    if ((st = plot_bars(&canvas, CHART_W, CHART_H, CHART_W, CHART_H, &opt, STATS_N_COUNT_BINS,
                        stats_count_bin_names, counts, err)))
        goto done;
    st = image_save(&canvas, png_path, 95, err);
done:
    image_free(&canvas);
    free(labels);
    free(values);
    free(names);
    free(bar_class);
    return st;
}
