/*
 * cmd_detect.c - `maskdet detect`: find faces and say who wears a mask, in
 * images, folders of images, or a raw rgb24 video stream on stdin.
 *
 * The work is done by the embedding API (apps/lib/maskdet.h), so the command
 * prints exactly what a program using the library gets. This file only reads
 * inputs, prints results (text, or one JSON object per image or frame), draws
 * the annotated copies and reports progress:
 *   images and folders  -> detect_inputs (folders walked in sorted order)
 *   `--raw WxH -`       -> detect_raw_video (frames in, annotated frames out)
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "draw.h"
#include "maskdet.h"
#include "rawvideo.h"

#define MAX_FACES 1000     /* faces reported per image (the rest are counted) */
#define MAX_FOLDER_DEPTH 64 /* deeper folders are reported and not entered     */

static int usage(FILE *out, int code) {
    fprintf(
        out,
        "usage: maskdet detect [options] INPUT...\n"
        "       maskdet detect --raw WxH [options] -\n"
        "\n"
        "Finds faces and tells whether each wears a mask. INPUT is an image (jpg, png,\n"
        "bmp), a folder (walked recursively in sorted order; files are picked by\n"
        "their extension .jpg .jpeg .png .bmp in any case), or - with --raw (video).\n"
        "\n"
        "models:\n"
        "  --detector MODEL    a detector model file (.nnw; see maskdet import-caffe);\n"
        "                      default: the bundled models/face_detector.nnw\n"
        "  --classifier MODEL[,MODEL...]  the mask / no-mask classifier run on each\n"
        "                      face found by a face-only detector; several: their\n"
        "                      probabilities are averaged (an ensemble). Default: the\n"
        "                      bundled pair, models/classifier.nnw and\n"
        "                      models/classifier_b.nnw (a detector with mask / no_mask\n"
        "                      classes labels the faces itself)\n"
        "  --no-tta            each classifier sees a face crop once, not also\n"
        "                      mirrored (faster, slightly less accurate)\n"
        "  --no-box-vote       face_ssd: keep each face's best box as it is, not its\n"
        "                      score-weighted mean with the boxes it suppressed\n"
        "  --detector-only     report faces without classifying them\n"
        "  --no-face-check     a classifier with a background class (the bundled one)\n"
        "                      labels the faces but does not check them: no box is\n"
        "                      dropped as not a face, face scores are the detector's\n"
        "  --face-check-weight W  how much the check counts: face score = detector's\n"
        "                      x (1 - W + W x P(face)) (default 0.7; 1: the product)\n"
        "thresholds and scale:\n"
        "  --face-threshold T  keep faces scoring above T (default: the model's own,\n"
        "                      else 0.5)\n"
        "  --threshold T       the same as --face-threshold\n"
        "  --mask-threshold T  \"mask\" when the classifier's P(mask) >= T, else\n"
        "                      \"no_mask\" (default 0.5; one-stage detectors: unused)\n"
        "  --min-face PX       the smallest face, in image pixels, you care about. The\n"
        "                      input is scaled so such a face becomes the smallest\n"
        "                      face the detector finds reliably: 16 input px for the\n"
        "                      bundled model (twice its smallest prior box), so the\n"
        "                      scale is 16 / PX. A smaller PX finds smaller faces and\n"
        "                      is slower (time ~ 1 / PX^2); a larger one is faster.\n"
        "                      The scale is capped at %dx and the network input's\n"
        "                      longer side at %d px (so in a 4000 px photo faces\n"
        "                      under ~32 px are out of reach). Default: the model's\n"
        "                      own input size (bundled model: longer side 640 px).\n"
        "                      Detectors whose priors are fractions of the image\n"
        "                      (AIZOO) refuse it.\n"
        "  --input-size WxH    run the detector network at this size instead\n"
        "output:\n"
        "  --json              one JSON object per image on stdout: image, width,\n"
        "                      height, detections [{box [x1,y1,x2,y2] px, label,\n"
        "                      score, face_score}], time_ms {preprocess, forward,\n"
        "                      postprocess, classify, total}\n"
        "  -o DIR              write annotated images into DIR (green: mask, red: no\n"
        "                      mask); images found in a folder keep their path\n"
        "                      relative to that folder\n"
        "  --threads N         worker threads (default: all cores)\n"
        "video:\n"
        "  --raw WxH           read raw rgb24 frames of WxH pixels from stdin (INPUT\n"
        "                      is -) and write the annotated frames to stdout:\n"
        "    ffmpeg -i in.mp4 -vf scale=640:480 -f rawvideo -pix_fmt rgb24 - |\n"
        "      maskdet detect --raw 640x480 - |\n"
        "      ffmpeg -f rawvideo -pix_fmt rgb24 -s 640x480 -i - out.mp4\n"
        "  --json-out FILE     with --raw: one JSON line per frame in FILE (frame\n"
        "                      index, then the fields of --json)\n"
        "\n"
        "Progress goes to stderr: a bar on a terminal, else a line every 5 seconds\n"
        "(video: frames per second every second). A summary (images, faces, masked,\n"
        "unmasked, skipped, mean ms per image) ends runs over folders or several\n"
        "images; video ends with frames, mean FPS and mean ms per stage.\n"
        "\n"
        "Exit status: 0 when every image named on the command line was processed and\n"
        "at least one image was. Files inside folders that cannot be read as images\n"
        "are reported on stderr, skipped and counted, and do not fail the run (so 0\n"
        "unless no image in the folders could be read). 1 for a model that does not\n"
        "load, an image named on the command line that cannot be read, a folder with\n"
        "no readable image, or an output that cannot be written. 2 for usage errors.\n"
        "With --raw: 0 when the input ends at a frame boundary, and also when it ends\n"
        "inside a frame (that partial frame is reported and dropped) or when the\n"
        "reader of stdout goes away; 1 for read or write errors or a failing detector.\n",
        MASKDET_MAX_UPSCALE, MASKDET_MAX_INPUT_SIDE);
    return code;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

/* ---------------------------------------------------------------- options */

typedef struct {
    maskdet_options model;
    bool json;
    const char *out_dir;  /* -o                                   */
    const char *json_out; /* --json-out (raw video)               */
    int raw_w, raw_h;     /* --raw; 0: images and folders          */
    char **inputs;
    int n_inputs;
} detect_args;

static bool parse_fraction(const char *text, float *value) {
    char tail;
    return sscanf(text, "%f%c", value, &tail) == 1 && *value >= 0 && *value <= 1;
}

static bool parse_int(const char *text, int lo, int hi, int *value) {
    char tail;
    return sscanf(text, "%d%c", value, &tail) == 1 && *value >= lo && *value <= hi;
}

/* Fills args from argv. 0: go on; -1: --help was printed (exit 0); else the
 * exit code of a usage error (the message printed). */
static int parse_args(int argc, char **argv, detect_args *a) {
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i];
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        bool takes_value = true;
        if (!strcmp(opt, "--help") || !strcmp(opt, "-h")) {
            usage(stdout, 0);
            return -1;
        } else if (!strcmp(opt, "--detector-only")) {
            a->model.detector_only = 1, takes_value = false;
        } else if (!strcmp(opt, "--no-face-check")) {
            a->model.no_face_check = 1, takes_value = false;
        } else if (!strcmp(opt, "--no-tta")) {
            a->model.no_tta = 1, takes_value = false;
        } else if (!strcmp(opt, "--no-box-vote")) {
            a->model.no_box_vote = 1, takes_value = false;
        } else if (!strcmp(opt, "--json")) {
            a->json = true, takes_value = false;
        } else if ((!strcmp(opt, "-") || opt[0] != '-')) {
            a->inputs[a->n_inputs++] = argv[i];
            continue;
        } else if (!value) {
            fprintf(stderr, "maskdet detect: unknown option or missing value: %s\n", opt);
            return usage(stderr, 2);
        } else if (!strcmp(opt, "--detector")) {
            a->model.detector_path = value;
        } else if (!strcmp(opt, "--classifier")) {
            a->model.classifier_path = value;
        } else if (!strcmp(opt, "--threshold") || !strcmp(opt, "--face-threshold")) {
            if (!parse_fraction(value, &a->model.face_threshold)) {
                fprintf(stderr, "maskdet detect: %s wants a number in [0, 1], got '%s'\n", opt,
                        value);
                return 2;
            }
        } else if (!strcmp(opt, "--face-check-weight")) {
            if (!parse_fraction(value, &a->model.face_check_weight) ||
                a->model.face_check_weight == 0) {
                fprintf(stderr, "maskdet detect: --face-check-weight wants a number in (0, 1], "
                                "got '%s' (--no-face-check turns the check off)\n", value);
                return 2;
            }
        } else if (!strcmp(opt, "--mask-threshold")) {
            if (!parse_fraction(value, &a->model.mask_threshold)) {
                fprintf(stderr, "maskdet detect: --mask-threshold wants a number in [0, 1]\n");
                return 2;
            }
        } else if (!strcmp(opt, "--min-face")) {
            if (!parse_int(value, 1, 4096, &a->model.min_face_px)) {
                fprintf(stderr, "maskdet detect: --min-face wants pixels in [1, 4096], got '%s'\n",
                        value);
                return 2;
            }
        } else if (!strcmp(opt, "--input-size")) {
            int w, h;
            char tail;
            if (sscanf(value, "%dx%d%c", &w, &h, &tail) != 2 || w < 1 || h < 1 || w > 4096 ||
                h > 4096) {
                fprintf(stderr, "maskdet detect: --input-size wants WxH, got '%s'\n", value);
                return 2;
            }
            a->model.input_width = w, a->model.input_height = h;
        } else if (!strcmp(opt, "-o")) {
            a->out_dir = value;
        } else if (!strcmp(opt, "--json-out")) {
            a->json_out = value;
        } else if (!strcmp(opt, "--raw")) {
            nn_error err;
            if (rawvideo_parse_size(value, &a->raw_w, &a->raw_h, &err)) {
                fprintf(stderr, "maskdet detect: --raw: %s\n", err.msg);
                return 2;
            }
        } else if (!strcmp(opt, "--threads")) {
            if (!parse_int(value, 1, 256, &a->model.threads)) {
                fprintf(stderr, "maskdet detect: --threads wants a count in [1, 256]\n");
                return 2;
            }
        } else {
            fprintf(stderr, "maskdet detect: unknown option: %s\n", opt);
            return usage(stderr, 2);
        }
        if (takes_value) i++;
    }
    if (a->model.min_face_px > 0 && a->model.input_width > 0) {
        fprintf(stderr, "maskdet detect: give --min-face or --input-size, not both\n");
        return 2;
    }
    if (a->raw_w > 0) {
        if (a->n_inputs != 1 || strcmp(a->inputs[0], "-")) {
            fprintf(stderr, "maskdet detect: --raw reads frames from stdin: give - as the input\n");
            return 2;
        }
        if (a->json || a->out_dir) {
            fprintf(stderr, "maskdet detect: with --raw the frames go to stdout; use --json-out "
                            "FILE for detections (-o and --json do not apply)\n");
            return 2;
        }
        return 0;
    }
    if (a->json_out) {
        fprintf(stderr, "maskdet detect: --json-out is for --raw video; use --json for images\n");
        return 2;
    }
    for (int k = 0; k < a->n_inputs; k++)
        if (!strcmp(a->inputs[k], "-")) {
            fprintf(stderr, "maskdet detect: - (stdin) needs --raw WxH\n");
            return 2;
        }
    if (a->n_inputs == 0) return usage(stderr, 2);
    return 0;
}

/* ---------------------------------------------------------------- output */

/* A JSON string: quotes, backslashes and control characters escaped. */
static void json_string(FILE *out, const char *s) {
    fputc('"', out);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20)
            fprintf(out, "\\u%04x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

/* The fields after "image" / "frame": size, detections and timings. Written
 * with fprintf rather than a JSON tree so the video loop allocates nothing. */
static void json_result(FILE *out, int width, int height, const maskdet_face *faces, int n,
                        const maskdet_timing *t) {
    fprintf(out, ",\"width\":%d,\"height\":%d,\"detections\":[", width, height);
    for (int i = 0; i < n; i++) {
        const maskdet_face *f = &faces[i];
        fprintf(out,
                "%s{\"box\":[%.9g,%.9g,%.9g,%.9g],\"label\":\"%s\",\"score\":%.9g,"
                "\"face_score\":%.9g}",
                i ? "," : "", f->x1, f->y1, f->x2, f->y2, f->label_name, f->score, f->face_score);
    }
    fprintf(out,
            "],\"time_ms\":{\"preprocess\":%.3f,\"forward\":%.3f,\"postprocess\":%.3f,"
            "\"classify\":%.3f,\"total\":%.3f}}\n",
            t->preprocess_ms, t->detect_ms, t->postprocess_ms, t->classify_ms, t->total_ms);
}

static void print_text(const char *path, int width, int height, const maskdet_face *faces, int n,
                       const maskdet_timing *t) {
    printf("%s: %d detection%s (%dx%d, %.1f ms)\n", path, n, n == 1 ? "" : "s", width, height,
           t->total_ms);
    for (int i = 0; i < n; i++)
        printf("  %-10s %.3f  face %.3f  [%.1f, %.1f, %.1f, %.1f]\n", faces[i].label_name,
               faces[i].score, faces[i].face_score, faces[i].x1, faces[i].y1, faces[i].x2,
               faces[i].y2);
}

/* Boxes, labels and the summary line (faces, masked, unmasked) drawn in place. */
static void annotate(image *img, const maskdet_face *faces, int n) {
    int side = img->width < img->height ? img->width : img->height;
    int thick = side / 300 > 2 ? side / 300 : 2, scale = side / 400 > 1 ? side / 400 : 1;
    int masked = 0, unmasked = 0;
    for (int i = 0; i < n; i++) {
        const maskdet_face *f = &faces[i];
        draw_color c = f->label == MASKDET_NO_MASK ? (draw_color){220, 30, 30}
                                                   : (draw_color){30, 200, 30};
        masked += f->label == MASKDET_MASK;
        unmasked += f->label == MASKDET_NO_MASK;
        int x = (int)(f->x1 + 0.5f), y = (int)(f->y1 + 0.5f);
        draw_rect(img, x, y, (int)(f->x2 - f->x1 + 0.5f), (int)(f->y2 - f->y1 + 0.5f), thick, c);
        char text[64];
        snprintf(text, sizeof text, "%s %.2f", f->label_name, f->score);
        draw_label(img, x, y, text, scale, c, DRAW_WHITE);
    }
    char summary[96];
    snprintf(summary, sizeof summary, "faces %d  mask %d  no mask %d", n, masked, unmasked);
    draw_label(img, 0, 0, summary, scale, (draw_color){40, 40, 40}, DRAW_WHITE);
}

/* ---------------------------------------------------------------- progress */

/* A bar on a terminal (redrawn at most 10 times a second), else a plain line
 * every 5 seconds; messages in between clear the bar first. */
typedef struct {
    bool tty, bar_shown;
    long total;
    double start_ms, last_ms;
} progress;

static void progress_note(progress *p, const char *fmt, ...) {
    if (p->bar_shown) fputs("\r\033[K", stderr), p->bar_shown = false;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}

static void progress_show(progress *p, long done) {
    double now = now_ms();
    if (p->total < 2 || now - p->last_ms < (p->tty ? 100 : 5000) || done >= p->total) return;
    p->last_ms = now;
    double rate = done / ((now - p->start_ms) / 1e3 + 1e-9);
    if (!p->tty) {
        fprintf(stderr, "maskdet detect: %ld/%ld images (%.1f images/s)\n", done, p->total, rate);
        return;
    }
    enum { BAR = 30 };
    char bar[BAR + 1];
    int filled = (int)(BAR * done / p->total);
    for (int k = 0; k < BAR; k++) bar[k] = k < filled ? '#' : '.';
    bar[BAR] = '\0';
    long eta_s = rate > 0 ? (long)((p->total - done) / rate) : 0;
    fprintf(stderr, "\r[%s] %ld/%ld images  %.1f/s  %ldm%02lds left ", bar, done, p->total, rate,
            eta_s / 60, eta_s % 60);
    p->bar_shown = true;
}

static void progress_end(progress *p) {
    if (p->bar_shown) fputs("\r\033[K", stderr), p->bar_shown = false;
}

/* ---------------------------------------------------------------- folders */

/* An image to process: its path, and where its annotated copy goes under -o
 * (its path relative to the folder it was found in, or its file name). */
typedef struct {
    char *path;
    const char *out_name; /* points into path */
    bool in_folder;
} input_image;

typedef struct {
    input_image *items;
    size_t n, cap;
    long ignored; /* files in folders that are not images by extension */
    long failed;  /* folders that could not be read */
} image_list;

static bool has_image_extension(const char *name) {
    const char *ext = strrchr(name, '.');
    return ext && (!strcasecmp(ext, ".jpg") || !strcasecmp(ext, ".jpeg") ||
                   !strcasecmp(ext, ".png") || !strcasecmp(ext, ".bmp"));
}

static bool list_add(image_list *l, const char *path, size_t out_name_at, bool in_folder) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        input_image *grown = realloc(l->items, cap * sizeof *grown);
        if (!grown) return false;
        l->items = grown, l->cap = cap;
    }
    char *copy = strdup(path);
    if (!copy) return false;
    l->items[l->n++] = (input_image){copy, copy + out_name_at, in_folder};
    return true;
}

static void list_free(image_list *l) {
    for (size_t i = 0; i < l->n; i++) free(l->items[i].path);
    free(l->items);
}

static int compare_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Adds the images under dir (sorted by name at every level, so runs are
 * repeatable). root_len: where the path relative to the walked folder
 * starts. Unreadable folders are reported and counted; false: out of memory. */
static bool walk_folder(const char *dir, size_t root_len, int depth, image_list *l) {
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "maskdet detect: skipping folder %s: %s\n", dir, strerror(errno));
        l->failed++;
        return true;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    bool ok = true;
    for (struct dirent *e; ok && (e = readdir(d));) {
        if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])))
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 32;
            char **grown = realloc(names, cap * sizeof *grown);
            if (!grown) {
                ok = false;
                break;
            }
            names = grown;
        }
        if (!(names[n] = strdup(e->d_name))) ok = false;
        else n++;
    }
    closedir(d);
    if (names) qsort(names, n, sizeof *names, compare_names);
    for (size_t i = 0; ok && i < n; i++) {
        size_t len = strlen(dir) + strlen(names[i]) + 2;
        char *path = malloc(len);
        if (!path) {
            ok = false;
            break;
        }
        snprintf(path, len, "%s/%s", dir, names[i]);
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode) && stat(path, &st) == 0 &&
            S_ISDIR(st.st_mode)) {
            fprintf(stderr, "maskdet detect: not following the folder link %s\n", path);
        } else if (stat(path, &st) != 0) { /* e.g. a dangling link: reported when read */
            if (has_image_extension(names[i])) ok = list_add(l, path, root_len, true);
        } else if (S_ISDIR(st.st_mode)) {
            if (depth >= MAX_FOLDER_DEPTH) {
                fprintf(stderr, "maskdet detect: skipping %s: more than %d folders deep\n", path,
                        MAX_FOLDER_DEPTH);
                l->failed++;
            } else {
                ok = walk_folder(path, root_len, depth + 1, l);
            }
        } else if (S_ISREG(st.st_mode) && has_image_extension(names[i])) {
            ok = list_add(l, path, root_len, true);
        } else {
            l->ignored++;
        }
        free(path);
    }
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    return ok;
}

/* Creates every folder of path's directory part (mkdir -p of dirname). */
static int make_parent_dirs(const char *path) {
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) return ENAMETOOLONG;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0777) && errno != EEXIST) return errno;
        *p = '/';
    }
    return 0;
}

static nn_status save_annotated(const image *img, const maskdet_face *faces, int n,
                                const char *out_dir, const char *out_name, nn_error *err) {
    char dst[4096];
    const char *ext = strrchr(out_name, '.');
    bool keep_ext =
        ext && (!strcasecmp(ext, ".png") || !strcasecmp(ext, ".jpg") || !strcasecmp(ext, ".jpeg"));
    int len = snprintf(dst, sizeof dst, keep_ext ? "%s/%s" : "%s/%s.png", out_dir, out_name);
    if (len < 0 || len >= (int)sizeof dst)
        return nn_error_set(err, NN_ERR_ARG, "output path too long: %s/%s", out_dir, out_name);
    int code = make_parent_dirs(dst);
    if (code) return nn_error_set(err, NN_ERR_IO, "cannot create the folders of %s: %s", dst,
                                  strerror(code));
    image out;
    nn_status st = image_copy(img, &out, err);
    if (st) return st;
    annotate(&out, faces, n);
    st = image_save(&out, dst, 92, err);
    image_free(&out);
    return st;
}

/* ---------------------------------------------------------------- images */

typedef struct {
    long images, faces, masked, unmasked, skipped;
    double total_ms;
} detect_totals;

/* One image: detect, print, annotate. 0 done, 1 skipped (a file in a
 * folder), -1 failed. */
static int detect_image(maskdet *md, const input_image *in, const detect_args *a,
                        maskdet_face *faces, detect_totals *totals, progress *prog) {
    image img = {0};
    nn_error err;
    if (image_load(in->path, 3, &img, &err)) {
        progress_note(prog, "maskdet detect: %s%s\n", in->in_folder ? "skipping: " : "", err.msg);
        if (in->in_folder) totals->skipped++;
        return in->in_folder ? 1 : -1;
    }
    maskdet_error merr;
    int found = maskdet_detect(md, img.pixels, img.width, img.height, 3 * img.width, faces,
                               MAX_FACES, &merr);
    if (found < 0) {
        progress_note(prog, "maskdet detect: %s: %s\n", in->path, merr.msg);
        image_free(&img);
        return -1;
    }
    int n = found < MAX_FACES ? found : MAX_FACES;
    maskdet_timing t = maskdet_last_timing(md);
    if (a->json) {
        fputs("{\"image\":", stdout);
        json_string(stdout, in->path);
        json_result(stdout, img.width, img.height, faces, n, &t);
    } else {
        print_text(in->path, img.width, img.height, faces, n, &t);
    }
    fflush(stdout);
    totals->images++;
    totals->faces += found;
    totals->total_ms += t.total_ms;
    for (int i = 0; i < n; i++) {
        totals->masked += faces[i].label == MASKDET_MASK;
        totals->unmasked += faces[i].label == MASKDET_NO_MASK;
    }
    int rc = 0;
    if (a->out_dir && save_annotated(&img, faces, n, a->out_dir, in->out_name, &err)) {
        progress_note(prog, "maskdet detect: %s\n", err.msg);
        rc = -1;
    }
    image_free(&img);
    return rc;
}

/* Images and folders: every input expanded, then processed in order. */
static int detect_inputs(maskdet *md, const detect_args *a) {
    image_list list = {0};
    int failures = 0, folders = 0;
    for (int k = 0; k < a->n_inputs; k++) {
        const char *in = a->inputs[k];
        struct stat st;
        if (stat(in, &st) == 0 && S_ISDIR(st.st_mode)) {
            folders++;
            size_t before = list.n, root_len = strlen(in);
            while (root_len > 1 && in[root_len - 1] == '/') root_len--;
            char *root = strndup(in, root_len);
            bool ok = root && walk_folder(root, root_len + (root_len > 1 || root[0] != '/'), 0,
                                          &list);
            free(root);
            if (!ok) {
                fprintf(stderr, "maskdet detect: out of memory listing %s\n", in);
                list_free(&list);
                return 1;
            }
            if (list.n == before) {
                fprintf(stderr, "maskdet detect: no images (.jpg .jpeg .png .bmp) in %s\n", in);
                failures++;
            }
        } else {
            const char *slash = strrchr(in, '/');
            if (!list_add(&list, in, slash ? (size_t)(slash - in + 1) : 0, false)) {
                list_free(&list);
                return 1;
            }
        }
    }
    failures += (int)list.failed;
    maskdet_face *faces = malloc(MAX_FACES * sizeof *faces);
    if (!faces) {
        list_free(&list);
        return 1;
    }
    detect_totals totals = {0};
    progress prog = {.tty = isatty(STDERR_FILENO), .total = (long)list.n, .start_ms = now_ms()};
    prog.last_ms = prog.start_ms;
    for (size_t i = 0; i < list.n; i++) {
        if (detect_image(md, &list.items[i], a, faces, &totals, &prog) < 0) failures++;
        progress_show(&prog, (long)i + 1);
    }
    progress_end(&prog);
    if (folders > 0 || list.n > 1) {
        fprintf(stderr,
                "maskdet detect: %ld images, %ld faces (%ld mask, %ld no_mask), %ld skipped, "
                "%.1f ms per image",
                totals.images, totals.faces, totals.masked, totals.unmasked, totals.skipped,
                totals.images ? totals.total_ms / (double)totals.images : 0.0);
        if (list.ignored) fprintf(stderr, " (%ld other files ignored)", list.ignored);
        fputc('\n', stderr);
    }
    free(faces);
    list_free(&list);
    return failures || totals.images == 0 ? 1 : 0;
}

/* ---------------------------------------------------------------- video */

typedef struct {
    long frames;
    double preprocess_ms, forward_ms, postprocess_ms, classify_ms, total_ms;
} video_totals;

static void video_report(const video_totals *v, double elapsed_ms, bool final, bool tty) {
    double fps = v->frames / (elapsed_ms / 1e3 + 1e-9);
    if (!final) {
        fprintf(stderr, "%smaskdet detect: frame %ld, %.1f fps%s", tty ? "\r" : "", v->frames, fps,
                tty ? " " : "\n");
        return;
    }
    double n = v->frames > 0 ? (double)v->frames : 1.0;
    fprintf(stderr,
            "%smaskdet detect: %ld frames, %.1f fps; mean ms per frame: preprocess %.2f, forward "
            "%.2f, postprocess %.2f, classify %.2f, total %.2f\n",
            tty ? "\r\033[K" : "", v->frames, fps, v->preprocess_ms / n, v->forward_ms / n,
            v->postprocess_ms / n, v->classify_ms / n, v->total_ms / n);
}

/* Frames from stdin, annotated frames to stdout. Buffers are allocated once,
 * before the first frame. */
static int detect_raw_video(maskdet *md, const detect_args *a) {
    if (isatty(STDIN_FILENO) || isatty(STDOUT_FILENO)) {
        fprintf(stderr, "maskdet detect: --raw reads frames from a pipe and writes frames to "
                        "one; see --help for an ffmpeg example\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN); /* a reader that goes away is a write error we handle */
    size_t frame_bytes = rawvideo_frame_bytes(a->raw_w, a->raw_h);
    uint8_t *frame = malloc(frame_bytes);
    maskdet_face *faces = malloc(MAX_FACES * sizeof *faces);
    FILE *json = a->json_out ? fopen(a->json_out, "w") : NULL;
    if (!frame || !faces || (a->json_out && !json)) {
        if (!frame || !faces) fprintf(stderr, "maskdet detect: out of memory for the frames\n");
        else fprintf(stderr, "maskdet detect: cannot write %s: %s\n", a->json_out, strerror(errno));
        free(frame), free(faces);
        return 1;
    }
    image view = {a->raw_w, a->raw_h, 3, frame}; /* the frame buffer as an image to draw on */
    video_totals v = {0};
    bool tty = isatty(STDERR_FILENO);
    double start = now_ms(), last_report = start;
    int rc = 0;
    for (;;) {
        nn_error err;
        size_t got;
        rawvideo_result r = rawvideo_read_frame(stdin, frame, frame_bytes, &got, &err);
        if (r == RAWVIDEO_END) break;
        if (r == RAWVIDEO_TRUNCATED) {
            fprintf(stderr, "%smaskdet detect: the input ends inside frame %ld (%zu of %zu "
                            "bytes); that partial frame is dropped\n",
                    tty ? "\r\033[K" : "", v.frames, got, frame_bytes);
            break;
        }
        if (r != RAWVIDEO_OK) {
            fprintf(stderr, "maskdet detect: stdin: %s\n", err.msg);
            rc = 1;
            break;
        }
        maskdet_error merr;
        int found = maskdet_detect(md, frame, a->raw_w, a->raw_h, 3 * a->raw_w, faces, MAX_FACES,
                                   &merr);
        if (found < 0) {
            fprintf(stderr, "maskdet detect: frame %ld: %s\n", v.frames, merr.msg);
            rc = 1;
            break;
        }
        int n = found < MAX_FACES ? found : MAX_FACES;
        maskdet_timing t = maskdet_last_timing(md);
        if (json) {
            fprintf(json, "{\"frame\":%ld", v.frames);
            json_result(json, a->raw_w, a->raw_h, faces, n, &t);
        }
        annotate(&view, faces, n);
        r = rawvideo_write_frame(stdout, frame, frame_bytes, &err);
        if (r == RAWVIDEO_CLOSED) {
            fprintf(stderr, "%smaskdet detect: stdout was closed after %ld frames; stopping\n",
                    tty ? "\r\033[K" : "", v.frames);
            break;
        }
        if (r != RAWVIDEO_OK) {
            fprintf(stderr, "maskdet detect: stdout: %s\n", err.msg);
            rc = 1;
            break;
        }
        v.frames++;
        v.preprocess_ms += t.preprocess_ms, v.forward_ms += t.detect_ms;
        v.postprocess_ms += t.postprocess_ms, v.classify_ms += t.classify_ms;
        v.total_ms += t.total_ms;
        double now = now_ms();
        if (now - last_report >= 1000) {
            video_report(&v, now - start, false, tty);
            last_report = now;
        }
    }
    video_report(&v, now_ms() - start, true, tty);
    if (json && (fclose(json) != 0)) {
        fprintf(stderr, "maskdet detect: error writing %s\n", a->json_out);
        rc = 1;
    }
    free(frame);
    free(faces);
    return rc;
}

/* ---------------------------------------------------------------- main */

int cmd_detect(int argc, char **argv) {
    detect_args a = {.model = maskdet_options_default()};
    a.inputs = calloc((size_t)argc + 1, sizeof *a.inputs);
    if (!a.inputs) return 1;
    int rc = parse_args(argc, argv, &a);
    if (rc) {
        free(a.inputs);
        return rc < 0 ? 0 : rc;
    }
    maskdet *md;
    maskdet_error err;
    if (maskdet_open(&a.model, &md, &err)) {
        fprintf(stderr, "maskdet detect: %s\n", err.msg);
        free(a.inputs);
        return 1;
    }
    if (a.out_dir && mkdir(a.out_dir, 0777) && errno != EEXIST) {
        fprintf(stderr, "maskdet detect: cannot create %s: %s\n", a.out_dir, strerror(errno));
        rc = 1;
    } else {
        rc = a.raw_w > 0 ? detect_raw_video(md, &a) : detect_inputs(md, &a);
    }
    maskdet_close(md);
    free(a.inputs);
    return rc;
}
