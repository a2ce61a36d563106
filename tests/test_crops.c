/*
 * test_crops.c - face-crop extraction: which files are written, their sizes
 * (margin and clipping worked out by hand) and their pixels (PNG, lossless,
 * compared with the source pattern).
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "annot.h"
#include "crops.h"
#include "dsfixture.h"
#include "image.h"

static uint8_t pattern(int x, int y, int c) { return (uint8_t)((x * 7 + y * 13 + c * 50) & 255); }

static void write_pattern_png(const char *root, const char *rel, int w, int h) {
    image img = {0};
    nn_error err = {0};
    ck_assert_int_eq(image_alloc(&img, w, h, 3, &err), NN_OK);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++)
                img.pixels[(y * w + x) * 3 + c] = pattern(x, y, c);
    char path[1024];
    dsf_write_text(root, rel, ""); /* creates the folders */
    snprintf(path, sizeof path, "%s/%s", root, rel);
    ck_assert_msg(image_save(&img, path, 95, &err) == NN_OK, "%s", err.msg);
    image_free(&img);
}

static void write_set(const char *root) {
    write_pattern_png(root, "images/a.png", 40, 30);
    dsf_write_text(
        root, "annotations/a.xml",
        "<annotation><size><width>40</width><height>30</height></size>"
        "<object><name>with_mask</name><bndbox><xmin>10</xmin><ymin>5</ymin>"
        "<xmax>20</xmax><ymax>15</ymax></bndbox></object>"
        "<object><name>without_mask</name><bndbox><xmin>0</xmin><ymin>0</ymin>"
        "<xmax>4</xmax><ymax>4</ymax></bndbox></object>"
        "<object><name>mask_weared_incorrect</name><bndbox><xmin>30</xmin><ymin>20</ymin>"
        "<xmax>40</xmax><ymax>30</ymax></bndbox></object>"
        "</annotation>");
}

static void check_image(const char *dir, const char *rel, int w, int h, int x0, int y0,
                        bool exact) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    image img = {0};
    nn_error err = {0};
    ck_assert_msg(image_load(path, 3, &img, &err) == NN_OK, "%s", err.msg);
    ck_assert_int_eq(img.width, w);
    ck_assert_int_eq(img.height, h);
    if (exact)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int c = 0; c < 3; c++)
                    ck_assert_int_eq(img.pixels[(y * w + x) * 3 + c], pattern(x0 + x, y0 + y, c));
    image_free(&img);
}

START_TEST(crop_files_sizes_and_pixels) {
    char root[512], out[600];
    dsf_make_tempdir(root, sizeof root);
    write_set(root);
    snprintf(out, sizeof out, "%s/out", root);
    annot_set set;
    nn_error err = {0};
    ck_assert_msg(annot_load(root, NULL, &set, &err) == NN_OK, "%s", err.msg);
    crops_options opt = crops_default_options();
    opt.margin = 0.2f;
    opt.min_size_px = 5;
    opt.png = true;
    crops_result res;
    ck_assert_msg(crops_extract(&set, out, &opt, &res, &err) == NN_OK, "%s", err.msg);
    ck_assert_uint_eq(res.n_written, 2);
    ck_assert_uint_eq(res.n_too_small, 1);
    ck_assert_uint_eq(res.per_class[CLASSMAP_MASK], 1);
    ck_assert_uint_eq(res.per_class[CLASSMAP_NO_MASK], 1);
    /* Box 0: (10,5)-(20,15) widened by 2 px each side -> (8,3)-(22,17), 14 x 14. */
    check_image(out, "mask/a_0.png", 14, 14, 8, 3, true);
    /* Box 1 is 4 px: below --min-size. */
    ck_assert(!dsf_exists(out, "no_mask/a_1.png"));
    /* Box 2: (30,20)-(40,30) widened to (28,18)-(42,32), clipped to the 40x30 image. */
    check_image(out, "no_mask/a_2.png", 12, 12, 28, 18, true);

    /* JPEG by default; incorrect masks in their own folder when the map says so. */
    classmap own = {.incorrect_own_class = true};
    annot_apply_classmap(&set, &own);
    opt = crops_default_options();
    ck_assert_msg(crops_extract(&set, out, &opt, &res, &err) == NN_OK, "%s", err.msg);
    ck_assert_uint_eq(res.n_written, 3);
    check_image(out, "mask/a_0.jpg", 12, 12, 9, 4, false);  /* margin 0.1: 1 px */
    check_image(out, "no_mask/a_1.jpg", 5, 5, 0, 0, false); /* (-0.4..4.4) -> 0..5 */
    check_image(out, "mask_incorrect/a_2.jpg", 11, 11, 29, 19, false);

    int x, y, w, h;
    annot_box box = {0.5f, 0.5f, 1.0f, 1.0f, 0, 0};
    crops_rect(&box, 10, 10, 0, &x, &y, &w, &h);
    ck_assert(w >= 1 && h >= 1 && x == 0 && y == 0);
    opt.margin = -1;
    ck_assert_int_eq(crops_extract(&set, out, &opt, &res, &err), NN_ERR_ARG);
    annot_set_free(&set);
    dsf_remove_tree(root);
}
END_TEST

Suite *crops_suite(void) {
    Suite *s = suite_create("crops");
    TCase *tc = tcase_create("extract");
    tcase_add_test(tc, crop_files_sizes_and_pixels);
    suite_add_tcase(s, tc);
    return s;
}
