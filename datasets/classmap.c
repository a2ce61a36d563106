/*
 * classmap.c - source class names to project class ids (table in classmap.h).
 */
#include "classmap.h"

#include <string.h>

classmap classmap_default(void) { return (classmap){false, false}; }

int classmap_n_classes(const classmap *map) { return map->incorrect_own_class ? 3 : 2; }

const char *classmap_class_name(int class_id) {
    static const char *names[CLASSMAP_MAX_CLASSES] = {"mask", "no_mask", "mask_incorrect"};
    return class_id >= 0 && class_id < CLASSMAP_MAX_CLASSES ? names[class_id] : "?";
}

static bool is_one_of(const char *name, const char *const *list) {
    for (; *list; list++)
        if (strcmp(name, *list) == 0) return true;
    return false;
}

int classmap_lookup(const classmap *map, const char *source_name) {
    static const char *const mask[] = {"with_mask", "face_with_mask", "mask", NULL};
    static const char *const no_mask[] = {"without_mask", "face_no_mask", "no_mask", NULL};
    static const char *const incorrect[] = {"mask_weared_incorrect", "face_with_mask_incorrect",
                                            "mask_incorrect", NULL};
    if (!source_name) return CLASSMAP_NOT_A_FACE;
    if (is_one_of(source_name, mask)) return CLASSMAP_MASK;
    if (is_one_of(source_name, no_mask)) return CLASSMAP_NO_MASK;
    if (is_one_of(source_name, incorrect))
        return map->incorrect_own_class ? CLASSMAP_INCORRECT : CLASSMAP_NO_MASK;
    if (strcmp(source_name, "face_other_covering") == 0)
        return map->other_covering_ignored ? CLASSMAP_NOT_A_FACE : CLASSMAP_NO_MASK;
    return CLASSMAP_NOT_A_FACE;
}
