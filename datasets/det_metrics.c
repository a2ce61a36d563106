/*
 * det_metrics.c - VOC-style AP, AP by size, precision/recall at a threshold
 * (see det_metrics.h for the rules).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "det_metrics.h"
#include "plot.h"

const float det_size_ranges[DET_N_SIZE_RANGES][2] = {{0.0f, 16.0f}, {16.0f, 32.0f}, {32.0f, 0.0f}};
const char *const det_size_range_names[DET_N_SIZE_RANGES] = {"small", "medium", "large"};

det_eval_params det_eval_default(void) {
    return (det_eval_params){.label = -1, .iou_threshold = 0.5f, .score_threshold = 0.5f};
}

float det_box_size(float x1, float y1, float x2, float y2) {
    return fmaxf(x2 - x1, y2 - y1);
}

static bool in_range(float size, const det_eval_params *p) {
    return size >= p->size_min_px && (p->size_max_px <= 0.0f || size < p->size_max_px);
}

static float iou(float ax1, float ay1, float ax2, float ay2, const det_gt *b) {
    float ix = fminf(ax2, b->x2) - fmaxf(ax1, b->x1), iy = fminf(ay2, b->y2) - fmaxf(ay1, b->y1);
    if (ix <= 0 || iy <= 0) return 0.0f;
    float inter = ix * iy;
    float uni = (ax2 - ax1) * (ay2 - ay1) + (b->x2 - b->x1) * (b->y2 - b->y1) - inter;
    return uni > 0 ? inter / uni : 0.0f;
}

typedef struct {
    float score;
    int image, index; /* the order of ties */
} ranked;

static int cmp_ranked(const void *pa, const void *pb) {
    const ranked *a = pa, *b = pb;
    if (a->score != b->score) return a->score > b->score ? -1 : 1;
    if (a->image != b->image) return a->image < b->image ? -1 : 1;
    return (a->index > b->index) - (a->index < b->index);
}

void det_ap_result_free(det_ap_result *r) {
    if (!r) return;
    free(r->recall);
    free(r->precision);
    r->recall = r->precision = NULL;
    r->n_points = 0;
}

nn_status det_evaluate(const det_image *images, int n_images, const det_eval_params *p,
                       det_ap_result *out, nn_error *err) {
    memset(out, 0, sizeof *out);
    out->ap = out->precision_at_threshold = out->recall_at_threshold = NAN;
    if (n_images < 0 || (n_images > 0 && !images) || !p)
        return nn_error_set(err, NN_ERR_ARG, "det_evaluate: bad arguments");
    size_t n_pred = 0, gt_total = 0;
    for (int i = 0; i < n_images; i++) {
        if (images[i].n_pred < 0 || images[i].n_gt < 0 ||
            (images[i].n_pred > 0 && !images[i].pred) || (images[i].n_gt > 0 && !images[i].gt))
            return nn_error_set(err, NN_ERR_ARG, "det_evaluate: image %d: bad box arrays", i);
        n_pred += (size_t)images[i].n_pred;
        gt_total += (size_t)images[i].n_gt;
    }
    if (n_pred > (1u << 28) || gt_total > (1u << 28))
        return nn_error_set(err, NN_ERR_LIMIT, "det_evaluate: too many boxes");

    /* Which ground truth counts, and per-box matched flags. */
    size_t *gt_offset = malloc(((size_t)n_images + 1) * sizeof(size_t));
    bool *gt_ignore = malloc((gt_total ? gt_total : 1) * sizeof(bool));
    bool *gt_taken = calloc(gt_total ? gt_total : 1, sizeof(bool));
    ranked *order = malloc((n_pred ? n_pred : 1) * sizeof(ranked));
    if (!gt_offset || !gt_ignore || !gt_taken || !order) {
        free(gt_offset), free(gt_ignore), free(gt_taken), free(order);
        return nn_error_set(err, NN_ERR_NOMEM, "det_evaluate: out of memory");
    }
    size_t k = 0, o = 0;
    for (int i = 0; i < n_images; i++) {
        gt_offset[i] = o;
        for (int g = 0; g < images[i].n_gt; g++, o++) {
            const det_gt *b = &images[i].gt[g];
            bool class_ok = p->label < 0 || b->label == p->label; /* others: skipped below */
            gt_ignore[o] = b->ignore || !in_range(det_box_size(b->x1, b->y1, b->x2, b->y2), p);
            if (class_ok && !gt_ignore[o]) out->n_gt++;
        }
        for (int d = 0; d < images[i].n_pred; d++)
            if (p->label < 0 || images[i].pred[d].label == p->label)
                order[k++] = (ranked){images[i].pred[d].score, i, d};
    }
    gt_offset[n_images] = o;
    n_pred = k;
    qsort(order, n_pred, sizeof *order, cmp_ranked);

    out->recall = malloc((n_pred ? n_pred : 1) * sizeof(double));
    out->precision = malloc((n_pred ? n_pred : 1) * sizeof(double));
    if (!out->recall || !out->precision) {
        free(gt_offset), free(gt_ignore), free(gt_taken), free(order);
        det_ap_result_free(out);
        return nn_error_set(err, NN_ERR_NOMEM, "det_evaluate: out of memory");
    }
    int tp = 0, fp = 0;
    for (size_t r = 0; r < n_pred; r++) {
        const det_image *im = &images[order[r].image];
        const det_pred *d = &im->pred[order[r].index];
        size_t base = gt_offset[order[r].image];
        float best = -1.0f;
        int best_g = -1;
        for (int g = 0; g < im->n_gt; g++) {
            if (p->label >= 0 && im->gt[g].label != p->label) continue;
            float v = iou(d->x1, d->y1, d->x2, d->y2, &im->gt[g]);
            if (v > best) best = v, best_g = g;
        }
        bool is_tp = false;
        if (best_g >= 0 && best >= p->iou_threshold) {
            if (gt_ignore[base + best_g]) continue; /* neither TP nor FP */
            if (!gt_taken[base + best_g]) {
                gt_taken[base + best_g] = true;
                is_tp = true;
            }
        } else if (!in_range(det_box_size(d->x1, d->y1, d->x2, d->y2), p)) {
            continue; /* unmatched and outside the size range: left out */
        }
        tp += is_tp, fp += !is_tp;
        if (d->score >= p->score_threshold) {
            out->n_tp_at_threshold += is_tp;
            out->n_fp_at_threshold += !is_tp;
            if (!is_tp && best >= p->iou_threshold) out->n_fp_duplicate++;
            else if (!is_tp && best >= 0.1f) out->n_fp_misplaced++;
            else if (!is_tp) out->n_fp_no_face++;
        }
        out->recall[out->n_points] = out->n_gt > 0 ? (double)tp / out->n_gt : NAN;
        out->precision[out->n_points] = (double)tp / (tp + fp);
        out->n_points++;
    }
    out->n_pred = out->n_points;
    free(gt_offset), free(gt_ignore), free(gt_taken), free(order);

    int sel = out->n_tp_at_threshold + out->n_fp_at_threshold;
    if (sel > 0) out->precision_at_threshold = (double)out->n_tp_at_threshold / sel;
    if (out->n_gt > 0) {
        out->recall_at_threshold = (double)out->n_tp_at_threshold / out->n_gt;
        /* all-point interpolation: precision envelope from the right */
        double ap = 0.0, env = 0.0, prev_r = 0.0;
        double *envelope = malloc((out->n_points ? (size_t)out->n_points : 1) * sizeof(double));
        if (!envelope) {
            det_ap_result_free(out);
            return nn_error_set(err, NN_ERR_NOMEM, "det_evaluate: out of memory");
        }
        for (int i = out->n_points - 1; i >= 0; i--) {
            env = fmax(env, out->precision[i]);
            envelope[i] = env;
        }
        for (int i = 0; i < out->n_points; i++) {
            ap += (out->recall[i] - prev_r) * envelope[i];
            prev_r = out->recall[i];
        }
        free(envelope);
        out->ap = ap;
    }
    return NN_OK;
}

/* FNV-1a of the key's first len bytes mixed with the seed by splitmix64: a
 * uniform number in [0, 1), compared with the fraction. */
static bool key_is_val(const char *key, size_t len, uint64_t seed, float val_fraction) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)key[i];
        h *= 1099511628211ull;
    }
    uint64_t z = h ^ (seed + 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0 < val_fraction;
}

bool det_split_is_val(const char *key, uint64_t seed, float val_fraction) {
    return key_is_val(key, strlen(key), seed, val_fraction);
}

bool det_split_item_is_val(const annot_item *item, uint64_t seed, float val_fraction) {
    size_t len;
    const char *stem = annot_item_stem(item, &len);
    return key_is_val(stem, len, seed, val_fraction);
}

nn_status det_plot_pr(const char *path, const char *title, int n, const det_ap_result *results,
                      const char *const *names, nn_error *err) {
    if (n < 1 || n > 16)
        return nn_error_set(err, NN_ERR_ARG, "det_plot_pr: %d curves (1..16)", n);
    plot_series series[16];
    char labels[16][96];
    for (int i = 0; i < n; i++) {
        snprintf(labels[i], sizeof labels[i], "%s (AP %.3f)", names ? names[i] : "detector",
                 isnan(results[i].ap) ? 0.0 : results[i].ap);
        series[i] = (plot_series){.name = labels[i],
                                  .n_points = results[i].n_points,
                                  .x = results[i].recall,
                                  .y = results[i].precision};
    }
    plot_options opt = {.title = title ? title : "precision-recall",
                        .x_label = "recall",
                        .y_label = "precision",
                        .x_min = 0,
                        .x_max = 1,
                        .y_min = 0,
                        .y_max = 1.02,
                        .legend = PLOT_LEGEND_BOTTOM_LEFT};
    return plot_lines_png(path, &opt, n, series, err);
}
