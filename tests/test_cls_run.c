/*
 * test_cls_run.c - vision/classifier_run on a tiny "compact" model (8x8
 * input): probabilities against the unfolded model run in eval mode on a
 * hand-made input, batches equal to single crops, grey crops, the face crop
 * rectangle, and bad files.
 */
#include <check.h>
#include <math.h>
#include <string.h>

#include "classifier.h"
#include "classifier_run.h"
#include "testutil.h"

enum { SIDE = 8 };

/* A compact classifier with random weights and non-trivial batch-norm statistics. */
static nn_model *tiny_model(void) {
    nn_model *m;
    nn_error err = {0};
    ck_assert_int_eq(classifier_build("compact", SIDE, 2, &m, &err), NN_OK);
    nn_model_init(m, 3);
    for (int i = 0; i < nn_model_param_count(m); i++) {
        nn_param p = nn_model_param(m, i);
        if (strstr(p.name, "running_mean")) tu_fill_uniform(p.tensor, -0.2f, 0.2f, 10 + i);
        if (strstr(p.name, "running_var")) tu_fill_uniform(p.tensor, 0.5f, 2.0f, 20 + i);
        if (strstr(p.name, "_bn.weight")) tu_fill_uniform(p.tensor, 0.5f, 1.5f, 30 + i);
        if (strstr(p.name, "_bn.bias")) tu_fill_uniform(p.tensor, -0.3f, 0.3f, 40 + i);
    }
    return m;
}

static nn_weights *model_file(const nn_model *m) {
    nn_weights *w = nn_weights_create();
    nn_error err = {0};
    ck_assert_int_eq(nn_model_to_weights(m, w, NN_DTYPE_F32, &err), NN_OK);
    const char *meta[][2] = {{"kind", "classifier"},     {"arch", "compact"},
                             {"input.width", "8"},       {"input.height", "8"},
                             {"input.mean", "10,20,30"}, {"input.scale", "0.01,0.02,0.03"},
                             {"input.channel_order", "rgb"}, {"classes", "mask,no_mask"},
                             {"crop.margin", "0.25"}};
    for (size_t i = 0; i < sizeof meta / sizeof meta[0]; i++)
        ck_assert_int_eq(nn_weights_set_meta(w, meta[i][0], meta[i][1], &err), NN_OK);
    return w;
}

/* A 16x16 RGB image made of constant 2x2 blocks: its 8x8 resize is exact. */
static void block_image(image *img, int seed) {
    nn_error err = {0};
    ck_assert_int_eq(image_alloc(img, 2 * SIDE, 2 * SIDE, 3, &err), NN_OK);
    for (int y = 0; y < 2 * SIDE; y++)
        for (int x = 0; x < 2 * SIDE; x++)
            for (int c = 0; c < 3; c++)
                img->pixels[(y * 2 * SIDE + x) * 3 + c] =
                    (uint8_t)((y / 2 * 37 + x / 2 * 11 + c * 53 + seed * 29) % 256);
}

/* Softmax of the unfolded model in eval mode on the hand-preprocessed image. */
static void reference_probs(nn_model *m, const image *img, float *probs) {
    const float mean[3] = {10, 20, 30}, scale[3] = {0.01f, 0.02f, 0.03f};
    nn_tensor *x = nn_tensor_new4(1, 3, SIDE, SIDE);
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < SIDE; y++)
            for (int xx = 0; xx < SIDE; xx++) {
                float px = img->pixels[((2 * y) * 2 * SIDE + 2 * xx) * 3 + c];
                x->data[(c * SIDE + y) * SIDE + xx] = (px - mean[c]) * scale[c];
            }
    nn_ctx *ctx = nn_ctx_create();
    nn_ctx_set_grad_enabled(ctx, false);
    nn_ctx_set_training(ctx, false);
    nn_tensor *logits = nn_model_forward(m, ctx, x);
    ck_assert_ptr_nonnull(logits);
    double a = logits->data[0], b = logits->data[1], mx = fmax(a, b);
    double ea = exp(a - mx), eb = exp(b - mx);
    probs[0] = (float)(ea / (ea + eb));
    probs[1] = (float)(eb / (ea + eb));
    nn_ctx_destroy(ctx);
    nn_tensor_free(x);
}

START_TEST(matches_unfolded_model) {
    nn_model *m = tiny_model();
    nn_weights *w = model_file(m);
    classifier_runner *r;
    nn_error err = {0};
    ck_assert_int_eq(classifier_run_from_weights(w, &r, &err), NN_OK);
    const classifier_info *info = classifier_run_info(r);
    ck_assert_int_eq(info->n_classes, 2);
    ck_assert_str_eq(info->classes[1], "no_mask");
    ck_assert_int_eq(info->input_w, 8);
    ck_assert(fabsf(info->crop_margin - 0.25f) < 1e-6f);

    image imgs[3];
    float want[3][2], got[3][2], batch[3][2];
    for (int i = 0; i < 3; i++) {
        block_image(&imgs[i], i);
        reference_probs(m, &imgs[i], want[i]);
        ck_assert_int_eq(classifier_run_image(r, &imgs[i], got[i], &err), NN_OK);
        tu_assert_close(got[i], want[i], 2, 1e-5, 1e-4);
        ck_assert(fabsf(got[i][0] + got[i][1] - 1) < 1e-5f);
    }
    /* the three as one batch, then a single one again (smaller batch reuses the input) */
    ck_assert_int_eq(classifier_run_batch(r, 3, imgs, &batch[0][0], &err), NN_OK);
    tu_assert_close(&batch[0][0], &got[0][0], 6, 1e-6, 1e-5);
    ck_assert_int_eq(classifier_run_image(r, &imgs[2], batch[0], &err), NN_OK);
    tu_assert_close(batch[0], got[2], 2, 1e-6, 1e-5);
    /* the images differ, so should the answers (the test would be weak otherwise) */
    ck_assert(fabsf(got[0][0] - got[1][0]) > 1e-4f);

    /* a grey crop: all three planes hold the grey value */
    image grey = {0}, rgb = {0};
    ck_assert_int_eq(image_alloc(&grey, SIDE, SIDE, 1, &err), NN_OK);
    ck_assert_int_eq(image_alloc(&rgb, SIDE, SIDE, 3, &err), NN_OK);
    for (int i = 0; i < SIDE * SIDE; i++) {
        grey.pixels[i] = (uint8_t)(i * 3);
        memset(rgb.pixels + 3 * i, i * 3, 3);
    }
    ck_assert_int_eq(classifier_run_image(r, &grey, got[0], &err), NN_OK);
    ck_assert_int_eq(classifier_run_image(r, &rgb, got[1], &err), NN_OK);
    tu_assert_close(got[0], got[1], 2, 1e-6, 1e-5);
    ck_assert_int_eq(classifier_argmax(got[0], 2), got[0][1] > got[0][0]);

    /* bad input */
    image rgba = {0};
    ck_assert_int_eq(image_alloc(&rgba, 4, 4, 4, &err), NN_OK);
    ck_assert_int_ne(classifier_run_image(r, &rgba, got[0], &err), NN_OK);
    ck_assert_int_ne(classifier_run_batch(r, 0, imgs, got[0], &err), NN_OK);

    /* the crop rectangle: box [10, 30) x [20, 60) with margin 0.25 widens by
     * 5 px left/right and 10 px top/bottom: [5, 35) x [10, 70) */
    image big = {0}, crop = {0};
    ck_assert_int_eq(image_alloc(&big, 100, 100, 3, &err), NN_OK);
    big.pixels[(10 * 100 + 5) * 3] = 200;  /* the crop's top-left pixel */
    big.pixels[(9 * 100 + 5) * 3] = 100;   /* just above it */
    ck_assert_int_eq(classifier_crop_face(r, &big, 10, 20, 30, 60, &crop, &err), NN_OK);
    ck_assert_int_eq(crop.width, 30);
    ck_assert_int_eq(crop.height, 60);
    ck_assert_int_eq(crop.pixels[0], 200);
    image_free(&crop);
    ck_assert_int_ne(classifier_crop_face(r, &big, 30, 20, 10, 60, &crop, &err), NN_OK);

    for (int i = 0; i < 3; i++)
        image_free(&imgs[i]);
    image_free(&grey);
    image_free(&rgb);
    image_free(&rgba);
    image_free(&big);
    classifier_run_free(r);
    nn_weights_free(w);
    nn_model_free(m);
}
END_TEST

START_TEST(bad_files) {
    nn_model *m = tiny_model();
    nn_error err = {0};
    struct {
        const char *key, *value, *expect;
    } cases[] = {
        {"kind", "detector", "not a classifier"},
        {"arch", "resnet", "unknown arch"},
        {"input.width", "7", "input.width"},
        {"input.mean", "1,2", "input.mean"},
        {"classes", "mask", "fewer than 2"},
        {"classes", "a,,b", "bad classes"},
        {"crop.margin", "-1", "crop.margin"},
        {"input.channel_order", "gbr", "channel order"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nn_weights *w = model_file(m);
        ck_assert_int_eq(nn_weights_set_meta(w, cases[i].key, cases[i].value, &err), NN_OK);
        classifier_runner *r = NULL;
        ck_assert_int_ne(classifier_run_from_weights(w, &r, &err), NN_OK);
        ck_assert_ptr_null(r);
        ck_assert_msg(strstr(err.msg, cases[i].expect), "case %zu: '%s'", i, err.msg);
        nn_weights_free(w);
    }
    /* a model with 3 classes does not fit 2-class weights */
    nn_weights *w = model_file(m);
    ck_assert_int_eq(nn_weights_set_meta(w, "classes", "a,b,c", &err), NN_OK);
    classifier_runner *r = NULL;
    ck_assert_int_ne(classifier_run_from_weights(w, &r, &err), NN_OK);
    nn_weights_free(w);
    ck_assert_int_ne(classifier_run_load("fixtures/does-not-exist.nnw", &r, &err), NN_OK);
    ck_assert_ptr_nonnull(strstr(err.msg, "does-not-exist"));
    nn_model_free(m);
}
END_TEST

/* classifier_run_faces_mirrored: the mean of each face's answer and the
 * answer for the mirror image (the whole picture mirrored, the box with it),
 * and classifier_run_faces for the first half of that. */
START_TEST(mirrored_is_mean_of_both_views) {
    nn_model *m = tiny_model();
    nn_weights *w = model_file(m);
    classifier_runner *r;
    nn_error err = {0};
    ck_assert_int_eq(classifier_run_from_weights(w, &r, &err), NN_OK);
    enum { W = 61, H = 40, N = 3 };
    image img = {0}, flipped = {0};
    ck_assert_int_eq(image_alloc(&img, W, H, 3, &err), NN_OK);
    for (int i = 0; i < W * H * 3; i++) img.pixels[i] = (uint8_t)((i * 7919) % 253);
    ck_assert_int_eq(image_copy(&img, &flipped, &err), NN_OK);
    image_flip_horizontal(&flipped);
    /* odd sizes and offsets, one past the left edge */
    const float boxes[N * 4] = {3, 4, 20, 30, 30.5f, 2, 52, 17, -4, 10, 9, 39};
    float mirrored_boxes[N * 4];
    for (int i = 0; i < N; i++) {
        mirrored_boxes[4 * i] = W - boxes[4 * i + 2], mirrored_boxes[4 * i + 2] = W - boxes[4 * i];
        mirrored_boxes[4 * i + 1] = boxes[4 * i + 1], mirrored_boxes[4 * i + 3] = boxes[4 * i + 3];
    }
    float plain[N * 2], seen_mirrored[N * 2], got[N * 2], want[N * 2];
    ck_assert_int_eq(classifier_run_faces(r, &img, N, boxes, plain, &err), NN_OK);
    ck_assert_int_eq(classifier_run_faces(r, &flipped, N, mirrored_boxes, seen_mirrored, &err),
                     NN_OK);
    ck_assert_int_eq(classifier_run_faces_mirrored(r, &img, N, boxes, got, &err), NN_OK);
    for (int i = 0; i < N * 2; i++) want[i] = 0.5f * (plain[i] + seen_mirrored[i]);
    tu_assert_close(got, want, N * 2, 1e-5, 1e-4);
    /* the two views differ (else the test would be weak) */
    float most = 0;
    for (int i = 0; i < N * 2; i++) most = fmaxf(most, fabsf(plain[i] - seen_mirrored[i]));
    ck_assert_msg(most > 1e-3f, "the mirror changed nothing (%g)", most);
    /* a plain call after a mirrored one (the batch shrinks back) */
    ck_assert_int_eq(classifier_run_faces(r, &img, N, boxes, got, &err), NN_OK);
    tu_assert_close(got, plain, N * 2, 1e-6, 1e-5);
    ck_assert_int_ne(classifier_run_faces_mirrored(r, &img, 0, boxes, got, &err), NN_OK);
    image_free(&img), image_free(&flipped);
    classifier_run_free(r);
    nn_weights_free(w);
    nn_model_free(m);
}
END_TEST

Suite *cls_run_suite(void) {
    Suite *s = suite_create("cls_run");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, matches_unfolded_model);
    tcase_add_test(tc, bad_files);
    tcase_add_test(tc, mirrored_is_mean_of_both_views);
    suite_add_tcase(s, tc);
    return s;
}
