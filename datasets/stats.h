/*
 * stats.h - what is in an annotated set: images, faces per class (source and
 * project names), face sizes and faces per image, as a table, JSON or chart.
 */
#ifndef DATASETS_STATS_H
#define DATASETS_STATS_H

#include <stddef.h>
#include <stdio.h>

#include "annot.h"
#include "nn.h"

/* Face size = the longest box side in px: <16, 16-32, 32-64, 64-128, >=128. */
#define STATS_N_SIZE_BINS 5
/* Faces per image: 0, 1, 2, 3-5, 6-10, 11-20, >20. */
#define STATS_N_COUNT_BINS 7

typedef struct {
    size_t n_images;
    size_t n_faces;            /* boxes whose class maps to a project class */
    size_t n_objects;          /* other boxes (not faces) */
    int n_source;              /* = set->n_source_names */
    char *const *source_names; /* borrowed from the set: keep the set alive */
    size_t *per_source;        /* boxes per source name */
    int *source_class;         /* project class of each source name, < 0: not a face */
    int n_classes;
    size_t per_class[CLASSMAP_MAX_CLASSES];
    size_t size_bins[STATS_N_SIZE_BINS];
    size_t count_bins[STATS_N_COUNT_BINS];
    size_t max_faces_per_image;
} stats_summary;

extern const char *const stats_size_bin_names[STATS_N_SIZE_BINS];   /* "<16", "16-32", ... */
extern const char *const stats_count_bin_names[STATS_N_COUNT_BINS]; /* "0", "1", ... */

nn_status stats_compute(const annot_set *set, stats_summary *out, nn_error *err);
void stats_free(stats_summary *s);

/* A human-readable table. */
void stats_print_table(const stats_summary *s, const annot_set *set, FILE *out);
/* One JSON object: n_images, n_faces, n_objects, classes (source and project
 * names -> face count), source_classes, mapped_classes, size_histogram,
 * faces_per_image, skipped counts. Returns a malloc'd string or NULL. */
char *stats_to_json(const stats_summary *s, const annot_set *set);

#endif
