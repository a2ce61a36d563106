/*
 * loader.c - samples, split, class balance, the per-sample pipeline and the
 * double-buffered prefetching batch loader (see loader.h).
 *
 * Batches are numbered globally (epoch * batches_per_epoch + index). Batch g
 * is always built into slot g % 2 from generators seeded by (seed, epoch,
 * position), so what a batch holds does not depend on which thread built it
 * or when. With prefetch on, a background thread builds batch g + 1 while the
 * caller uses batch g; a slot is FREE, READY (built, not yet handed out) or
 * HELD (handed out, valid until the caller's next loader_next).
 */
#include "loader.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "det_metrics.h"
#include "image.h"

/* ------------------------------------------------------------ seeds */

/* splitmix64's finaliser: a good 64-bit mix. */
static uint64_t mix64(uint64_t z) {
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* A seed for (seed, a, b): different streams for every epoch and position. */
static uint64_t derive_seed(uint64_t seed, uint64_t a, uint64_t b) {
    return mix64(mix64(mix64(seed) ^ a) ^ (b * 0xD6E8FEB86659FD93ull));
}

/* ------------------------------------------------------------ samples */

nn_status loader_samples_from_set(const annot_set *set, int min_size_px, loader_samples *out,
                                  nn_error *err) {
    if (!set || !out)
        return nn_error_set(err, NN_ERR_ARG, "loader_samples_from_set: NULL argument");
    memset(out, 0, sizeof *out);
    out->n_classes = classmap_n_classes(&set->map);
    size_t n = 0;
    for (size_t i = 0; i < set->n_items; i++)
        n += (size_t)set->items[i].n_boxes;
    if (n == 0) return NN_OK;
    if (!(out->items = malloc(n * sizeof *out->items)))
        return nn_error_set(err, NN_ERR_NOMEM, "out of memory for %zu samples", n);
    for (size_t i = 0; i < set->n_items; i++) {
        const annot_item *it = &set->items[i];
        for (int b = 0; b < it->n_boxes; b++) {
            const annot_box *box = &it->boxes[b];
            if (box->class_id < 0) continue;
            if (fmaxf(box->x2 - box->x1, box->y2 - box->y1) < (float)min_size_px) continue;
            loader_sample *s = &out->items[out->count++];
            s->image_path = it->image_path;
            s->has_box = it->annotation_path != NULL; /* class folders: the whole image */
            s->x1 = box->x1;
            s->y1 = box->y1;
            s->x2 = box->x2;
            s->y2 = box->y2;
            s->label = box->class_id;
            s->group = (int)i;
        }
    }
    return NN_OK;
}

void loader_samples_free(loader_samples *s) {
    if (!s) return;
    free(s->items);
    memset(s, 0, sizeof *s);
}

/* Fisher-Yates with a seeded generator. */
static void shuffle_indexes(size_t *idx, size_t n, uint64_t seed) {
    transform_rng rng;
    transform_rng_seed(&rng, seed);
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(transform_rng_next(&rng) % i);
        size_t t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }
}

/* What both splits check first; then train and val are empty (fn names the caller). */
static nn_status split_begin(const char *fn, const loader_samples *all, float val_fraction,
                             loader_samples *train, loader_samples *val, nn_error *err) {
    if (!all || !train || !val) return nn_error_set(err, NN_ERR_ARG, "%s: NULL argument", fn);
    if (!(val_fraction >= 0 && val_fraction <= 1))
        return nn_error_set(err, NN_ERR_ARG, "%s: val_fraction %g not in [0, 1]", fn,
                            val_fraction);
    memset(train, 0, sizeof *train);
    memset(val, 0, sizeof *val);
    train->n_classes = val->n_classes = all->n_classes;
    return NN_OK;
}

nn_status loader_split(const loader_samples *all, float val_fraction, uint64_t seed,
                       loader_samples *train, loader_samples *val, nn_error *err) {
    nn_status st = split_begin("loader_split", all, val_fraction, train, val, err);
    if (st || all->count == 0) return st;
    /* Groups are image indexes; samples of a group are adjacent but we do not rely on it. */
    int max_group = 0;
    for (size_t i = 0; i < all->count; i++)
        if (all->items[i].group > max_group) max_group = all->items[i].group;
    size_t n_slots = (size_t)max_group + 1;
    bool *present = calloc(n_slots, sizeof *present), *to_val = calloc(n_slots, sizeof *to_val);
    size_t *groups = malloc(n_slots * sizeof *groups);
    train->items = malloc(all->count * sizeof *train->items);
    val->items = malloc(all->count * sizeof *val->items);
    if (!present || !to_val || !groups || !train->items || !val->items) {
        free(present);
        free(to_val);
        free(groups);
        loader_samples_free(train);
        loader_samples_free(val);
        return nn_error_set(err, NN_ERR_NOMEM, "loader_split: out of memory");
    }
    for (size_t i = 0; i < all->count; i++)
        if (all->items[i].group >= 0) present[all->items[i].group] = true;
    size_t n_groups = 0;
    for (size_t g = 0; g < n_slots; g++)
        if (present[g]) groups[n_groups++] = g;
    shuffle_indexes(groups, n_groups, derive_seed(seed, 0x5B117, 0));
    size_t n_val = (size_t)lround((double)val_fraction * (double)n_groups);
    if (val_fraction > 0 && n_val == 0 && n_groups >= 2) n_val = 1;
    if (val_fraction < 1 && n_val == n_groups && n_groups >= 2) n_val = n_groups - 1;
    for (size_t k = 0; k < n_val; k++)
        to_val[groups[k]] = true;
    for (size_t i = 0; i < all->count; i++) {
        const loader_sample *s = &all->items[i];
        if (s->group >= 0 && to_val[s->group])
            val->items[val->count++] = *s;
        else
            train->items[train->count++] = *s;
    }
    free(present);
    free(to_val);
    free(groups);
    return NN_OK;
}

nn_status loader_split_by_photo(const loader_samples *all, const annot_set *set,
                                float val_fraction, uint64_t seed, loader_samples *train,
                                loader_samples *val, nn_error *err) {
    if (!set) return nn_error_set(err, NN_ERR_ARG, "loader_split_by_photo: NULL argument");
    nn_status st = split_begin("loader_split_by_photo", all, val_fraction, train, val, err);
    if (st) return st;
    size_t n = all->count ? all->count : 1;
    train->items = malloc(n * sizeof *train->items);
    val->items = malloc(n * sizeof *val->items);
    if (!train->items || !val->items) {
        loader_samples_free(train);
        loader_samples_free(val);
        return nn_error_set(err, NN_ERR_NOMEM, "loader_split_by_photo: out of memory");
    }
    for (size_t i = 0; i < all->count; i++) {
        const loader_sample *s = &all->items[i];
        if (s->group < 0 || (size_t)s->group >= set->n_items) {
            loader_samples_free(train);
            loader_samples_free(val);
            return nn_error_set(err, NN_ERR_ARG,
                                "loader_split_by_photo: sample %zu names photo %d of %zu", i,
                                s->group, set->n_items);
        }
        if (det_split_item_is_val(&set->items[s->group], seed, val_fraction))
            val->items[val->count++] = *s;
        else
            train->items[train->count++] = *s;
    }
    return NN_OK;
}

void loader_class_counts(const loader_samples *s, size_t *counts) {
    for (int c = 0; c < CLASSMAP_MAX_CLASSES; c++)
        counts[c] = 0;
    for (size_t i = 0; i < s->count; i++)
        if (s->items[i].label >= 0 && s->items[i].label < CLASSMAP_MAX_CLASSES)
            counts[s->items[i].label]++;
}

void loader_class_weights(const loader_samples *s, float *weights) {
    size_t counts[CLASSMAP_MAX_CLASSES];
    loader_class_counts(s, counts);
    int n_classes = s->n_classes > 0 && s->n_classes <= CLASSMAP_MAX_CLASSES ? s->n_classes
                                                                             : CLASSMAP_MAX_CLASSES;
    for (int c = 0; c < CLASSMAP_MAX_CLASSES; c++)
        weights[c] = c < n_classes && counts[c]
                         ? (float)((double)s->count / ((double)n_classes * (double)counts[c]))
                         : 0.0f;
}

/* ------------------------------------------------------- box geometry */

void loader_flip_box(float *x1, float *x2, int width_px) {
    float a = (float)width_px - *x2, b = (float)width_px - *x1;
    *x1 = a;
    *x2 = b;
}

bool loader_crop_box(float *x1, float *y1, float *x2, float *y2, int cx, int cy, int cw, int ch) {
    float nx1 = fmaxf(*x1 - (float)cx, 0), ny1 = fmaxf(*y1 - (float)cy, 0);
    float nx2 = fminf(*x2 - (float)cx, (float)cw), ny2 = fminf(*y2 - (float)cy, (float)ch);
    if (nx2 <= nx1 || ny2 <= ny1) return false;
    *x1 = nx1;
    *y1 = ny1;
    *x2 = nx2;
    *y2 = ny2;
    return true;
}

/* ------------------------------------------------------ one sample */

loader_config loader_default_config(void) {
    loader_config c;
    memset(&c, 0, sizeof c);
    c.input_w = c.input_h = 64;
    for (int i = 0; i < 3; i++)
        c.scale[i] = 1.0f / 255.0f;
    c.batch_size = 32;
    c.shuffle = true;
    c.margin = 0.1f;
    c.augment.gamma_min = c.augment.gamma_max = 1.0f;
    c.prefetch = true;
    c.cache_bytes = (size_t)256 << 20;
    return c;
}

/*
 * The face region a sample may ever be cut from: the box widened by the margin
 * and by the largest crop jitter, plus a pixel of slack. Caching this region
 * (instead of the decoded photo) makes later epochs skip JPEG decoding, and
 * cropping from it gives exactly what cropping from the photo gives, since
 * both fill outside the photo with 0.
 */
typedef struct {
    image region;
    int x, y; /* top-left of the region in the photo */
    int photo_w, photo_h;
    bool present;
} cache_entry;

typedef struct {
    cache_entry *entries; /* one per sample, or NULL: no cache */
    size_t bytes_used, bytes_max;
} sample_cache;

/* The box a sample is cut around, given the decoded photo size. */
static void sample_box(const loader_sample *s, int img_w, int img_h, float *x1, float *y1,
                       float *x2, float *y2) {
    if (s->has_box) {
        *x1 = s->x1, *y1 = s->y1, *x2 = s->x2, *y2 = s->y2;
    } else {
        *x1 = 0, *y1 = 0, *x2 = (float)img_w, *y2 = (float)img_h;
    }
}

/* The crop rectangle for jitter draws shift_x, shift_y, grow in [-1, 1]. */
static void crop_rect(const loader_sample *s, const loader_config *cfg, float x1, float y1,
                      float x2, float y2, float shift_x, float shift_y, float grow, int *rx,
                      int *ry, int *rw, int *rh) {
    float bw = x2 - x1, bh = y2 - y1;
    float cx = 0.5f * (x1 + x2), cy = 0.5f * (y1 + y2);
    /* Whole-image samples get no margin: there is no context beyond the photo. */
    float margin = s->has_box ? cfg->margin : 0;
    float half_w = 0.5f * bw * (1 + 2 * margin), half_h = 0.5f * bh * (1 + 2 * margin);
    float jitter = cfg->augment_on ? cfg->augment.crop_jitter : 0;
    if (jitter > 0) {
        cx += shift_x * jitter * bw;
        cy += shift_y * jitter * bh;
        half_w *= 1 + grow * jitter;
        half_h *= 1 + grow * jitter;
    }
    *rx = (int)floorf(cx - half_w);
    *ry = (int)floorf(cy - half_h);
    *rw = (int)ceilf(cx + half_w) - *rx;
    *rh = (int)ceilf(cy + half_h) - *ry;
    if (*rw < 1) *rw = 1;
    if (*rh < 1) *rh = 1;
}

/* Cuts the crop rectangle for a sample, from the cache when it holds the
 * sample, else from the decoded photo (filling the cache when it fits). */
static nn_status cut_sample(const loader_sample *s, const loader_config *cfg, float shift_x,
                            float shift_y, float grow, sample_cache *cache, size_t id, image *crop,
                            nn_error *err) {
    cache_entry *entry = cache && cache->entries ? &cache->entries[id] : NULL;
    if (entry && entry->present) {
        float x1, y1, x2, y2;
        sample_box(s, entry->photo_w, entry->photo_h, &x1, &y1, &x2, &y2);
        int rx, ry, rw, rh;
        crop_rect(s, cfg, x1, y1, x2, y2, shift_x, shift_y, grow, &rx, &ry, &rw, &rh);
        return image_crop(&entry->region, rx - entry->x, ry - entry->y, rw, rh, 0, crop, err);
    }
    image photo = {0};
    nn_status st = image_load(s->image_path, 3, &photo, err);
    if (st) return st;
    float x1, y1, x2, y2;
    sample_box(s, photo.width, photo.height, &x1, &y1, &x2, &y2);
    int rx, ry, rw, rh;
    crop_rect(s, cfg, x1, y1, x2, y2, shift_x, shift_y, grow, &rx, &ry, &rw, &rh);
    st = image_crop(&photo, rx, ry, rw, rh, 0, crop, err);
    if (st == NN_OK && entry) {
        /* The union of all crops: jitter draws at their extremes. */
        int ax, ay, aw, ah, bx, by, bw, bh;
        crop_rect(s, cfg, x1, y1, x2, y2, -1, -1, 1, &ax, &ay, &aw, &ah);
        crop_rect(s, cfg, x1, y1, x2, y2, 1, 1, 1, &bx, &by, &bw, &bh);
        int gx = ax - 1, gy = ay - 1, gw = bx + bw + 1 - gx, gh = by + bh + 1 - gy;
        size_t bytes = (size_t)gw * (size_t)gh * 3;
        if (cache->bytes_used + bytes <= cache->bytes_max) {
            nn_error ignored;
            if (image_crop(&photo, gx, gy, gw, gh, 0, &entry->region, &ignored) == NN_OK) {
                entry->x = gx;
                entry->y = gy;
                entry->photo_w = photo.width;
                entry->photo_h = photo.height;
                entry->present = true;
                cache->bytes_used += bytes;
            }
        }
    }
    image_free(&photo);
    return st;
}

/* The whole per-sample pipeline (see loader_prepare_sample). */
static nn_status prepare_sample(const loader_sample *sample, const loader_config *cfg,
                                uint64_t rng_seed, sample_cache *cache, size_t id, float *out,
                                nn_error *err) {
    /* Draw every random number up front, in a fixed order, whether or not
     * its augmentation is on: the stream never depends on the options used. */
    transform_rng rng;
    transform_rng_seed(&rng, rng_seed);
    const loader_augment *aug = &cfg->augment;
    float shift_x = transform_rng_uniform(&rng, -1, 1),
          shift_y = transform_rng_uniform(&rng, -1, 1);
    float grow = transform_rng_uniform(&rng, -1, 1);
    float angle = transform_rng_uniform(&rng, -1, 1);
    bool flip = transform_rng_chance(&rng, 0.5f);
    float gamma_t = transform_rng_uniform(&rng, 0, 1);
    uint64_t jitter_seed = transform_rng_next(&rng);

    image crop = {0}, rotated = {0}, sized = {0};
    nn_status st = cut_sample(sample, cfg, shift_x, shift_y, grow, cache, id, &crop, err);
    if (st) goto done;
    const image *current = &crop;
    if (cfg->augment_on && aug->rotate_deg > 0) {
        if ((st = transform_rotate(&crop, angle * aug->rotate_deg, 0, &rotated, err))) goto done;
        current = &rotated;
    }
    if ((st = image_resize(current, cfg->input_w, cfg->input_h, &sized, err))) goto done;
    if (cfg->augment_on) {
        if (aug->flip && flip) image_flip_horizontal(&sized);
        if (aug->gamma_max > 0 && aug->gamma_min > 0 &&
            (aug->gamma_min != 1 || aug->gamma_max != 1))
            image_adjust_gamma(&sized,
                               aug->gamma_min + gamma_t * (aug->gamma_max - aug->gamma_min));
        const transform_jitter *j = &aug->jitter;
        if (j->brightness > 0 || j->contrast > 0 || j->saturation > 0 || j->hue > 0) {
            transform_rng jitter_rng;
            transform_rng_seed(&jitter_rng, jitter_seed);
            transform_color_jitter(&sized, j, &jitter_rng);
        }
    }
    image_to_chw(&sized, cfg->mean, cfg->scale, cfg->bgr, out);
done:
    image_free(&crop);
    image_free(&rotated);
    image_free(&sized);
    return st;
}

nn_status loader_prepare_sample(const loader_sample *sample, const loader_config *cfg,
                                uint64_t rng_seed, float *out, nn_error *err) {
    if (!sample || !cfg || !out)
        return nn_error_set(err, NN_ERR_ARG, "loader_prepare_sample: NULL argument");
    return prepare_sample(sample, cfg, rng_seed, NULL, 0, out, err);
}

/* ------------------------------------------------------ the loader */

enum { SLOT_FREE, SLOT_READY, SLOT_HELD };

typedef struct {
    loader_batch batch;
    float *data;
    int *labels;
    size_t *sample_ids;
    int state;
    size_t global_index; /* which batch is (or is being) built here */
    nn_status status;
    nn_error err;
} loader_slot;

struct loader {
    const loader_samples *samples;
    loader_config cfg;
    size_t batches_per_epoch;
    size_t sample_floats; /* 3 * h * w */

    /* The epoch plan, used only by whoever builds batches (one thread). */
    size_t *order; /* samples->count indexes for plan_epoch */
    long plan_epoch;
    double *cumulative; /* balanced sampling: cumulative sample weights */

    sample_cache cache; /* used only by the batch builder, like the plan */

    loader_slot slots[2];
    size_t first_batch;  /* global index of the first batch (cfg.start_epoch) */
    size_t next_to_hand; /* the global batch the caller gets next */
    int held;            /* slot handed out last, or -1 */

    bool sync_ready; /* lock and changed are initialised */
    bool threaded;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    bool stop;
};

size_t loader_batches_per_epoch(const loader *ld) { return ld->batches_per_epoch; }

/* The order of samples for an epoch: identity, a shuffle, or balanced draws. */
static void plan_epoch(loader *ld, long epoch) {
    size_t n = ld->samples->count;
    uint64_t seed = derive_seed(ld->cfg.seed, 0xE90C, (uint64_t)epoch);
    if (ld->cfg.balance) {
        transform_rng rng;
        transform_rng_seed(&rng, seed);
        double total = ld->cumulative[n - 1];
        for (size_t i = 0; i < n; i++) {
            /* 53 random bits -> [0, total); binary search for the first cumulative > u. */
            double u =
                (double)(transform_rng_next(&rng) >> 11) * (1.0 / 9007199254740992.0) * total;
            size_t lo = 0, hi = n - 1;
            while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (ld->cumulative[mid] > u)
                    hi = mid;
                else
                    lo = mid + 1;
            }
            ld->order[i] = lo;
        }
    } else {
        for (size_t i = 0; i < n; i++)
            ld->order[i] = i;
        if (ld->cfg.shuffle) shuffle_indexes(ld->order, n, seed);
    }
    ld->plan_epoch = epoch;
}

/* Builds global batch g into slot (any thread; only one builder at a time). */
static void build_batch(loader *ld, size_t g, loader_slot *slot) {
    long epoch = (long)(g / ld->batches_per_epoch);
    size_t index = g % ld->batches_per_epoch;
    if (ld->plan_epoch != epoch) plan_epoch(ld, epoch);
    size_t first = index * (size_t)ld->cfg.batch_size;
    size_t count = ld->samples->count - first;
    if (count > (size_t)ld->cfg.batch_size) count = (size_t)ld->cfg.batch_size;
    slot->status = NN_OK;
    slot->err.code = NN_OK;
    slot->err.msg[0] = '\0';
    for (size_t k = 0; k < count; k++) {
        size_t id = ld->order[first + k];
        const loader_sample *s = &ld->samples->items[id];
        slot->sample_ids[k] = id;
        slot->labels[k] = s->label;
        uint64_t seed = derive_seed(ld->cfg.seed, (uint64_t)epoch + 1, first + k);
        nn_status st = prepare_sample(s, &ld->cfg, seed, &ld->cache, id,
                                      slot->data + k * ld->sample_floats, &slot->err);
        if (st) {
            slot->status = st;
            break;
        }
    }
    slot->global_index = g;
    slot->batch =
        (loader_batch){slot->data, slot->labels, slot->sample_ids, (int)count, (int)epoch, index};
}

static void *prefetch_main(void *arg) {
    loader *ld = arg;
    size_t g = ld->first_batch;
    for (;;) {
        loader_slot *slot = &ld->slots[g % 2];
        pthread_mutex_lock(&ld->lock);
        while (!ld->stop && slot->state != SLOT_FREE)
            pthread_cond_wait(&ld->changed, &ld->lock);
        bool stop = ld->stop;
        pthread_mutex_unlock(&ld->lock);
        if (stop) break;
        build_batch(ld, g, slot);
        pthread_mutex_lock(&ld->lock);
        slot->state = SLOT_READY;
        pthread_cond_broadcast(&ld->changed);
        pthread_mutex_unlock(&ld->lock);
        g++;
    }
    return NULL;
}

nn_status loader_create(const loader_samples *samples, const loader_config *cfg, loader **out,
                        nn_error *err) {
    if (!samples || !cfg || !out)
        return nn_error_set(err, NN_ERR_ARG, "loader_create: NULL argument");
    *out = NULL;
    if (samples->count == 0) return nn_error_set(err, NN_ERR_ARG, "loader_create: no samples");
    if (cfg->input_w < 1 || cfg->input_h < 1 || cfg->input_w > 4096 || cfg->input_h > 4096)
        return nn_error_set(err, NN_ERR_ARG, "loader_create: input size %dx%d not in 1..4096",
                            cfg->input_w, cfg->input_h);
    if (cfg->batch_size < 1 || cfg->batch_size > 65536)
        return nn_error_set(err, NN_ERR_ARG, "loader_create: batch size %d not in 1..65536",
                            cfg->batch_size);
    if (cfg->start_epoch < 0 || cfg->start_epoch > 1000000)
        return nn_error_set(err, NN_ERR_ARG, "loader_create: start epoch %d not in 0..1000000",
                            cfg->start_epoch);
    if (!(cfg->margin >= 0 && cfg->margin <= 10))
        return nn_error_set(err, NN_ERR_ARG, "loader_create: margin %g not in [0, 10]",
                            cfg->margin);
    size_t sample_floats = (size_t)3 * (size_t)cfg->input_w * (size_t)cfg->input_h;
    if (sample_floats * (size_t)cfg->batch_size > NN_MAX_TENSOR_ELEMS)
        return nn_error_set(err, NN_ERR_LIMIT, "loader_create: batch of %d x %zu floats too large",
                            cfg->batch_size, sample_floats);

    loader *ld = calloc(1, sizeof *ld);
    if (!ld) return nn_error_set(err, NN_ERR_NOMEM, "loader_create: out of memory");
    ld->samples = samples;
    ld->cfg = *cfg;
    ld->sample_floats = sample_floats;
    ld->batches_per_epoch =
        (samples->count + (size_t)cfg->batch_size - 1) / (size_t)cfg->batch_size;
    ld->plan_epoch = -1;
    ld->held = -1;
    ld->first_batch = ld->next_to_hand = (size_t)cfg->start_epoch * ld->batches_per_epoch;
    ld->order = malloc(samples->count * sizeof *ld->order);
    bool ok = ld->order != NULL;
    if (ok && cfg->balance) {
        size_t counts[CLASSMAP_MAX_CLASSES];
        loader_class_counts(samples, counts);
        ld->cumulative = malloc(samples->count * sizeof *ld->cumulative);
        ok = ld->cumulative != NULL;
        double sum = 0;
        for (size_t i = 0; ok && i < samples->count; i++) {
            int label = samples->items[i].label;
            /* Each class gets the same total weight. */
            sum += label >= 0 && label < CLASSMAP_MAX_CLASSES && counts[label]
                       ? 1.0 / (double)counts[label]
                       : 0.0;
            ld->cumulative[i] = sum;
        }
    }
    if (ok && cfg->cache_bytes > 0) {
        ld->cache.entries = calloc(samples->count, sizeof *ld->cache.entries);
        ld->cache.bytes_max = cfg->cache_bytes;
        ok = ld->cache.entries != NULL;
    }
    for (int s = 0; ok && s < 2; s++) {
        loader_slot *slot = &ld->slots[s];
        slot->data = malloc(sample_floats * (size_t)cfg->batch_size * sizeof(float));
        slot->labels = malloc((size_t)cfg->batch_size * sizeof(int));
        slot->sample_ids = malloc((size_t)cfg->batch_size * sizeof(size_t));
        ok = slot->data && slot->labels && slot->sample_ids;
    }
    if (!ok) {
        loader_destroy(ld);
        return nn_error_set(err, NN_ERR_NOMEM,
                            "loader_create: out of memory for the batch buffers");
    }
    pthread_mutex_init(&ld->lock, NULL);
    pthread_cond_init(&ld->changed, NULL);
    ld->sync_ready = true;
    if (cfg->prefetch) {
        if (pthread_create(&ld->thread, NULL, prefetch_main, ld) != 0) {
            loader_destroy(ld);
            return nn_error_set(err, NN_ERR_STATE,
                                "loader_create: cannot start the prefetch thread");
        }
        ld->threaded = true;
    }
    *out = ld;
    return NN_OK;
}

nn_status loader_next(loader *ld, const loader_batch **batch, nn_error *err) {
    if (!ld || !batch) return nn_error_set(err, NN_ERR_ARG, "loader_next: NULL argument");
    *batch = NULL;
    size_t g = ld->next_to_hand++;
    loader_slot *slot = &ld->slots[g % 2];
    if (!ld->threaded) {
        build_batch(ld, g, slot);
    } else {
        pthread_mutex_lock(&ld->lock);
        if (ld->held >= 0) {
            ld->slots[ld->held].state = SLOT_FREE; /* the caller is done with it */
            pthread_cond_broadcast(&ld->changed);
        }
        while (slot->state != SLOT_READY)
            pthread_cond_wait(&ld->changed, &ld->lock);
        slot->state = SLOT_HELD;
        ld->held = (int)(g % 2);
        pthread_mutex_unlock(&ld->lock);
    }
    if (slot->status != NN_OK) {
        if (err) *err = slot->err;
        return slot->status;
    }
    *batch = &slot->batch;
    return NN_OK;
}

void loader_destroy(loader *ld) {
    if (!ld) return;
    if (ld->threaded) {
        pthread_mutex_lock(&ld->lock);
        ld->stop = true;
        pthread_cond_broadcast(&ld->changed);
        pthread_mutex_unlock(&ld->lock);
        pthread_join(ld->thread, NULL);
    }
    if (ld->sync_ready) {
        pthread_mutex_destroy(&ld->lock);
        pthread_cond_destroy(&ld->changed);
    }
    for (int s = 0; s < 2; s++) {
        free(ld->slots[s].data);
        free(ld->slots[s].labels);
        free(ld->slots[s].sample_ids);
    }
    if (ld->cache.entries)
        for (size_t i = 0; i < ld->samples->count; i++)
            image_free(&ld->cache.entries[i].region);
    free(ld->cache.entries);
    free(ld->order);
    free(ld->cumulative);
    free(ld);
}
