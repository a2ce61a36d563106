/*
 * statschart.h - a data set's statistics drawn as a PNG bar chart
 * (faces per class, face-size histogram, faces per image).
 */
#ifndef DATASETS_STATSCHART_H
#define DATASETS_STATSCHART_H

#include "nn.h"
#include "stats.h"

nn_status statschart_write(const stats_summary *s, const char *png_path, nn_error *err);

#endif
