/*
 * loader.h - training samples and batches: from an annotated set to float
 * CHW batches, with a seeded shuffle, a train/validation split by image,
 * class balancing, augmentation and background prefetching.
 *
 * Determinism: everything random is drawn from generators seeded by
 * (seed, epoch, position), never from shared state or the clock, so the same
 * seed gives the same batches with or without the prefetch thread.
 *
 * Typical use:
 *   loader_samples all, train, val;
 *   loader_samples_from_set(&set, 8, &all, &err);
 *   loader_split(&all, 0.15f, seed, &train, &val, &err);
 *   loader_config cfg = loader_default_config(); cfg.input_w = cfg.input_h = 128; ...
 *   loader *ld; loader_create(&train, &cfg, &ld, &err);
 *   for (size_t b = 0; b < loader_batches_per_epoch(ld); b++) {
 *       const loader_batch *batch; loader_next(ld, &batch, &err); ... }
 *   loader_destroy(ld);
 */
#ifndef DATASETS_LOADER_H
#define DATASETS_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "annot.h"
#include "nn.h"
#include "transform.h"

typedef struct {
    const char *image_path; /* borrowed from the annot_set: keep the set alive */
    bool has_box;           /* false: the whole image is the face */
    float x1, y1, x2, y2;   /* the face box in pixels when has_box */
    int label;              /* project class id (classmap.h) */
    int group;              /* index of the source image; the split keeps groups whole */
} loader_sample;

typedef struct {
    loader_sample *items;
    size_t count;
    int n_classes;
} loader_samples;

/* One sample per face (class_id >= 0) whose longest side is >= min_size_px.
 * Class-folder images become whole-image samples. */
nn_status loader_samples_from_set(const annot_set *set, int min_size_px, loader_samples *out,
                                  nn_error *err);
void loader_samples_free(loader_samples *s);

/* Splits by group (image) with a seeded shuffle of the images: about
 * val_fraction of the images go to val, so faces of one photo never straddle.
 * Both keep the input order. With val_fraction > 0 and >= 2 images, each side
 * gets at least one image. */
nn_status loader_split(const loader_samples *all, float val_fraction, uint64_t seed,
                       loader_samples *train, loader_samples *val, nn_error *err);

/* Splits by the photo's name instead (det_split_item_is_val of the set's
 * item `group`): the split maskdet eval, train-detector and train-classifier
 * share, so no tool trains on another's held-out photos. The fraction is met
 * on average, not exactly. Samples must come from `set` (group = item index). */
nn_status loader_split_by_photo(const loader_samples *all, const annot_set *set,
                                float val_fraction, uint64_t seed, loader_samples *train,
                                loader_samples *val, nn_error *err);

/* Samples per class (counts has CLASSMAP_MAX_CLASSES entries). */
void loader_class_counts(const loader_samples *s, size_t *counts);
/* Loss weights count_total / (n_classes * count_c); 0 for a class with no samples. */
void loader_class_weights(const loader_samples *s, float *weights);

typedef struct {
    bool flip;                  /* horizontal flip with probability 0.5 */
    float gamma_min, gamma_max; /* gamma drawn from [min, max]; 1, 1 = off */
    transform_jitter jitter;    /* colour jitter (all 0 = off) */
    float rotate_deg;           /* rotation drawn from [-r, r] degrees; 0 = off */
    float crop_jitter;          /* box centre moved and size scaled by up to this fraction */
} loader_augment;

typedef struct {
    int input_w, input_h;    /* network input size */
    float mean[3], scale[3]; /* per channel: (px - mean) * scale */
    bool bgr;                /* channel order BGR (Caffe models) */
    int batch_size;
    uint64_t seed;
    bool shuffle; /* new order each epoch (else the samples' order) */
    bool balance; /* weighted sampling: classes drawn equally often (with replacement) */
    float margin; /* context around a face box, as a fraction of its size */
    bool augment_on;
    loader_augment augment;
    bool prefetch;      /* prepare the next batch on a background thread */
    size_t cache_bytes; /* keep decoded face regions up to this many bytes (0: off), so
                           later epochs skip JPEG decoding; results are the same either way */
    int start_epoch;    /* the first batch is batch 0 of this epoch (resuming a run) */
} loader_config;

/* 64x64 input, mean 0, scale 1/255, RGB, batch 32, shuffle, margin 0.1,
 * no augmentation, prefetch on, 256 MiB region cache. */
loader_config loader_default_config(void);

typedef struct {
    float *data;              /* count x 3 x input_h x input_w */
    int *labels;              /* count */
    const size_t *sample_ids; /* count indexes into the samples (for checks) */
    int count;                /* batch_size, or fewer in an epoch's last batch */
    int epoch;
    size_t index; /* batch number within the epoch */
} loader_batch;

typedef struct loader loader;

/* samples must outlive the loader. */
nn_status loader_create(const loader_samples *samples, const loader_config *cfg, loader **out,
                        nn_error *err);
size_t loader_batches_per_epoch(const loader *ld);
/* The next batch (epochs follow each other without end). *batch stays valid
 * until the next call or loader_destroy. */
nn_status loader_next(loader *ld, const loader_batch **batch, nn_error *err);
/* Stops the prefetch thread and frees everything. */
void loader_destroy(loader *ld);

/* One sample through the pipeline (load, crop with margin and jitter, rotate,
 * resize, flip, gamma, colour jitter, to CHW) with generator seed rng_seed;
 * out has 3 * input_h * input_w floats. */
nn_status loader_prepare_sample(const loader_sample *sample, const loader_config *cfg,
                                uint64_t rng_seed, float *out, nn_error *err);

/* Box-aware geometry for detection-style augmentation: a box after a
 * horizontal flip of an image width_px wide, and after cropping the image to
 * [cx, cx+cw) x [cy, cy+ch) (clipped to the crop; false when nothing is left). */
void loader_flip_box(float *x1, float *x2, int width_px);
bool loader_crop_box(float *x1, float *y1, float *x2, float *y2, int cx, int cy, int cw, int ch);

#endif
