/*
 * cmd_train_classifier.c - `maskdet train-classifier`: trains the mask /
 * no-mask face classifier (vision/classifier.h) on class folders and/or
 * annotated photos whose faces are cropped on the fly.
 *
 * One run: load every PATH, take one sample per face, split each set by
 * photo into train / validation with the seed (or validate on --val PATH),
 * then per epoch: train with augmentation, validate, append the epoch to the
 * history (CSV log and PNG curves), write the model file whenever the
 * validation balanced accuracy improves, and write a checkpoint. Everything
 * random is drawn from (seed, epoch, position), so a run resumed from its
 * checkpoint ends with the same weights as one never interrupted (same seed
 * and thread count).
 *
 * The checkpoint stores the command's arguments; `--resume CKPT` replays
 * them, then applies the options given now (e.g. a larger --epochs).
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "annot.h"
#include "classifier.h"
#include "classmap.h"
#include "cls_metrics.h"
#include "commands.h"
#include "loader.h"
#include "nn.h"
#include "ssd.h"
#include "train_common.h"

#define MAX_PATHS 8
#define MAX_NEGATIVE_FILES 4
/* The label of a --negatives sample: after mask (0) and no_mask (1), within the
 * loader's per-class counts and weights (CLASSMAP_MAX_CLASSES entries). */
#define CLASS_BACKGROUND 2
_Static_assert(CLASS_BACKGROUND < CLASSMAP_MAX_CLASSES, "counts and weights need the room");

typedef enum { BALANCE_NONE, BALANCE_WEIGHTS, BALANCE_SAMPLING } balance_mode;

typedef struct {
    const char *paths[MAX_PATHS];
    int n_paths;
    const char *val_path;
    float val_split;
    const char *negatives[MAX_NEGATIVE_FILES]; /* detections files: boxes on no labelled face */
    int n_negatives;
    float negative_iou;    /* a detection is a negative below this IoU with every face */
    const char *arch;
    int input_size; /* 0: the arch's default */
    int epochs, batch;
    int stop_after; /* 0, or stop after this epoch (to resume later) */
    nn_optim_type optim;
    float lr, momentum, weight_decay; /* NaN: the optimizer's default */
    nn_lr_kind schedule;
    float warmup_epochs, step_epochs, step_gamma, min_lr_factor;
    bool augment, flip;
    float gamma_min, gamma_max, rotate_deg, crop_jitter;
    transform_jitter jitter;
    balance_mode balance;
    int min_face_px;
    float margin, label_smoothing;
    unsigned long long seed;
    int threads;
    const char *out, *checkpoint, *resume, *log, *plot;
    nn_dtype dtype;
    int cache_mb;
    bool skip_bad;
} train_options;

static void usage(FILE *out) {
    fprintf(out,
            "usage: maskdet train-classifier PATH... -o OUT.nnw [options]\n"
            "       maskdet train-classifier --resume CKPT [options to change]\n"
            "\n"
            "Trains the mask / no-mask classifier. Each PATH is class folders\n"
            "(PATH/with_mask, PATH/without_mask) or annotated photos (VOC / Kaggle JSON)\n"
            "whose faces are cropped on the fly with --margin; several may be combined.\n"
            "The model file is written whenever validation balanced accuracy improves.\n"
            "\n"
            "data:\n"
            "  --val PATH              validate on this set (default: split each PATH)\n"
            "  --val-split F           fraction of each set's photos held out (0.15), by a\n"
            "                          hash of the photo's name: the split maskdet eval and\n"
            "                          train-detector use with the same --seed\n"
            "  --negatives FILE        adds a third class, background: the detections in\n"
            "                          FILE (JSON lines of `maskdet eval --save-detections`\n"
            "                          or `detect --json`; up to 4 files, each with its own\n"
            "                          --negatives) on photos of PATH that overlap no\n"
            "                          labelled face (IoU < --negative-iou). The pipeline then\n"
            "                          uses the classifier as a second check that a box is a face\n"
            "  --negative-iou X        (0.1) at 0.4, boxes that miss a face also count as\n"
            "                          background (maskdet eval counts them as false positives)\n"
            "  --min-face PX           skip faces whose longest side is below PX (16)\n"
            "  --margin F              context around a face box, fraction of its size (0.1)\n"
            "  --balance MODE          none | weights (class-weighted loss, default) |\n"
            "                          sampling (classes drawn equally often)\n"
            "  --skip-bad              skip malformed files instead of stopping\n"
            "  --cache-mb N            decoded face regions kept in memory (512)\n"
            "model and optimisation:\n"
            "  --arch seed|compact     network (compact)\n"
            "  --input-size PX         input side (arch default: compact 64, seed 124)\n"
            "  --epochs N (30)  --batch N (32)\n"
            "  --optim sgd|adam|adamw  (adamw)   --lr F (sgd 0.05, adam/adamw 0.002)\n"
            "  --momentum F (0.9, sgd) --weight-decay F (adamw 0.01, else 0.0005)\n"
            "  --schedule constant|step|cosine (cosine)   --warmup EPOCHS (1)\n"
            "  --step-epochs N (10) --step-gamma F (0.1) for the step schedule\n"
            "  --label-smoothing F (0)\n"
            "augmentation (training only):\n"
            "  --gamma MIN,MAX         random gamma as the original's adjust_gamma (0.6,1.6)\n"
            "  --no-flip               no horizontal flips\n"
            "  --jitter B,C,S,H        colour jitter (0.2,0.2,0.2,0.02)\n"
            "  --rotate DEG            random rotation in [-DEG, DEG] (10)\n"
            "  --crop-jitter F         face box shifted / scaled by up to F (0.1)\n"
            "  --no-augment            none of the above\n"
            "run:\n"
            "  -o, --output OUT.nnw    the best model (required)\n"
            "  --checkpoint PATH       checkpoint after each epoch (OUT.ckpt.nnw)\n"
            "  --resume CKPT           continue a run from its checkpoint\n"
            "  --log CSV  --plot PNG   per-epoch log and curves\n"
            "  --stop-after N          stop after epoch N (resume later with --resume)\n"
            "  --seed N (1)  --threads N (NN_THREADS or the core count)\n"
            "  --fp16                  store the model's weights as float16\n"
            "  -h, --help              this help\n");
}

static void default_options(train_options *o) {
    memset(o, 0, sizeof *o);
    o->val_split = 0.15f;
    o->negative_iou = 0.1f;
    o->arch = "compact";
    o->epochs = 30;
    o->batch = 32;
    o->optim = NN_OPTIM_ADAMW;
    o->lr = o->momentum = o->weight_decay = NAN;
    o->schedule = NN_LR_COSINE;
    o->warmup_epochs = 1;
    o->step_epochs = 10;
    o->step_gamma = 0.1f;
    o->min_lr_factor = 0.01f;
    o->augment = o->flip = true;
    o->gamma_min = 0.6f;
    o->gamma_max = 1.6f;
    o->rotate_deg = 10;
    o->crop_jitter = 0.1f;
    o->jitter = (transform_jitter){0.2f, 0.2f, 0.2f, 0.02f};
    o->balance = BALANCE_WEIGHTS;
    o->min_face_px = 16;
    o->margin = 0.1f;
    o->seed = 1;
    o->cache_mb = 512;
}

static bool parse_double(const char *text, double lo, double hi, double *out) {
    char *end = NULL;
    double v = strtod(text, &end);
    if (end == text || *end || !(v >= lo && v <= hi)) return false;
    *out = v;
    return true;
}

/* "a,b" or "a,b,c,d" into n floats, each in [lo, hi]. */
static bool parse_list(const char *text, int n, double lo, double hi, float *out) {
    const char *p = text;
    for (int i = 0; i < n; i++) {
        char *end;
        double v = strtod(p, &end);
        if (end == p || !(v >= lo && v <= hi)) return false;
        out[i] = (float)v;
        p = end;
        if (i + 1 < n) {
            if (*p != ',') return false;
            p++;
        }
    }
    return *p == '\0';
}

/* Parses argv[first..argc) into o. A first positional PATH clears the paths
 * o already has (so a resumed run may point at moved data). Returns 0, or 2
 * with a message on stderr; *help set for --help. */
static int parse_args(train_options *o, int argc, char **argv, int first, bool *help) {
    bool cleared_paths = false;
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        double d;
#define NEED_NUMBER(lo, hi, what)                                                           \
    do {                                                                                    \
        if (!v || !parse_double(v, lo, hi, &d)) {                                           \
            fprintf(stderr, "maskdet train-classifier: %s wants %s, got '%s'\n", a, what,     \
                    v ? v : "nothing");                                                     \
            return 2;                                                                       \
        }                                                                                   \
        i++;                                                                                \
    } while (0)
#define NEED_VALUE()                                                                        \
    do {                                                                                    \
        if (!v) {                                                                           \
            fprintf(stderr, "maskdet train-classifier: %s needs a value\n", a);             \
            return 2;                                                                       \
        }                                                                                   \
        i++;                                                                                \
    } while (0)
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            *help = true;
            return 0;
        } else if (!strcmp(a, "--val")) {
            NEED_VALUE();
            o->val_path = v;
        } else if (!strcmp(a, "--negatives")) {
            NEED_VALUE();
            bool known = false; /* a resumed run replays its stored arguments */
            for (int k = 0; k < o->n_negatives; k++) known |= !strcmp(o->negatives[k], v);
            if (!known && o->n_negatives == MAX_NEGATIVE_FILES) {
                fprintf(stderr, "maskdet train-classifier: at most %d --negatives files\n",
                        MAX_NEGATIVE_FILES);
                return 2;
            }
            if (!known) o->negatives[o->n_negatives++] = v;
        } else if (!strcmp(a, "--negative-iou")) {
            NEED_NUMBER(0.01, 0.5, "an IoU in [0.01, 0.5]");
            o->negative_iou = (float)d;
        } else if (!strcmp(a, "--val-split")) {
            NEED_NUMBER(0.001, 0.9, "a fraction in [0.001, 0.9]");
            o->val_split = (float)d;
        } else if (!strcmp(a, "--min-face")) {
            NEED_NUMBER(0, 100000, "pixels");
            o->min_face_px = (int)d;
        } else if (!strcmp(a, "--margin")) {
            NEED_NUMBER(0, 2, "a fraction in [0, 2]");
            o->margin = (float)d;
        } else if (!strcmp(a, "--balance")) {
            NEED_VALUE();
            if (!strcmp(v, "none"))
                o->balance = BALANCE_NONE;
            else if (!strcmp(v, "weights"))
                o->balance = BALANCE_WEIGHTS;
            else if (!strcmp(v, "sampling"))
                o->balance = BALANCE_SAMPLING;
            else {
                fprintf(stderr, "maskdet train-classifier: --balance none|weights|sampling\n");
                return 2;
            }
        } else if (!strcmp(a, "--skip-bad")) {
            o->skip_bad = true;
        } else if (!strcmp(a, "--cache-mb")) {
            NEED_NUMBER(0, 65536, "megabytes");
            o->cache_mb = (int)d;
        } else if (!strcmp(a, "--arch")) {
            NEED_VALUE();
            if (!classifier_default_input(v)) {
                fprintf(stderr, "maskdet train-classifier: unknown --arch '%s' (seed, compact)\n",
                        v);
                return 2;
            }
            o->arch = v;
        } else if (!strcmp(a, "--input-size")) {
            NEED_NUMBER(8, 1024, "pixels in [8, 1024]");
            o->input_size = (int)d;
        } else if (!strcmp(a, "--epochs")) {
            NEED_NUMBER(1, 100000, "a count");
            o->epochs = (int)d;
        } else if (!strcmp(a, "--stop-after")) {
            NEED_NUMBER(1, 100000, "an epoch");
            o->stop_after = (int)d;
        } else if (!strcmp(a, "--batch")) {
            NEED_NUMBER(2, 4096, "a count in [2, 4096]");
            o->batch = (int)d;
        } else if (!strcmp(a, "--optim")) {
            NEED_VALUE();
            if (!strcmp(v, "sgd"))
                o->optim = NN_OPTIM_SGD;
            else if (!strcmp(v, "adam"))
                o->optim = NN_OPTIM_ADAM;
            else if (!strcmp(v, "adamw"))
                o->optim = NN_OPTIM_ADAMW;
            else {
                fprintf(stderr, "maskdet train-classifier: --optim sgd|adam|adamw\n");
                return 2;
            }
        } else if (!strcmp(a, "--lr")) {
            NEED_NUMBER(1e-9, 10, "a learning rate in (0, 10]");
            o->lr = (float)d;
        } else if (!strcmp(a, "--momentum")) {
            NEED_NUMBER(0, 0.999, "a number in [0, 0.999]");
            o->momentum = (float)d;
        } else if (!strcmp(a, "--weight-decay")) {
            NEED_NUMBER(0, 1, "a number in [0, 1]");
            o->weight_decay = (float)d;
        } else if (!strcmp(a, "--schedule")) {
            NEED_VALUE();
            if (!strcmp(v, "constant"))
                o->schedule = NN_LR_CONSTANT;
            else if (!strcmp(v, "step"))
                o->schedule = NN_LR_STEP;
            else if (!strcmp(v, "cosine"))
                o->schedule = NN_LR_COSINE;
            else {
                fprintf(stderr, "maskdet train-classifier: --schedule constant|step|cosine\n");
                return 2;
            }
        } else if (!strcmp(a, "--warmup")) {
            NEED_NUMBER(0, 1000, "epochs");
            o->warmup_epochs = (float)d;
        } else if (!strcmp(a, "--step-epochs")) {
            NEED_NUMBER(0.01, 100000, "epochs");
            o->step_epochs = (float)d;
        } else if (!strcmp(a, "--step-gamma")) {
            NEED_NUMBER(0, 1, "a factor in [0, 1]");
            o->step_gamma = (float)d;
        } else if (!strcmp(a, "--label-smoothing")) {
            NEED_NUMBER(0, 0.5, "a number in [0, 0.5]");
            o->label_smoothing = (float)d;
        } else if (!strcmp(a, "--gamma")) {
            NEED_VALUE();
            float g[2];
            if (!parse_list(v, 2, 0.05, 20, g) || g[0] > g[1]) {
                fprintf(stderr, "maskdet train-classifier: --gamma MIN,MAX with 0.05 <= MIN <= "
                                "MAX <= 20, got '%s'\n", v);
                return 2;
            }
            o->gamma_min = g[0], o->gamma_max = g[1];
        } else if (!strcmp(a, "--no-flip")) {
            o->flip = false;
        } else if (!strcmp(a, "--jitter")) {
            NEED_VALUE();
            float j[4];
            if (!parse_list(v, 4, 0, 1, j) || j[3] > 0.5f) {
                fprintf(stderr, "maskdet train-classifier: --jitter B,C,S,H each in [0, 1], "
                                "H <= 0.5, got '%s'\n", v);
                return 2;
            }
            o->jitter = (transform_jitter){j[0], j[1], j[2], j[3]};
        } else if (!strcmp(a, "--rotate")) {
            NEED_NUMBER(0, 180, "degrees in [0, 180]");
            o->rotate_deg = (float)d;
        } else if (!strcmp(a, "--crop-jitter")) {
            NEED_NUMBER(0, 0.5, "a fraction in [0, 0.5]");
            o->crop_jitter = (float)d;
        } else if (!strcmp(a, "--no-augment")) {
            o->augment = false;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            NEED_VALUE();
            o->out = v;
        } else if (!strcmp(a, "--checkpoint")) {
            NEED_VALUE();
            o->checkpoint = v;
        } else if (!strcmp(a, "--resume")) {
            NEED_VALUE();
            o->resume = v;
        } else if (!strcmp(a, "--log")) {
            NEED_VALUE();
            o->log = v;
        } else if (!strcmp(a, "--plot")) {
            NEED_VALUE();
            o->plot = v;
        } else if (!strcmp(a, "--seed")) {
            NEED_NUMBER(0, 9007199254740992.0, "a non-negative integer");
            o->seed = (unsigned long long)d;
        } else if (!strcmp(a, "--threads")) {
            NEED_NUMBER(1, 256, "a count in [1, 256]");
            o->threads = (int)d;
        } else if (!strcmp(a, "--fp16")) {
            o->dtype = NN_DTYPE_F16;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "maskdet train-classifier: unknown option '%s' (see --help)\n", a);
            return 2;
        } else {
            if (!cleared_paths) o->n_paths = 0;
            cleared_paths = true;
            if (o->n_paths == MAX_PATHS) {
                fprintf(stderr, "maskdet train-classifier: at most %d data PATHs\n", MAX_PATHS);
                return 2;
            }
            o->paths[o->n_paths++] = a;
        }
#undef NEED_NUMBER
#undef NEED_VALUE
    }
    return 0;
}

/* ------------------------------------------------------------------ data */

typedef struct {
    annot_set sets[MAX_PATHS + 1];
    int n_sets;
    int n_classes; /* 2, or 3 with --negatives */
    loader_samples train, val;
    int *val_source; /* set index of each val sample */
} train_data;

static void data_free(train_data *d) {
    for (int i = 0; i < d->n_sets; i++)
        annot_set_free(&d->sets[i]);
    loader_samples_free(&d->train);
    loader_samples_free(&d->val);
    free(d->val_source);
    memset(d, 0, sizeof *d);
}

/* Appends src to dst (items copied), recording the source set of each. */
static nn_status append_samples(loader_samples *dst, const loader_samples *src, int **source,
                                int set_index, int group_offset, nn_error *err) {
    if (src->count == 0) return NN_OK;
    loader_sample *grown = realloc(dst->items, (dst->count + src->count) * sizeof *grown);
    if (!grown) return nn_error_set(err, NN_ERR_NOMEM, "out of memory for samples");
    dst->items = grown;
    if (source) {
        int *g = realloc(*source, (dst->count + src->count) * sizeof *g);
        if (!g) return nn_error_set(err, NN_ERR_NOMEM, "out of memory for samples");
        *source = g;
        for (size_t i = 0; i < src->count; i++)
            g[dst->count + i] = set_index;
    }
    for (size_t i = 0; i < src->count; i++) {
        dst->items[dst->count + i] = src->items[i];
        dst->items[dst->count + i].group += group_offset;
    }
    dst->count += src->count;
    return NN_OK;
}

/* One line of a detections file: adds each box of it that overlaps every face
 * of its photo (matched to an item of set by file stem) by less than max_iou
 * to out as background. */
static nn_status negatives_from_line(const cJSON *obj, const annot_set *set, float max_iou,
                                     loader_samples *out, const char *where, nn_error *err) {
    const cJSON *photo = cJSON_GetObjectItemCaseSensitive(obj, "image");
    const cJSON *dets = cJSON_GetObjectItemCaseSensitive(obj, "detections");
    if (!cJSON_IsString(photo) || !cJSON_IsArray(dets))
        return nn_error_set(err, NN_ERR_FORMAT, "%s: wants \"image\" and \"detections\"", where);
    size_t len;
    const char *name = annot_path_stem(photo->valuestring, &len);
    const annot_item *item = NULL;
    for (size_t i = 0; i < set->n_items && !item; i++) {
        const annot_item *it = &set->items[i];
        size_t ilen;
        const char *iname = annot_item_stem(it, &ilen);
        if (ilen == len && !memcmp(iname, name, len)) item = it;
    }
    if (!item || set->format == ANNOT_FORMAT_FOLDERS) return NN_OK; /* another set's photo */
    /* room for every box of the line at once (a file holds thousands of boxes) */
    size_t room = out->count + (size_t)cJSON_GetArraySize(dets);
    if (room > out->count) {
        loader_sample *grown = realloc(out->items, room * sizeof *grown);
        if (!grown) return nn_error_set(err, NN_ERR_NOMEM, "out of memory for negatives");
        out->items = grown;
    }
    const cJSON *d;
    cJSON_ArrayForEach(d, dets) {
        const cJSON *box = cJSON_GetObjectItemCaseSensitive(d, "box");
        float b[4];
        if (!cJSON_IsArray(box) || cJSON_GetArraySize(box) != 4)
            return nn_error_set(err, NN_ERR_FORMAT, "%s: a detection without a 4-number \"box\"",
                                where);
        for (int k = 0; k < 4; k++) {
            const cJSON *v = cJSON_GetArrayItem(box, k);
            if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
                return nn_error_set(err, NN_ERR_FORMAT, "%s: a box coordinate is not a number",
                                    where);
            b[k] = (float)v->valuedouble;
        }
        b[0] = fmaxf(b[0], 0), b[1] = fmaxf(b[1], 0);
        b[2] = fminf(b[2], (float)item->width_px), b[3] = fminf(b[3], (float)item->height_px);
        if (b[2] - b[0] < 2 || b[3] - b[1] < 2) continue; /* nothing left to crop */
        float worst = 0;
        for (int k = 0; k < item->n_boxes; k++) {
            const annot_box *g = &item->boxes[k];
            float face[4] = {g->x1, g->y1, g->x2, g->y2};
            if (g->class_id >= 0) worst = fmaxf(worst, ssd_iou(b, face));
        }
        if (worst >= max_iou) continue;
        out->items[out->count++] = (loader_sample){item->image_path, true,        b[0], b[1],
                                                   b[2],             b[3],        CLASS_BACKGROUND,
                                                   (int)(item - set->items)};
    }
    return NN_OK;
}

/* Adds the negatives of a detections file that fall on set's photos. */
static nn_status add_negatives(const char *path, const annot_set *set, float max_iou,
                               loader_samples *out, nn_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return nn_error_set(err, NN_ERR_IO, "%s: cannot open", path);
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    int line_no = 0;
    nn_status st = NN_OK;
    while (!st && (got = getline(&line, &cap, f)) >= 0) {
        line_no++;
        if (strspn(line, " \t\r\n") == (size_t)got) continue;
        char where[4200];
        snprintf(where, sizeof where, "%s:%d", path, line_no);
        cJSON *obj = cJSON_ParseWithLength(line, (size_t)got);
        if (!obj)
            st = nn_error_set(err, NN_ERR_FORMAT, "%s: not a JSON object", where);
        else
            st = negatives_from_line(obj, set, max_iou, out, where, err);
        cJSON_Delete(obj);
    }
    if (!st && ferror(f)) st = nn_error_set(err, NN_ERR_IO, "%s: read error", path);
    free(line);
    fclose(f);
    return st;
}

/* The negatives of every --negatives file, appended to out grouped by photo
 * (in set order; within a photo, file by file): several files, e.g. the
 * detector run at several input sizes, act as one. */
static nn_status add_all_negatives(const train_options *o, const annot_set *set,
                                   loader_samples *out, nn_error *err) {
    size_t first = out->count;
    for (int k = 0; k < o->n_negatives; k++) {
        nn_status st = add_negatives(o->negatives[k], set, o->negative_iou, out, err);
        if (st) return st;
    }
    size_t n = out->count - first;
    if (o->n_negatives < 2 || n < 2) return NN_OK;
    /* a stable counting sort by photo */
    size_t *start = calloc(set->n_items + 1, sizeof *start);
    loader_sample *sorted = malloc(n * sizeof *sorted);
    if (!start || !sorted) {
        free(start), free(sorted);
        return nn_error_set(err, NN_ERR_NOMEM, "out of memory for negatives");
    }
    for (size_t i = first; i < out->count; i++) start[out->items[i].group + 1]++;
    for (size_t g = 0; g < set->n_items; g++) start[g + 1] += start[g];
    for (size_t i = first; i < out->count; i++) sorted[start[out->items[i].group]++] = out->items[i];
    memcpy(out->items + first, sorted, n * sizeof *sorted);
    free(start), free(sorted);
    return NN_OK;
}

static nn_status load_set(const char *path, const train_options *o, annot_set *set,
                          nn_error *err) {
    annot_options ao = annot_default_options();
    ao.skip_bad = o->skip_bad;
    nn_status st = annot_load(path, &ao, set, err);
    if (st) return st;
    if (set->report.n_problems)
        fprintf(stderr, "%s: %zu problem(s) skipped\n", path, set->report.n_problems);
    return NN_OK;
}

/* Loads every set and splits each by photo (or takes --val whole). */
static nn_status load_data(const train_options *o, train_data *d, nn_error *err) {
    memset(d, 0, sizeof *d);
    nn_status st = NN_OK;
    int group_offset = 0;
    for (int i = 0; i < o->n_paths && !st; i++) {
        if ((st = load_set(o->paths[i], o, &d->sets[i], err))) break;
        d->n_sets++;
        loader_samples all, tr = {0}, va = {0};
        if ((st = loader_samples_from_set(&d->sets[i], o->min_face_px, &all, err))) break;
        size_t n_faces = all.count;
        if ((st = add_all_negatives(o, &d->sets[i], &all, err))) {
            loader_samples_free(&all);
            break;
        }
        if (o->val_path) {
            st = append_samples(&d->train, &all, NULL, i, group_offset, err);
        } else {
            st = loader_split_by_photo(&all, &d->sets[i], o->val_split, o->seed, &tr, &va, err);
            if (!st) st = append_samples(&d->train, &tr, NULL, i, group_offset, err);
            if (!st) st = append_samples(&d->val, &va, &d->val_source, i, group_offset, err);
        }
        fprintf(stderr, "%s: %zu faces (%s)", o->paths[i], n_faces,
                annot_format_name(d->sets[i].format));
        if (all.count > n_faces) fprintf(stderr, ", %zu negatives", all.count - n_faces);
        fputc('\n', stderr);
        group_offset += (int)d->sets[i].n_items;
        loader_samples_free(&all);
        loader_samples_free(&tr);
        loader_samples_free(&va);
    }
    if (!st && o->val_path) {
        int k = d->n_sets;
        if (!(st = load_set(o->val_path, o, &d->sets[k], err))) {
            d->n_sets++;
            loader_samples all;
            if (!(st = loader_samples_from_set(&d->sets[k], o->min_face_px, &all, err))) {
                st = add_all_negatives(o, &d->sets[k], &all, err);
                if (!st) st = append_samples(&d->val, &all, &d->val_source, k, group_offset, err);
                loader_samples_free(&all);
            }
        }
    }
    if (!st && d->train.count < 2)
        st = nn_error_set(err, NN_ERR_ARG, "%zu training faces: at least 2 are needed (check PATH "
                          "and --min-face)", d->train.count);
    if (!st && d->val.count == 0)
        st = nn_error_set(err, NN_ERR_ARG, "no validation faces (more data or --val PATH)");
    d->n_classes = o->n_negatives ? 3 : 2;
    d->train.n_classes = d->val.n_classes = d->n_classes;
    if (st) data_free(d);
    return st;
}

/* ------------------------------------------------------------ the model file */

static nn_status add_meta(nn_weights *w, const char *key, nn_error *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static nn_status add_meta(nn_weights *w, const char *key, nn_error *err, const char *fmt, ...) {
    char value[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(value, sizeof value, fmt, ap);
    va_end(ap);
    return nn_weights_set_meta(w, key, value, err);
}

/* Writes the inference model file: weights + how to run it + a summary. */
static nn_status save_model(const train_options *o, int side, const nn_model *m,
                            const train_state *st, int epoch, double val_acc, double val_bacc,
                            size_t n_train, size_t n_val, nn_error *err) {
    nn_weights *w = nn_weights_create();
    if (!w) return nn_error_set(err, NN_ERR_NOMEM, "out of memory");
    nn_status s = nn_model_to_weights(m, w, o->dtype, err);
    if (!s) s = nn_weights_set_meta(w, "kind", "classifier", err);
    if (!s) s = nn_weights_set_meta(w, "arch", o->arch, err);
    if (!s) s = add_meta(w, "input.width", err, "%d", side);
    if (!s) s = add_meta(w, "input.height", err, "%d", side);
    if (!s) s = nn_weights_set_meta(w, "input.channel_order", "rgb", err);
    if (!s) s = nn_weights_set_meta(w, "input.mean", "0,0,0", err);
    if (!s) s = add_meta(w, "input.scale", err, "%.9g,%.9g,%.9g", 1 / 255.0, 1 / 255.0, 1 / 255.0);
    if (!s)
        s = nn_weights_set_meta(w, "classes",
                                o->n_negatives ? "mask,no_mask,background" : "mask,no_mask",
                                err);
    if (!s) s = add_meta(w, "crop.margin", err, "%g", o->margin);
    if (!s) s = add_meta(w, "train.epoch", err, "%d", epoch);
    if (!s) s = add_meta(w, "train.epochs", err, "%d", o->epochs);
    if (!s) s = add_meta(w, "train.val_accuracy", err, "%.4f", val_acc);
    if (!s) s = add_meta(w, "train.val_balanced_accuracy", err, "%.4f", val_bacc);
    if (!s) s = add_meta(w, "train.samples", err, "%zu train, %zu val", n_train, n_val);
    if (!s) s = add_meta(w, "train.seed", err, "%llu", (unsigned long long)st->seed);
    if (!s && !o->val_path) s = add_meta(w, "train.val_split", err, "%g", o->val_split);
    /* how the photos were split: by a hash of their names (loader_split_by_photo) */
    if (!s && !o->val_path) s = nn_weights_set_meta(w, "train.split", "photo-hash", err);
    if (!s) s = add_meta(w, "train.min_face", err, "%d", o->min_face_px);
    if (!s) {
        char data[1024] = "";
        for (int i = 0; i < o->n_paths; i++) {
            size_t used = strlen(data);
            snprintf(data + used, sizeof data - used, "%s%s", i ? "," : "", o->paths[i]);
        }
        s = nn_weights_set_meta(w, "train.data", data, err);
    }
    if (!s) s = nn_weights_save(w, o->out, err);
    nn_weights_free(w);
    return s;
}

/* The arguments as a JSON array (kept in the checkpoint for --resume), less
 * the ones that only concern this invocation. */
static char *args_json(int argc, char **argv) {
    cJSON *arr = cJSON_CreateArray();
    for (int i = 1; arr && i < argc; i++) {
        if ((!strcmp(argv[i], "--resume") || !strcmp(argv[i], "--stop-after")) && i + 1 < argc) {
            i++;
            continue;
        }
        cJSON_AddItemToArray(arr, cJSON_CreateString(argv[i]));
    }
    char *text = arr ? cJSON_PrintUnformatted(arr) : NULL;
    cJSON_Delete(arr);
    return text;
}

/* Options that take no value; every other option takes one. */
static bool is_flag(const char *a) {
    return !strcmp(a, "--skip-bad") || !strcmp(a, "--no-flip") || !strcmp(a, "--no-augment") ||
           !strcmp(a, "--fp16") || !strcmp(a, "-h") || !strcmp(a, "--help");
}

/* Whether item i of an argument array is a data PATH (not an option or its value). */
static bool is_positional(const cJSON *arr, int i, const char *a) {
    if (!a || (a[0] == '-' && a[1])) return false;
    if (i == 0) return true;
    const char *prev = cJSON_GetArrayItem(arr, i - 1)->valuestring;
    return !(prev && prev[0] == '-' && prev[1] && !is_flag(prev));
}

/* ------------------------------------------------------------------ epochs */

typedef struct {
    nn_tensor *full, *part; /* batch inputs: a full batch, and the last short one */
} batch_inputs;

/* An input tensor holding the batch (count may be short in an epoch's last batch). */
static nn_tensor *batch_tensor(batch_inputs *bi, const loader_batch *b, int batch_size, int side) {
    nn_tensor **slot = b->count == batch_size ? &bi->full : &bi->part;
    if (*slot && (*slot)->shape[0] != b->count) {
        nn_tensor_free(*slot);
        *slot = NULL;
    }
    if (!*slot) *slot = nn_tensor_new4(b->count, 3, side, side);
    if (!*slot) return NULL;
    memcpy((*slot)->data, b->data, (*slot)->numel * sizeof(float));
    return *slot;
}

static int argmax(const float *v, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return best;
}

typedef struct {
    double loss, acc, bacc;
    cls_confusion per_source[MAX_PATHS + 1];
} val_result;

static nn_status validate(nn_model *m, nn_ctx *ctx, loader *ld, const train_data *d, int side,
                          int batch_size, batch_inputs *bi, val_result *r, nn_error *err) {
    nn_ctx_set_training(ctx, false);
    nn_ctx_set_grad_enabled(ctx, false);
    cls_confusion all;
    cls_confusion_init(&all, d->n_classes);
    for (int s = 0; s <= MAX_PATHS; s++)
        cls_confusion_init(&r->per_source[s], d->n_classes);
    double loss_sum = 0;
    size_t n = 0, batches = loader_batches_per_epoch(ld);
    train_progress p;
    train_progress_begin(&p, stderr, isatty(2), "  validate", batches);
    for (size_t k = 0; k < batches; k++) {
        const loader_batch *b;
        nn_status st = loader_next(ld, &b, err);
        if (st) return st;
        nn_tensor *x = batch_tensor(bi, b, batch_size, side);
        if (!x) return nn_error_set(err, NN_ERR_NOMEM, "out of memory for a batch");
        nn_ctx_reset(ctx);
        nn_tensor *logits = nn_model_forward(m, ctx, x);
        nn_tensor *loss = nn_cross_entropy(ctx, logits, b->labels, NULL, 0, NN_REDUCE_SUM);
        if (!loss) return nn_error_set(err, nn_ctx_status(ctx), "%s", nn_ctx_error(ctx));
        loss_sum += loss->data[0];
        for (int i = 0; i < b->count; i++) {
            int pred = argmax(logits->data + i * d->n_classes, d->n_classes);
            cls_confusion_add(&all, b->labels[i], pred);
            cls_confusion_add(&r->per_source[d->val_source[b->sample_ids[i]]], b->labels[i], pred);
        }
        n += (size_t)b->count;
        train_progress_update(&p, k + 1, n, 0, NULL);
    }
    cls_report rep;
    cls_report_compute(&all, &rep);
    r->loss = n ? loss_sum / (double)n : NAN;
    r->acc = rep.accuracy;
    r->bacc = rep.balanced_accuracy;
    train_metric mt[3] = {{"loss", r->loss}, {"acc", r->acc}, {"bacc", r->bacc}};
    train_progress_end(&p, n, 3, mt);
    return NN_OK;
}

/* ------------------------------------------------------------------ main */

static const char *const history_names[] = {"train_loss", "train_acc", "val_loss",
                                            "val_acc",    "val_bacc",  "lr"};
#define N_HISTORY 6

int cmd_train_classifier(int argc, char **argv) {
    train_options o;
    default_options(&o);
    bool help = false;
    int rc = parse_args(&o, argc, argv, 1, &help);
    if (rc) return rc;
    if (help) {
        usage(stdout);
        return 0;
    }
    nn_error err = {0};
    nn_weights *ckpt = NULL;
    cJSON *stored_args = NULL;
    char **stored_argv = NULL;
    if (o.resume) {
        if (train_checkpoint_load(o.resume, &ckpt, &err)) {
            fprintf(stderr, "maskdet train-classifier: %s\n", err.msg);
            return 1;
        }
        const char *text = nn_weights_meta(ckpt, "config.args");
        stored_args = text ? cJSON_Parse(text) : NULL;
        if (!cJSON_IsArray(stored_args)) {
            fprintf(stderr, "maskdet train-classifier: %s has no stored arguments\n", o.resume);
            rc = 1;
            goto out;
        }
        /* Replay the stored arguments, then today's. */
        int n = cJSON_GetArraySize(stored_args);
        stored_argv = calloc((size_t)n + 1, sizeof *stored_argv);
        if (!stored_argv) {
            rc = 1;
            goto out;
        }
        for (int i = 0; i < n; i++) {
            cJSON *item = cJSON_GetArrayItem(stored_args, i);
            stored_argv[i + 1] = cJSON_IsString(item) ? item->valuestring : "";
        }
        const char *resume = o.resume;
        default_options(&o);
        if ((rc = parse_args(&o, n + 1, stored_argv, 1, &help))) goto out;
        if ((rc = parse_args(&o, argc, argv, 1, &help))) goto out;
        o.resume = resume;
    }
    if (o.n_paths == 0) {
        fprintf(stderr, "maskdet train-classifier: missing data PATH (see --help)\n");
        rc = 2;
        goto out;
    }
    if (!o.out) {
        fprintf(stderr, "maskdet train-classifier: missing -o OUT.nnw (see --help)\n");
        rc = 2;
        goto out;
    }
    int side = o.input_size ? o.input_size : classifier_default_input(o.arch);
    if (!strcmp(o.arch, "compact") && side % 8) {
        fprintf(stderr, "maskdet train-classifier: compact needs --input-size a multiple of 8\n");
        rc = 2;
        goto out;
    }
    if (!strcmp(o.arch, "seed") && side < 12) {
        fprintf(stderr, "maskdet train-classifier: seed needs --input-size >= 12\n");
        rc = 2;
        goto out;
    }
    char ckpt_path[4096];
    if (o.checkpoint) {
        snprintf(ckpt_path, sizeof ckpt_path, "%s", o.checkpoint);
    } else {
        size_t len = strlen(o.out);
        if (len > 4 && !strcmp(o.out + len - 4, ".nnw")) len -= 4;
        snprintf(ckpt_path, sizeof ckpt_path, "%.*s.ckpt.nnw", (int)len, o.out);
    }
    if (o.threads) nn_threads_set(o.threads);

    train_data data;
    if (load_data(&o, &data, &err)) {
        fprintf(stderr, "maskdet train-classifier: %s\n", err.msg);
        rc = 1;
        goto out;
    }
    size_t counts[CLASSMAP_MAX_CLASSES];
    loader_class_counts(&data.train, counts);
    fprintf(stderr, "train: %zu samples (mask %zu, no_mask %zu", data.train.count, counts[0],
            counts[1]);
    if (data.n_classes > 2) fprintf(stderr, ", background %zu", counts[CLASS_BACKGROUND]);
    fprintf(stderr, "); val: %zu samples\n", data.val.count);
    float class_weights[CLASSMAP_MAX_CLASSES];
    loader_class_weights(&data.train, class_weights);

    nn_model *m = NULL;
    nn_optim *opt = NULL;
    nn_ctx *ctx = NULL;
    loader *train_ld = NULL, *val_ld = NULL;
    nn_weights *config = NULL;
    batch_inputs bi = {0};
    train_history hist = {0};
    rc = 1;
    if (classifier_build(o.arch, side, data.n_classes, &m, &err)) {
        fprintf(stderr, "maskdet train-classifier: %s\n", err.msg);
        goto done;
    }
    nn_model_init(m, o.seed);
    nn_optim_config oc = nn_optim_default(o.optim);
    oc.lr = !isnan(o.lr) ? o.lr : o.optim == NN_OPTIM_SGD ? 0.05f : 0.002f;
    if (o.optim == NN_OPTIM_SGD) oc.momentum = !isnan(o.momentum) ? o.momentum : 0.9f;
    oc.weight_decay = !isnan(o.weight_decay)         ? o.weight_decay
                      : o.optim == NN_OPTIM_ADAMW ? 0.01f
                                                  : 5e-4f;
    opt = nn_optim_create_for_model(&oc, m);
    ctx = nn_ctx_create();
    if (!opt || !ctx) {
        fprintf(stderr, "maskdet train-classifier: out of memory\n");
        goto done;
    }
    train_state state = train_state_initial(o.seed);
    if (ckpt) {
        if (train_checkpoint_restore(ckpt, m, opt, &state, &hist, &err)) {
            fprintf(stderr, "maskdet train-classifier: %s: %s\n", o.resume, err.msg);
            goto done;
        }
        if (hist.n_series == 0 &&
            train_history_init(&hist, N_HISTORY, history_names, &err) != NN_OK)
            goto done;
        fprintf(stderr, "resuming %s after epoch %d (best val balanced accuracy %.4f at epoch %d)\n",
                o.resume, state.epoch, state.best_metric, state.best_epoch);
    } else if (train_history_init(&hist, N_HISTORY, history_names, &err)) {
        goto done;
    }

    /* the configuration kept in each checkpoint */
    config = nn_weights_create();
    char *args = args_json(argc, argv);
    if (ckpt && args) {
        /* The stored arguments followed by today's; stored PATHs go when new ones are given. */
        cJSON *now = cJSON_Parse(args), *merged = cJSON_CreateArray();
        bool new_paths = false;
        for (int i = 0; now && i < cJSON_GetArraySize(now); i++) {
            const char *a = cJSON_GetArrayItem(now, i)->valuestring;
            new_paths |= is_positional(now, i, a);
        }
        for (int i = 0; merged && i < cJSON_GetArraySize(stored_args); i++) {
            const char *a = cJSON_GetArrayItem(stored_args, i)->valuestring;
            if (!new_paths || !is_positional(stored_args, i, a))
                cJSON_AddItemToArray(merged, cJSON_CreateString(a));
        }
        for (int i = 0; merged && now && i < cJSON_GetArraySize(now); i++)
            cJSON_AddItemToArray(merged,
                                 cJSON_CreateString(cJSON_GetArrayItem(now, i)->valuestring));
        free(args);
        args = merged ? cJSON_PrintUnformatted(merged) : NULL;
        cJSON_Delete(merged);
        cJSON_Delete(now);
    }
    if (!config || !args || nn_weights_set_meta(config, "config.args", args, &err) ||
        nn_weights_set_meta(config, "config.arch", o.arch, &err)) {
        free(args);
        fprintf(stderr, "maskdet train-classifier: out of memory\n");
        goto done;
    }
    free(args);

    loader_config lc = loader_default_config();
    lc.input_w = lc.input_h = side;
    lc.batch_size = o.batch;
    lc.seed = o.seed;
    lc.margin = o.margin;
    lc.balance = o.balance == BALANCE_SAMPLING;
    lc.augment_on = o.augment;
    lc.augment.flip = o.flip;
    lc.augment.gamma_min = o.gamma_min;
    lc.augment.gamma_max = o.gamma_max;
    lc.augment.jitter = o.jitter;
    lc.augment.rotate_deg = o.rotate_deg;
    lc.augment.crop_jitter = o.crop_jitter;
    lc.cache_bytes = (size_t)o.cache_mb << 20;
    lc.start_epoch = state.epoch;
    loader_config vc = lc;
    vc.shuffle = vc.balance = vc.augment_on = false;
    vc.start_epoch = 0;
    vc.cache_bytes = lc.cache_bytes / 4;
    if (loader_create(&data.train, &lc, &train_ld, &err) ||
        loader_create(&data.val, &vc, &val_ld, &err)) {
        fprintf(stderr, "maskdet train-classifier: %s\n", err.msg);
        goto done;
    }
    size_t steps_per_epoch = loader_batches_per_epoch(train_ld);
    nn_lr_schedule sched = {0};
    sched.kind = o.schedule;
    sched.base_lr = oc.lr;
    sched.warmup_steps = (int)lroundf(o.warmup_epochs * (float)steps_per_epoch);
    sched.warmup_start_factor = 0.1f;
    sched.step_size = (int)fmaxf(1, lroundf(o.step_epochs * (float)steps_per_epoch));
    sched.gamma = o.step_gamma;
    sched.total_steps = (int)(steps_per_epoch * (size_t)o.epochs);
    sched.min_lr = oc.lr * o.min_lr_factor;
    fprintf(stderr,
            "%s %dx%d, %zu parameters, %s lr %g wd %g, batch %d, %d epochs of %zu steps, "
            "%d threads, kernels %s\n",
            o.arch, side, side, nn_model_trainable_numel(m),
            o.optim == NN_OPTIM_SGD ? "sgd" : o.optim == NN_OPTIM_ADAM ? "adam" : "adamw", oc.lr,
            oc.weight_decay, o.batch, o.epochs, steps_per_epoch, nn_threads_get(),
            nn_kernels_get()->name);
    train_history_truncate(&hist, state.epoch);

    double run_start = train_now_s();
    size_t run_images = 0;
    for (int epoch = state.epoch; epoch < o.epochs; epoch++) {
        nn_ctx_seed(ctx, train_epoch_seed(o.seed, epoch));
        char label[64];
        snprintf(label, sizeof label, "epoch %d/%d", epoch + 1, o.epochs);
        train_progress p;
        train_progress_begin(&p, stderr, isatty(2), label, steps_per_epoch);
        double loss_sum = 0, lr = 0;
        size_t seen = 0, correct = 0;
        for (size_t k = 0; k < steps_per_epoch; k++) {
            const loader_batch *b;
            if (loader_next(train_ld, &b, &err)) {
                fprintf(stderr, "\nmaskdet train-classifier: %s\n", err.msg);
                goto done;
            }
            /* Batch norm needs two values a channel: an epoch's last batch of one
             * sample is left out (the shuffle puts another sample there next epoch). */
            if (b->count < 2) continue;
            nn_tensor *x = batch_tensor(&bi, b, o.batch, side);
            if (!x) {
                fprintf(stderr, "\nmaskdet train-classifier: out of memory\n");
                goto done;
            }
            nn_ctx_set_training(ctx, true);
            nn_ctx_set_grad_enabled(ctx, true);
            nn_ctx_reset(ctx);
            nn_model_zero_grad(m);
            nn_tensor *logits = nn_model_forward(m, ctx, x);
            nn_tensor *loss = nn_cross_entropy(
                ctx, logits, b->labels, o.balance == BALANCE_WEIGHTS ? class_weights : NULL,
                o.label_smoothing, NN_REDUCE_MEAN);
            if (!loss || nn_backward(ctx, loss) != NN_OK) {
                fprintf(stderr, "\nmaskdet train-classifier: %s\n", nn_ctx_error(ctx));
                goto done;
            }
            lr = nn_lr_at(&sched, (int)nn_optim_steps(opt));
            nn_optim_step(opt, (float)lr);
            loss_sum += loss->data[0] * b->count;
            for (int i = 0; i < b->count; i++)
                correct += argmax(logits->data + i * data.n_classes, data.n_classes) == b->labels[i];
            seen += (size_t)b->count;
            if (!isfinite(loss->data[0])) {
                fprintf(stderr, "\nmaskdet train-classifier: the loss is %g at epoch %d step %zu "
                                "(lower --lr?)\n", loss->data[0], epoch + 1, k + 1);
                goto done;
            }
            train_metric mt[2] = {{"loss", loss_sum / seen}, {"acc", (double)correct / seen}};
            train_progress_update(&p, k + 1, seen, 2, mt);
        }
        train_metric mt[3] = {{"loss", loss_sum / seen}, {"acc", (double)correct / seen}, {"lr", lr}};
        train_progress_end(&p, seen, 3, mt);
        run_images += seen;

        val_result vr;
        if (validate(m, ctx, val_ld, &data, side, o.batch, &bi, &vr, &err)) {
            fprintf(stderr, "maskdet train-classifier: validation: %s\n", err.msg);
            goto done;
        }
        for (int s = 0; s < data.n_sets; s++) {
            if (!cls_confusion_total(&vr.per_source[s])) continue;
            cls_report rep;
            cls_report_compute(&vr.per_source[s], &rep);
            fprintf(stderr, "  val %s: %zu faces, acc %.4f, balanced %.4f\n",
                    s < o.n_paths ? o.paths[s] : o.val_path, rep.n, rep.accuracy,
                    rep.balanced_accuracy);
        }
        double row[N_HISTORY] = {loss_sum / seen, (double)correct / seen, vr.loss, vr.acc,
                                 vr.bacc, lr};
        if (train_history_add(&hist, row, &err)) goto done;
        state.epoch = epoch + 1;
        if (train_state_improved(&state, vr.bacc, epoch + 1)) {
            if (save_model(&o, side, m, &state, epoch + 1, vr.acc, vr.bacc, data.train.count,
                           data.val.count, &err)) {
                fprintf(stderr, "maskdet train-classifier: %s\n", err.msg);
                goto done;
            }
            fprintf(stderr, "  best so far: wrote %s\n", o.out);
        }
        if (train_checkpoint_save(ckpt_path, m, opt, &state, &hist, config, &err) ||
            (o.log && train_history_write_csv(&hist, o.log, &err)) ||
            (o.plot && train_history_plot_png(&hist, o.plot, "train-classifier",
                                              "train_loss,val_loss;train_acc,val_acc,val_bacc",
                                              &err))) {
            fprintf(stderr, "maskdet train-classifier: %s\n", err.msg);
            goto done;
        }
        if (o.stop_after && epoch + 1 >= o.stop_after && epoch + 1 < o.epochs) {
            fprintf(stderr, "stopping after epoch %d as asked; resume with --resume %s\n",
                    epoch + 1, ckpt_path);
            break;
        }
    }
    double elapsed = train_now_s() - run_start;
    fprintf(stderr, "done: best val balanced accuracy %.4f at epoch %d; %.0f s, %.1f img/s\n",
            state.best_metric, state.best_epoch, elapsed,
            elapsed > 0 ? (double)run_images / elapsed : 0);
    rc = 0;
done:
    loader_destroy(train_ld);
    loader_destroy(val_ld);
    nn_tensor_free(bi.full);
    nn_tensor_free(bi.part);
    train_history_free(&hist);
    nn_weights_free(config);
    nn_ctx_destroy(ctx);
    nn_optim_free(opt);
    nn_model_free(m);
    data_free(&data);
out:
    free(stored_argv);
    cJSON_Delete(stored_args);
    nn_weights_free(ckpt);
    return rc;
}
