/*
 * det_data.c - detection photos in memory, the split by photo, and the
 * evaluation loop shared by train-detector and eval.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "annot.h"
#include "det_data.h"

static char *stem_of(const char *path) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t len = strlen(base);
    const char *dot = strrchr(base, '.');
    if (dot && dot != base) len = (size_t)(dot - base);
    char *s = malloc(len + 1);
    if (s) memcpy(s, base, len), s[len] = '\0';
    return s;
}

void det_data_free(det_photos *d) {
    if (!d) return;
    for (int i = 0; i < d->n; i++) {
        free(d->photos[i].name);
        image_free(&d->photos[i].img);
        free(d->photos[i].boxes);
    }
    free(d->photos);
    memset(d, 0, sizeof *d);
}

nn_status det_data_load(const char *path, det_split split, uint64_t seed, float val_fraction,
                        int limit, det_photos *out, nn_error *err) {
    memset(out, 0, sizeof *out);
    annot_set set;
    annot_options opt = annot_default_options();
    if (annot_load(path, &opt, &set, err) != NN_OK) return err->code;
    if (set.format == ANNOT_FORMAT_FOLDERS) {
        annot_set_free(&set);
        return nn_error_set(err, NN_ERR_FORMAT, "%s: class folders have no face boxes (need VOC "
                            "or JSON annotations)", path);
    }
    out->photos = calloc(set.n_items ? set.n_items : 1, sizeof *out->photos);
    if (!out->photos) {
        annot_set_free(&set);
        return nn_error_set(err, NN_ERR_NOMEM, "out of memory");
    }
    nn_status st = NN_OK;
    for (size_t i = 0; i < set.n_items && st == NN_OK; i++) {
        if (limit > 0 && out->n >= limit) break;
        const annot_item *it = &set.items[i];
        char *name = stem_of(it->annotation_path ? it->annotation_path : it->image_path);
        if (!name) {
            st = nn_error_set(err, NN_ERR_NOMEM, "out of memory");
            break;
        }
        bool val = det_split_is_val(name, seed, val_fraction);
        if ((split == DET_SPLIT_TRAIN && val) || (split == DET_SPLIT_VAL && !val)) {
            free(name);
            continue;
        }
        det_photo *ph = &out->photos[out->n];
        ph->name = name;
        ph->boxes = malloc((size_t)(it->n_boxes > 0 ? it->n_boxes : 1) * sizeof *ph->boxes);
        if (!ph->boxes) {
            st = nn_error_set(err, NN_ERR_NOMEM, "out of memory");
            out->n++;
            break;
        }
        for (int b = 0; b < it->n_boxes; b++) {
            const annot_box *ab = &it->boxes[b];
            if (ab->class_id < 0) continue;
            ph->boxes[ph->n_boxes++] =
                (ssd_aug_box){ab->x1, ab->y1, ab->x2, ab->y2, ab->class_id + 1, false};
        }
        out->n_faces += ph->n_boxes;
        out->n++;
        st = image_load(it->image_path, 3, &ph->img, err);
        if (st == NN_OK && (ph->img.width != it->width_px || ph->img.height != it->height_px))
            st = nn_error_set(err, NN_ERR_FORMAT, "%s: image is %dx%d, annotation says %dx%d",
                              it->image_path, ph->img.width, ph->img.height, it->width_px,
                              it->height_px);
    }
    annot_set_free(&set);
    if (st != NN_OK) det_data_free(out);
    return st;
}

double det_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

void det_eval_summary_free(det_eval_summary *s) {
    det_ap_result_free(&s->face);
    for (int i = 0; i < DET_N_SIZE_RANGES; i++) det_ap_result_free(&s->by_size[i]);
    for (int i = 0; i < DET_MAX_LABELS; i++) det_ap_result_free(&s->per_class[i]);
}

nn_status det_data_evaluate(const det_photos *d, det_detect_fn detect, void *user,
                            float score_threshold, int n_labels, det_eval_summary *out,
                            nn_error *err) {
    memset(out, 0, sizeof *out);
    out->map = NAN;
    if (n_labels < 0 || n_labels > DET_MAX_LABELS)
        return nn_error_set(err, NN_ERR_ARG, "det_data_evaluate: %d labels", n_labels);
    det_image *ims = calloc((size_t)(d->n > 0 ? d->n : 1), sizeof *ims);
    det_pred *preds = malloc((size_t)(d->n > 0 ? d->n : 1) * DET_MAX_DETECTIONS * sizeof *preds);
    det_gt *gts = malloc((size_t)(d->n_faces > 0 ? d->n_faces : 1) * sizeof *gts);
    if (!ims || !preds || !gts) {
        free(ims), free(preds), free(gts);
        return nn_error_set(err, NN_ERR_NOMEM, "det_data_evaluate: out of memory");
    }
    nn_status st = NN_OK;
    double total_ms = 0.0;
    int g = 0;
    for (int i = 0; i < d->n && st == NN_OK; i++) {
        const det_photo *ph = &d->photos[i];
        ims[i].gt = gts + g;
        for (int b = 0; b < ph->n_boxes; b++, g++)
            gts[g] = (det_gt){ph->boxes[b].x1, ph->boxes[b].y1, ph->boxes[b].x2, ph->boxes[b].y2,
                              ph->boxes[b].label, ph->boxes[b].ignore};
        ims[i].n_gt = ph->n_boxes;
        ims[i].pred = preds + (size_t)i * DET_MAX_DETECTIONS;
        double t0 = det_now_ms();
        st = detect(user, &ph->img, preds + (size_t)i * DET_MAX_DETECTIONS, DET_MAX_DETECTIONS,
                    &ims[i].n_pred, err);
        total_ms += det_now_ms() - t0;
    }
    out->n_images = d->n;
    out->n_faces = d->n_faces;
    out->detect_ms = d->n > 0 ? total_ms / d->n : 0.0;
    det_eval_params p = det_eval_default();
    p.score_threshold = score_threshold;
    if (st == NN_OK) st = det_evaluate(ims, d->n, &p, &out->face, err);
    for (int r = 0; r < DET_N_SIZE_RANGES && st == NN_OK; r++) {
        det_eval_params ps = p;
        ps.size_min_px = det_size_ranges[r][0];
        ps.size_max_px = det_size_ranges[r][1];
        st = det_evaluate(ims, d->n, &ps, &out->by_size[r], err);
    }
    out->n_labels = n_labels;
    double sum = 0.0;
    int counted = 0;
    for (int c = 0; c < n_labels && st == NN_OK; c++) {
        det_eval_params pc = p;
        pc.label = c + 1;
        st = det_evaluate(ims, d->n, &pc, &out->per_class[c], err);
        if (st == NN_OK && !isnan(out->per_class[c].ap)) sum += out->per_class[c].ap, counted++;
    }
    if (counted > 0) out->map = sum / counted;
    free(ims), free(preds), free(gts);
    if (st != NN_OK) det_eval_summary_free(out);
    return st;
}
