/* test_face_ssd.c - the face SSD: priors by hand, heads match priors at odd
 * input sizes, model files round-trip (batch norm folded on load), and a tiny
 * detector overfits a handful of synthetic images (loss falls, boxes found). */
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "face_ssd.h"
#include "multibox.h"
#include "testutil.h"

static face_ssd_spec tiny_spec(void) {
    face_ssd_spec s = {.n_maps = 2,
                       .widths = {8, 16, 16, 16, 16, 16},
                       .n_sizes = {2, 2},
                       .sizes = {{10, 14}, {20, 28}},
                       .n_ratios = 1,
                       .ratios = {1.0f}};
    return s;
}

/* One map (stride 4), size 8, ratio 1, input 16 x 8: conv1 -> 8 x 4, pool ->
 * 4 x 2 cells. Prior 1 is cell (x 1, y 0): centre (6, 2), 8 x 8 ->
 * [2/16, -2/8, 10/16, 6/8]. Ratio 1.44: w = 8/1.2, h = 8*1.2. */
START_TEST(priors_by_hand) {
    face_ssd_spec s = {.n_maps = 1, .widths = {1, 1, 1, 1, 1, 1}, .n_sizes = {1}, .sizes = {{8}},
                       .n_ratios = 2, .ratios = {1.0f, 1.44f}};
    ssd_priors p;
    ssd_priors_init(&p);
    nn_error err = {0};
    ck_assert_int_eq(face_ssd_priors(&s, 16, 8, &p, &err), NN_OK);
    ck_assert_int_eq(p.count, 4 * 2 * 2);
    const float want1[4] = {2.0f / 16, -2.0f / 8, 10.0f / 16, 6.0f / 8};
    tu_assert_close(p.boxes + 2 * 4, want1, 4, 1e-6, 1e-6); /* cell 1, ratio 1 */
    float w = 8 / 1.2f, h = 8 * 1.2f;
    const float want2[4] = {(6 - w / 2) / 16, (2 - h / 2) / 8, (6 + w / 2) / 16, (2 + h / 2) / 8};
    tu_assert_close(p.boxes + 3 * 4, want2, 4, 1e-6, 1e-6);
    const float var[4] = {0.1f, 0.1f, 0.2f, 0.2f};
    tu_assert_close(p.variances + 3 * 4, var, 4, 0, 0);
    ssd_priors_free(&p);
    ck_assert_int_eq(face_ssd_priors(&s, 0, 8, &p, &err), NN_ERR_ARG);
}
END_TEST

START_TEST(sizes_text) {
    face_ssd_spec s = face_ssd_default_spec();
    nn_error err = {0};
    ck_assert_int_eq(face_ssd_parse_sizes("8,10.5;16", &s, &err), NN_OK);
    ck_assert_int_eq(s.n_maps, 2);
    ck_assert_int_eq(s.n_sizes[0], 2);
    ck_assert_int_eq(s.n_sizes[1], 1);
    ck_assert_float_eq(s.sizes[0][1], 10.5f);
    char buf[128];
    face_ssd_format_sizes(&s, buf, sizeof buf);
    ck_assert_str_eq(buf, "8,10.5;16");
    const char *bad[] = {"", "8,,10", "8;", "1,2,3,4,5", "8;16;32;64;128;256", "-3", "8 x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(face_ssd_parse_sizes(bad[i], &s, &err) != NN_OK, "\"%s\" accepted", bad[i]);
}
END_TEST

/* _i: without the top-down path, and with it into every map but the last
 * (each upsampling then meets the odd sizes the ceil-mode pools leave). */
START_TEST(heads_match_priors_at_odd_sizes) {
    face_ssd f;
    nn_error err = {0};
    face_ssd_spec spec = face_ssd_default_spec();
    spec.top_down = _i ? spec.n_maps - 1 : 0;
    ck_assert_int_eq(face_ssd_build(&spec, 3, NULL, &f, &err), NN_OK);
    nn_model_init(f.model, 1);
    nn_ctx *ctx = nn_ctx_create();
    nn_ctx_set_grad_enabled(ctx, false);
    const int sizes[3][2] = {{97, 65}, {64, 64}, {130, 67}};
    for (int i = 0; i < 3; i++) {
        int w = sizes[i][0], h = sizes[i][1];
        nn_tensor *x = nn_tensor_new4(1, 3, h, w);
        nn_ctx_reset(ctx);
        ck_assert_msg(nn_model_forward(f.model, ctx, x) != NULL, "%s", nn_ctx_error(ctx));
        ssd_priors p;
        ssd_priors_init(&p);
        ck_assert_int_eq(face_ssd_priors(&f.spec, w, h, &p, &err), NN_OK);
        ck_assert_int_eq(nn_model_output(f.model, f.loc_id)->numel, (size_t)p.count * 4);
        ck_assert_int_eq(nn_model_output(f.model, f.conf_id)->numel, (size_t)p.count * 3);
        ssd_priors_free(&p);
        nn_tensor_free(x);
    }
    /* images smaller than the network's minimum are padded: detection still runs */
    image small;
    ck_assert_int_eq(image_alloc(&small, 37, 23, 3, &err), NN_OK);
    memset(small.pixels, 90, 37 * 23 * 3);
    ssd_detection det[10];
    int nd;
    ck_assert_msg(face_ssd_detect(&f, &small, 0.9f, 0.4f, det, 10, &nd, &err) == NN_OK, "%s",
                  err.msg);
    image_free(&small);
    /* FLOPs: conv1 alone at 64 x 64 is 2 * 32*32 * 16 * 27; the top-down path
     * adds its 1x1 convs, lat0 alone 2 * 8*8 (map 1) * 32 * 48 */
    ck_assert(face_ssd_flops(&f, 64, 64) > 2.0 * 32 * 32 * 16 * 27);
    if (_i) {
        face_ssd_spec plain = spec;
        plain.top_down = 0;
        face_ssd g;
        ck_assert_int_eq(face_ssd_build(&plain, 3, NULL, &g, &err), NN_OK);
        ck_assert(face_ssd_flops(&f, 64, 64) - face_ssd_flops(&g, 64, 64) >= 2.0 * 8 * 8 * 32 * 48);
        ck_assert(nn_model_find_param(f.model, "lat0.weight") != NULL);
        ck_assert(nn_model_find_param(g.model, "lat0.weight") == NULL);
        face_ssd_free(&g);
    }
    nn_ctx_destroy(ctx);
    face_ssd_free(&f);
}
END_TEST

START_TEST(model_file_round_trip) {
    face_ssd f, g;
    nn_error err = {0};
    face_ssd_spec spec = tiny_spec();
    spec.top_down = 1;
    const char *names[3] = {"background", "mask", "no_mask"};
    ck_assert_int_eq(face_ssd_build(&spec, 3, names, &f, &err), NN_OK);
    nn_model_init(f.model, 3);
    /* non-trivial batch-norm statistics, so folding matters */
    for (int i = 0; i < nn_model_param_count(f.model); i++) {
        nn_param p = nn_model_param(f.model, i);
        bool var = strstr(p.name, "running_var") != NULL, mean = strstr(p.name, "running_mean") != NULL;
        for (size_t k = 0; k < p.tensor->numel && (var || mean); k++)
            p.tensor->data[k] = var ? 0.5f + 0.1f * (float)(k % 7) : 0.05f * (float)(k % 5) - 0.1f;
    }
    f.input_long_side = 640;
    nn_weights *w = nn_weights_create();
    ck_assert_int_eq(face_ssd_to_weights(&f, w, NN_DTYPE_F32, &err), NN_OK);
    ck_assert_str_eq(nn_weights_meta(w, "kind"), "detector");
    ck_assert_str_eq(nn_weights_meta(w, "arch"), "face_ssd");
    ck_assert_str_eq(nn_weights_meta(w, "classes"), "background,mask,no_mask");
    ck_assert_str_eq(nn_weights_meta(w, "face_ssd.sizes"), "10,14;20,28");
    ck_assert_msg(face_ssd_from_weights(w, &g, &err) == NN_OK, "%s", err.msg);
    ck_assert_int_eq(g.num_classes, 3);
    ck_assert_str_eq(g.class_names[2], "no_mask");
    ck_assert_int_eq(g.input_long_side, 640);
    ck_assert_str_eq(nn_weights_meta(w, "face_ssd.top_down"), "1");
    ck_assert_int_eq(g.spec.top_down, 1);

    nn_tensor *x = nn_tensor_new4(1, 3, 29, 41);
    for (size_t i = 0; i < x->numel; i++) x->data[i] = sinf((float)i * 0.37f);
    nn_ctx *c1 = nn_ctx_create(), *c2 = nn_ctx_create();
    nn_ctx_set_grad_enabled(c1, false);
    nn_ctx_set_grad_enabled(c2, false);
    nn_model_forward(f.model, c1, x);
    nn_model_forward(g.model, c2, x);
    nn_tensor *a = nn_model_output(f.model, f.conf_id), *b = nn_model_output(g.model, g.conf_id);
    ck_assert_int_eq(a->numel, b->numel);
    tu_assert_close(b->data, a->data, a->numel, 1e-4, 1e-4);
    a = nn_model_output(f.model, f.loc_id), b = nn_model_output(g.model, g.loc_id);
    tu_assert_close(b->data, a->data, a->numel, 1e-4, 1e-4);

    /* damaged metadata is a clear error: a top-down path into as many maps as
     * there are, then prior sizes for one map of two */
    face_ssd h;
    nn_weights_set_meta(w, "face_ssd.top_down", "2", &err);
    ck_assert_int_eq(face_ssd_from_weights(w, &h, &err), NN_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "top_down"));
    nn_weights_set_meta(w, "face_ssd.top_down", "1", &err);
    nn_weights_set_meta(w, "face_ssd.sizes", "10,14", &err);
    ck_assert_int_eq(face_ssd_from_weights(w, &h, &err), NN_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "face_ssd.sizes"));
    nn_weights_set_meta(w, "arch", "caffe", &err);
    ck_assert_int_eq(face_ssd_from_weights(w, &h, &err), NN_ERR_FORMAT);

    nn_ctx_destroy(c1);
    nn_ctx_destroy(c2);
    nn_tensor_free(x);
    nn_weights_free(w);
    face_ssd_free(&f);
    face_ssd_free(&g);
}
END_TEST

/* ---- overfitting: four 48 x 48 grey-noise images with bright squares */

enum { SIDE = 48, N_IMG = 4 };
static const float FACES[N_IMG][2][4] = {
    {{6, 8, 18, 20}, {28, 24, 44, 40}},
    {{20, 4, 32, 16}, {0, 0, 0, 0}},
    {{4, 26, 26, 46}, {30, 6, 40, 16}},
    {{14, 14, 34, 34}, {0, 0, 0, 0}},
};

static void make_images(image *imgs) {
    nn_error err = {0};
    uint64_t state = 12345;
    for (int i = 0; i < N_IMG; i++) {
        ck_assert_int_eq(image_alloc(&imgs[i], SIDE, SIDE, 3, &err), NN_OK);
        for (int k = 0; k < SIDE * SIDE * 3; k++) {
            state = state * 6364136223846793005ull + 1442695040888963407ull;
            imgs[i].pixels[k] = (uint8_t)(40 + (state >> 59));
        }
        for (int b = 0; b < 2; b++) {
            const float *f = FACES[i][b];
            for (int y = (int)f[1]; y < (int)f[3]; y++)
                for (int x = (int)f[0]; x < (int)f[2]; x++)
                    for (int c = 0; c < 3; c++) imgs[i].pixels[(y * SIDE + x) * 3 + c] = 220;
        }
    }
}

START_TEST(tiny_detector_overfits) {
    face_ssd f;
    nn_error err = {0};
    face_ssd_spec spec = tiny_spec();
    ck_assert_int_eq(face_ssd_build(&spec, 2, NULL, &f, &err), NN_OK);
    nn_model_init(f.model, 7);
    image imgs[N_IMG];
    make_images(imgs);
    nn_tensor *x = nn_tensor_new4(N_IMG, 3, SIDE, SIDE);
    multibox_gt gt[N_IMG][2];
    multibox_image mi[N_IMG];
    for (int i = 0; i < N_IMG; i++) {
        float *chw;
        int w, h;
        ck_assert_int_eq(face_ssd_preprocess(&f, &imgs[i], &chw, &w, &h, &err), NN_OK);
        memcpy(x->data + (size_t)i * 3 * SIDE * SIDE, chw, sizeof(float) * 3 * SIDE * SIDE);
        nn_aligned_free(chw);
        int n = 0;
        for (int b = 0; b < 2; b++)
            if (FACES[i][b][2] > 0)
                gt[i][n++] = (multibox_gt){{FACES[i][b][0] / SIDE, FACES[i][b][1] / SIDE,
                                            FACES[i][b][2] / SIDE, FACES[i][b][3] / SIDE},
                                           1,
                                           false};
        mi[i] = (multibox_image){gt[i], n};
    }
    ssd_priors priors;
    ssd_priors_init(&priors);
    ck_assert_int_eq(face_ssd_priors(&spec, SIDE, SIDE, &priors, &err), NN_OK);
    nn_optim_config oc = nn_optim_default(NN_OPTIM_ADAM);
    nn_optim *opt = nn_optim_create_for_model(&oc, f.model);
    nn_ctx *ctx = nn_ctx_create();
    nn_ctx_set_training(ctx, true);
    multibox_config mc = multibox_default_config(2);
    double first = 0, last = 0;
    const int steps = 160;
    for (int s = 0; s < steps; s++) {
        nn_ctx_reset(ctx);
        nn_model_zero_grad(f.model);
        nn_model_forward(f.model, ctx, x);
        multibox_stats st;
        nn_tensor *loss = multibox_loss(ctx, nn_model_output(f.model, f.loc_id),
                                        nn_model_output(f.model, f.conf_id), &priors, mi, &mc, &st);
        ck_assert_msg(loss && nn_backward(ctx, loss) == NN_OK, "%s", nn_ctx_error(ctx));
        nn_optim_step(opt, s < 120 ? 0.01f : 0.002f);
        if (s < 5) first += st.loss / 5;
        if (s >= steps - 5) last += st.loss / 5;
    }
    ck_assert_msg(last < first / 4, "loss fell from %.3f only to %.3f", first, last);

    /* every face found: a detection with score >= .5 and IoU >= .5 */
    for (int i = 0; i < N_IMG; i++) {
        ssd_detection det[50];
        int nd;
        ck_assert_int_eq(face_ssd_detect(&f, &imgs[i], 0.5f, 0.4f, det, 50, &nd, &err), NN_OK);
        for (int b = 0; b < mi[i].n_gt; b++) {
            float best = 0;
            const float *g = FACES[i][b];
            for (int d = 0; d < nd; d++) {
                float bx[4] = {det[d].x1, det[d].y1, det[d].x2, det[d].y2};
                float v = ssd_iou(bx, g);
                best = v > best ? v : best;
            }
            ck_assert_msg(best >= 0.5f, "image %d face %d: best IoU %.2f among %d detections", i,
                          b, best, nd);
        }
        ck_assert_int_le(nd, mi[i].n_gt + 1);
    }
    for (int i = 0; i < N_IMG; i++) image_free(&imgs[i]);
    nn_ctx_destroy(ctx);
    nn_optim_free(opt);
    nn_tensor_free(x);
    ssd_priors_free(&priors);
    face_ssd_free(&f);
}
END_TEST

Suite *face_ssd_suite(void) {
    Suite *s = suite_create("face_ssd");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, priors_by_hand);
    tcase_add_test(tc, sizes_text);
    tcase_add_loop_test(tc, heads_match_priors_at_odd_sizes, 0, 2);
    tcase_add_test(tc, model_file_round_trip);
    tcase_add_test(tc, tiny_detector_overfits);
    suite_add_tcase(s, tc);
    return s;
}
