/*
 * annot.c - reading annotated image sets (Pascal VOC XML, Kaggle JSON, class
 * folders) into an annot_set. See annot.h for the formats and the bad-input
 * policy.
 *
 * Each reader handles one file and returns an error naming it; the loop in
 * annot_load decides whether an error stops the load or is counted and
 * skipped. Problems inside a file that do not spoil the rest of it (a box
 * outside the image) go through box_problem, which makes the same choice.
 */
#include "annot.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "imgsize.h"
#include "xml.h"

#define ANNOT_MAX_PATH 4096
#define ANNOT_MAX_JSON_BYTES ((size_t)16 << 20)
#define ANNOT_MAX_BOXES_PER_IMAGE 100000

/* ------------------------------------------------------------ small helpers */

static char *dup_string(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* "a/b" in a new string (NULL when out of memory or too long). */
static char *path_join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    if (n > ANNOT_MAX_PATH) return NULL;
    char *p = malloc(n);
    if (!p) return NULL;
    size_t dl = strlen(dir), nl = strlen(name);
    memcpy(p, dir, dl);
    if (dl && dir[dl - 1] != '/') p[dl++] = '/';
    memcpy(p + dl, name, nl + 1);
    return p;
}

static bool is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    if (k > n) return false;
    for (size_t i = 0; i < k; i++)
        if (tolower((unsigned char)s[n - k + i]) != tolower((unsigned char)suffix[i])) return false;
    return true;
}

typedef struct {
    char **names;
    size_t count, cap;
} name_list;

static void name_list_free(name_list *l) {
    for (size_t i = 0; i < l->count; i++)
        free(l->names[i]);
    free(l->names);
    memset(l, 0, sizeof *l);
}

static int compare_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

typedef enum { LIST_FILES_ENDING, LIST_IMAGES, LIST_SUBDIRS } list_kind;

/* Sorted entry names of dir (hidden entries skipped): files ending in suffix,
 * image files, or sub-directories. */
static nn_status list_dir(const char *dir, list_kind kind, const char *suffix, name_list *out,
                          nn_error *err) {
    memset(out, 0, sizeof *out);
    DIR *d = opendir(dir);
    if (!d) return nn_error_set(err, NN_ERR_IO, "%s: cannot open folder: %s", dir, strerror(errno));
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        bool wanted;
        if (kind == LIST_SUBDIRS || kind == LIST_IMAGES) {
            char *full = path_join(dir, e->d_name);
            if (!full) {
                closedir(d);
                name_list_free(out);
                return nn_error_set(err, NN_ERR_NOMEM, "%s: out of memory or path too long", dir);
            }
            wanted = kind == LIST_SUBDIRS ? is_dir(full)
                                          : is_file(full) && imgsize_is_image_name(e->d_name);
            free(full);
        } else {
            wanted = ends_with(e->d_name, suffix);
        }
        if (!wanted) continue;
        if (out->count == out->cap) {
            size_t cap = out->cap ? out->cap * 2 : 64;
            char **grown = realloc(out->names, cap * sizeof *grown);
            if (!grown) goto nomem;
            out->names = grown;
            out->cap = cap;
        }
        if (!(out->names[out->count] = dup_string(e->d_name))) goto nomem;
        out->count++;
    }
    closedir(d);
    if (out->count > 1) qsort(out->names, out->count, sizeof *out->names, compare_names);
    return NN_OK;
nomem:
    closedir(d);
    name_list_free(out);
    return nn_error_set(err, NN_ERR_NOMEM, "%s: out of memory listing the folder", dir);
}

static bool dir_has_files_ending(const char *dir, const char *suffix) {
    name_list l;
    nn_error ignored;
    if (list_dir(dir, LIST_FILES_ENDING, suffix, &l, &ignored)) return false;
    bool any = l.count > 0;
    name_list_free(&l);
    return any;
}

/* ------------------------------------------------------------------ formats */

annot_options annot_default_options(void) {
    annot_options o;
    memset(&o, 0, sizeof o);
    o.format = ANNOT_FORMAT_AUTO;
    o.map = classmap_default();
    return o;
}

const char *annot_format_name(annot_format format) {
    switch (format) {
    case ANNOT_FORMAT_VOC: return "voc";
    case ANNOT_FORMAT_JSON: return "json";
    case ANNOT_FORMAT_FOLDERS: return "folders";
    default: return "auto";
    }
}

nn_status annot_parse_format(const char *name, annot_format *format, nn_error *err) {
    static const annot_format all[] = {ANNOT_FORMAT_AUTO, ANNOT_FORMAT_VOC, ANNOT_FORMAT_JSON,
                                       ANNOT_FORMAT_FOLDERS};
    for (size_t i = 0; name && i < sizeof all / sizeof all[0]; i++)
        if (strcmp(name, annot_format_name(all[i])) == 0) {
            *format = all[i];
            return NN_OK;
        }
    return nn_error_set(err, NN_ERR_ARG,
                        "unknown format '%s' (expected voc, json, folders or auto)",
                        name ? name : "(null)");
}

/* The folder holding the annotation files: PATH/annotations, PATH/Annotations or PATH. */
static char *annotation_dir(const char *root) {
    static const char *names[] = {"annotations", "Annotations"};
    for (size_t i = 0; i < 2; i++) {
        char *p = path_join(root, names[i]);
        if (p && is_dir(p)) return p;
        free(p);
    }
    return dup_string(root);
}

nn_status annot_detect_format(const char *path, annot_format *format, nn_error *err) {
    if (!path || !format)
        return nn_error_set(err, NN_ERR_ARG, "annot_detect_format: NULL argument");
    if (!is_dir(path)) return nn_error_set(err, NN_ERR_IO, "%s: not a folder", path);
    char *adir = annotation_dir(path);
    if (!adir) return nn_error_set(err, NN_ERR_NOMEM, "out of memory");
    bool xml = dir_has_files_ending(adir, ".xml"), json = dir_has_files_ending(adir, ".json");
    free(adir);
    if (xml && json)
        return nn_error_set(err, NN_ERR_FORMAT,
                            "%s: holds both .xml and .json annotations; choose with --format",
                            path);
    if (xml) {
        *format = ANNOT_FORMAT_VOC;
        return NN_OK;
    }
    if (json) {
        *format = ANNOT_FORMAT_JSON;
        return NN_OK;
    }
    name_list subdirs;
    nn_status st = list_dir(path, LIST_SUBDIRS, NULL, &subdirs, err);
    if (st) return st;
    bool images = false;
    for (size_t i = 0; i < subdirs.count && !images; i++) {
        char *sub = path_join(path, subdirs.names[i]);
        name_list l;
        if (sub && list_dir(sub, LIST_IMAGES, NULL, &l, err) == NN_OK) {
            images = l.count > 0;
            name_list_free(&l);
        }
        free(sub);
    }
    name_list_free(&subdirs);
    if (images) {
        *format = ANNOT_FORMAT_FOLDERS;
        return NN_OK;
    }
    return nn_error_set(err, NN_ERR_FORMAT,
                        "%s: cannot tell the format: no .xml or .json annotations (in the folder "
                        "or its annotations/) and no class folders of images; use --format",
                        path);
}

/* ------------------------------------------------------------- the set */

static void report_add(annot_report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void report_add(annot_report *r, const char *fmt, ...) {
    r->n_problems++;
    if (r->n_messages >= ANNOT_MAX_MESSAGES) return;
    if (!r->messages) {
        r->messages = calloc(ANNOT_MAX_MESSAGES, sizeof *r->messages);
        if (!r->messages) return; /* losing a message is better than failing the load */
    }
    char buf[NN_ERROR_MSG_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    char *copy = dup_string(buf);
    if (copy) r->messages[r->n_messages++] = copy;
}

static void item_free(annot_item *it) {
    free(it->image_path);
    free(it->annotation_path);
    free(it->boxes);
    memset(it, 0, sizeof *it);
}

void annot_set_free(annot_set *set) {
    if (!set) return;
    for (size_t i = 0; i < set->n_items; i++)
        item_free(&set->items[i]);
    free(set->items);
    for (int i = 0; i < set->n_source_names; i++)
        free(set->source_names[i]);
    free(set->source_names);
    for (size_t i = 0; i < set->report.n_messages; i++)
        free(set->report.messages[i]);
    free(set->report.messages);
    free(set->root);
    memset(set, 0, sizeof *set);
}

/* The index of a source class name, added when new; -1 when out of memory. */
static int source_index(annot_set *set, const char *name) {
    for (int i = 0; i < set->n_source_names; i++)
        if (strcmp(set->source_names[i], name) == 0) return i;
    char **grown = realloc(set->source_names, (size_t)(set->n_source_names + 1) * sizeof *grown);
    if (!grown) return -1;
    set->source_names = grown;
    if (!(grown[set->n_source_names] = dup_string(name))) return -1;
    return set->n_source_names++;
}

static nn_status push_box(annot_item *it, int *cap, annot_box box, nn_error *err) {
    if (it->n_boxes >= ANNOT_MAX_BOXES_PER_IMAGE)
        return nn_error_set(err, NN_ERR_LIMIT, "%s: more than %d boxes", it->annotation_path,
                            ANNOT_MAX_BOXES_PER_IMAGE);
    if (it->n_boxes == *cap) {
        int new_cap = *cap ? *cap * 2 : 8;
        annot_box *grown = realloc(it->boxes, (size_t)new_cap * sizeof *grown);
        if (!grown) return nn_error_set(err, NN_ERR_NOMEM, "out of memory");
        it->boxes = grown;
        *cap = new_cap;
    }
    it->boxes[it->n_boxes++] = box;
    return NN_OK;
}

static nn_status push_item(annot_set *set, size_t *cap, annot_item *it, nn_error *err) {
    if (set->n_items == *cap) {
        size_t new_cap = *cap ? *cap * 2 : 256;
        annot_item *grown = realloc(set->items, new_cap * sizeof *grown);
        if (!grown) return nn_error_set(err, NN_ERR_NOMEM, "out of memory");
        set->items = grown;
        *cap = new_cap;
    }
    set->items[set->n_items++] = *it;
    memset(it, 0, sizeof *it);
    return NN_OK;
}

void annot_apply_classmap(annot_set *set, const classmap *map) {
    set->map = *map;
    for (size_t i = 0; i < set->n_items; i++)
        for (int b = 0; b < set->items[i].n_boxes; b++) {
            annot_box *box = &set->items[i].boxes[b];
            box->class_id = classmap_lookup(map, set->source_names[box->source_class]);
        }
}

size_t annot_count_faces(const annot_set *set) {
    size_t n = 0;
    for (size_t i = 0; i < set->n_items; i++)
        for (int b = 0; b < set->items[i].n_boxes; b++)
            n += set->items[i].boxes[b].class_id >= 0;
    return n;
}

/* ------------------------------------------------------------- readers */

typedef struct {
    const annot_options *opt;
    annot_set *set;
} reader;

/* A problem that spoils one box only: an error, or counted and skipped. */
static nn_status box_problem(reader *r, nn_error *err, const char *where, int line,
                             const char *what) {
    char at[64] = "";
    if (line > 0) snprintf(at, sizeof at, ":%d", line);
    if (!r->opt->skip_bad) return nn_error_set(err, NN_ERR_FORMAT, "%s%s: %s", where, at, what);
    r->set->report.boxes_outside++;
    report_add(&r->set->report, "%s%s: %s (box skipped)", where, at, what);
    return NN_OK;
}

/*
 * Checks a box against a w x h image and adds it to the item: inverted or
 * wholly outside -> box_problem; past an edge -> clamped; no area -> dropped.
 */
static nn_status add_box(reader *r, annot_item *it, int *cap, float x1, float y1, float x2,
                         float y2, const char *class_name, int line, nn_error *err) {
    annot_report *rep = &r->set->report;
    const char *where = it->annotation_path;
    char what[256];
    if (!isfinite(x1) || !isfinite(y1) || !isfinite(x2) || !isfinite(y2) || x2 < x1 || y2 < y1) {
        snprintf(what, sizeof what, "box (%g, %g, %g, %g) is inverted or not a number", x1, y1, x2,
                 y2);
        return box_problem(r, err, where, line, what);
    }
    float w = (float)it->width_px, h = (float)it->height_px;
    bool has_area = x2 > x1 && y2 > y1;
    if (has_area && (x2 <= 0 || y2 <= 0 || x1 >= w || y1 >= h)) {
        snprintf(what, sizeof what, "box (%g, %g, %g, %g) lies outside the %dx%d image", x1, y1, x2,
                 y2, it->width_px, it->height_px);
        return box_problem(r, err, where, line, what);
    }
    float cx1 = fmaxf(x1, 0), cy1 = fmaxf(y1, 0), cx2 = fminf(x2, w), cy2 = fminf(y2, h);
    if (cx1 != x1 || cy1 != y1 || cx2 != x2 || cy2 != y2) rep->boxes_clamped++;
    if (cx2 <= cx1 || cy2 <= cy1) {
        rep->boxes_zero_area++;
        return NN_OK;
    }
    int source = source_index(r->set, class_name);
    if (source < 0) return nn_error_set(err, NN_ERR_NOMEM, "out of memory");
    annot_box box = {cx1, cy1, cx2, cy2, source, classmap_lookup(&r->opt->map, class_name)};
    return push_box(it, cap, box, err);
}

/* Finds the image for a stem: in each dir, each extension. NULL if none. */
static char *find_image(char *const *dirs, size_t n_dirs, const char *stem) {
    static const char *exts[] = {".jpg", ".jpeg", ".png", ".bmp", ".JPG", ".JPEG", ".PNG"};
    char name[1024];
    for (size_t d = 0; d < n_dirs; d++) {
        if (!dirs[d]) continue;
        for (size_t e = 0; e < sizeof exts / sizeof exts[0]; e++) {
            if ((size_t)snprintf(name, sizeof name, "%s%s", stem, exts[e]) >= sizeof name)
                return NULL;
            char *p = path_join(dirs[d], name);
            if (p && is_file(p)) return p;
            free(p);
        }
    }
    return NULL;
}

/* Parses a VOC number element (<xmin>12</xmin>). */
static nn_status voc_number(const xml_node *parent, const char *name, const char *path, double *out,
                            nn_error *err) {
    const xml_node *n = xml_child(parent, name);
    if (!n)
        return nn_error_set(err, NN_ERR_FORMAT, "%s:%d: <%s> has no <%s>", path, parent->line,
                            parent->name, name);
    char *end = NULL;
    errno = 0;
    double v = strtod(n->text, &end);
    if (end == n->text || *end != '\0' || errno == ERANGE || !isfinite(v))
        return nn_error_set(err, NN_ERR_FORMAT, "%s:%d: <%s> is '%s', not a number", path, n->line,
                            name, n->text);
    *out = v;
    return NN_OK;
}

/* The image size from its header; checks it against the size the annotation states. */
static nn_status read_image_size(annot_item *it, int stated_w, int stated_h, int line,
                                 nn_error *err) {
    nn_status st = imgsize_read(it->image_path, &it->width_px, &it->height_px, err);
    if (st) return st;
    if (stated_w > 0 && (stated_w != it->width_px || stated_h != it->height_px))
        return nn_error_set(err, NN_ERR_FORMAT, "%s:%d: <size> says %dx%d but %s is %dx%d",
                            it->annotation_path, line, stated_w, stated_h, it->image_path,
                            it->width_px, it->height_px);
    return NN_OK;
}

/* One VOC XML file into *it. image_dirs are searched for the image by stem. */
static nn_status read_voc(reader *r, const char *xml_path, const char *stem,
                          char *const *image_dirs, size_t n_dirs, annot_item *it, nn_error *err) {
    xml_node *root = NULL;
    nn_status st = xml_parse_file(xml_path, &root, err);
    if (st) return st;
    if (!(it->annotation_path = dup_string(xml_path))) {
        st = nn_error_set(err, NN_ERR_NOMEM, "out of memory");
        goto done;
    }
    if (strcmp(root->name, "annotation") != 0) {
        st = nn_error_set(err, NN_ERR_FORMAT, "%s:%d: root element is <%s>, expected <annotation>",
                          xml_path, root->line, root->name);
        goto done;
    }
    const xml_node *size = xml_child(root, "size");
    double w = 0, h = 0;
    if (!size) {
        st = nn_error_set(err, NN_ERR_FORMAT, "%s:%d: <annotation> has no <size>", xml_path,
                          root->line);
        goto done;
    }
    if ((st = voc_number(size, "width", xml_path, &w, err)) ||
        (st = voc_number(size, "height", xml_path, &h, err)))
        goto done;
    if (w < 1 || h < 1 || w > 1e6 || h > 1e6 || w != floor(w) || h != floor(h)) {
        st = nn_error_set(err, NN_ERR_FORMAT, "%s:%d: bad image size %gx%g", xml_path, size->line,
                          w, h);
        goto done;
    }
    it->image_path = find_image(image_dirs, n_dirs, stem);
    if (!it->image_path) {
        st = nn_error_set(err, NN_ERR_NOT_FOUND, "%s: no image named %s.jpg/.png/... next to it",
                          xml_path, stem);
        goto done;
    }
    if ((st = read_image_size(it, (int)w, (int)h, size->line, err))) goto done;

    int cap = 0;
    for (const xml_node *obj = xml_child(root, "object"); obj; obj = xml_next_same(obj)) {
        const xml_node *name = xml_child(obj, "name"), *bb = xml_child(obj, "bndbox");
        if (!name || !name->text[0] || !bb) {
            st = nn_error_set(err, NN_ERR_FORMAT, "%s:%d: <object> needs a <name> and a <bndbox>",
                              xml_path, obj->line);
            goto done;
        }
        double x1, y1, x2, y2;
        if ((st = voc_number(bb, "xmin", xml_path, &x1, err)) ||
            (st = voc_number(bb, "ymin", xml_path, &y1, err)) ||
            (st = voc_number(bb, "xmax", xml_path, &x2, err)) ||
            (st = voc_number(bb, "ymax", xml_path, &y2, err)))
            goto done;
        if ((st = add_box(r, it, &cap, (float)x1, (float)y1, (float)x2, (float)y2, name->text,
                          bb->line, err)))
            goto done;
    }
done:
    xml_free(root);
    return st;
}

static nn_status read_whole_file(const char *path, char **out, size_t *len, nn_error *err) {
    return nn_read_file(path, ANNOT_MAX_JSON_BYTES, out, len, err);
}

/* 1-based line of byte offset pos in text. */
static int line_of(const char *text, size_t pos) {
    int line = 1;
    for (size_t i = 0; i < pos; i++)
        line += text[i] == '\n';
    return line;
}

/* One Kaggle JSON file into *it. The image is FileName (or the JSON name without
 * ".json") in image_dirs. Annotation errors name the file and the annotation index. */
static nn_status read_json(reader *r, const char *json_path, const char *json_name,
                           char *const *image_dirs, size_t n_dirs, annot_item *it, nn_error *err) {
    char *text = NULL;
    size_t len = 0;
    nn_status st = read_whole_file(json_path, &text, &len, err);
    if (st) return st;
    const char *parse_end = NULL;
    cJSON *doc = cJSON_ParseWithLengthOpts(text, len, &parse_end, 0);
    if (!doc) {
        size_t at = parse_end && parse_end >= text && parse_end <= text + len
                        ? (size_t)(parse_end - text)
                        : len;
        st =
            nn_error_set(err, NN_ERR_FORMAT, "%s:%d: malformed JSON", json_path, line_of(text, at));
        free(text);
        return st;
    }
    free(text);
    if (!(it->annotation_path = dup_string(json_path))) {
        st = nn_error_set(err, NN_ERR_NOMEM, "out of memory");
        goto done;
    }
    const cJSON *annotations = cJSON_GetObjectItemCaseSensitive(doc, "Annotations");
    if (!cJSON_IsObject(doc) || !cJSON_IsArray(annotations)) {
        st = nn_error_set(err, NN_ERR_FORMAT,
                          "%s: expected an object with an \"Annotations\" array", json_path);
        goto done;
    }
    const cJSON *file_name = cJSON_GetObjectItemCaseSensitive(doc, "FileName");
    char name[1024];
    if (cJSON_IsString(file_name) && file_name->valuestring[0]) {
        if (strchr(file_name->valuestring, '/') || strlen(file_name->valuestring) >= sizeof name) {
            st =
                nn_error_set(err, NN_ERR_FORMAT, "%s: FileName \"%.200s\" is not a plain file name",
                             json_path, file_name->valuestring);
            goto done;
        }
        snprintf(name, sizeof name, "%s", file_name->valuestring);
    } else {
        snprintf(name, sizeof name, "%.*s", (int)(strlen(json_name) - 5), json_name);
    }
    for (size_t d = 0; d < n_dirs && !it->image_path; d++) {
        char *p = image_dirs[d] ? path_join(image_dirs[d], name) : NULL;
        if (p && is_file(p))
            it->image_path = p;
        else
            free(p);
    }
    if (!it->image_path) {
        st = nn_error_set(err, NN_ERR_NOT_FOUND, "%s: its image %s is missing", json_path, name);
        goto done;
    }
    const cJSON *count = cJSON_GetObjectItemCaseSensitive(doc, "NumOfAnno");
    if (cJSON_IsNumber(count) && count->valuedouble != (double)cJSON_GetArraySize(annotations)) {
        st = nn_error_set(err, NN_ERR_FORMAT, "%s: NumOfAnno is %g but Annotations has %d entries",
                          json_path, count->valuedouble, cJSON_GetArraySize(annotations));
        goto done;
    }
    if ((st = read_image_size(it, 0, 0, 0, err))) goto done;

    int cap = 0, index = 0;
    const cJSON *a;
    cJSON_ArrayForEach(a, annotations) {
        const cJSON *cls = cJSON_GetObjectItemCaseSensitive(a, "classname");
        const cJSON *bb = cJSON_GetObjectItemCaseSensitive(a, "BoundingBox");
        double v[4];
        bool ok = cJSON_IsString(cls) && cls->valuestring[0] && cJSON_IsArray(bb) &&
                  cJSON_GetArraySize(bb) == 4;
        for (int k = 0; ok && k < 4; k++) {
            const cJSON *num = cJSON_GetArrayItem(bb, k);
            ok = cJSON_IsNumber(num);
            if (ok) v[k] = num->valuedouble;
        }
        if (!ok) {
            st = nn_error_set(err, NN_ERR_FORMAT,
                              "%s: Annotations[%d] needs a \"classname\" string and a "
                              "\"BoundingBox\" of 4 numbers",
                              json_path, index);
            goto done;
        }
        if ((st = add_box(r, it, &cap, (float)v[0], (float)v[1], (float)v[2], (float)v[3],
                          cls->valuestring, 0, err)))
            goto done;
        index++;
    }
done:
    cJSON_Delete(doc);
    return st;
}

/* One image in a class folder: a single face box covering the image. */
static nn_status read_folder_image(reader *r, const char *image_path, const char *class_name,
                                   annot_item *it, nn_error *err) {
    if (!(it->image_path = dup_string(image_path)))
        return nn_error_set(err, NN_ERR_NOMEM, "out of memory");
    nn_status st = imgsize_read(image_path, &it->width_px, &it->height_px, err);
    if (st) return st;
    int cap = 0;
    it->annotation_path = NULL;
    int source = source_index(r->set, class_name);
    if (source < 0) return nn_error_set(err, NN_ERR_NOMEM, "out of memory");
    annot_box box = {0,
                     0,
                     (float)it->width_px,
                     (float)it->height_px,
                     source,
                     classmap_lookup(&r->opt->map, class_name)};
    return push_box(it, &cap, box, err);
}

/* ------------------------------------------------------------- the load loop */

/* One file's failure: stop, or count and go on. Running out of memory always stops. */
static nn_status file_problem(reader *r, nn_status st, const nn_error *file_err, nn_error *err) {
    if (!r->opt->skip_bad || st == NN_ERR_NOMEM) {
        if (err && err != file_err) *err = *file_err;
        return st;
    }
    if (st == NN_ERR_NOT_FOUND)
        r->set->report.images_missing++;
    else
        r->set->report.files_skipped++;
    report_add(&r->set->report, "%s (skipped)", file_err->msg);
    return NN_OK;
}

static nn_status load_annotation_files(reader *r, const char *root, bool json, nn_error *err) {
    char *adir = annotation_dir(root);
    if (!adir) return nn_error_set(err, NN_ERR_NOMEM, "out of memory");
    char *parent = path_join(adir, "..");
    char *image_dirs[3] = {parent ? path_join(parent, "images") : NULL,
                           parent ? path_join(parent, "JPEGImages") : NULL, dup_string(adir)};
    free(parent);
    name_list files;
    nn_status st = list_dir(adir, LIST_FILES_ENDING, json ? ".json" : ".xml", &files, err);
    size_t cap = 0;
    for (size_t i = 0; st == NN_OK && i < files.count; i++) {
        char *path = path_join(adir, files.names[i]);
        if (!path) {
            st = nn_error_set(err, NN_ERR_NOMEM, "out of memory or path too long");
            break;
        }
        annot_item it = {0};
        nn_error file_err = {0};
        nn_status fst;
        if (json) {
            fst = read_json(r, path, files.names[i], image_dirs, 3, &it, &file_err);
        } else {
            char stem[1024];
            snprintf(stem, sizeof stem, "%.*s", (int)(strlen(files.names[i]) - 4), files.names[i]);
            fst = read_voc(r, path, stem, image_dirs, 3, &it, &file_err);
        }
        free(path);
        if (fst == NN_OK)
            st = push_item(r->set, &cap, &it, err);
        else
            st = file_problem(r, fst, &file_err, err);
        item_free(&it);
        if (r->opt->progress) r->opt->progress(r->opt->progress_user, i + 1, files.count);
    }
    name_list_free(&files);
    for (int d = 0; d < 3; d++)
        free(image_dirs[d]);
    free(adir);
    return st;
}

static nn_status load_folders(reader *r, const char *root, nn_error *err) {
    name_list classes;
    nn_status st = list_dir(root, LIST_SUBDIRS, NULL, &classes, err);
    if (st) return st;
    size_t cap = 0;
    for (size_t c = 0; st == NN_OK && c < classes.count; c++) {
        char *dir = path_join(root, classes.names[c]);
        name_list images;
        if (!dir) {
            st = nn_error_set(err, NN_ERR_NOMEM, "out of memory or path too long");
            break;
        }
        st = list_dir(dir, LIST_IMAGES, NULL, &images, err);
        for (size_t i = 0; st == NN_OK && i < images.count; i++) {
            char *path = path_join(dir, images.names[i]);
            if (!path) {
                st = nn_error_set(err, NN_ERR_NOMEM, "out of memory or path too long");
                break;
            }
            annot_item it = {0};
            nn_error file_err = {0};
            nn_status fst = read_folder_image(r, path, classes.names[c], &it, &file_err);
            free(path);
            if (fst == NN_OK)
                st = push_item(r->set, &cap, &it, err);
            else
                st = file_problem(r, fst, &file_err, err);
            item_free(&it);
            if (r->opt->progress) r->opt->progress(r->opt->progress_user, i + 1, images.count);
        }
        name_list_free(&images);
        free(dir);
    }
    name_list_free(&classes);
    return st;
}

nn_status annot_load(const char *path, const annot_options *opt, annot_set *out, nn_error *err) {
    if (!path || !out) return nn_error_set(err, NN_ERR_ARG, "annot_load: NULL argument");
    memset(out, 0, sizeof *out);
    annot_options defaults = annot_default_options();
    if (!opt) opt = &defaults;
    annot_format format = opt->format;
    nn_status st = NN_OK;
    if (!is_dir(path)) return nn_error_set(err, NN_ERR_IO, "%s: not a folder", path);
    if (format == ANNOT_FORMAT_AUTO && (st = annot_detect_format(path, &format, err))) return st;
    out->format = format;
    out->map = opt->map;
    if (!(out->root = dup_string(path))) return nn_error_set(err, NN_ERR_NOMEM, "out of memory");
    reader r = {opt, out};
    switch (format) {
    case ANNOT_FORMAT_VOC: st = load_annotation_files(&r, path, false, err); break;
    case ANNOT_FORMAT_JSON: st = load_annotation_files(&r, path, true, err); break;
    case ANNOT_FORMAT_FOLDERS: st = load_folders(&r, path, err); break;
    default: st = nn_error_set(err, NN_ERR_ARG, "annot_load: bad format %d", (int)format);
    }
    if (st == NN_OK && out->n_items == 0)
        st = nn_error_set(err, NN_ERR_NOT_FOUND, "%s: no annotated images found (format %s)", path,
                          annot_format_name(format));
    if (st) annot_set_free(out);
    return st;
}

const char *annot_path_stem(const char *path, size_t *len) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    *len = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    return base;
}

const char *annot_item_stem(const annot_item *item, size_t *len) {
    return annot_path_stem(item->annotation_path ? item->annotation_path : item->image_path, len);
}
