/*
 * ssd.c - SSD prior boxes, box coding, NMS and DetectionOutput (see ssd.h).
 *
 * The Caffe parts follow the rules of Caffe SSD's PriorBox and
 * DetectionOutput layers (prior order per location: min box, sqrt(min*max)
 * box, then aspect ratios 1 < ... in the order written, each followed by its
 * flip); the torchvision part follows DefaultBoxGenerator of torchvision 0.14.
 */
#include "ssd.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ priors */

void ssd_priors_init(ssd_priors *p) { memset(p, 0, sizeof *p); }

void ssd_priors_free(ssd_priors *p) {
    free(p->boxes);
    free(p->variances);
    ssd_priors_init(p);
}

/* Makes room for `more` priors; returns a pointer to the first new box. */
static nn_status priors_reserve(ssd_priors *p, long long more, nn_error *err) {
    if (more < 0 || more > SSD_MAX_PRIORS - (long long)p->count)
        return nn_error_set(err, NN_ERR_LIMIT, "ssd: %lld more priors exceed the limit of %d",
                            more, SSD_MAX_PRIORS);
    int need = p->count + (int)more;
    if (need <= p->capacity) return NN_OK;
    int cap = p->capacity ? p->capacity : 256;
    while (cap < need) cap = cap > SSD_MAX_PRIORS / 2 ? SSD_MAX_PRIORS : cap * 2;
    float *boxes = realloc(p->boxes, (size_t)cap * 4 * sizeof(float));
    if (!boxes) return nn_error_set(err, NN_ERR_NOMEM, "ssd: out of memory for %d priors", cap);
    p->boxes = boxes;
    float *vars = realloc(p->variances, (size_t)cap * 4 * sizeof(float));
    if (!vars) return nn_error_set(err, NN_ERR_NOMEM, "ssd: out of memory for %d priors", cap);
    p->variances = vars;
    p->capacity = cap;
    return NN_OK;
}

static void priors_push(ssd_priors *p, float x1, float y1, float x2, float y2,
                        const float var[4]) {
    float *b = p->boxes + (size_t)p->count * 4, *v = p->variances + (size_t)p->count * 4;
    b[0] = x1, b[1] = y1, b[2] = x2, b[3] = y2;
    memcpy(v, var, 4 * sizeof(float));
    p->count++;
}

static nn_status check_map(int feat_w, int feat_h, int img_w, int img_h, nn_error *err) {
    if (feat_w <= 0 || feat_h <= 0 || img_w <= 0 || img_h <= 0 || feat_w > 65536 ||
        feat_h > 65536)
        return nn_error_set(err, NN_ERR_ARG, "ssd: bad feature map %dx%d or image %dx%d", feat_w,
                            feat_h, img_w, img_h);
    return NN_OK;
}

ssd_caffe_prior_params ssd_caffe_prior_default(void) {
    ssd_caffe_prior_params p;
    memset(&p, 0, sizeof p);
    p.flip = true;
    p.offset = 0.5f;
    return p;
}

/* Caffe's aspect_ratios_: 1 first, then each new ratio and (flip) its inverse. */
static int caffe_ratio_list(const ssd_caffe_prior_params *p, float *out) {
    int n = 0;
    out[n++] = 1.0f;
    for (int i = 0; i < p->n_aspect_ratios; i++) {
        float ar = p->aspect_ratios[i];
        bool seen = false;
        for (int j = 0; j < n; j++)
            if (fabsf(ar - out[j]) < 1e-6f) seen = true;
        if (seen) continue;
        out[n++] = ar;
        if (p->flip) out[n++] = 1.0f / ar;
    }
    return n;
}

int ssd_caffe_priors_per_location(const ssd_caffe_prior_params *p, nn_error *err) {
    if (p->n_min_sizes < 1 || p->n_min_sizes > SSD_MAX_SIZES) {
        nn_error_set(err, NN_ERR_ARG, "ssd: PriorBox needs 1..%d min_size values, has %d",
                     SSD_MAX_SIZES, p->n_min_sizes);
        return -1;
    }
    if (p->n_max_sizes != 0 && p->n_max_sizes != p->n_min_sizes) {
        nn_error_set(err, NN_ERR_ARG, "ssd: PriorBox has %d max_size values for %d min_size",
                     p->n_max_sizes, p->n_min_sizes);
        return -1;
    }
    if (p->n_aspect_ratios < 0 || p->n_aspect_ratios > SSD_MAX_SIZES) {
        nn_error_set(err, NN_ERR_ARG, "ssd: PriorBox has %d aspect ratios (max %d)",
                     p->n_aspect_ratios, SSD_MAX_SIZES);
        return -1;
    }
    for (int i = 0; i < p->n_min_sizes; i++) {
        if (!(p->min_sizes[i] > 0)) {
            nn_error_set(err, NN_ERR_ARG, "ssd: PriorBox min_size %g must be positive",
                         p->min_sizes[i]);
            return -1;
        }
        if (p->n_max_sizes && !(p->max_sizes[i] > p->min_sizes[i])) {
            nn_error_set(err, NN_ERR_ARG, "ssd: PriorBox max_size %g must exceed min_size %g",
                         p->max_sizes[i], p->min_sizes[i]);
            return -1;
        }
    }
    for (int i = 0; i < p->n_aspect_ratios; i++)
        if (!(p->aspect_ratios[i] > 0)) {
            nn_error_set(err, NN_ERR_ARG, "ssd: PriorBox aspect_ratio %g must be positive",
                         p->aspect_ratios[i]);
            return -1;
        }
    if (p->n_variances != 0 && p->n_variances != 1 && p->n_variances != 4) {
        nn_error_set(err, NN_ERR_ARG, "ssd: PriorBox needs 0, 1 or 4 variances, has %d",
                     p->n_variances);
        return -1;
    }
    float ratios[2 * SSD_MAX_SIZES + 1];
    int n_ratios = caffe_ratio_list(p, ratios);
    return n_ratios * p->n_min_sizes + p->n_max_sizes;
}

nn_status ssd_priors_add_caffe(ssd_priors *p, const ssd_caffe_prior_params *prm, int feat_w,
                               int feat_h, int img_w, int img_h, nn_error *err) {
    int per_loc = ssd_caffe_priors_per_location(prm, err);
    if (per_loc < 0) return err ? err->code : NN_ERR_ARG;
    nn_status st = check_map(feat_w, feat_h, img_w, img_h, err);
    if (st) return st;
    if ((st = priors_reserve(p, (long long)feat_w * feat_h * per_loc, err))) return st;

    /* img_size in the params overrides the input image (Caffe: img_w_/img_h_). */
    int iw = prm->img_w > 0 ? prm->img_w : img_w;
    int ih = prm->img_h > 0 ? prm->img_h : img_h;
    float step_w = prm->step_w > 0 ? prm->step_w : (float)iw / (float)feat_w;
    float step_h = prm->step_h > 0 ? prm->step_h : (float)ih / (float)feat_h;
    float var[4] = {0.1f, 0.1f, 0.1f, 0.1f};
    if (prm->n_variances == 1) var[0] = var[1] = var[2] = var[3] = prm->variances[0];
    if (prm->n_variances == 4) memcpy(var, prm->variances, sizeof var);
    float ratios[2 * SSD_MAX_SIZES + 1];
    int n_ratios = caffe_ratio_list(prm, ratios);

    int first = p->count;
    for (int y = 0; y < feat_h; y++) {
        for (int x = 0; x < feat_w; x++) {
            float cx = ((float)x + prm->offset) * step_w;
            float cy = ((float)y + prm->offset) * step_h;
            for (int s = 0; s < prm->n_min_sizes; s++) {
                float min_size = prm->min_sizes[s];
                /* the same double arithmetic as Caffe: (center - size / 2.) / img */
#define PUSH(bw, bh)                                                                       \
    priors_push(p, (float)((cx - (bw) / 2.) / iw), (float)((cy - (bh) / 2.) / ih),           \
                (float)((cx + (bw) / 2.) / iw), (float)((cy + (bh) / 2.) / ih), var)
                PUSH(min_size, min_size);
                if (prm->n_max_sizes) {
                    float side = sqrtf(min_size * prm->max_sizes[s]);
                    PUSH(side, side);
                }
                for (int r = 0; r < n_ratios; r++) {
                    if (fabsf(ratios[r] - 1.0f) < 1e-6f) continue;
                    float bw = min_size * sqrtf(ratios[r]), bh = min_size / sqrtf(ratios[r]);
                    PUSH(bw, bh);
                }
#undef PUSH
            }
        }
    }
    if (prm->clip)
        for (size_t i = (size_t)first * 4; i < (size_t)p->count * 4; i++)
            p->boxes[i] = fminf(fmaxf(p->boxes[i], 0.0f), 1.0f);
    return NN_OK;
}

static const float VAR_SSD[4] = {0.1f, 0.1f, 0.2f, 0.2f};

/* Pushes a centre-form box as corners. */
static void push_center(ssd_priors *p, float cx, float cy, float w, float h) {
    priors_push(p, cx - 0.5f * w, cy - 0.5f * h, cx + 0.5f * w, cy + 0.5f * h, VAR_SSD);
}

nn_status ssd_priors_add_torchvision(ssd_priors *p, float scale, float next_scale,
                                     const float *aspect_ratios, int n_aspect_ratios, int step_px,
                                     int feat_w, int feat_h, int img_w, int img_h, bool clip,
                                     nn_error *err) {
    nn_status st = check_map(feat_w, feat_h, img_w, img_h, err);
    if (st) return st;
    if (n_aspect_ratios < 0 || n_aspect_ratios > SSD_MAX_SIZES || !(scale > 0) ||
        !(next_scale > 0) || step_px < 0)
        return nn_error_set(err, NN_ERR_ARG, "ssd: bad DefaultBoxGenerator parameters");
    /* The (w, h) pairs of one location, as _generate_wh_pairs. */
    float wh[2 * (2 + 2 * SSD_MAX_SIZES)];
    int n = 0;
    float s_prime = (float)sqrt((double)scale * next_scale);
    wh[2 * n] = scale, wh[2 * n + 1] = scale, n++;
    wh[2 * n] = s_prime, wh[2 * n + 1] = s_prime, n++;
    for (int i = 0; i < n_aspect_ratios; i++) {
        if (!(aspect_ratios[i] > 0))
            return nn_error_set(err, NN_ERR_ARG, "ssd: aspect ratio %g must be positive",
                                aspect_ratios[i]);
        double sq = sqrt(aspect_ratios[i]);
        float w = (float)(scale * sq), h = (float)(scale / sq);
        wh[2 * n] = w, wh[2 * n + 1] = h, n++;
        wh[2 * n] = h, wh[2 * n + 1] = w, n++;
    }
    if (clip)
        for (int i = 0; i < 2 * n; i++) wh[i] = fminf(fmaxf(wh[i], 0.0f), 1.0f);
    if ((st = priors_reserve(p, (long long)feat_w * feat_h * n, err))) return st;
    /* x_f_k = image / step (may be fractional, 300/8 = 37.5) or the map size. */
    double fx = step_px ? (double)img_w / step_px : feat_w;
    double fy = step_px ? (double)img_h / step_px : feat_h;
    for (int y = 0; y < feat_h; y++)
        for (int x = 0; x < feat_w; x++) {
            float cx = (float)((x + 0.5) / fx), cy = (float)((y + 0.5) / fy);
            for (int k = 0; k < n; k++) push_center(p, cx, cy, wh[2 * k], wh[2 * k + 1]);
        }
    return NN_OK;
}

nn_status ssd_priors_add_anchors(ssd_priors *p, const float *sizes, int n_sizes,
                                 const float *ratios, int n_ratios, int feat_w, int feat_h,
                                 nn_error *err) {
    nn_status st = check_map(feat_w, feat_h, 1, 1, err);
    if (st) return st;
    if (n_sizes < 1 || n_ratios < 1 || n_sizes > SSD_MAX_SIZES || n_ratios > SSD_MAX_SIZES ||
        ratios[0] != 1.0f)
        return nn_error_set(err, NN_ERR_ARG,
                            "ssd: anchors need 1..%d sizes and ratios, the first ratio 1",
                            SSD_MAX_SIZES);
    for (int i = 0; i < n_sizes; i++)
        if (!(sizes[i] > 0)) return nn_error_set(err, NN_ERR_ARG, "ssd: anchor size must be > 0");
    for (int i = 0; i < n_ratios; i++)
        if (!(ratios[i] > 0)) return nn_error_set(err, NN_ERR_ARG, "ssd: anchor ratio must be > 0");
    int per_loc = n_sizes + n_ratios - 1;
    if ((st = priors_reserve(p, (long long)feat_w * feat_h * per_loc, err))) return st;
    for (int y = 0; y < feat_h; y++)
        for (int x = 0; x < feat_w; x++) {
            float cx = (float)((x + 0.5) / feat_w), cy = (float)((y + 0.5) / feat_h);
            for (int s = 0; s < n_sizes; s++) push_center(p, cx, cy, sizes[s], sizes[s]);
            for (int r = 1; r < n_ratios; r++) {
                double sq = sqrt(ratios[r]);
                push_center(p, cx, cy, (float)(sizes[0] * sq), (float)(sizes[0] / sq));
            }
        }
    return NN_OK;
}

nn_status ssd_priors_add_ultraface(ssd_priors *p, const float *min_boxes_px, int n_boxes,
                                   int stride_px, int img_w, int img_h, nn_error *err) {
    if (stride_px <= 0 || n_boxes < 1 || n_boxes > SSD_MAX_SIZES)
        return nn_error_set(err, NN_ERR_ARG, "ssd: bad UltraFace stride %d or %d boxes",
                            stride_px, n_boxes);
    int fw = (img_w + stride_px - 1) / stride_px, fh = (img_h + stride_px - 1) / stride_px;
    nn_status st = check_map(fw, fh, img_w, img_h, err);
    if (st) return st;
    if ((st = priors_reserve(p, (long long)fw * fh * n_boxes, err))) return st;
    double scale_w = (double)img_w / stride_px, scale_h = (double)img_h / stride_px;
    for (int j = 0; j < fh; j++)
        for (int i = 0; i < fw; i++) {
            float cx = (float)((i + 0.5) / scale_w), cy = (float)((j + 0.5) / scale_h);
            for (int b = 0; b < n_boxes; b++) {
                float w = min_boxes_px[b] / (float)img_w, h = min_boxes_px[b] / (float)img_h;
                /* the original clamps the centre-form values, not the corners */
                push_center(p, fminf(fmaxf(cx, 0.f), 1.f), fminf(fmaxf(cy, 0.f), 1.f),
                            fminf(fmaxf(w, 0.f), 1.f), fminf(fmaxf(h, 0.f), 1.f));
            }
        }
    return NN_OK;
}

/* -------------------------------------------------------------- box coding */

void ssd_decode_box(const float prior[4], const float variance[4], const float loc[4],
                    ssd_code_type code, bool variance_in_target, float out[4]) {
    static const float ones[4] = {1, 1, 1, 1};
    const float *v = variance_in_target ? ones : variance;
    float pw = prior[2] - prior[0], ph = prior[3] - prior[1];
    switch (code) {
    case SSD_CODE_CORNER:
        for (int i = 0; i < 4; i++) out[i] = prior[i] + v[i] * loc[i];
        return;
    case SSD_CODE_CORNER_SIZE:
        out[0] = prior[0] + v[0] * loc[0] * pw;
        out[1] = prior[1] + v[1] * loc[1] * ph;
        out[2] = prior[2] + v[2] * loc[2] * pw;
        out[3] = prior[3] + v[3] * loc[3] * ph;
        return;
    case SSD_CODE_CENTER_SIZE:
    default: {
        float pcx = (prior[0] + prior[2]) * 0.5f, pcy = (prior[1] + prior[3]) * 0.5f;
        float cx = v[0] * loc[0] * pw + pcx, cy = v[1] * loc[1] * ph + pcy;
        float w = expf(v[2] * loc[2]) * pw, h = expf(v[3] * loc[3]) * ph;
        out[0] = cx - w * 0.5f, out[1] = cy - h * 0.5f;
        out[2] = cx + w * 0.5f, out[3] = cy + h * 0.5f;
        return;
    }
    }
}

void ssd_encode_box(const float prior[4], const float variance[4], const float box[4],
                    ssd_code_type code, bool variance_in_target, float loc[4]) {
    static const float ones[4] = {1, 1, 1, 1};
    const float *v = variance_in_target ? ones : variance;
    float pw = prior[2] - prior[0], ph = prior[3] - prior[1];
    switch (code) {
    case SSD_CODE_CORNER:
        for (int i = 0; i < 4; i++) loc[i] = (box[i] - prior[i]) / v[i];
        return;
    case SSD_CODE_CORNER_SIZE:
        loc[0] = (box[0] - prior[0]) / pw / v[0];
        loc[1] = (box[1] - prior[1]) / ph / v[1];
        loc[2] = (box[2] - prior[2]) / pw / v[2];
        loc[3] = (box[3] - prior[3]) / ph / v[3];
        return;
    case SSD_CODE_CENTER_SIZE:
    default: {
        float pcx = (prior[0] + prior[2]) * 0.5f, pcy = (prior[1] + prior[3]) * 0.5f;
        float bw = box[2] - box[0], bh = box[3] - box[1];
        float bcx = (box[0] + box[2]) * 0.5f, bcy = (box[1] + box[3]) * 0.5f;
        loc[0] = (bcx - pcx) / pw / v[0];
        loc[1] = (bcy - pcy) / ph / v[1];
        loc[2] = logf(bw / pw) / v[2];
        loc[3] = logf(bh / ph) / v[3];
        return;
    }
    }
}

static float box_area(const float b[4]) {
    if (b[2] < b[0] || b[3] < b[1]) return 0.0f;
    return (b[2] - b[0]) * (b[3] - b[1]);
}

float ssd_iou(const float a[4], const float b[4]) {
    if (b[0] > a[2] || b[2] < a[0] || b[1] > a[3] || b[3] < a[1]) return 0.0f;
    float iw = fminf(a[2], b[2]) - fmaxf(a[0], b[0]);
    float ih = fminf(a[3], b[3]) - fmaxf(a[1], b[1]);
    float inter = iw * ih;
    float uni = box_area(a) + box_area(b) - inter;
    return uni > 0.0f ? inter / uni : 0.0f;
}

/* ---------------------------------------------------------------------- NMS */

typedef struct {
    float score;
    int index; /* prior index */
    int label;
    int order; /* position before sorting, the tie-break */
} scored;

/* Does a sort before b? By descending score, equal scores keeping their
 * earlier order (a stable sort); or, by_order, by that order alone. Written
 * out rather than passed as a qsort comparator: the top-k selection below
 * calls it once per candidate, 8732 x 90 times per image for SSD300 on COCO. */
static inline bool scored_before(const scored *a, const scored *b, bool by_order) {
    if (!by_order && a->score != b->score) return a->score > b->score;
    return a->order < b->order;
}

/* Room for sorting n entries: glibc's qsort may malloc a merge buffer, and
 * the frame loop must not allocate, so the caller lends the memory. */
typedef struct {
    float *keys; /* n scores, reordered by the selection */
    scored *tmp; /* n entries for merging */
} sort_space;

/* Sorts a[0..n) by scored_before: a bottom-up merge sort, n log n
 * comparisons that walk memory in order. */
static void merge_sort(scored *a, size_t n, scored *tmp, bool by_order) {
    for (size_t width = 1; width < n; width *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * width) {
            size_t mid = lo + width < n ? lo + width : n, hi = lo + 2 * width < n ? lo + 2 * width : n;
            size_t i = lo, j = mid, o = lo;
            while (i < mid && j < hi)
                tmp[o++] = scored_before(&a[j], &a[i], by_order) ? a[j++] : a[i++];
            while (i < mid) tmp[o++] = a[i++];
            while (j < hi) tmp[o++] = a[j++];
        }
        memcpy(a, tmp, n * sizeof *a);
    }
}

/* The k-th largest of v[0..n) (1 <= k <= n, no NaN), by quickselect: Hoare
 * partitions around a middle pivot, keeping only the side that holds it.
 * Reorders v. */
static float kth_largest(float *v, size_t n, size_t k) {
    size_t lo = 0, hi = n - 1, want = k - 1; /* want: its index in descending order */
    while (lo < hi) {
        float pivot = v[lo + (hi - lo) / 2];
        size_t i = lo, j = hi;
        for (;;) { /* v[lo..i) >= pivot, v(j..hi] <= pivot */
            while (v[i] > pivot) i++;
            while (v[j] < pivot) j--;
            if (i >= j) break;
            float t = v[i];
            v[i++] = v[j], v[j--] = t;
        }
        if (want <= j) hi = j;
        else lo = j + 1;
    }
    return v[lo];
}

/* The first k of a[0..n) by descending score, sorted, into a[0..k) (the rest
 * is lost). Equal scores keep their earlier order, which must be a[].order
 * rising with the index, as it is for every caller. Selecting first costs n
 * rather than n log n when top_k cuts a long list: the k-th best score is
 * found, the entries above it (and the first ties) are kept in place, and only
 * those k are sorted. */
static void sort_first(scored *a, size_t n, size_t k, sort_space sp) {
    if (k > n) k = n;
    if (k == 0) return;
    if (k < n) {
        for (size_t i = 0; i < n; i++) sp.keys[i] = a[i].score;
        float kth = kth_largest(sp.keys, n, k);
        size_t above = 0;
        for (size_t i = 0; i < n; i++) above += a[i].score > kth;
        size_t ties = k - above, out = 0;
        for (size_t i = 0; i < n && out < k; i++)
            if (a[i].score > kth || (a[i].score == kth && ties > 0 && ties--)) a[out++] = a[i];
    }
    merge_sort(a, k, sp.tmp, false);
}

/* The boxes NMS has kept so far, column by column (x1[], y1[], x2[], y2[],
 * area[]), so the test of a new box against all of them is one loop over
 * arrays that the compiler runs several boxes at a time. */
typedef struct {
    float *x1, *y1, *x2, *y2, *area;
} kept_boxes;

static kept_boxes kept_boxes_in(float *floats, int n) {
    kept_boxes k = {floats, floats + n, floats + 2 * (size_t)n, floats + 3 * (size_t)n,
                    floats + 4 * (size_t)n};
    return k;
}

/* Is box a suppressed by one of the first `count` kept boxes: is its IoU with
 * one of them above iou_thr (or not comparable, a NaN)? The arithmetic is
 * ssd_iou's, operation for operation, so the result is the same bit for bit,
 * but without branches: every lane computes, the overlap test becomes a
 * mask. Blocks of 64 let a box that the first kept boxes suppress (the usual
 * case: they are the best-scoring ones) stop early. */
static bool suppressed(const kept_boxes *k, int count, const float a[4], float iou_thr) {
    const float ax1 = a[0], ay1 = a[1], ax2 = a[2], ay2 = a[3], a_area = box_area(a);
    const float *x1 = k->x1, *y1 = k->y1, *x2 = k->x2, *y2 = k->y2, *area = k->area;
    for (int k0 = 0; k0 < count; k0 += 64) {
        int k1 = count - k0 < 64 ? count : k0 + 64, hit = 0;
        for (int i = k0; i < k1; i++) {
            float ix1 = ax1 > x1[i] ? ax1 : x1[i], iy1 = ay1 > y1[i] ? ay1 : y1[i];
            float ix2 = ax2 < x2[i] ? ax2 : x2[i], iy2 = ay2 < y2[i] ? ay2 : y2[i];
            float inter = (ix2 - ix1) * (iy2 - iy1);
            float uni = a_area + area[i] - inter;
            int apart = (x1[i] > ax2) | (x2[i] < ax1) | (y1[i] > ay2) | (y2[i] < ay1);
            float ratio = inter / (uni > 0.0f ? uni : 1.0f); /* computed in every lane */
            float iou = (!apart & (uni > 0.0f)) ? ratio : 0.0f;
            hit |= !(iou <= iou_thr);
        }
        if (hit) return true;
    }
    return false;
}

/* NMS using caller scratch: `cand` (n entries), `kept_floats` (5 n) and sp (n). */
static int nms_core(const float *boxes, const float *scores, size_t stride, int n, float thr,
                    float iou_thr, int top_k, scored *cand, float *kept_floats, sort_space sp,
                    int *keep) {
    int n_cand = 0;
    for (int i = 0; i < n; i++) {
        float s = scores[(size_t)i * stride];
        if (s > thr) {
            scored *c = &cand[n_cand];
            c->score = s, c->index = i, c->label = 0, c->order = n_cand++;
        }
    }
    int m = n_cand;
    if (top_k >= 0 && top_k < m) m = top_k;
    sort_first(cand, (size_t)n_cand, (size_t)m, sp);
    kept_boxes k = kept_boxes_in(kept_floats, n);
    int kept = 0;
    for (int c = 0; c < m; c++) {
        const float *box = boxes + (size_t)cand[c].index * 4;
        if (suppressed(&k, kept, box, iou_thr)) continue;
        k.x1[kept] = box[0], k.y1[kept] = box[1], k.x2[kept] = box[2], k.y2[kept] = box[3];
        k.area[kept] = box_area(box);
        keep[kept++] = cand[c].index;
    }
    return kept;
}

nn_status ssd_nms(const float *boxes, const float *scores, size_t score_stride, int n,
                  float score_threshold, float iou_threshold, int top_k, int *keep, int *n_keep,
                  nn_error *err) {
    *n_keep = 0;
    if (n < 0 || n > SSD_MAX_PRIORS || score_stride < 1)
        return nn_error_set(err, NN_ERR_ARG, "ssd: nms over %d boxes (max %d)", n, SSD_MAX_PRIORS);
    if (n == 0) return NN_OK;
    scored *cand = malloc((size_t)n * sizeof *cand);
    float *kept_floats = malloc((size_t)n * 5 * sizeof *kept_floats);
    sort_space sp = {malloc((size_t)n * sizeof(float)), malloc((size_t)n * sizeof(scored))};
    if (cand && kept_floats && sp.keys && sp.tmp)
        *n_keep = nms_core(boxes, scores, score_stride, n, score_threshold, iou_threshold, top_k,
                           cand, kept_floats, sp, keep);
    bool ok = cand && kept_floats && sp.keys && sp.tmp;
    free(cand), free(kept_floats), free(sp.keys), free(sp.tmp);
    if (!ok) return nn_error_set(err, NN_ERR_NOMEM, "ssd: out of memory for nms of %d boxes", n);
    return NN_OK;
}

/* ---------------------------------------------------------------- detection */

/* Box voting: each kept box becomes the score-weighted mean of the boxes
 * (itself, and those it suppressed) whose IoU with it is at least vote_iou,
 * among every prior that scores above vote_floor. The floor is fixed, not
 * the caller's threshold, so a face gets the same box at any threshold.
 * voters: scratch for n indices; voted [kept][4]. */
static void vote_boxes(const float *boxes, const float *scores, size_t stride, int n,
                       float vote_floor, float vote_iou, const int *keep, int kept, int *voters,
                       float *voted) {
    int n_voters = 0;
    for (int i = 0; i < n; i++)
        if (scores[(size_t)i * stride] > vote_floor) voters[n_voters++] = i;
    for (int k = 0; k < kept; k++) {
        const float *kb = boxes + (size_t)keep[k] * 4;
        double sum[4] = {0, 0, 0, 0}, wsum = 0;
        for (int v = 0; v < n_voters; v++) {
            const float *b = boxes + (size_t)voters[v] * 4;
            if (ssd_iou(b, kb) < vote_iou) continue;
            double w = scores[(size_t)voters[v] * stride];
            for (int i = 0; i < 4; i++) sum[i] += w * b[i];
            wsum += w;
        }
        for (int i = 0; i < 4; i++)
            voted[(size_t)k * 4 + i] = wsum > 0 ? (float)(sum[i] / wsum) : kb[i];
    }
}

ssd_detect_params ssd_detect_default(int num_classes) {
    ssd_detect_params p;
    memset(&p, 0, sizeof p);
    p.num_classes = num_classes;
    p.background_label = 0;
    p.confidence_threshold = 0.0f;
    p.nms_threshold = 0.3f;
    p.top_k = -1;
    p.keep_top_k = -1;
    p.code_type = SSD_CODE_CENTER_SIZE;
    p.image_w = p.image_h = 1.0f;
    return p;
}

void ssd_scratch_free(ssd_scratch *s) {
    if (!s) return;
    free(s->boxes), free(s->best), free(s->best_label), free(s->keep), free(s->voters);
    free(s->cand), free(s->all);
    free(s->kept), free(s->sort_keys), free(s->sort_tmp), free(s->voted);
    memset(s, 0, sizeof *s);
}

/* Grows s to n priors and n_all merged candidates (all or nothing), with
 * room for their voted boxes when voting. */
static bool scratch_reserve(ssd_scratch *s, size_t n, size_t n_all, bool voting) {
    if (n > s->priors_cap) {
        float *boxes = malloc(n * 4 * sizeof(float)), *best = malloc(n * sizeof(float));
        float *kept = malloc(n * 5 * sizeof(float));
        int *best_label = malloc(n * sizeof(int)), *keep = malloc(n * sizeof(int));
        int *voters = malloc(n * sizeof(int));
        scored *cand = malloc(n * sizeof(scored));
        if (!boxes || !best || !kept || !best_label || !keep || !voters || !cand) {
            free(boxes), free(best), free(kept), free(best_label), free(keep), free(voters);
            free(cand);
            return false;
        }
        free(s->boxes), free(s->best), free(s->kept), free(s->best_label), free(s->keep);
        free(s->voters), free(s->cand);
        s->boxes = boxes, s->best = best, s->kept = kept, s->best_label = best_label;
        s->keep = keep, s->voters = voters, s->cand = cand;
        s->priors_cap = n;
    }
    if (n_all > s->all_cap) { /* n_all >= n: the sort space serves both */
        scored *merged = malloc(n_all * sizeof(scored)), *tmp = malloc(n_all * sizeof(scored));
        float *keys = malloc(n_all * sizeof(float));
        if (!merged || !tmp || !keys) {
            free(merged), free(tmp), free(keys);
            return false;
        }
        free(s->all), free(s->sort_tmp), free(s->sort_keys);
        s->all = merged, s->sort_tmp = tmp, s->sort_keys = keys;
        s->all_cap = n_all;
    }
    if (voting && n_all > s->voted_cap) {
        float *voted = malloc(n_all * 4 * sizeof(float));
        if (!voted) return false;
        free(s->voted);
        s->voted = voted, s->voted_cap = n_all;
    }
    return true;
}

nn_status ssd_detect_reuse(const ssd_priors *priors, const float *loc, const float *conf,
                           const ssd_detect_params *p, ssd_detection *out, int max_out,
                           int *n_out, ssd_scratch *s, nn_error *err) {
    *n_out = 0;
    int n = priors->count, nc = p->num_classes;
    if (nc < 1 || nc > 100000 || n < 0 || max_out < 0 || (n > 0 && (!loc || !conf)))
        return nn_error_set(err, NN_ERR_ARG, "ssd: detect with %d classes, %d priors, room %d", nc,
                            n, max_out);
    if (p->code_type < SSD_CODE_CORNER || p->code_type > SSD_CODE_CORNER_SIZE)
        return nn_error_set(err, NN_ERR_ARG, "ssd: unknown code type %d", (int)p->code_type);
    if (n == 0) return NN_OK;
    /* The largest buffer is the candidate list: at most n per searched class. */
    int classes_searched = p->class_agnostic ? 1 : nc;
    if ((size_t)n * (size_t)classes_searched > SSD_MAX_CANDIDATES)
        return nn_error_set(err, NN_ERR_LIMIT, "ssd: %d priors x %d classes is too many", n, nc);
    size_t n_cand_max = (size_t)n * (size_t)classes_searched;

    bool voting = p->vote_iou > 0.0f;
    if (!scratch_reserve(s, (size_t)n, n_cand_max, voting))
        return nn_error_set(err, NN_ERR_NOMEM, "ssd: out of memory for %d priors", n);
    float *boxes = s->boxes, *best = s->best;
    int *best_label = s->best_label, *keep = s->keep;
    scored *cand = s->cand, *all = s->all;
    sort_space sp = {s->sort_keys, s->sort_tmp};
    /* Only boxes that can become candidates are read later: those of priors
     * some class scores above the threshold. Decoding just those saves most
     * of the work (an SSD has tens of thousands of priors, a few faces). */
    float decode_above = voting ? fminf(p->confidence_threshold, p->vote_floor)
                                : p->confidence_threshold;
    for (int i = 0; i < n; i++) {
        const float *score = conf + (size_t)i * nc;
        bool candidate = false;
        for (int c = 0; c < nc && !candidate; c++)
            candidate = c != p->background_label && score[c] > decode_above;
        if (!candidate) continue;
        float *b = boxes + (size_t)i * 4;
        ssd_decode_box(priors->boxes + (size_t)i * 4, priors->variances + (size_t)i * 4,
                       loc + (size_t)i * 4, p->code_type, p->variance_in_target, b);
        if (p->clip)
            for (int k = 0; k < 4; k++) b[k] = fminf(fmaxf(b[k], 0.0f), 1.0f);
    }

    int n_all = 0;
    if (p->class_agnostic) {
        /* Per prior: the best non-background class (first one on ties). */
        for (int i = 0; i < n; i++) {
            best[i] = -INFINITY, best_label[i] = -1;
            for (int c = 0; c < nc; c++) {
                if (c == p->background_label) continue;
                float score = conf[(size_t)i * nc + c];
                if (score > best[i]) best[i] = score, best_label[i] = c;
            }
        }
        int kept = nms_core(boxes, best, 1, n, p->confidence_threshold, p->nms_threshold,
                            p->top_k, cand, s->kept, sp, keep);
        if (voting)
            vote_boxes(boxes, best, 1, n, p->vote_floor, p->vote_iou, keep, kept, s->voters,
                       s->voted);
        for (int k = 0; k < kept; k++, n_all++) {
            all[n_all].index = keep[k], all[n_all].label = best_label[keep[k]];
            all[n_all].score = best[keep[k]], all[n_all].order = n_all;
        }
    } else {
        for (int c = 0; c < nc; c++) {
            if (c == p->background_label) continue;
            int kept = nms_core(boxes, conf + c, (size_t)nc, n, p->confidence_threshold,
                                p->nms_threshold, p->top_k, cand, s->kept, sp, keep);
            if (voting)
                vote_boxes(boxes, conf + c, (size_t)nc, n, p->vote_floor, p->vote_iou, keep, kept,
                           s->voters, s->voted + (size_t)n_all * 4);
            for (int k = 0; k < kept; k++, n_all++) {
                all[n_all].index = keep[k], all[n_all].label = c;
                all[n_all].score = conf[(size_t)keep[k] * nc + c], all[n_all].order = n_all;
            }
        }
    }
    /* Too many: keep the best keep_top_k over all classes, then restore the
     * label-major order (Caffe emits by label, then score). */
    if (p->keep_top_k >= 0 && n_all > p->keep_top_k) {
        sort_first(all, (size_t)n_all, (size_t)p->keep_top_k, sp);
        n_all = p->keep_top_k;
        merge_sort(all, (size_t)n_all, sp.tmp, true);
    }
    if (n_all > max_out)
        return nn_error_set(err, NN_ERR_LIMIT, "ssd: %d detections but room for %d", n_all,
                            max_out);
    for (int k = 0; k < n_all; k++) {
        const float *b = voting ? s->voted + (size_t)all[k].order * 4
                                            : boxes + (size_t)all[k].index * 4;
        out[k].x1 = b[0] * p->image_w, out[k].y1 = b[1] * p->image_h;
        out[k].x2 = b[2] * p->image_w, out[k].y2 = b[3] * p->image_h;
        out[k].label = all[k].label, out[k].score = all[k].score;
    }
    *n_out = n_all;
    return NN_OK;
}

nn_status ssd_detect(const ssd_priors *priors, const float *loc, const float *conf,
                     const ssd_detect_params *p, ssd_detection *out, int max_out, int *n_out,
                     nn_error *err) {
    ssd_scratch s = {0};
    nn_status st = ssd_detect_reuse(priors, loc, conf, p, out, max_out, n_out, &s, err);
    ssd_scratch_free(&s);
    return st;
}
