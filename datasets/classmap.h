/*
 * classmap.h - maps the class names data sets use onto the project's classes.
 *
 * Project classes: 0 = mask, 1 = no_mask, and optionally 2 = mask_incorrect.
 *
 *   source name                         class
 *   with_mask, face_with_mask, mask     mask
 *   without_mask, face_no_mask, no_mask no_mask
 *   mask_weared_incorrect,              no_mask by default (a badly worn mask
 *   face_with_mask_incorrect,             does not protect), or mask_incorrect
 *   mask_incorrect                        when incorrect_own_class is set
 *   face_other_covering                 no_mask by default (scarf, hand, ...:
 *                                         not a mask), or ignored when
 *                                         other_covering_ignored is set
 *   anything else (mask_colorful,       CLASSMAP_NOT_A_FACE: objects, not faces
 *   face_shield, hat, ...)
 */
#ifndef DATASETS_CLASSMAP_H
#define DATASETS_CLASSMAP_H

#include <stdbool.h>

#define CLASSMAP_MASK 0
#define CLASSMAP_NO_MASK 1
#define CLASSMAP_INCORRECT 2
#define CLASSMAP_MAX_CLASSES 3
#define CLASSMAP_NOT_A_FACE (-1)

typedef struct {
    bool incorrect_own_class;    /* false: incorrectly worn masks count as no_mask */
    bool other_covering_ignored; /* true: face_other_covering is not used as a face */
} classmap;

/* The defaults above (both false). */
classmap classmap_default(void);
/* 2, or 3 with incorrect_own_class. */
int classmap_n_classes(const classmap *map);
/* "mask", "no_mask", "mask_incorrect"; "?" for an id out of range. */
const char *classmap_class_name(int class_id);
/* The class id for a source name, or CLASSMAP_NOT_A_FACE. */
int classmap_lookup(const classmap *map, const char *source_name);

#endif
