/*
 * multibox.c - prior matching, target encoding, hard negative mining and the
 * MultiBox loss (see multibox.h for the rules).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "multibox.h"

multibox_config multibox_default_config(int num_classes) {
    return (multibox_config){.num_classes = num_classes,
                             .overlap_threshold = 0.5f,
                             .neg_pos_ratio = 3.0f,
                             .loc_weight = 1.0f,
                             .smooth_l1_beta = 1.0f,
                             .min_matches = 0,
                             .compensate_iou = 0.1f};
}

typedef struct {
    float iou;
    int prior;
} scored_iou;

/* Caffe keeps only overlaps above this in its bipartite step. */
#define MIN_OVERLAP 1e-6f

/* The free prior (match < 0) of highest IoU with box; lowest index on ties. */
static int best_free_prior(const ssd_priors *priors, const float box[4], const int *match,
                           float *best_iou) {
    int best = -1;
    float best_v = MIN_OVERLAP;
    for (int p = 0; p < priors->count; p++) {
        if (match[p] >= 0) continue;
        float v = ssd_iou(priors->boxes + (size_t)p * 4, box);
        if (v > best_v) best_v = v, best = p;
    }
    *best_iou = best >= 0 ? best_v : 0.0f;
    return best;
}

nn_status multibox_match(const ssd_priors *priors, const multibox_gt *gt, int n_gt,
                         float overlap_threshold, int *match, nn_error *err) {
    if (!priors || !match || n_gt < 0 || n_gt > MULTIBOX_MAX_GT || (n_gt > 0 && !gt))
        return nn_error_set(err, NN_ERR_ARG, "multibox_match: bad arguments (%d boxes)", n_gt);
    for (int p = 0; p < priors->count; p++) match[p] = -1;
    if (n_gt == 0) return NN_OK;
    int *best_p = malloc((size_t)n_gt * sizeof(int));
    float *best_v = malloc((size_t)n_gt * sizeof(float));
    bool *done = calloc((size_t)n_gt, sizeof(bool));
    if (!best_p || !best_v || !done) {
        free(best_p), free(best_v), free(done);
        return nn_error_set(err, NN_ERR_NOMEM, "multibox_match: out of memory");
    }

    /* 1. Bipartite: each box's best free prior; the best pair overall wins. */
    for (int g = 0; g < n_gt; g++) best_p[g] = best_free_prior(priors, gt[g].box, match, &best_v[g]);
    for (;;) {
        int pick = -1;
        for (int g = 0; g < n_gt; g++) {
            if (done[g] || best_p[g] < 0) continue;
            if (pick < 0 || best_v[g] > best_v[pick] ||
                (best_v[g] == best_v[pick] && best_p[g] < best_p[pick]))
                pick = g;
        }
        if (pick < 0) break;
        int taken = best_p[pick];
        match[taken] = pick;
        done[pick] = true;
        for (int g = 0; g < n_gt; g++)
            if (!done[g] && best_p[g] == taken)
                best_p[g] = best_free_prior(priors, gt[g].box, match, &best_v[g]);
    }

    /* 2. Every free prior takes its best box when the overlap is high enough. */
    for (int p = 0; p < priors->count; p++) {
        if (match[p] >= 0) continue;
        const float *pb = priors->boxes + (size_t)p * 4;
        int best = -1;
        float v_best = -1.0f;
        for (int g = 0; g < n_gt; g++) {
            float v = ssd_iou(pb, gt[g].box);
            if (v > v_best) v_best = v, best = g;
        }
        if (best >= 0 && v_best >= overlap_threshold) match[p] = best;
    }
    free(best_p), free(best_v), free(done);
    return NN_OK;
}

nn_status multibox_match_compensate(const ssd_priors *priors, const multibox_gt *gt, int n_gt,
                                    int min_matches, float min_iou, int *match, nn_error *err) {
    if (!priors || !match || n_gt < 0 || n_gt > MULTIBOX_MAX_GT || (n_gt > 0 && !gt) ||
        min_matches < 0 || min_matches > 1000)
        return nn_error_set(err, NN_ERR_ARG, "multibox_match_compensate: bad arguments");
    if (min_matches == 0 || n_gt == 0) return NN_OK;
    int *count = calloc((size_t)n_gt, sizeof *count);
    scored_iou *best = malloc((size_t)min_matches * sizeof *best);
    if (!count || !best) {
        free(count), free(best);
        return nn_error_set(err, NN_ERR_NOMEM, "multibox_match_compensate: out of memory");
    }
    for (int p = 0; p < priors->count; p++)
        if (match[p] >= 0) count[match[p]]++;
    for (int g = 0; g < n_gt; g++) {
        if (gt[g].ignore || count[g] >= min_matches) continue;
        /* the `need` best free priors, kept sorted: by IoU, then prior index */
        int need = min_matches - count[g], have = 0;
        for (int p = 0; p < priors->count; p++) {
            if (match[p] >= 0) continue;
            float v = ssd_iou(priors->boxes + (size_t)p * 4, gt[g].box);
            if (!(v >= min_iou) || (have == need && v <= best[have - 1].iou)) continue;
            int at = have < need ? have++ : need - 1; /* the last one drops out */
            for (; at > 0 && best[at - 1].iou < v; at--) best[at] = best[at - 1];
            best[at] = (scored_iou){v, p};
        }
        for (int i = 0; i < have; i++) match[best[i].prior] = g;
    }
    free(count), free(best);
    return NN_OK;
}

int multibox_encode(const ssd_priors *priors, const multibox_gt *gt, const int *match,
                    int *labels, float *loc) {
    int n_pos = 0;
    for (int p = 0; p < priors->count; p++) {
        float *l = loc + (size_t)p * 4;
        l[0] = l[1] = l[2] = l[3] = 0.0f;
        int g = match[p];
        if (g < 0) {
            labels[p] = 0;
        } else if (gt[g].ignore) {
            labels[p] = -1;
        } else {
            labels[p] = gt[g].label;
            ssd_encode_box(priors->boxes + (size_t)p * 4, priors->variances + (size_t)p * 4,
                           gt[g].box, SSD_CODE_CENTER_SIZE, false, l);
            n_pos++;
        }
    }
    return n_pos;
}

typedef struct {
    float loss;
    int index;
} scored_prior;

static int cmp_loss_desc(const void *pa, const void *pb) {
    const scored_prior *a = pa, *b = pb;
    if (a->loss != b->loss) return a->loss > b->loss ? -1 : 1;
    return (a->index > b->index) - (a->index < b->index);
}

int multibox_mine_negatives(const float *conf, int n_priors, int num_classes, int *labels,
                            int n_pos, float neg_pos_ratio, nn_error *err) {
    int n_cand = 0;
    for (int p = 0; p < n_priors; p++) n_cand += labels[p] == 0;
    double want = floor((double)neg_pos_ratio * n_pos);
    int n_keep = want < n_cand ? (int)want : n_cand;
    if (n_keep < 0) n_keep = 0;
    if (n_keep == n_cand) return n_keep;
    scored_prior *cand = malloc((size_t)(n_cand > 0 ? n_cand : 1) * sizeof *cand);
    if (!cand) {
        nn_error_set(err, NN_ERR_NOMEM, "multibox: out of memory mining %d negatives", n_cand);
        return -1;
    }
    int k = 0;
    for (int p = 0; p < n_priors; p++) {
        if (labels[p] != 0) continue;
        /* background loss = log(sum exp z) - z0, computed stably */
        const float *z = conf + (size_t)p * num_classes;
        float zmax = z[0];
        for (int c = 1; c < num_classes; c++) zmax = z[c] > zmax ? z[c] : zmax;
        double s = 0.0;
        for (int c = 0; c < num_classes; c++) s += exp((double)z[c] - zmax);
        cand[k++] = (scored_prior){(float)(zmax + log(s) - z[0]), p};
    }
    qsort(cand, (size_t)n_cand, sizeof *cand, cmp_loss_desc);
    for (int i = n_keep; i < n_cand; i++) labels[cand[i].index] = -1;
    free(cand);
    return n_keep;
}

nn_tensor *multibox_loss(nn_ctx *ctx, nn_tensor *loc, nn_tensor *conf, const ssd_priors *priors,
                         const multibox_image *images, const multibox_config *cfg,
                         multibox_stats *stats) {
    if (!loc || !conf) return NULL; /* an earlier op failed: its reason is in ctx */
    if (!priors || !images || !cfg || cfg->num_classes < 2 || loc->ndim != 2 || conf->ndim != 2) {
        nn_ctx_fail(ctx, NN_ERR_ARG, "multibox_loss: bad arguments");
        return NULL;
    }
    int batch = loc->shape[0], n_priors = priors->count, nc = cfg->num_classes;
    if (conf->shape[0] != batch || (size_t)loc->shape[1] != (size_t)n_priors * 4 ||
        (size_t)conf->shape[1] != (size_t)n_priors * nc) {
        char ls[64], cs[64];
        nn_ctx_fail(ctx, NN_ERR_SHAPE,
                    "multibox_loss: loc %s / conf %s do not fit %d priors x %d classes",
                    nn_shape_str(loc, ls, sizeof ls), nn_shape_str(conf, cs, sizeof cs), n_priors,
                    nc);
        return NULL;
    }
    size_t total = (size_t)batch * n_priors;
    nn_arena *arena = nn_ctx_arena(ctx);
    int *labels = nn_arena_alloc(arena, total * sizeof(int));
    int *match = nn_arena_alloc(arena, (size_t)n_priors * sizeof(int));
    float *target = nn_arena_alloc(arena, total * 4 * sizeof(float));
    float *mask = nn_arena_alloc(arena, total * 4 * sizeof(float));
    if (!labels || !match || !target || !mask) {
        nn_ctx_fail(ctx, NN_ERR_NOMEM, "multibox_loss: out of memory for %zu priors", total);
        return NULL;
    }
    int n_pos = 0, n_neg = 0, n_ign = 0;
    for (int b = 0; b < batch; b++) {
        nn_error err = {0};
        int *lab = labels + (size_t)b * n_priors;
        for (int g = 0; g < images[b].n_gt; g++) {
            int l = images[b].gt[g].label;
            if (!images[b].gt[g].ignore && (l < 1 || l >= nc)) {
                nn_ctx_fail(ctx, NN_ERR_ARG, "multibox_loss: image %d box %d label %d not in 1..%d",
                            b, g, l, nc - 1);
                return NULL;
            }
        }
        if (multibox_match(priors, images[b].gt, images[b].n_gt, cfg->overlap_threshold, match,
                           &err) != NN_OK ||
            multibox_match_compensate(priors, images[b].gt, images[b].n_gt, cfg->min_matches,
                                      cfg->compensate_iou, match, &err) != NN_OK) {
            nn_ctx_fail(ctx, err.code, "multibox_loss: image %d: %s", b, err.msg);
            return NULL;
        }
        int pos = multibox_encode(priors, images[b].gt, match, lab, target + (size_t)b * n_priors * 4);
        int neg = multibox_mine_negatives(conf->data + (size_t)b * n_priors * nc, n_priors, nc, lab,
                                          pos, cfg->neg_pos_ratio, &err);
        if (neg < 0) {
            nn_ctx_fail(ctx, err.code, "%s", err.msg);
            return NULL;
        }
        for (int p = 0; p < n_priors; p++) {
            float on = lab[p] > 0 ? 1.0f : 0.0f;
            float *mk = mask + ((size_t)b * n_priors + p) * 4;
            mk[0] = mk[1] = mk[2] = mk[3] = on;
            n_ign += match[p] >= 0 && images[b].gt[match[p]].ignore;
        }
        n_pos += pos;
        n_neg += neg;
    }
    float inv_n = 1.0f / (float)(n_pos > 0 ? n_pos : 1);
    int conf_shape[2] = {(int)total, nc};
    nn_tensor *logits = nn_reshape(ctx, conf, 2, conf_shape);
    nn_tensor *conf_sum = nn_cross_entropy(ctx, logits, labels, NULL, 0.0f, NN_REDUCE_SUM);
    nn_tensor *loc_sum = nn_smooth_l1(ctx, loc, target, mask, cfg->smooth_l1_beta, NN_REDUCE_SUM);
    nn_tensor *conf_loss = nn_scale(ctx, conf_sum, inv_n);
    nn_tensor *loc_loss = nn_scale(ctx, loc_sum, inv_n * cfg->loc_weight);
    nn_tensor *loss = nn_add(ctx, loc_loss, conf_loss);
    if (stats && loss) {
        stats->loss = loss->data[0];
        stats->loc_loss = loc_loss->data[0];
        stats->conf_loss = conf_loss->data[0];
        stats->n_pos = n_pos;
        stats->n_neg = n_neg;
        stats->n_ignored = n_ign;
    }
    return loss;
}
