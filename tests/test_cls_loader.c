/*
 * test_cls_loader.c - what resuming a classifier run needs from the loader:
 * a loader started at epoch E (loader_config.start_epoch) hands out exactly
 * the batches an uninterrupted loader hands out from epoch E on, with and
 * without the prefetch thread and the region cache, every time.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "dsfixture.h"
#include "image.h"
#include "loader.h"

enum { PER_CLASS = 5, BATCH = 3 };

static void write_set(const char *root) {
    nn_error err = {0};
    for (int c = 0; c < 2; c++)
        for (int i = 0; i < PER_CLASS; i++) {
            image img = {0};
            ck_assert_int_eq(image_alloc(&img, 12 + i, 10 + c, 3, &err), NN_OK);
            for (size_t k = 0; k < (size_t)img.width * img.height * 3; k++)
                img.pixels[k] = (uint8_t)(k * 7 + i * 31 + c * 101);
            char rel[64], path[1024];
            snprintf(rel, sizeof rel, "set/%s/%d.png", c ? "without_mask" : "with_mask", i);
            dsf_write_text(root, rel, "");
            snprintf(path, sizeof path, "%s/%s", root, rel);
            ck_assert_int_eq(image_save(&img, path, 0, &err), NN_OK);
            image_free(&img);
        }
}

/* FNV-1a over n batches' data and labels, one hash per batch. */
static void batch_hashes(const loader_samples *s, loader_config cfg, int n, uint64_t *out) {
    nn_error err = {0};
    loader *ld;
    ck_assert_int_eq(loader_create(s, &cfg, &ld, &err), NN_OK);
    for (int k = 0; k < n; k++) {
        const loader_batch *b;
        ck_assert_int_eq(loader_next(ld, &b, &err), NN_OK);
        uint64_t h = 1469598103934665603ull;
        const unsigned char *p = (const unsigned char *)b->data;
        for (size_t i = 0; i < (size_t)b->count * 3 * cfg.input_w * cfg.input_h * sizeof(float); i++)
            h = (h ^ p[i]) * 1099511628211ull;
        for (int i = 0; i < b->count; i++)
            h = (h ^ (uint64_t)b->labels[i]) * 1099511628211ull;
        out[k] = h;
    }
    loader_destroy(ld);
}

START_TEST(start_epoch_continues_exactly) {
    char tmp[512], path[1024];
    dsf_make_tempdir(tmp, sizeof tmp);
    write_set(tmp);
    snprintf(path, sizeof path, "%s/set", tmp);
    annot_set set;
    nn_error err = {0};
    annot_options ao = annot_default_options();
    ck_assert_int_eq(annot_load(path, &ao, &set, &err), NN_OK);
    loader_samples all;
    ck_assert_int_eq(loader_samples_from_set(&set, 0, &all, &err), NN_OK);
    ck_assert_uint_eq(all.count, 2 * PER_CLASS);

    loader_config cfg = loader_default_config();
    cfg.input_w = cfg.input_h = 8;
    cfg.batch_size = BATCH;
    cfg.seed = 9;
    cfg.augment_on = true;
    cfg.augment.flip = true;
    cfg.augment.rotate_deg = 10;
    cfg.augment.crop_jitter = 0.1f;
    const int per_epoch = (2 * PER_CLASS + BATCH - 1) / BATCH, epochs = 3;
    uint64_t straight[3 * 4], resumed[2 * 4];
    cfg.prefetch = false;
    cfg.cache_bytes = 0;
    batch_hashes(&all, cfg, epochs * per_epoch, straight);
    for (int variant = 0; variant < 4; variant++) {
        for (int repeat = 0; repeat < 3; repeat++) {
            loader_config c = cfg;
            c.prefetch = variant & 1;
            c.cache_bytes = variant & 2 ? 1 << 20 : 0;
            uint64_t again[3 * 4];
            batch_hashes(&all, c, epochs * per_epoch, again);
            for (int k = 0; k < epochs * per_epoch; k++)
                ck_assert_msg(again[k] == straight[k], "variant %d: batch %d differs", variant, k);
            c.start_epoch = 1;
            batch_hashes(&all, c, 2 * per_epoch, resumed);
            for (int k = 0; k < 2 * per_epoch; k++)
                ck_assert_msg(resumed[k] == straight[per_epoch + k],
                              "variant %d: resumed batch %d differs", variant, k);
        }
    }
    /* epochs differ from each other (the check above would be weak otherwise) */
    ck_assert(straight[0] != straight[per_epoch]);
    cfg.start_epoch = -1;
    loader *ld;
    ck_assert_int_ne(loader_create(&all, &cfg, &ld, &err), NN_OK);
    loader_samples_free(&all);
    annot_set_free(&set);
    dsf_remove_tree(tmp);
}
END_TEST

Suite *cls_loader_suite(void) {
    Suite *s = suite_create("cls_loader");
    TCase *tc = tcase_create("resume");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, start_epoch_continues_exactly);
    suite_add_tcase(s, tc);
    return s;
}
