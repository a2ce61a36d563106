/*
 * stats.c - counting faces, classes and sizes in an annot_set.
 */
#include "stats.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *const stats_size_bin_names[STATS_N_SIZE_BINS] = {"<16", "16-32", "32-64", "64-128",
                                                             ">=128"};
const char *const stats_count_bin_names[STATS_N_COUNT_BINS] = {"0",    "1",     "2",  "3-5",
                                                               "6-10", "11-20", ">20"};

static int size_bin(float longest_px) {
    if (longest_px < 16) return 0;
    if (longest_px < 32) return 1;
    if (longest_px < 64) return 2;
    if (longest_px < 128) return 3;
    return 4;
}

static int count_bin(size_t n) {
    if (n <= 2) return (int)n;
    if (n <= 5) return 3;
    if (n <= 10) return 4;
    if (n <= 20) return 5;
    return 6;
}

nn_status stats_compute(const annot_set *set, stats_summary *out, nn_error *err) {
    if (!set || !out) return nn_error_set(err, NN_ERR_ARG, "stats_compute: NULL argument");
    memset(out, 0, sizeof *out);
    out->n_source = set->n_source_names;
    out->source_names = set->source_names;
    out->n_classes = classmap_n_classes(&set->map);
    out->per_source =
        calloc(set->n_source_names > 0 ? (size_t)set->n_source_names : 1, sizeof *out->per_source);
    out->source_class =
        calloc(set->n_source_names > 0 ? (size_t)set->n_source_names : 1, sizeof *out->source_class);
    if (!out->per_source || !out->source_class) {
        stats_free(out);
        return nn_error_set(err, NN_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < set->n_source_names; i++)
        out->source_class[i] = classmap_lookup(&set->map, set->source_names[i]);
    out->n_images = set->n_items;
    for (size_t i = 0; i < set->n_items; i++) {
        const annot_item *it = &set->items[i];
        size_t faces = 0;
        for (int b = 0; b < it->n_boxes; b++) {
            const annot_box *box = &it->boxes[b];
            out->per_source[box->source_class]++;
            if (box->class_id < 0) {
                out->n_objects++;
                continue;
            }
            faces++;
            out->per_class[box->class_id]++;
            out->size_bins[size_bin(fmaxf(box->x2 - box->x1, box->y2 - box->y1))]++;
        }
        out->n_faces += faces;
        out->count_bins[count_bin(faces)]++;
        if (faces > out->max_faces_per_image) out->max_faces_per_image = faces;
    }
    return NN_OK;
}

void stats_free(stats_summary *s) {
    if (!s) return;
    free(s->per_source);
    free(s->source_class);
    memset(s, 0, sizeof *s);
}

static double percent(size_t part, size_t whole) {
    return whole ? 100.0 * (double)part / (double)whole : 0;
}

void stats_print_table(const stats_summary *s, const annot_set *set, FILE *out) {
    fprintf(out, "data set   %s (%s)\n", set->root, annot_format_name(set->format));
    fprintf(out, "images     %zu\n", s->n_images);
    fprintf(out, "faces      %zu (%.2f per image, at most %zu in one image)\n", s->n_faces,
            s->n_images ? (double)s->n_faces / (double)s->n_images : 0.0, s->max_faces_per_image);
    if (s->n_objects) fprintf(out, "objects    %zu (boxes that are not faces)\n", s->n_objects);
    fprintf(out, "\n%-28s %8s %7s  %s\n", "source class", "boxes", "%", "-> class");
    for (int i = 0; i < s->n_source; i++) {
        int id = classmap_lookup(&set->map, s->source_names[i]);
        fprintf(out, "%-28s %8zu %6.1f%%  %s\n", s->source_names[i], s->per_source[i],
                percent(s->per_source[i], s->n_faces + s->n_objects),
                id >= 0 ? classmap_class_name(id) : "(not a face)");
    }
    fprintf(out, "\n%-28s %8s %7s\n", "class", "faces", "%");
    for (int c = 0; c < s->n_classes; c++)
        fprintf(out, "%-28s %8zu %6.1f%%\n", classmap_class_name(c), s->per_class[c],
                percent(s->per_class[c], s->n_faces));
    fprintf(out, "\n%-28s %8s %7s\n", "face size (longest side px)", "faces", "%");
    for (int b = 0; b < STATS_N_SIZE_BINS; b++)
        fprintf(out, "%-28s %8zu %6.1f%%\n", stats_size_bin_names[b], s->size_bins[b],
                percent(s->size_bins[b], s->n_faces));
    fprintf(out, "\n%-28s %8s %7s\n", "faces per image", "images", "%");
    for (int b = 0; b < STATS_N_COUNT_BINS; b++)
        fprintf(out, "%-28s %8zu %6.1f%%\n", stats_count_bin_names[b], s->count_bins[b],
                percent(s->count_bins[b], s->n_images));
    const annot_report *r = &set->report;
    fprintf(out, "\nboxes clamped to the image %zu, zero-area boxes dropped %zu\n",
            r->boxes_clamped, r->boxes_zero_area);
    if (r->n_problems)
        fprintf(out, "skipped: %zu bad files, %zu missing images, %zu boxes outside the image\n",
                r->files_skipped, r->images_missing, r->boxes_outside);
}

char *stats_to_json(const stats_summary *s, const annot_set *set) {
    cJSON *o = cJSON_CreateObject();
    cJSON *classes = cJSON_CreateObject(), *source = cJSON_CreateObject(),
          *mapped = cJSON_CreateObject(), *sizes = cJSON_CreateObject(),
          *counts = cJSON_CreateObject(), *skipped = cJSON_CreateObject();
    char *text = NULL;
    if (!o || !classes || !source || !mapped || !sizes || !counts || !skipped) goto done;
    cJSON_AddStringToObject(o, "path", set->root);
    cJSON_AddStringToObject(o, "format", annot_format_name(set->format));
    cJSON_AddNumberToObject(o, "n_images", (double)s->n_images);
    cJSON_AddNumberToObject(o, "n_faces", (double)s->n_faces);
    cJSON_AddNumberToObject(o, "n_objects", (double)s->n_objects);
    /* "classes" holds both source and project names; when a name is both
     * (e.g. a class folder called "mask"), the source count is kept. */
    for (int c = 0; c < s->n_classes; c++) {
        cJSON_AddNumberToObject(mapped, classmap_class_name(c), (double)s->per_class[c]);
        cJSON_AddNumberToObject(classes, classmap_class_name(c), (double)s->per_class[c]);
    }
    for (int i = 0; i < s->n_source; i++) {
        cJSON_AddNumberToObject(source, s->source_names[i], (double)s->per_source[i]);
        if (cJSON_GetObjectItemCaseSensitive(classes, s->source_names[i]))
            cJSON_DeleteItemFromObjectCaseSensitive(classes, s->source_names[i]);
        cJSON_AddNumberToObject(classes, s->source_names[i], (double)s->per_source[i]);
    }
    for (int b = 0; b < STATS_N_SIZE_BINS; b++)
        cJSON_AddNumberToObject(sizes, stats_size_bin_names[b], (double)s->size_bins[b]);
    for (int b = 0; b < STATS_N_COUNT_BINS; b++)
        cJSON_AddNumberToObject(counts, stats_count_bin_names[b], (double)s->count_bins[b]);
    cJSON_AddNumberToObject(skipped, "files", (double)set->report.files_skipped);
    cJSON_AddNumberToObject(skipped, "missing_images", (double)set->report.images_missing);
    cJSON_AddNumberToObject(skipped, "boxes_outside", (double)set->report.boxes_outside);
    cJSON_AddNumberToObject(skipped, "boxes_zero_area", (double)set->report.boxes_zero_area);
    cJSON_AddNumberToObject(skipped, "boxes_clamped", (double)set->report.boxes_clamped);
    cJSON_AddItemToObject(o, "classes", classes);
    cJSON_AddItemToObject(o, "source_classes", source);
    cJSON_AddItemToObject(o, "mapped_classes", mapped);
    cJSON_AddItemToObject(o, "size_histogram", sizes);
    cJSON_AddItemToObject(o, "faces_per_image", counts);
    cJSON_AddNumberToObject(o, "max_faces_per_image", (double)s->max_faces_per_image);
    cJSON_AddItemToObject(o, "skipped", skipped);
    classes = source = mapped = sizes = counts = skipped = NULL;
    text = cJSON_PrintUnformatted(o);
done:
    cJSON_Delete(o);
    cJSON_Delete(classes);
    cJSON_Delete(source);
    cJSON_Delete(mapped);
    cJSON_Delete(sizes);
    cJSON_Delete(counts);
    cJSON_Delete(skipped);
    return text;
}
