/*
 * cmd_data.c - `maskdet data`: look at and prepare data sets.
 *
 *   maskdet data stats PATH [--format voc|json|folders] [--json] [--chart OUT.png]
 *                           [--skip-bad] [--incorrect-class] [--ignore-other-covering]
 *   maskdet data crop PATH -o OUTDIR [--margin 0.1] [--min-size PX] [--png] [...]
 *
 * Results go to stdout, progress and problems to stderr.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "annot.h"
#include "commands.h"
#include "crops.h"
#include "stats.h"
#include "statschart.h"

static void data_usage(FILE *out) {
    fprintf(out,
            "usage: maskdet data stats PATH [options]\n"
            "       maskdet data crop PATH -o OUTDIR [options]\n"
            "\n"
            "PATH is a data set folder: Pascal VOC (annotations/*.xml + images/), Kaggle\n"
            "Face Mask Detection JSON (annotations/*.json + images/) or class folders\n"
            "(PATH/with_mask/*.jpg, PATH/without_mask/*.jpg). The format is detected.\n"
            "\n"
            "stats: images, faces per class, face sizes, faces per image\n"
            "  --json                  print one JSON object instead of a table\n"
            "  --chart OUT.png         also draw the class and size histograms as a bar chart\n"
            "crop: write every face into OUTDIR/<class>/<stem>_<index>.jpg\n"
            "  -o, --output OUTDIR     where to write (required)\n"
            "  --margin F              widen each box by F times its size on every side (0.1)\n"
            "  --min-size PX           skip faces whose longest side is below PX (0)\n"
            "  --png                   write PNG instead of JPEG\n"
            "common:\n"
            "  --format voc|json|folders   do not detect the format\n"
            "  --skip-bad              skip malformed files, missing images and boxes outside\n"
            "                          the image (counted and listed at the end) instead of\n"
            "                          stopping at the first\n"
            "  --incorrect-class       keep incorrectly worn masks as their own class\n"
            "                          (default: they count as no_mask)\n"
            "  --ignore-other-covering face_other_covering is not a face (default: no_mask)\n"
            "  -h, --help              this help\n");
}

/* Progress on stderr, only when someone is watching a terminal. */
static void show_progress(void *user, size_t done, size_t total) {
    (void)user;
    if (done % 50 == 0 || done == total) fprintf(stderr, "\rreading %zu / %zu", done, total);
    if (done == total) fprintf(stderr, "\n");
}

static void print_problems(const annot_set *set) {
    const annot_report *r = &set->report;
    if (!r->n_problems) return;
    fprintf(stderr,
            "maskdet data: %zu problem(s) skipped: %zu bad files, %zu missing images, "
            "%zu boxes outside the image\n",
            r->n_problems, r->files_skipped, r->images_missing, r->boxes_outside);
    for (size_t i = 0; i < r->n_messages; i++)
        fprintf(stderr, "  %s\n", r->messages[i]);
    if (r->n_problems > r->n_messages)
        fprintf(stderr, "  ... and %zu more\n", r->n_problems - r->n_messages);
}

static bool parse_number(const char *text, double lo, double hi, double *out) {
    char *end = NULL;
    double v = strtod(text, &end);
    if (end == text || *end || !(v >= lo && v <= hi)) return false;
    *out = v;
    return true;
}

int cmd_data(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        data_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *action = argv[1];
    if (strcmp(action, "stats") != 0 && strcmp(action, "crop") != 0) {
        fprintf(stderr, "maskdet data: unknown action '%s' (stats or crop; see --help)\n", action);
        return 2;
    }
    annot_options opt = annot_default_options();
    const char *path = NULL, *chart = NULL, *outdir = NULL;
    bool json = false;
    crops_options copt = crops_default_options();
    nn_error err = {0};
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        bool has_value = i + 1 < argc;
        double v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            data_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--format") && has_value) {
            if (annot_parse_format(argv[++i], &opt.format, &err)) {
                fprintf(stderr, "maskdet data: %s\n", err.msg);
                return 2;
            }
        } else if (!strcmp(a, "--skip-bad")) {
            opt.skip_bad = true;
        } else if (!strcmp(a, "--incorrect-class")) {
            opt.map.incorrect_own_class = true;
        } else if (!strcmp(a, "--ignore-other-covering")) {
            opt.map.other_covering_ignored = true;
        } else if (!strcmp(a, "--json") && !strcmp(action, "stats")) {
            json = true;
        } else if (!strcmp(a, "--chart") && has_value && !strcmp(action, "stats")) {
            chart = argv[++i];
        } else if ((!strcmp(a, "-o") || !strcmp(a, "--output")) && has_value &&
                   !strcmp(action, "crop")) {
            outdir = argv[++i];
        } else if (!strcmp(a, "--margin") && has_value && !strcmp(action, "crop")) {
            if (!parse_number(argv[++i], 0, 10, &v)) {
                fprintf(stderr, "maskdet data: --margin wants a number in [0, 10], got '%s'\n",
                        argv[i]);
                return 2;
            }
            copt.margin = (float)v;
        } else if (!strcmp(a, "--min-size") && has_value && !strcmp(action, "crop")) {
            if (!parse_number(argv[++i], 0, 100000, &v)) {
                fprintf(stderr, "maskdet data: --min-size wants pixels in [0, 100000], got '%s'\n",
                        argv[i]);
                return 2;
            }
            copt.min_size_px = (int)v;
        } else if (!strcmp(a, "--png") && !strcmp(action, "crop")) {
            copt.png = true;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "maskdet data %s: unknown option or missing value: '%s' (see --help)\n",
                    action, a);
            return 2;
        } else if (!path) {
            path = a;
        } else {
            fprintf(stderr, "maskdet data %s: more than one PATH ('%s', '%s')\n", action, path, a);
            return 2;
        }
    }
    if (!path) {
        fprintf(stderr, "maskdet data %s: missing PATH (see --help)\n", action);
        return 2;
    }
    if (!strcmp(action, "crop") && !outdir) {
        fprintf(stderr, "maskdet data crop: missing -o OUTDIR (see --help)\n");
        return 2;
    }
    if (isatty(2)) opt.progress = show_progress;

    annot_set set;
    if (annot_load(path, &opt, &set, &err)) {
        /* A problem with one file inside PATH can be skipped; say how. */
        size_t n = strlen(path);
        bool inside =
            strncmp(err.msg, path, n) == 0 && (err.msg[n] == '/' || (n && path[n - 1] == '/'));
        fprintf(stderr, "maskdet data %s: %s\n%s", action, err.msg,
                inside && !opt.skip_bad ? "(use --skip-bad to skip bad files and go on)\n" : "");
        return 1;
    }
    int rc = 0;
    if (!strcmp(action, "stats")) {
        stats_summary s;
        if (stats_compute(&set, &s, &err)) {
            fprintf(stderr, "maskdet data stats: %s\n", err.msg);
            rc = 1;
        } else {
            if (json) {
                char *text = stats_to_json(&s, &set);
                if (text)
                    printf("%s\n", text);
                else
                    rc = 1;
                free(text);
            } else {
                stats_print_table(&s, &set, stdout);
            }
            if (chart && rc == 0) {
                if (statschart_write(&s, chart, &err)) {
                    fprintf(stderr, "maskdet data stats: %s\n", err.msg);
                    rc = 1;
                } else {
                    fprintf(stderr, "chart written to %s\n", chart);
                }
            }
            stats_free(&s);
        }
    } else {
        crops_result res;
        if (isatty(2)) {
            copt.progress = show_progress;
        }
        if (crops_extract(&set, outdir, &copt, &res, &err)) {
            fprintf(stderr, "maskdet data crop: %s\n", err.msg);
            rc = 1;
        } else {
            printf("wrote %zu face crops to %s (", res.n_written, outdir);
            for (int c = 0; c < CLASSMAP_MAX_CLASSES; c++)
                if (c < classmap_n_classes(&set.map))
                    printf("%s%s %zu", c ? ", " : "", classmap_class_name(c), res.per_class[c]);
            printf("); %zu below --min-size skipped\n", res.n_too_small);
        }
    }
    print_problems(&set);
    annot_set_free(&set);
    return rc;
}
