/* test_ssd_augment.c - SSD augmentation keeps boxes inside the output and on
 * their faces, marks small faces ignored, and is deterministic in its seed.
 *
 * The test image is black with each box painted in its own colour, so after
 * any crop / zoom-out / resize / flip the pixel at an output box's centre must
 * still be that box's colour: boxes and pixels were moved consistently. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ssd_augment.h"
#include "testutil.h"

enum { W = 97, H = 61, N = 3 };
static const ssd_aug_box BOXES[N] = {
    {5, 4, 35, 40, 1, false}, {50, 10, 70, 30, 2, false}, {75, 35, 95, 59, 3, false}};
static const uint8_t COLOURS[N][3] = {{250, 20, 20}, {20, 250, 20}, {20, 20, 250}};

static void make_image(image *img) {
    nn_error err = {0};
    ck_assert_int_eq(image_alloc(img, W, H, 3, &err), NN_OK);
    memset(img->pixels, 0, (size_t)W * H * 3);
    for (int i = 0; i < N; i++)
        for (int y = (int)BOXES[i].y1; y < (int)BOXES[i].y2; y++)
            for (int x = (int)BOXES[i].x1; x < (int)BOXES[i].x2; x++)
                memcpy(img->pixels + ((size_t)y * W + x) * 3, COLOURS[i], 3);
}

/* _i = 1: the same with keep_aspect (patches padded with the canvas colour) */
/* The sample of `seed` from src: out (free it) and its n boxes in ob. */
static void augment_seed(const image *src, const ssd_augment_config *cfg, int seed, image *out,
                         ssd_aug_box *ob, int *n) {
    transform_rng rng;
    transform_rng_seed(&rng, (uint64_t)seed);
    nn_error err = {0};
    ck_assert_int_eq(ssd_augment(src, BOXES, N, cfg, &rng, out, ob, n, &err), NN_OK);
}

START_TEST(boxes_stay_inside_and_on_their_faces) {
    image src;
    make_image(&src);
    ssd_augment_config cfg = ssd_augment_default(64, 48);
    cfg.keep_aspect = _i;
    cfg.photometric_prob = 0.0f; /* colours must stay recognisable */
    cfg.min_face_px = 6.0f;
    int total = 0, flipped_like = 0;
    for (int seed = 0; seed < 300; seed++) {
        image out;
        ssd_aug_box ob[N];
        int n;
        augment_seed(&src, &cfg, seed, &out, ob, &n);
        ck_assert_int_eq(out.width, 64);
        ck_assert_int_eq(out.height, 48);
        ck_assert(n >= 0 && n <= N);
        for (int i = 0; i < n; i++) {
            const ssd_aug_box *b = &ob[i];
            ck_assert(b->x1 >= 0 && b->y1 >= 0 && b->x2 <= 64 && b->y2 <= 48);
            ck_assert(b->x1 < b->x2 && b->y1 < b->y2);
            ck_assert(b->label >= 1 && b->label <= N);
            bool small = fmaxf(b->x2 - b->x1, b->y2 - b->y1) < 6.0f;
            ck_assert(b->ignore == small);
            if (b->x2 - b->x1 < 4 || b->y2 - b->y1 < 4) continue; /* too thin to sample */
            int cx = (int)(0.5f * (b->x1 + b->x2)), cy = (int)(0.5f * (b->y1 + b->y2));
            const uint8_t *px = out.pixels + ((size_t)cy * 64 + cx) * 3;
            const uint8_t *want = COLOURS[b->label - 1];
            for (int c = 0; c < 3; c++)
                ck_assert_msg(abs((int)px[c] - want[c]) < 40,
                              "seed %d box %d: centre pixel %d,%d,%d is not its colour", seed, i,
                              px[0], px[1], px[2]);
            total++;
            flipped_like += b->label == 1 && cx > 32;
        }
        image_free(&out);
    }
    ck_assert_int_gt(total, 300);
    ck_assert_int_gt(flipped_like, 0); /* flips happened */
    image_free(&src);
}
END_TEST

/* With keep_aspect the resize never stretches: a face box that no patch edge
 * cut keeps its shape (up to the pixel rounding of the patch); the paper's
 * sampler stretches some by far more. */
static double worst_stretch(bool keep_aspect) {
    image src;
    make_image(&src);
    ssd_augment_config cfg = ssd_augment_default(64, 48);
    cfg.photometric_prob = 0.0f;
    cfg.keep_aspect = keep_aspect;
    double worst = 0.0;
    int counted = 0;
    for (int seed = 0; seed < 300; seed++) {
        image out;
        ssd_aug_box ob[N];
        int n;
        augment_seed(&src, &cfg, seed, &out, ob, &n);
        for (int i = 0; i < n; i++) {
            const ssd_aug_box *b = &ob[i], *o = &BOXES[b->label - 1];
            float w = b->x2 - b->x1, h = b->y2 - b->y1;
            if (w < 8 || h < 8 || b->x1 <= 0.5f || b->y1 <= 0.5f || b->x2 >= 63.5f ||
                b->y2 >= 47.5f)
                continue; /* small (rounding) or maybe cut by the patch */
            double stretch = fabs(log((w / h) / ((o->x2 - o->x1) / (o->y2 - o->y1))));
            if (stretch > worst) worst = stretch;
            counted++;
        }
        image_free(&out);
    }
    ck_assert_int_gt(counted, 100);
    image_free(&src);
    return worst;
}

START_TEST(keep_aspect_does_not_stretch) {
    double kept = worst_stretch(true), paper = worst_stretch(false);
    ck_assert_msg(kept < 0.1, "keep_aspect: a face's w/h changed by a factor %.3f", exp(kept));
    ck_assert_msg(paper > 0.3, "the paper's sampler stretched by at most %.3f", exp(paper));
}
END_TEST

START_TEST(same_seed_same_sample) {
    image src;
    make_image(&src);
    ssd_augment_config cfg = ssd_augment_default(40, 40);
    nn_error err = {0};
    image a, b;
    ssd_aug_box ba[N], bb[N];
    int na, nb;
    transform_rng r1, r2;
    transform_rng_seed(&r1, 77);
    transform_rng_seed(&r2, 77);
    ck_assert_int_eq(ssd_augment(&src, BOXES, N, &cfg, &r1, &a, ba, &na, &err), NN_OK);
    ck_assert_int_eq(ssd_augment(&src, BOXES, N, &cfg, &r2, &b, bb, &nb, &err), NN_OK);
    ck_assert_int_eq(na, nb);
    ck_assert(memcmp(a.pixels, b.pixels, 40 * 40 * 3) == 0);
    ck_assert(memcmp(ba, bb, sizeof(ssd_aug_box) * (size_t)na) == 0);
    image_free(&a);
    image_free(&b);
    image_free(&src);
}
END_TEST

/* Flip only (no crop, no zoom-out), output the input size: x' = W - x. */
START_TEST(flip_and_resize_by_hand) {
    image src;
    make_image(&src);
    ssd_augment_config cfg = ssd_augment_none(W, H);
    cfg.flip_prob = 1.0f;
    nn_error err = {0};
    transform_rng rng;
    transform_rng_seed(&rng, 1);
    image out;
    ssd_aug_box ob[N];
    int n;
    ck_assert_int_eq(ssd_augment(&src, BOXES, N, &cfg, &rng, &out, ob, &n, &err), NN_OK);
    ck_assert_int_eq(n, N);
    for (int i = 0; i < N; i++) {
        ck_assert_float_eq_tol(ob[i].x1, W - BOXES[i].x2, 1e-4);
        ck_assert_float_eq_tol(ob[i].x2, W - BOXES[i].x1, 1e-4);
        ck_assert_float_eq_tol(ob[i].y1, BOXES[i].y1, 1e-4);
    }
    image_free(&out);
    /* resize to half width, no flip: x halves, y stays */
    cfg = ssd_augment_none((W + 1) / 2, H);
    cfg.min_face_px = 12.0f;
    ck_assert_int_eq(ssd_augment(&src, BOXES, N, &cfg, &rng, &out, ob, &n, &err), NN_OK);
    float sx = (float)((W + 1) / 2) / W;
    for (int i = 0; i < N; i++) {
        ck_assert_float_eq_tol(ob[i].x1, BOXES[i].x1 * sx, 1e-4);
        ck_assert_float_eq_tol(ob[i].y2, BOXES[i].y2, 1e-4);
    }
    ck_assert(!ob[0].ignore && !ob[1].ignore); /* 36 and 20 px tall */
    image_free(&out);
    /* every face marked ignored on input stays ignored */
    ssd_aug_box ign[N];
    memcpy(ign, BOXES, sizeof ign);
    ign[1].ignore = true;
    ck_assert_int_eq(ssd_augment(&src, ign, N, &cfg, &rng, &out, ob, &n, &err), NN_OK);
    ck_assert(ob[1].ignore);
    image_free(&out);
    image_free(&src);
}
END_TEST

START_TEST(bad_input_is_an_error) {
    image grey;
    nn_error err = {0};
    ck_assert_int_eq(image_alloc(&grey, 8, 8, 1, &err), NN_OK);
    ssd_augment_config cfg = ssd_augment_default(8, 8);
    transform_rng rng;
    transform_rng_seed(&rng, 1);
    image out;
    ssd_aug_box ob[1];
    int n;
    ck_assert_int_eq(ssd_augment(&grey, NULL, 0, &cfg, &rng, &out, ob, &n, &err), NN_ERR_ARG);
    image_free(&grey);
}
END_TEST

Suite *ssd_augment_suite(void) {
    Suite *s = suite_create("ssd_augment");
    TCase *tc = tcase_create("core");
    tcase_add_loop_test(tc, boxes_stay_inside_and_on_their_faces, 0, 2);
    tcase_add_test(tc, keep_aspect_does_not_stretch);
    tcase_add_test(tc, same_seed_same_sample);
    tcase_add_test(tc, flip_and_resize_by_hand);
    tcase_add_test(tc, bad_input_is_an_error);
    suite_add_tcase(s, tc);
    return s;
}
