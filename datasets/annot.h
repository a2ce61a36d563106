/*
 * annot.h - an annotated image set in memory, and the readers that fill it.
 *
 * One representation for every source format:
 *   - Pascal VOC XML: one .xml per image (annotations/X.xml <-> images/X.jpg,
 *     matched by file stem, since <filename> may name another extension);
 *   - the Kaggle "Face Mask Detection" JSON: one .json per image with
 *     FileName and Annotations[{classname, BoundingBox:[x1,y1,x2,y2]}];
 *   - class folders: ROOT/<class>/NAME.jpg, each image one face filling it.
 * Boxes are float pixels, 0 <= x1 < x2 <= width, 0 <= y1 < y2 <= height.
 * Each box keeps its source class name (an index into source_names) and its
 * project class id from a classmap (CLASSMAP_NOT_A_FACE for objects such as
 * "mask_colorful" in the JSON set: those are kept but are not faces).
 *
 * Bad input (a malformed file, a box outside the image, an annotation whose
 * image is missing) either stops the load with a message naming the file and
 * line, or, with skip_bad, is skipped and counted in the set's report.
 * Boxes reaching past the image edge are clamped; boxes with no area after
 * clamping are dropped; both are counted and are not errors.
 */
#ifndef DATASETS_ANNOT_H
#define DATASETS_ANNOT_H

#include <stdbool.h>
#include <stddef.h>

#include "classmap.h"
#include "nn.h"

typedef enum {
    ANNOT_FORMAT_AUTO = 0,
    ANNOT_FORMAT_VOC,
    ANNOT_FORMAT_JSON,
    ANNOT_FORMAT_FOLDERS,
} annot_format;

typedef struct {
    float x1, y1, x2, y2; /* pixels */
    int source_class;     /* index into annot_set.source_names */
    int class_id;         /* CLASSMAP_* id, or CLASSMAP_NOT_A_FACE */
} annot_box;

typedef struct {
    char *image_path;
    char *annotation_path; /* NULL for class folders */
    int width_px, height_px;
    annot_box *boxes;
    int n_boxes;
} annot_item;

#define ANNOT_MAX_MESSAGES 100

/* What was clamped, dropped or skipped while reading. */
typedef struct {
    size_t files_skipped;   /* malformed annotation files, unreadable images */
    size_t images_missing;  /* annotations whose image does not exist */
    size_t boxes_outside;   /* boxes inverted or wholly outside the image: skipped */
    size_t boxes_clamped;   /* boxes past an edge: clamped to the image */
    size_t boxes_zero_area; /* boxes with no area after clamping: dropped */
    size_t n_messages;      /* messages kept (the first ANNOT_MAX_MESSAGES problems) */
    size_t n_problems;      /* all problems, including those beyond the kept messages */
    char **messages;
} annot_report;

typedef struct {
    annot_format format;
    char *root;        /* the path that was loaded */
    annot_item *items; /* sorted by annotation (or image) file name */
    size_t n_items;
    char **source_names; /* in order of first appearance */
    int n_source_names;
    classmap map; /* the map class_id was computed with */
    annot_report report;
} annot_set;

typedef struct {
    annot_format format; /* ANNOT_FORMAT_AUTO: detect from the path */
    bool skip_bad;       /* false: stop at the first problem */
    classmap map;
    /* Called after each file when non-NULL (for progress on stderr). */
    void (*progress)(void *user, size_t done, size_t total);
    void *progress_user;
} annot_options;

annot_options annot_default_options(void);
const char *annot_format_name(annot_format format); /* "voc", "json", "folders", "auto" */
nn_status annot_parse_format(const char *name, annot_format *format, nn_error *err);

/* Guesses the format of a path: an annotations/ (or Annotations/) folder or the
 * path itself holding .xml -> voc, .json -> json; sub-folders holding images -> folders. */
nn_status annot_detect_format(const char *path, annot_format *format, nn_error *err);

/* Reads a data set. On failure *out is left empty (nothing to free). */
nn_status annot_load(const char *path, const annot_options *opt, annot_set *out, nn_error *err);
void annot_set_free(annot_set *set);

/* Recomputes every box's class_id with another map. */
void annot_apply_classmap(annot_set *set, const classmap *map);
/* Boxes that are faces (class_id >= 0). */
size_t annot_count_faces(const annot_set *set);

/* A photo's name: the file name of its annotation (of its image for class
 * folders) without the extension, pointed to inside the path, *len chars
 * long. Photos are matched and split by it. */
const char *annot_item_stem(const annot_item *item, size_t *len);
/* The same for any path. */
const char *annot_path_stem(const char *path, size_t *len);

#endif
