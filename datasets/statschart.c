/*
 * statschart.c - draws stats_summary as bar charts into one PNG.
 * TODO: draw with vision/plot.h once the vision branch provides it.
 */
#include "statschart.h"

nn_status statschart_write(const stats_summary *s, const char *png_path, nn_error *err) {
    (void)s;
    return nn_error_set(err, NN_ERR_STATE, "%s: charts need vision/plot.h, not merged yet", png_path);
}
