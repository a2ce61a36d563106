/*
 * crops.c - writing face crops (see crops.h).
 */
#include "crops.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "image.h"

crops_options crops_default_options(void) {
    crops_options o;
    memset(&o, 0, sizeof o);
    o.margin = 0.1f;
    o.jpeg_quality = 95;
    return o;
}

void crops_rect(const annot_box *box, int image_w, int image_h, float margin, int *x, int *y,
                int *w, int *h) {
    float bw = box->x2 - box->x1, bh = box->y2 - box->y1;
    int x1 = (int)floorf(box->x1 - margin * bw), y1 = (int)floorf(box->y1 - margin * bh);
    int x2 = (int)ceilf(box->x2 + margin * bw), y2 = (int)ceilf(box->y2 + margin * bh);
    if (x1 < 0) x1 = 0;
    if (y1 < 0) y1 = 0;
    if (x2 > image_w) x2 = image_w;
    if (y2 > image_h) y2 = image_h;
    if (x2 <= x1) x2 = x1 + 1; /* boxes have area, but keep the promise for any input */
    if (y2 <= y1) y2 = y1 + 1;
    *x = x1;
    *y = y1;
    *w = x2 - x1;
    *h = y2 - y1;
}

static nn_status make_dir(const char *path, nn_error *err) {
    if (mkdir(path, 0777) == 0 || errno == EEXIST) {
        struct stat st;
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return NN_OK;
        return nn_error_set(err, NN_ERR_IO, "%s: exists and is not a folder", path);
    }
    return nn_error_set(err, NN_ERR_IO, "%s: cannot create folder: %s", path, strerror(errno));
}

/* The file name without folder and extension. */
static void file_stem(const char *path, char *out, size_t out_len) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    size_t n = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    snprintf(out, out_len, "%.*s", (int)n, base);
}

nn_status crops_extract(const annot_set *set, const char *outdir, const crops_options *opt,
                        crops_result *result, nn_error *err) {
    if (!set || !outdir || !result)
        return nn_error_set(err, NN_ERR_ARG, "crops_extract: NULL argument");
    crops_options defaults = crops_default_options();
    if (!opt) opt = &defaults;
    if (!(opt->margin >= 0) || opt->margin > 10)
        return nn_error_set(err, NN_ERR_ARG, "crops_extract: margin %g not in [0, 10]",
                            opt->margin);
    memset(result, 0, sizeof *result);
    nn_status st = make_dir(outdir, err);
    char path[4096];
    for (int c = 0; st == NN_OK && c < classmap_n_classes(&set->map); c++) {
        if ((size_t)snprintf(path, sizeof path, "%s/%s", outdir, classmap_class_name(c)) >=
            sizeof path)
            return nn_error_set(err, NN_ERR_LIMIT, "%s: path too long", outdir);
        st = make_dir(path, err);
    }
    for (size_t i = 0; st == NN_OK && i < set->n_items; i++) {
        const annot_item *it = &set->items[i];
        image img = {0};
        bool loaded = false;
        char stem[1024];
        file_stem(it->image_path, stem, sizeof stem);
        for (int b = 0; st == NN_OK && b < it->n_boxes; b++) {
            const annot_box *box = &it->boxes[b];
            if (box->class_id < 0) continue;
            if (fmaxf(box->x2 - box->x1, box->y2 - box->y1) < (float)opt->min_size_px) {
                result->n_too_small++;
                continue;
            }
            if (!loaded) {
                if ((st = image_load(it->image_path, 3, &img, err))) break;
                loaded = true;
                if (img.width != it->width_px || img.height != it->height_px) {
                    st = nn_error_set(err, NN_ERR_FORMAT, "%s: decoded as %dx%d, header said %dx%d",
                                      it->image_path, img.width, img.height, it->width_px,
                                      it->height_px);
                    break;
                }
            }
            int x, y, w, h;
            crops_rect(box, img.width, img.height, opt->margin, &x, &y, &w, &h);
            if ((size_t)snprintf(path, sizeof path, "%s/%s/%s_%d.%s", outdir,
                                 classmap_class_name(box->class_id), stem, b,
                                 opt->png ? "png" : "jpg") >= sizeof path) {
                st = nn_error_set(err, NN_ERR_LIMIT, "%s: output path too long", it->image_path);
                break;
            }
            image crop = {0};
            st = image_crop(&img, x, y, w, h, 0, &crop, err);
            if (st == NN_OK) st = image_save(&crop, path, opt->jpeg_quality, err);
            image_free(&crop);
            if (st == NN_OK) {
                result->n_written++;
                result->per_class[box->class_id]++;
            }
        }
        image_free(&img);
        if (opt->progress) opt->progress(opt->progress_user, i + 1, set->n_items);
    }
    return st;
}
