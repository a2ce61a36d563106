/* test_transform.c - random generator, pad, letterbox, rotation (identity,
 * 90 degrees by hand, cv2.warpAffine reference) and colour jitter against
 * torchvision.transforms.functional (fixtures from gen_vision.py). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "transform.h"

static void noise_image(image *img, int w, int h, int c, uint64_t seed) {
    nn_error err;
    ck_assert_int_eq(image_alloc(img, w, h, c, &err), NN_OK);
    transform_rng rng;
    transform_rng_seed(&rng, seed);
    for (size_t i = 0; i < (size_t)w * h * c; i++)
        img->pixels[i] = (uint8_t)transform_rng_next(&rng);
}

/* Builds an image from a fixture array (H, W, C) or one slice of (N, H, W, C). */
static void image_from_fixture(const nn_tensor *t, int slice, image *img) {
    int off = t->ndim == 4 ? 1 : 0;
    int h = t->shape[off], w = t->shape[off + 1], c = t->shape[off + 2];
    nn_error err;
    ck_assert_int_eq(image_alloc(img, w, h, c, &err), NN_OK);
    const float *p = t->data + (size_t)slice * w * h * c;
    for (size_t i = 0; i < (size_t)w * h * c; i++) img->pixels[i] = (uint8_t)lrintf(p[i]);
}

/* ---- random numbers ---------------------------------------------------------- */

START_TEST(rng_is_deterministic_and_uniform) {
    transform_rng a, b;
    transform_rng_seed(&a, 7);
    transform_rng_seed(&b, 7);
    for (int i = 0; i < 100; i++) ck_assert_uint_eq(transform_rng_next(&a), transform_rng_next(&b));
    transform_rng_seed(&b, 8);
    ck_assert_uint_ne(transform_rng_next(&a), transform_rng_next(&b));

    double sum = 0;
    int lo_hits = 0, hi_hits = 0;
    for (int i = 0; i < 20000; i++) {
        float u = transform_rng_uniform(&a, -2.f, 3.f);
        ck_assert(u >= -2.f && u < 3.f);
        sum += u;
        int k = transform_rng_int(&a, 3, 6);
        ck_assert(k >= 3 && k <= 6);
        lo_hits += k == 3, hi_hits += k == 6;
    }
    /* mean 0.5, standard error 5/sqrt(12 * 20000) = 0.01 */
    ck_assert_msg(fabs(sum / 20000 - 0.5) < 0.05, "mean %g", sum / 20000);
    ck_assert_int_gt(lo_hits, 4000); /* expected 5000 each */
    ck_assert_int_gt(hi_hits, 4000);
    ck_assert_int_eq(transform_rng_int(&a, 5, 5), 5);
    ck_assert(!transform_rng_chance(&a, 0.f));
    ck_assert(transform_rng_chance(&a, 1.f));
}
END_TEST

/* ---- geometry ------------------------------------------------------------------ */

START_TEST(pad_adds_filled_borders) {
    image src, out;
    nn_error err;
    noise_image(&src, 3, 2, 3, 1);
    ck_assert_int_eq(transform_pad(&src, 1, 2, 3, 0, 9, &out, &err), NN_OK);
    ck_assert_int_eq(out.width, 7);
    ck_assert_int_eq(out.height, 4);
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 7; x++) {
            const uint8_t *p = out.pixels + (y * 7 + x) * 3;
            bool inside = x >= 1 && x < 4 && y >= 2;
            for (int k = 0; k < 3; k++)
                ck_assert_int_eq(p[k], inside ? src.pixels[((y - 2) * 3 + x - 1) * 3 + k] : 9);
        }
    image_free(&out);
    ck_assert_int_eq(transform_pad(&src, -1, 0, 0, 0, 0, &out, &err), NN_ERR_ARG);
    ck_assert_int_eq(transform_pad(&src, IMAGE_MAX_SIDE, 0, 0, 0, 0, &out, &err), NN_ERR_LIMIT);
    image_free(&src);
}
END_TEST

START_TEST(letterbox_keeps_aspect) {
    image src, out, inner;
    nn_error err;
    noise_image(&src, 40, 20, 3, 2);
    transform_letterbox_map map;
    ck_assert_int_eq(transform_letterbox(&src, 30, 30, 114, &out, &map, &err), NN_OK);
    ck_assert_int_eq(out.width, 30);
    ck_assert_int_eq(out.height, 30);
    ck_assert_float_eq_tol(map.scale_x, 0.75f, 1e-6f);
    ck_assert_float_eq_tol(map.scale_y, 0.75f, 1e-6f);
    ck_assert_int_eq(map.offset_x, 0);
    ck_assert_int_eq(map.offset_y, 7); /* (30 - 15) / 2 */
    ck_assert_int_eq(image_resize(&src, 30, 15, &inner, &err), NN_OK);
    for (int y = 0; y < 30; y++) {
        const uint8_t *row = out.pixels + y * 90;
        if (y < 7 || y >= 22) {
            for (int i = 0; i < 90; i++) ck_assert_int_eq(row[i], 114);
        } else {
            ck_assert_mem_eq(row, inner.pixels + (y - 7) * 90, 90);
        }
    }
    image_free(&inner);
    image_free(&out);
    /* tall source into a wide box: bars left and right */
    image tall;
    noise_image(&tall, 5, 10, 1, 3);
    ck_assert_int_eq(transform_letterbox(&tall, 8, 4, 0, &out, &map, &err), NN_OK);
    ck_assert_int_eq(map.offset_x, 3); /* inner 2 x 4 */
    ck_assert_int_eq(map.offset_y, 0);
    ck_assert_int_eq(out.pixels[0], 0);
    ck_assert_int_eq(out.pixels[7], 0);
    image_free(&out);
    image_free(&tall);
    ck_assert_int_eq(transform_letterbox(&src, 0, 5, 0, &out, NULL, &err), NN_ERR_ARG);
    image_free(&src);
}
END_TEST

START_TEST(rotate_zero_and_full_turn_are_identity) {
    nn_error err;
    int sizes[][3] = {{7, 5, 3}, {6, 6, 1}, {1, 4, 4}, {10, 3, 3}};
    for (int s = 0; s < 4; s++) {
        image src, out;
        noise_image(&src, sizes[s][0], sizes[s][1], sizes[s][2], 10 + s);
        size_t n = (size_t)sizes[s][0] * sizes[s][1] * sizes[s][2];
        ck_assert_int_eq(transform_rotate(&src, 0.f, 0, &out, &err), NN_OK);
        ck_assert_mem_eq(out.pixels, src.pixels, n);
        image_free(&out);
        ck_assert_int_eq(transform_rotate(&src, 360.f, 0, &out, &err), NN_OK);
        ck_assert_mem_eq(out.pixels, src.pixels, n);
        image_free(&out);
        image_free(&src);
    }
    image src, out;
    noise_image(&src, 3, 3, 3, 1);
    ck_assert_int_eq(transform_rotate(&src, NAN, 0, &out, &err), NN_ERR_ARG);
    image_free(&src);
}
END_TEST

/* 90 degrees counter-clockwise on a square: dst[i][j] = src[j][n-1-i]
 * (a transpose followed by a vertical flip, numpy's rot90). */
START_TEST(rotate_90_is_transpose_flip) {
    nn_error err;
    for (int n = 4; n <= 5; n++) {
        image src, out;
        noise_image(&src, n, n, 3, (uint64_t)n);
        ck_assert_int_eq(transform_rotate(&src, 90.f, 0, &out, &err), NN_OK);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                ck_assert_mem_eq(out.pixels + (i * n + j) * 3, src.pixels + (j * n + n - 1 - i) * 3,
                                 3);
        image_free(&out);
        /* -90 is the opposite turn, and rotate_point agrees with the image */
        ck_assert_int_eq(transform_rotate(&src, -90.f, 0, &out, &err), NN_OK);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                float x = (float)j, y = (float)i;
                transform_rotate_point(n, n, -90.f, &x, &y);
                int xi = (int)lrintf(x), yi = (int)lrintf(y);
                ck_assert(xi >= 0 && xi < n && yi >= 0 && yi < n);
                ck_assert_mem_eq(out.pixels + (yi * n + xi) * 3, src.pixels + (i * n + j) * 3, 3);
            }
        image_free(&out);
        image_free(&src);
    }
}
END_TEST

/* Against cv2.warpAffine(getRotationMatrix2D(centre, angle, 1), INTER_LINEAR,
 * BORDER_CONSTANT 40). OpenCV quantises the source position to 1/32 pixel and
 * the weights to 15 bits, so a few grey levels of difference are expected. */
START_TEST(rotate_matches_opencv) {
    tu_fixture *fx = tu_fixture_load("fixtures/vision_rotate.nnfx");
    ck_assert_ptr_nonnull(fx);
    nn_tensor *src_t = tu_fixture_tensor(fx, "src"), *rot_t = tu_fixture_tensor(fx, "rotated");
    size_t n_angles;
    const float *angles = tu_fixture_data(fx, "angles", &n_angles);
    image src;
    image_from_fixture(src_t, 0, &src);
    nn_error err;
    for (size_t a = 0; a < n_angles; a++) {
        image ref, out;
        image_from_fixture(rot_t, (int)a, &ref);
        ck_assert_int_eq(transform_rotate(&src, angles[a], 40, &out, &err), NN_OK);
        size_t n = (size_t)out.width * out.height * 3;
        int worst = 0;
        double mean = 0;
        for (size_t i = 0; i < n; i++) {
            int d = abs(out.pixels[i] - ref.pixels[i]);
            worst = d > worst ? d : worst;
            mean += d;
        }
        mean /= (double)n;
        ck_assert_msg(worst <= 4 && mean < 0.6, "angle %g: max %d mean %.3f", angles[a], worst,
                      mean);
        image_free(&out);
        image_free(&ref);
    }
    image_free(&src);
    nn_tensor_free(src_t);
    nn_tensor_free(rot_t);
    tu_fixture_free(fx);
}
END_TEST

/* A zoom + shear + shift map with edge replication, against cv2.warpAffine
 * (WARP_INVERSE_MAP, BORDER_REPLICATE) on a smooth image. */
START_TEST(warp_affine_matches_opencv) {
    tu_fixture *fx = tu_fixture_load("fixtures/vision_rotate.nnfx");
    ck_assert_ptr_nonnull(fx);
    nn_tensor *src_t = tu_fixture_tensor(fx, "src"), *ref_t = tu_fixture_tensor(fx, "affine");
    size_t nm;
    const float *m = tu_fixture_data(fx, "affine_inverse", &nm);
    ck_assert_uint_eq(nm, 6);
    double inverse[6];
    for (int i = 0; i < 6; i++) inverse[i] = m[i];
    image src, ref, out;
    image_from_fixture(src_t, 0, &src);
    image_from_fixture(ref_t, 0, &ref);
    nn_error err;
    ck_assert_int_eq(transform_warp_affine(&src, inverse, ref.width, ref.height,
                                           TRANSFORM_BORDER_REPLICATE, 0, &out, &err),
                     NN_OK);
    ck_assert_int_eq(out.width, 19);
    ck_assert_int_eq(out.height, 23);
    int worst = 0;
    for (size_t i = 0; i < (size_t)19 * 23 * 3; i++) {
        int d = abs(out.pixels[i] - ref.pixels[i]);
        worst = d > worst ? d : worst;
    }
    ck_assert_msg(worst <= 2, "differs from cv2.warpAffine by %d", worst);
    image_free(&out);
    image_free(&ref);
    image_free(&src);
    nn_tensor_free(src_t);
    nn_tensor_free(ref_t);
    tu_fixture_free(fx);
}
END_TEST

START_TEST(warp_affine_by_hand) {
    image src, out;
    nn_error err;
    noise_image(&src, 6, 5, 3, 31);
    const double identity[6] = {1, 0, 0, 0, 1, 0};
    ck_assert_int_eq(transform_warp_affine(&src, identity, 6, 5, TRANSFORM_BORDER_CONSTANT, 0,
                                           &out, &err),
                     NN_OK);
    ck_assert_mem_eq(out.pixels, src.pixels, 6 * 5 * 3);
    image_free(&out);
    /* out(x, y) = src(x + 2, y - 1): shifted left 2 and down 1 */
    const double shift[6] = {1, 0, 2, 0, 1, -1};
    for (int b = 0; b < 2; b++) {
        transform_border border = b ? TRANSFORM_BORDER_REPLICATE : TRANSFORM_BORDER_CONSTANT;
        ck_assert_int_eq(transform_warp_affine(&src, shift, 6, 5, border, 7, &out, &err), NN_OK);
        for (int y = 0; y < 5; y++)
            for (int x = 0; x < 6; x++) {
                int sx = x + 2, sy = y - 1;
                bool inside = sx < 6 && sy >= 0;
                int cx = sx > 5 ? 5 : sx, cy = sy < 0 ? 0 : sy;
                for (int k = 0; k < 3; k++) {
                    int want = inside || b ? src.pixels[(cy * 6 + cx) * 3 + k] : 7;
                    ck_assert_int_eq(out.pixels[(y * 6 + x) * 3 + k], want);
                }
            }
        image_free(&out);
    }
    const double bad[6] = {1, 0, NAN, 0, 1, 0};
    ck_assert_int_eq(transform_warp_affine(&src, bad, 6, 5, TRANSFORM_BORDER_CONSTANT, 0, &out,
                                           &err),
                     NN_ERR_ARG);
    image_free(&src);
}
END_TEST

START_TEST(random_affine) {
    image src, out, flipped;
    nn_error err;
    transform_rng rng;
    transform_rng_seed(&rng, 5);
    noise_image(&src, 9, 7, 3, 41);
    transform_affine_ranges none = {0};
    ck_assert_int_eq(transform_random_affine(&src, &none, &rng, TRANSFORM_BORDER_REPLICATE, 0,
                                             &out, &err),
                     NN_OK);
    ck_assert_mem_eq(out.pixels, src.pixels, 9 * 7 * 3);
    image_free(&out);
    /* flip only, always: the mirror image */
    transform_affine_ranges flip = {.flip_probability = 1.f};
    ck_assert_int_eq(transform_random_affine(&src, &flip, &rng, TRANSFORM_BORDER_REPLICATE, 0,
                                             &out, &err),
                     NN_OK);
    ck_assert_int_eq(image_crop(&src, 0, 0, 9, 7, 0, &flipped, &err), NN_OK);
    image_flip_horizontal(&flipped);
    ck_assert_mem_eq(out.pixels, flipped.pixels, 9 * 7 * 3);
    image_free(&out);
    image_free(&flipped);
    /* Keras-like settings: reproducible per seed, and they change the image */
    transform_affine_ranges keras = {.rotation_deg = 20, .zoom = 0.15f, .shift_x = 0.2f,
                                     .shift_y = 0.2f, .shear_deg = 15, .flip_probability = 0.5f};
    image a, b;
    transform_rng r1, r2;
    transform_rng_seed(&r1, 77);
    transform_rng_seed(&r2, 77);
    ck_assert_int_eq(transform_random_affine(&src, &keras, &r1, TRANSFORM_BORDER_REPLICATE, 0, &a,
                                             &err),
                     NN_OK);
    ck_assert_int_eq(transform_random_affine(&src, &keras, &r2, TRANSFORM_BORDER_REPLICATE, 0, &b,
                                             &err),
                     NN_OK);
    ck_assert_mem_eq(a.pixels, b.pixels, 9 * 7 * 3);
    ck_assert(memcmp(a.pixels, src.pixels, 9 * 7 * 3) != 0);
    image_free(&a);
    image_free(&b);
    transform_affine_ranges bad = {.zoom = 1.f};
    ck_assert_int_eq(transform_random_affine(&src, &bad, &rng, TRANSFORM_BORDER_CONSTANT, 0, &out,
                                             &err),
                     NN_ERR_ARG);
    image_free(&src);
}
END_TEST

/* ---- colour ------------------------------------------------------------------------ */

typedef void (*adjust_fn)(image *, float);

START_TEST(jitter_ops_match_torchvision) {
    tu_fixture *fx = tu_fixture_load("fixtures/vision_jitter.nnfx");
    ck_assert_ptr_nonnull(fx);
    nn_tensor *src_t = tu_fixture_tensor(fx, "src");
    image src;
    image_from_fixture(src_t, 0, &src);
    const char *names[4] = {"brightness", "contrast", "saturation", "hue"};
    adjust_fn fns[4] = {transform_adjust_brightness, transform_adjust_contrast,
                        transform_adjust_saturation, transform_adjust_hue};
    nn_error err;
    for (int op = 0; op < 4; op++) {
        char key[64];
        snprintf(key, sizeof key, "%s_factors", names[op]);
        size_t nf;
        const float *factors = tu_fixture_data(fx, key, &nf);
        nn_tensor *ref = tu_fixture_tensor(fx, names[op]);
        size_t n = (size_t)src.width * src.height * 3;
        for (size_t f = 0; f < nf; f++) {
            image img;
            ck_assert_int_eq(image_crop(&src, 0, 0, src.width, src.height, 0, &img, &err), NN_OK);
            fns[op](&img, factors[f]);
            const float *r = ref->data + f * n;
            for (size_t i = 0; i < n; i++) {
                /* torchvision works in float; ours rounds to the nearest byte */
                float d = fabsf((float)img.pixels[i] - r[i]);
                ck_assert_msg(d <= 1.0f, "%s(%g) value %zu: ours %d, torchvision %.3f", names[op],
                              factors[f], i, img.pixels[i], r[i]);
            }
            image_free(&img);
        }
        nn_tensor_free(ref);
    }
    image_free(&src);
    nn_tensor_free(src_t);
    tu_fixture_free(fx);
}
END_TEST

START_TEST(jitter_neutral_and_alpha) {
    image img, orig;
    noise_image(&img, 6, 5, 4, 21);
    noise_image(&orig, 6, 5, 4, 21);
    transform_adjust_brightness(&img, 1.f);
    transform_adjust_contrast(&img, 1.f);
    transform_adjust_saturation(&img, 1.f);
    transform_adjust_hue(&img, 0.f);
    ck_assert_mem_eq(img.pixels, orig.pixels, 6 * 5 * 4);
    transform_rng rng;
    transform_rng_seed(&rng, 3);
    transform_jitter none = {0, 0, 0, 0};
    transform_color_jitter(&img, &none, &rng);
    ck_assert_mem_eq(img.pixels, orig.pixels, 6 * 5 * 4);
    /* hue by a full turn is (up to rounding) the identity */
    transform_adjust_hue(&img, 0.5f);
    transform_adjust_hue(&img, 0.5f);
    for (int i = 0; i < 6 * 5 * 4; i++) ck_assert_int_le(abs(img.pixels[i] - orig.pixels[i]), 1);

    /* a strong jitter changes colours but never the alpha channel */
    transform_jitter strong = {0.5f, 0.5f, 0.5f, 0.3f};
    transform_color_jitter(&img, &strong, &rng);
    int changed = 0;
    for (int i = 0; i < 30; i++) {
        ck_assert_int_eq(img.pixels[4 * i + 3], orig.pixels[4 * i + 3]);
        changed += memcmp(img.pixels + 4 * i, orig.pixels + 4 * i, 3) != 0;
    }
    ck_assert_int_gt(changed, 0);
    image_free(&img);
    image_free(&orig);

    /* saturation 0 gives grey; brightness 0 gives black */
    noise_image(&img, 4, 4, 3, 5);
    transform_adjust_saturation(&img, 0.f);
    for (int i = 0; i < 16; i++) {
        ck_assert_int_le(abs(img.pixels[3 * i] - img.pixels[3 * i + 1]), 1);
        ck_assert_int_le(abs(img.pixels[3 * i] - img.pixels[3 * i + 2]), 1);
    }
    transform_adjust_brightness(&img, 0.f);
    for (int i = 0; i < 48; i++) ck_assert_int_eq(img.pixels[i], 0);
    image_free(&img);
}
END_TEST

START_TEST(jitter_is_reproducible) {
    image a, b;
    noise_image(&a, 8, 8, 3, 9);
    noise_image(&b, 8, 8, 3, 9);
    transform_jitter j = {0.4f, 0.4f, 0.4f, 0.1f};
    transform_rng ra, rb;
    transform_rng_seed(&ra, 99);
    transform_rng_seed(&rb, 99);
    for (int k = 0; k < 5; k++) {
        transform_color_jitter(&a, &j, &ra);
        transform_color_jitter(&b, &j, &rb);
    }
    ck_assert_mem_eq(a.pixels, b.pixels, 8 * 8 * 3);
    image_free(&a);
    image_free(&b);
}
END_TEST

/* Contrast on a grey image uses the plain mean; 1-channel images work. */
START_TEST(contrast_on_grey_by_hand) {
    nn_error err;
    image img;
    ck_assert_int_eq(image_alloc(&img, 2, 1, 1, &err), NN_OK);
    img.pixels[0] = 100, img.pixels[1] = 200; /* mean 150 */
    transform_adjust_contrast(&img, 0.5f);  /* 0.5 v + 75 */
    ck_assert_int_eq(img.pixels[0], 125);
    ck_assert_int_eq(img.pixels[1], 175);
    transform_adjust_contrast(&img, 3.f); /* mean 150: 3 v - 300 */
    ck_assert_int_eq(img.pixels[0], 75);
    ck_assert_int_eq(img.pixels[1], 225);
    transform_adjust_brightness(&img, 2.f); /* clamps */
    ck_assert_int_eq(img.pixels[0], 150);
    ck_assert_int_eq(img.pixels[1], 255);
    image_free(&img);
}
END_TEST

Suite *transform_suite(void) {
    Suite *s = suite_create("transform");
    TCase *tc = tcase_create("transform");
    tcase_add_test(tc, rng_is_deterministic_and_uniform);
    tcase_add_test(tc, pad_adds_filled_borders);
    tcase_add_test(tc, letterbox_keeps_aspect);
    tcase_add_test(tc, rotate_zero_and_full_turn_are_identity);
    tcase_add_test(tc, rotate_90_is_transpose_flip);
    tcase_add_test(tc, rotate_matches_opencv);
    tcase_add_test(tc, warp_affine_matches_opencv);
    tcase_add_test(tc, warp_affine_by_hand);
    tcase_add_test(tc, random_affine);
    tcase_add_test(tc, jitter_ops_match_torchvision);
    tcase_add_test(tc, jitter_neutral_and_alpha);
    tcase_add_test(tc, jitter_is_reproducible);
    tcase_add_test(tc, contrast_on_grey_by_hand);
    suite_add_tcase(s, tc);
    return s;
}
