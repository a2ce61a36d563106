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

/* A copy of the photo's name (annot_item_stem). */
static char *stem_of(const annot_item *it) {
    size_t len;
    const char *base = annot_item_stem(it, &len);
    char *s = malloc(len + 1);
    if (s) memcpy(s, base, len), s[len] = '\0';
    return s;
}

void det_data_free(det_photos *d) {
    if (!d) return;
    for (int i = 0; i < d->n; i++) {
        free(d->photos[i].name);
        free(d->photos[i].image_path);
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
        char *name = stem_of(it);
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
        ph->image_path = strdup(it->image_path);
        ph->boxes = malloc((size_t)(it->n_boxes > 0 ? it->n_boxes : 1) * sizeof *ph->boxes);
        if (!ph->boxes || !ph->image_path) {
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

/* The ground truth of photo i as det_metrics wants it (gts has room for all faces). */
static void photo_gt(const det_photo *ph, det_gt *gts) {
    for (int b = 0; b < ph->n_boxes; b++)
        gts[b] = (det_gt){ph->boxes[b].x1, ph->boxes[b].y1, ph->boxes[b].x2, ph->boxes[b].y2,
                          ph->boxes[b].label, ph->boxes[b].ignore};
}

/* Which entries a face gives to the list being scored. */
typedef enum {
    ENTRY_FACE,     /* one per face, scored by face_score, class-agnostic */
    ENTRY_CLASSES,  /* one per class the face has a score for (or its label only) */
    ENTRY_REPORTED, /* the face as reported (face_score >= threshold), its label */
} entry_kind;

static int face_entries(const det_face_pred *f, entry_kind kind, const det_score_params *p,
                        det_pred *out) {
    int n = 0;
    switch (kind) {
    case ENTRY_FACE: out[n++] = (det_pred){f->x1, f->y1, f->x2, f->y2, 0, f->face_score}; break;
    case ENTRY_CLASSES:
        for (int c = 0; c < p->n_labels; c++) {
            if (f->class_score[c] <= 0.0f || (p->argmax_only && f->label != c + 1)) continue;
            out[n++] = (det_pred){f->x1, f->y1, f->x2, f->y2, c + 1, f->class_score[c]};
        }
        break;
    case ENTRY_REPORTED:
        if (f->face_score >= p->face_threshold && f->label > 0)
            out[n++] = (det_pred){f->x1, f->y1, f->x2, f->y2, f->label, f->face_score};
        break;
    }
    return n;
}

/* The det_image list of one kind of entry; preds is malloc'ed (freed by the caller). */
static nn_status build_images(const det_photos *d, const det_face_pred *const *faces,
                              const int *n_found, const det_score_params *p, entry_kind kind,
                              det_gt *gts, det_image *ims, det_pred **preds, nn_error *err) {
    size_t total = 0;
    for (int i = 0; i < d->n; i++) {
        if (n_found[i] < 0 || n_found[i] > DET_MAX_DETECTIONS || (n_found[i] > 0 && !faces[i]))
            return nn_error_set(err, NN_ERR_ARG, "det_data_score: photo %d: bad faces", i);
        total += (size_t)n_found[i];
    }
    *preds = malloc((total * DET_MAX_LABELS + 1) * sizeof **preds);
    if (!*preds) return nn_error_set(err, NN_ERR_NOMEM, "det_data_score: out of memory");
    size_t k = 0, g = 0;
    for (int i = 0; i < d->n; i++) {
        ims[i] = (det_image){.gt = gts + g, .n_gt = d->photos[i].n_boxes, .pred = *preds + k};
        photo_gt(&d->photos[i], gts + g);
        g += (size_t)d->photos[i].n_boxes;
        for (int j = 0; j < n_found[i]; j++) {
            int n = face_entries(&faces[i][j], kind, p, *preds + k);
            k += (size_t)n;
            ims[i].n_pred += n;
        }
    }
    return NN_OK;
}

nn_status det_data_score(const det_photos *d, const det_face_pred *const *faces,
                         const int *n_found, const det_score_params *p, det_eval_summary *out,
                         nn_error *err) {
    memset(out, 0, sizeof *out);
    out->map = NAN;
    for (int c = 0; c < DET_MAX_LABELS; c++) out->class_precision[c] = out->class_recall[c] = NAN;
    if (!d || !p || p->n_labels < 0 || p->n_labels > DET_MAX_LABELS || (d->n > 0 && !n_found))
        return nn_error_set(err, NN_ERR_ARG, "det_data_score: bad arguments");
    out->n_images = d->n;
    out->n_faces = d->n_faces;
    out->n_labels = p->n_labels;
    det_image *ims = calloc((size_t)(d->n > 0 ? d->n : 1), sizeof *ims);
    det_gt *gts = malloc((size_t)(d->n_faces > 0 ? d->n_faces : 1) * sizeof *gts);
    det_pred *preds = NULL;
    nn_status st = NN_OK;
    if (!ims || !gts) {
        st = nn_error_set(err, NN_ERR_NOMEM, "det_data_score: out of memory");
        goto done;
    }

    /* faces: class-agnostic, overall and by size */
    det_eval_params ep = det_eval_default();
    ep.score_threshold = p->face_threshold;
    if ((st = build_images(d, faces, n_found, p, ENTRY_FACE, gts, ims, &preds, err)) ||
        (st = det_evaluate(ims, d->n, &ep, &out->face, err)))
        goto done;
    for (int r = 0; r < DET_N_SIZE_RANGES; r++) {
        det_eval_params ps = ep;
        ps.size_min_px = det_size_ranges[r][0];
        ps.size_max_px = det_size_ranges[r][1];
        if ((st = det_evaluate(ims, d->n, &ps, &out->by_size[r], err))) goto done;
    }
    if (p->n_labels == 0) goto done;

    /* per class: the AP curve, then what the pipeline reports at its thresholds */
    free(preds), preds = NULL;
    memset(ims, 0, (size_t)d->n * sizeof *ims);
    if ((st = build_images(d, faces, n_found, p, ENTRY_CLASSES, gts, ims, &preds, err))) goto done;
    double sum = 0.0;
    int counted = 0;
    for (int c = 0; c < p->n_labels; c++) {
        det_eval_params pc = ep;
        pc.label = c + 1;
        if ((st = det_evaluate(ims, d->n, &pc, &out->per_class[c], err))) goto done;
        if (!isnan(out->per_class[c].ap)) sum += out->per_class[c].ap, counted++;
    }
    if (counted > 0) out->map = sum / counted;
    free(preds), preds = NULL;
    memset(ims, 0, (size_t)d->n * sizeof *ims);
    if ((st = build_images(d, faces, n_found, p, ENTRY_REPORTED, gts, ims, &preds, err))) goto done;
    for (int c = 0; c < p->n_labels; c++) {
        det_eval_params pc = ep;
        pc.label = c + 1;
        pc.score_threshold = 0.0f; /* the entries are already what is reported */
        det_ap_result r;
        if ((st = det_evaluate(ims, d->n, &pc, &r, err))) goto done;
        out->class_precision[c] = r.precision_at_threshold;
        out->class_recall[c] = r.recall_at_threshold;
        det_ap_result_free(&r);
    }
done:
    free(ims), free(gts), free(preds);
    if (st != NN_OK) det_eval_summary_free(out);
    return st;
}

/* A detector's boxes become faces that count for their own label only. */
nn_status det_data_evaluate(const det_photos *d, det_detect_fn detect, void *user,
                            float score_threshold, int n_labels, det_eval_summary *out,
                            nn_error *err) {
    memset(out, 0, sizeof *out);
    out->map = NAN;
    if (n_labels < 0 || n_labels > DET_MAX_LABELS)
        return nn_error_set(err, NN_ERR_ARG, "det_data_evaluate: %d labels", n_labels);
    int n = d->n > 0 ? d->n : 1;
    det_face_pred *found = malloc((size_t)n * DET_MAX_DETECTIONS * sizeof *found);
    det_face_pred **faces = malloc((size_t)n * sizeof *faces);
    int *n_found = calloc((size_t)n, sizeof *n_found);
    det_pred *preds = malloc(DET_MAX_DETECTIONS * sizeof *preds);
    if (!found || !faces || !n_found || !preds) {
        free(found), free(faces), free(n_found), free(preds);
        return nn_error_set(err, NN_ERR_NOMEM, "det_data_evaluate: out of memory");
    }
    nn_status st = NN_OK;
    double total_ms = 0.0;
    for (int i = 0; i < d->n && st == NN_OK; i++) {
        faces[i] = found + (size_t)i * DET_MAX_DETECTIONS;
        double t0 = det_now_ms();
        int np = 0;
        st = detect(user, &d->photos[i].img, preds, DET_MAX_DETECTIONS, &np, err);
        total_ms += det_now_ms() - t0;
        for (int j = 0; st == NN_OK && j < np && j < DET_MAX_DETECTIONS; j++) {
            det_face_pred *f = &faces[i][n_found[i]++];
            *f = (det_face_pred){preds[j].x1, preds[j].y1, preds[j].x2, preds[j].y2,
                                 preds[j].score, preds[j].label, {0}};
            if (preds[j].label >= 1 && preds[j].label <= DET_MAX_LABELS)
                f->class_score[preds[j].label - 1] = preds[j].score;
        }
    }
    det_score_params p = {.face_threshold = score_threshold, .n_labels = n_labels,
                          .argmax_only = true};
    if (st == NN_OK)
        st = det_data_score(d, (const det_face_pred *const *)faces, n_found, &p, out, err);
    if (st == NN_OK) out->detect_ms = d->n > 0 ? total_ms / d->n : 0.0;
    free(found), free(faces), free(n_found), free(preds);
    return st;
}
