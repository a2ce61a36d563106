/*
 * test_loader.c - samples, the split by image, class weights, batches (values
 * worked out by hand from solid-colour images), determinism with and without
 * the prefetch thread, balanced sampling, augmentation and box geometry, and a
 * clean shutdown of the prefetch thread.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "annot.h"
#include "det_metrics.h"
#include "dsfixture.h"
#include "image.h"
#include "loader.h"
#include "testutil.h"

/* A solid w x h image of colour (r, g, b). */
static void write_solid(const char *root, const char *rel, int w, int h, int r, int g, int b) {
    image img = {0};
    nn_error err = {0};
    ck_assert_int_eq(image_alloc(&img, w, h, 3, &err), NN_OK);
    for (int i = 0; i < w * h; i++) {
        img.pixels[3 * i] = (uint8_t)r;
        img.pixels[3 * i + 1] = (uint8_t)g;
        img.pixels[3 * i + 2] = (uint8_t)b;
    }
    char path[1024];
    dsf_write_text(root, rel, "");
    snprintf(path, sizeof path, "%s/%s", root, rel);
    ck_assert_msg(image_save(&img, path, 95, &err) == NN_OK, "%s", err.msg);
    image_free(&img);
}

/* Class folders: mask/m0..m5.png with red = 10*i, no_mask/n0..n2.png with red = 200 + 10*i. */
static void make_folder_set(const char *root, annot_set *set) {
    char rel[64];
    for (int i = 0; i < 6; i++) {
        snprintf(rel, sizeof rel, "mask/m%d.png", i);
        write_solid(root, rel, 8, 6, 10 * i, 1, 2);
    }
    for (int i = 0; i < 3; i++) {
        snprintf(rel, sizeof rel, "no_mask/n%d.png", i);
        write_solid(root, rel, 5, 9, 200 + 10 * i, 3, 4);
    }
    nn_error err = {0};
    ck_assert_msg(annot_load(root, NULL, set, &err) == NN_OK, "%s", err.msg);
}

START_TEST(samples_weights_and_split) {
    char root[512];
    dsf_make_tempdir(root, sizeof root);
    annot_set set;
    make_folder_set(root, &set);
    loader_samples all, train, val, train2, val2;
    nn_error err = {0};
    ck_assert_int_eq(loader_samples_from_set(&set, 0, &all, &err), NN_OK);
    ck_assert_uint_eq(all.count, 9);
    ck_assert(!all.items[0].has_box);
    size_t counts[CLASSMAP_MAX_CLASSES];
    loader_class_counts(&all, counts);
    ck_assert_uint_eq(counts[CLASSMAP_MASK], 6);
    ck_assert_uint_eq(counts[CLASSMAP_NO_MASK], 3);
    float w[CLASSMAP_MAX_CLASSES];
    loader_class_weights(&all, w);
    ck_assert_float_eq_tol(w[CLASSMAP_MASK], 9.0f / 12.0f, 1e-6f);
    ck_assert_float_eq_tol(w[CLASSMAP_NO_MASK], 9.0f / 6.0f, 1e-6f);
    ck_assert_float_eq(w[CLASSMAP_INCORRECT], 0);

    /* Min size: the 8 x 6 images have longest side 8, the 5 x 9 ones 9. */
    loader_samples big;
    ck_assert_int_eq(loader_samples_from_set(&set, 9, &big, &err), NN_OK);
    ck_assert_uint_eq(big.count, 3);
    loader_samples_free(&big);
    ck_assert_int_eq(loader_samples_from_set(&set, 10, &big, &err), NN_OK);
    ck_assert_uint_eq(big.count, 0);
    loader_samples_free(&big);

    ck_assert_int_eq(loader_split(&all, 1.0f / 3.0f, 42, &train, &val, &err), NN_OK);
    ck_assert_uint_eq(train.count, 6);
    ck_assert_uint_eq(val.count, 3);
    ck_assert_int_eq(loader_split(&all, 1.0f / 3.0f, 42, &train2, &val2, &err), NN_OK);
    for (size_t i = 0; i < val.count; i++)
        ck_assert_int_eq(val.items[i].group, val2.items[i].group);
    /* Every group on exactly one side. */
    for (size_t i = 0; i < train.count; i++)
        for (size_t j = 0; j < val.count; j++)
            ck_assert_int_ne(train.items[i].group, val.items[j].group);
    loader_samples_free(&train2);
    loader_samples_free(&val2);
    loader_samples_free(&train);
    loader_samples_free(&val);
    ck_assert_int_eq(loader_split(&all, 1.5f, 1, &train, &val, &err), NN_ERR_ARG);
    loader_samples_free(&all);
    annot_set_free(&set);
    dsf_remove_tree(root);
}
END_TEST

/* Several faces per photo: the split keeps each photo's faces together. */
START_TEST(split_by_image) {
    loader_samples all = {0};
    all.n_classes = 2;
    all.count = 60;
    all.items = calloc(all.count, sizeof *all.items);
    for (size_t i = 0; i < all.count; i++) {
        all.items[i].group = (int)(i / 4); /* 15 photos with 4 faces each */
        all.items[i].label = (int)(i % 2);
    }
    loader_samples train, val;
    nn_error err = {0};
    for (uint64_t seed = 1; seed <= 5; seed++) {
        ck_assert_int_eq(loader_split(&all, 0.2f, seed, &train, &val, &err), NN_OK);
        ck_assert_uint_eq(val.count, 12); /* 3 of 15 photos */
        ck_assert_uint_eq(train.count, 48);
        for (size_t i = 0; i < val.count; i++)
            for (size_t j = 0; j < train.count; j++)
                ck_assert_int_ne(val.items[i].group, train.items[j].group);
        loader_samples_free(&train);
        loader_samples_free(&val);
    }
    free(all.items);
}
END_TEST

/* The split by photo name: a photo is held out exactly when
 * det_split_is_val says so for the stem of its annotation file (what
 * maskdet eval and train-detector use), its faces stay together, and a
 * sample naming a photo the set lacks is an error. */
START_TEST(split_by_photo_name) {
    annot_set set = {0};
    set.n_items = 40;
    set.items = calloc(set.n_items, sizeof *set.items);
    char paths[40][2][48];
    for (size_t i = 0; i < set.n_items; i++) {
        snprintf(paths[i][0], 48, "a/images/p%zu.png", i);
        snprintf(paths[i][1], 48, "a/annotations/p%zu.xml", i);
        set.items[i].image_path = paths[i][0];
        set.items[i].annotation_path = i % 5 ? paths[i][1] : NULL; /* some by image name */
    }
    loader_samples all = {0};
    all.n_classes = 2;
    all.count = 120;
    all.items = calloc(all.count, sizeof *all.items);
    for (size_t i = 0; i < all.count; i++) all.items[i].group = (int)(i / 3);
    loader_samples train, val;
    nn_error err = {0};
    for (uint64_t seed = 1; seed <= 3; seed++) {
        ck_assert_int_eq(loader_split_by_photo(&all, &set, 0.3f, seed, &train, &val, &err), NN_OK);
        ck_assert_uint_eq(train.count + val.count, all.count);
        ck_assert_uint_gt(val.count, 0);
        ck_assert_uint_gt(train.count, 0);
        for (size_t i = 0; i < val.count; i++) {
            char key[16];
            snprintf(key, sizeof key, "p%d", val.items[i].group);
            ck_assert(det_split_is_val(key, seed, 0.3f));
        }
        for (size_t i = 0; i < train.count; i++) {
            char key[16];
            snprintf(key, sizeof key, "p%d", train.items[i].group);
            ck_assert(!det_split_is_val(key, seed, 0.3f));
        }
        loader_samples_free(&train);
        loader_samples_free(&val);
    }
    all.items[7].group = 40; /* no such photo */
    ck_assert_int_eq(loader_split_by_photo(&all, &set, 0.3f, 1, &train, &val, &err), NN_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(err.msg, "photo 40"));
    free(all.items);
    free(set.items);
}
END_TEST

/* Batches hold (pixel - mean) * scale of the right images; same seed, same
 * batches with and without prefetching; an epoch visits each sample once. */
START_TEST(batches_deterministic) {
    char root[512];
    dsf_make_tempdir(root, sizeof root);
    annot_set set;
    make_folder_set(root, &set);
    loader_samples all;
    nn_error err = {0};
    ck_assert_int_eq(loader_samples_from_set(&set, 0, &all, &err), NN_OK);
    loader_config cfg = loader_default_config();
    cfg.input_w = 4;
    cfg.input_h = 3;
    cfg.batch_size = 4;
    cfg.seed = 7;
    cfg.mean[0] = 100;
    cfg.mean[1] = 1;
    cfg.mean[2] = 2;
    cfg.scale[0] = 0.5f;
    cfg.scale[1] = cfg.scale[2] = 1;
    loader *a, *b;
    cfg.prefetch = true;
    ck_assert_int_eq(loader_create(&all, &cfg, &a, &err), NN_OK);
    cfg.prefetch = false;
    ck_assert_int_eq(loader_create(&all, &cfg, &b, &err), NN_OK);
    ck_assert_uint_eq(loader_batches_per_epoch(a), 3);
    size_t plane = 12;
    size_t first_epoch[9], second_epoch[9];
    for (int epoch = 0; epoch < 2; epoch++) {
        int seen[9] = {0};
        size_t pos = 0;
        for (size_t k = 0; k < 3; k++) {
            const loader_batch *ba, *bb;
            ck_assert_msg(loader_next(a, &ba, &err) == NN_OK, "%s", err.msg);
            ck_assert_msg(loader_next(b, &bb, &err) == NN_OK, "%s", err.msg);
            ck_assert_int_eq(ba->epoch, epoch);
            ck_assert_uint_eq(ba->index, k);
            ck_assert_int_eq(ba->count, k < 2 ? 4 : 1);
            ck_assert_int_eq(bb->count, ba->count);
            ck_assert_mem_eq(ba->sample_ids, bb->sample_ids, (size_t)ba->count * sizeof(size_t));
            ck_assert_mem_eq(ba->data, bb->data, (size_t)ba->count * 3 * plane * sizeof(float));
            for (int s = 0; s < ba->count; s++) {
                size_t id = ba->sample_ids[s];
                seen[id]++;
                (epoch ? second_epoch : first_epoch)[pos++] = id;
                /* Items are sorted: mask/m0..m5 (red 10 i, green 1) then no_mask/n0..n2. */
                bool mask = id < 6;
                float red = mask ? 10.0f * (float)id : 200.0f + 10.0f * (float)(id - 6);
                float green = mask ? 1 : 3, blue = mask ? 2 : 4;
                ck_assert_int_eq(ba->labels[s], mask ? CLASSMAP_MASK : CLASSMAP_NO_MASK);
                const float *px = ba->data + (size_t)s * 3 * plane;
                for (size_t p = 0; p < plane; p++) {
                    ck_assert_float_eq_tol(px[p], (red - 100) * 0.5f, 1e-4f);
                    ck_assert_float_eq_tol(px[plane + p], green - 1, 1e-4f);
                    ck_assert_float_eq_tol(px[2 * plane + p], blue - 2, 1e-4f);
                }
            }
        }
        for (int i = 0; i < 9; i++)
            ck_assert_int_eq(seen[i], 1);
    }
    /* A new order each epoch (fixed for this seed: checked, not assumed random). */
    ck_assert(memcmp(first_epoch, second_epoch, sizeof first_epoch) != 0);
    loader_destroy(a);
    loader_destroy(b);

    /* Another seed, another order. */
    cfg.seed = 8;
    ck_assert_int_eq(loader_create(&all, &cfg, &a, &err), NN_OK);
    size_t other[9], pos = 0;
    for (int k = 0; k < 3; k++) {
        const loader_batch *ba;
        ck_assert_int_eq(loader_next(a, &ba, &err), NN_OK);
        for (int s = 0; s < ba->count; s++)
            other[pos++] = ba->sample_ids[s];
    }
    ck_assert(memcmp(first_epoch, other, sizeof other) != 0);
    loader_destroy(a);

    /* No shuffle: the samples' own order. */
    cfg.shuffle = false;
    ck_assert_int_eq(loader_create(&all, &cfg, &a, &err), NN_OK);
    const loader_batch *ba;
    ck_assert_int_eq(loader_next(a, &ba, &err), NN_OK);
    for (int s = 0; s < 4; s++)
        ck_assert_uint_eq(ba->sample_ids[s], (size_t)s);
    loader_destroy(a);
    loader_samples_free(&all);
    annot_set_free(&set);
    dsf_remove_tree(root);
}
END_TEST

START_TEST(balanced_sampling) {
    char root[512];
    dsf_make_tempdir(root, sizeof root);
    annot_set set;
    make_folder_set(root, &set);
    loader_samples all;
    nn_error err = {0};
    ck_assert_int_eq(loader_samples_from_set(&set, 0, &all, &err), NN_OK);
    loader_config cfg = loader_default_config();
    cfg.input_w = cfg.input_h = 2;
    cfg.batch_size = 9;
    cfg.balance = true;
    cfg.seed = 3;
    loader *ld;
    ck_assert_int_eq(loader_create(&all, &cfg, &ld, &err), NN_OK);
    size_t per_class[2] = {0};
    for (int e = 0; e < 40; e++) {
        const loader_batch *b;
        ck_assert_int_eq(loader_next(ld, &b, &err), NN_OK);
        for (int s = 0; s < b->count; s++)
            per_class[b->labels[s]]++;
    }
    /* 360 draws with classes equally likely (6 : 3 samples unbalanced would give 240 : 120). */
    ck_assert_uint_eq(per_class[0] + per_class[1], 360);
    ck_assert_msg(per_class[1] > 150 && per_class[1] < 210, "no_mask drawn %zu of 360",
                  per_class[1]);
    loader_destroy(ld);
    loader_samples_free(&all);
    annot_set_free(&set);
    dsf_remove_tree(root);
}
END_TEST

/* A left-dark, right-bright image: the flip either keeps or mirrors it. */
START_TEST(augmentation_and_boxes) {
    char root[512];
    dsf_make_tempdir(root, sizeof root);
    image img = {0};
    nn_error err = {0};
    ck_assert_int_eq(image_alloc(&img, 8, 8, 3, &err), NN_OK);
    for (int y = 0; y < 8; y++)
        for (int x = 0; x < 8; x++)
            for (int c = 0; c < 3; c++)
                img.pixels[(y * 8 + x) * 3 + c] = x < 4 ? 0 : 255;
    char path[1024];
    snprintf(path, sizeof path, "%s/half.png", root);
    ck_assert_int_eq(image_save(&img, path, 95, &err), NN_OK);
    image_free(&img);

    loader_sample s = {path, false, 0, 0, 0, 0, 0, 0};
    loader_config cfg = loader_default_config();
    cfg.input_w = cfg.input_h = 8;
    cfg.augment_on = true;
    cfg.augment.flip = true;
    float out[3 * 64];
    int flipped = 0;
    for (uint64_t seed = 0; seed < 16; seed++) {
        ck_assert_int_eq(loader_prepare_sample(&s, &cfg, seed, out, &err), NN_OK);
        float left = out[0], right = out[7];
        ck_assert(left == 0 || left == 1);
        ck_assert_float_eq(left + right, 1);
        flipped += left == 1;
        float again[3 * 64];
        ck_assert_int_eq(loader_prepare_sample(&s, &cfg, seed, again, &err), NN_OK);
        ck_assert_mem_eq(out, again, sizeof out);
    }
    ck_assert(flipped > 0 && flipped < 16);

    /* All augmentations on: deterministic per seed and within range. */
    cfg.augment.gamma_min = 0.7f;
    cfg.augment.gamma_max = 1.4f;
    cfg.augment.rotate_deg = 10;
    cfg.augment.crop_jitter = 0.1f;
    cfg.augment.jitter = (transform_jitter){0.2f, 0.2f, 0.2f, 0.02f};
    float again[3 * 64];
    ck_assert_int_eq(loader_prepare_sample(&s, &cfg, 99, out, &err), NN_OK);
    ck_assert_int_eq(loader_prepare_sample(&s, &cfg, 99, again, &err), NN_OK);
    ck_assert_mem_eq(out, again, sizeof out);
    for (int i = 0; i < 3 * 64; i++)
        ck_assert(out[i] >= 0 && out[i] <= 1);

    /* A missing image is an error naming it. */
    loader_sample gone = {"/nonexistent/x.jpg", false, 0, 0, 0, 0, 0, 0};
    ck_assert_int_ne(loader_prepare_sample(&gone, &cfg, 1, out, &err), NN_OK);
    ck_assert_ptr_nonnull(strstr(err.msg, "/nonexistent/x.jpg"));

    /* Box geometry: flipping twice is the identity; a crop shifts and clips. */
    float x1 = 10, x2 = 30;
    loader_flip_box(&x1, &x2, 100);
    ck_assert_float_eq(x1, 70);
    ck_assert_float_eq(x2, 90);
    loader_flip_box(&x1, &x2, 100);
    ck_assert_float_eq(x1, 10);
    ck_assert_float_eq(x2, 30);
    float bx1 = 10, by1 = 20, bx2 = 50, by2 = 60;
    ck_assert(loader_crop_box(&bx1, &by1, &bx2, &by2, 30, 10, 100, 30));
    ck_assert_float_eq(bx1, 0);
    ck_assert_float_eq(by1, 10);
    ck_assert_float_eq(bx2, 20);
    ck_assert_float_eq(by2, 30);
    bx1 = 0, by1 = 0, bx2 = 5, by2 = 5;
    ck_assert(!loader_crop_box(&bx1, &by1, &bx2, &by2, 10, 10, 20, 20));
    dsf_remove_tree(root);
}
END_TEST

/* The prefetch thread stops cleanly however far it got, and errors reach the caller. */
START_TEST(prefetch_shutdown_and_errors) {
    char root[512];
    dsf_make_tempdir(root, sizeof root);
    annot_set set;
    make_folder_set(root, &set);
    loader_samples all;
    nn_error err = {0};
    ck_assert_int_eq(loader_samples_from_set(&set, 0, &all, &err), NN_OK);
    loader_config cfg = loader_default_config();
    cfg.input_w = cfg.input_h = 4;
    cfg.batch_size = 2;
    loader *ld;
    for (int taken = 0; taken < 4; taken++) {
        ck_assert_int_eq(loader_create(&all, &cfg, &ld, &err), NN_OK);
        for (int k = 0; k < taken; k++) {
            const loader_batch *b;
            ck_assert_int_eq(loader_next(ld, &b, &err), NN_OK);
        }
        loader_destroy(ld);
    }
    /* A sample whose image vanished: loader_next reports it. */
    char path[1024];
    snprintf(path, sizeof path, "%s/mask/m0.png", root);
    remove(path);
    cfg.shuffle = false;
    cfg.batch_size = 9;
    ck_assert_int_eq(loader_create(&all, &cfg, &ld, &err), NN_OK);
    const loader_batch *b;
    ck_assert_int_ne(loader_next(ld, &b, &err), NN_OK);
    ck_assert_ptr_null(b);
    ck_assert_msg(strstr(err.msg, "m0.png") != NULL, "%s", err.msg);
    loader_destroy(ld);
    cfg.batch_size = 0;
    ck_assert_int_eq(loader_create(&all, &cfg, &ld, &err), NN_ERR_ARG);
    loader_samples_free(&all);
    annot_set_free(&set);
    dsf_remove_tree(root);
}
END_TEST

/* Batches from cached face regions equal batches from freshly decoded photos,
 * with every augmentation on and boxes touching the photo's edges. */
START_TEST(cache_gives_same_batches) {
    char root[512];
    dsf_make_tempdir(root, sizeof root);
    image img = {0};
    nn_error err = {0};
    ck_assert_int_eq(image_alloc(&img, 40, 30, 3, &err), NN_OK);
    for (int i = 0; i < 40 * 30 * 3; i++)
        img.pixels[i] = (uint8_t)((i * 37) % 251);
    char path[1024];
    dsf_write_text(root, "images/p.png", "");
    snprintf(path, sizeof path, "%s/images/p.png", root);
    ck_assert_int_eq(image_save(&img, path, 95, &err), NN_OK);
    image_free(&img);
    dsf_write_text(root, "annotations/p.xml",
                   "<annotation><size><width>40</width><height>30</height></size>"
                   "<object><name>with_mask</name><bndbox><xmin>0</xmin><ymin>0</ymin>"
                   "<xmax>12</xmax><ymax>10</ymax></bndbox></object>"
                   "<object><name>without_mask</name><bndbox><xmin>15.5</xmin><ymin>8</ymin>"
                   "<xmax>27</xmax><ymax>21.5</ymax></bndbox></object>"
                   "<object><name>with_mask</name><bndbox><xmin>30</xmin><ymin>20</ymin>"
                   "<xmax>40</xmax><ymax>30</ymax></bndbox></object></annotation>");
    annot_set set;
    ck_assert_msg(annot_load(root, NULL, &set, &err) == NN_OK, "%s", err.msg);
    loader_samples all;
    ck_assert_int_eq(loader_samples_from_set(&set, 0, &all, &err), NN_OK);
    ck_assert_uint_eq(all.count, 3);
    ck_assert(all.items[0].has_box);
    loader_config cfg = loader_default_config();
    cfg.input_w = 9;
    cfg.input_h = 7;
    cfg.batch_size = 2;
    cfg.seed = 11;
    cfg.margin = 0.3f;
    cfg.augment_on = true;
    cfg.augment = (loader_augment){true, 0.8f, 1.3f, {0.2f, 0.2f, 0.2f, 0.05f}, 12, 0.15f};
    loader *cached, *plain;
    ck_assert_int_eq(loader_create(&all, &cfg, &cached, &err), NN_OK);
    cfg.cache_bytes = 0;
    cfg.prefetch = false;
    ck_assert_int_eq(loader_create(&all, &cfg, &plain, &err), NN_OK);
    for (int k = 0; k < 200; k++) { /* 100 epochs of 2 batches: crops reach the extremes */
        const loader_batch *a, *b;
        ck_assert_msg(loader_next(cached, &a, &err) == NN_OK, "%s", err.msg);
        ck_assert_msg(loader_next(plain, &b, &err) == NN_OK, "%s", err.msg);
        ck_assert_int_eq(a->count, b->count);
        ck_assert_mem_eq(a->sample_ids, b->sample_ids, (size_t)a->count * sizeof(size_t));
        ck_assert_mem_eq(a->data, b->data, (size_t)a->count * 3 * 9 * 7 * sizeof(float));
    }
    loader_destroy(cached);
    loader_destroy(plain);
    loader_samples_free(&all);
    annot_set_free(&set);
    dsf_remove_tree(root);
}
END_TEST

/* The real detection set: split by photo, and a batch with and without prefetch. */
START_TEST(shared_detection_loader) {
    const char *shared = tu_shared_dir();
    char root[4096];
    if (shared) snprintf(root, sizeof root, "%s/datasets/facemask_detection_andrewmvd", shared);
    if (!shared || access(root, R_OK) != 0) {
        fprintf(stderr, "loader: shared/datasets/facemask_detection_andrewmvd absent, skipped\n");
        return;
    }
    annot_set set;
    nn_error err = {0};
    ck_assert_msg(annot_load(root, NULL, &set, &err) == NN_OK, "%s", err.msg);
    loader_samples all, train, val;
    ck_assert_int_eq(loader_samples_from_set(&set, 0, &all, &err), NN_OK);
    ck_assert_uint_eq(all.count, 3348);
    ck_assert_int_eq(loader_split(&all, 0.15f, 2024, &train, &val, &err), NN_OK);
    ck_assert_uint_eq(train.count + val.count, 3348);
    bool *in_val = calloc(set.n_items, sizeof *in_val);
    size_t val_images = 0;
    for (size_t i = 0; i < val.count; i++) {
        val_images += !in_val[val.items[i].group];
        in_val[val.items[i].group] = true;
    }
    ck_assert_uint_eq(val_images, 110); /* round(0.15 * 731) photos */
    for (size_t i = 0; i < train.count; i++)
        ck_assert(!in_val[train.items[i].group]);
    free(in_val);
    /* the split by name holds out the photos `maskdet eval --split val` scores */
    loader_samples_free(&train);
    loader_samples_free(&val);
    ck_assert_int_eq(loader_split_by_photo(&all, &set, 0.15f, 1, &train, &val, &err), NN_OK);
    in_val = calloc(set.n_items, sizeof *in_val);
    val_images = 0;
    for (size_t i = 0; i < val.count; i++) {
        val_images += !in_val[val.items[i].group];
        in_val[val.items[i].group] = true;
    }
    ck_assert_uint_eq(val_images, 106); /* as maskdet eval --split val --seed 1 reports */
    ck_assert_uint_eq(val.count, 530);
    free(in_val);

    loader_config cfg = loader_default_config();
    cfg.input_w = cfg.input_h = 24;
    cfg.batch_size = 8;
    cfg.seed = 5;
    cfg.augment_on = true;
    cfg.augment.flip = true;
    cfg.augment.crop_jitter = 0.1f;
    loader *a, *b;
    ck_assert_int_eq(loader_create(&train, &cfg, &a, &err), NN_OK);
    cfg.prefetch = false;
    ck_assert_int_eq(loader_create(&train, &cfg, &b, &err), NN_OK);
    for (int k = 0; k < 2; k++) {
        const loader_batch *ba, *bb;
        ck_assert_msg(loader_next(a, &ba, &err) == NN_OK, "%s", err.msg);
        ck_assert_msg(loader_next(b, &bb, &err) == NN_OK, "%s", err.msg);
        ck_assert_int_eq(ba->count, 8);
        ck_assert_mem_eq(ba->data, bb->data, 8 * 3 * 24 * 24 * sizeof(float));
    }
    loader_destroy(a);
    loader_destroy(b);
    loader_samples_free(&train);
    loader_samples_free(&val);
    loader_samples_free(&all);
    annot_set_free(&set);
}
END_TEST

Suite *loader_suite(void) {
    Suite *s = suite_create("loader");
    TCase *tc = tcase_create("loader");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, samples_weights_and_split);
    tcase_add_test(tc, split_by_image);
    tcase_add_test(tc, split_by_photo_name);
    tcase_add_test(tc, batches_deterministic);
    tcase_add_test(tc, balanced_sampling);
    tcase_add_test(tc, augmentation_and_boxes);
    tcase_add_test(tc, prefetch_shutdown_and_errors);
    tcase_add_test(tc, cache_gives_same_batches);
    suite_add_tcase(s, tc);
    TCase *shared = tcase_create("shared");
    tcase_set_timeout(shared, 120);
    tcase_add_test(shared, shared_detection_loader);
    suite_add_tcase(s, shared);
    return s;
}
