/* test_ssd.c - prior boxes (Caffe PriorBox vs hand values and OpenCV,
 * torchvision DefaultBoxGenerator, AIZOO and UltraFace anchors), box coding,
 * IoU, NMS (hand cases and torchvision.ops.nms) and DetectionOutput (hand
 * cases and OpenCV's layer). Fixtures: tests/fixtures/gen_ssd.py. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "caffe.h"
#include "ssd.h"
#include "testutil.h"

static void assert_box(const float *got, double x1, double y1, double x2, double y2, double tol) {
    double want[4] = {x1, y1, x2, y2};
    for (int i = 0; i < 4; i++)
        ck_assert_msg(fabs(got[i] - want[i]) <= tol, "coord %d: %.7f, expected %.7f", i, got[i],
                      want[i]);
}

/* -------------------------------------------------------------- priors */

/* res10's six PriorBox layers, from the README table. */
static void res10_priors(ssd_priors *p) {
    const int maps[6] = {38, 19, 10, 5, 5, 5};
    const float mins[6] = {30, 60, 111, 162, 213, 264}, maxs[6] = {60, 111, 162, 213, 264, 315};
    const float steps[6] = {8, 16, 32, 64, 100, 300};
    const int n_ars[6] = {1, 2, 2, 2, 1, 1};
    nn_error err;
    ssd_priors_init(p);
    for (int k = 0; k < 6; k++) {
        ssd_caffe_prior_params prm = ssd_caffe_prior_default();
        prm.n_min_sizes = prm.n_max_sizes = 1;
        prm.min_sizes[0] = mins[k], prm.max_sizes[0] = maxs[k];
        prm.n_aspect_ratios = n_ars[k];
        prm.aspect_ratios[0] = 2, prm.aspect_ratios[1] = 3;
        prm.n_variances = 4;
        prm.variances[0] = prm.variances[1] = 0.1f, prm.variances[2] = prm.variances[3] = 0.2f;
        prm.step_w = prm.step_h = steps[k];
        ck_assert_msg(ssd_priors_add_caffe(p, &prm, maps[k], maps[k], 300, 300, &err) == NN_OK, "%s",
                      err.msg);
    }
}

START_TEST(caffe_priors_res10_by_hand) {
    ssd_priors p;
    res10_priors(&p);
    ck_assert_int_eq(p.count, 8892); /* 5776 + 2166 + 600 + 150 + 100 + 100 */
    const double tol = 1e-6;
    /* cell (0,0) of the 38x38 map: centre (4,4) px; min 30, sqrt(30*60), ar 2, ar 1/2 */
    assert_box(p.boxes + 0, -11 / 300., -11 / 300., 19 / 300., 19 / 300., tol);
    double h = sqrt(30.0 * 60.0) / 2; /* 21.2132 */
    assert_box(p.boxes + 4, (4 - h) / 300, (4 - h) / 300, (4 + h) / 300, (4 + h) / 300, tol);
    double hw = 30 * sqrt(2.0) / 2, hh = 30 / sqrt(2.0) / 2;
    assert_box(p.boxes + 8, (4 - hw) / 300, (4 - hh) / 300, (4 + hw) / 300, (4 + hh) / 300, tol);
    assert_box(p.boxes + 12, (4 - hh) / 300, (4 - hw) / 300, (4 + hh) / 300, (4 + hw) / 300, tol);
    /* next cell to the right (x=1): centre x 12; next row (y=1): index 38*4 */
    assert_box(p.boxes + 4 * 4, -3 / 300., -11 / 300., 27 / 300., 19 / 300., tol);
    assert_box(p.boxes + 4 * 152, -11 / 300., -3 / 300., 19 / 300., 27 / 300., tol);
    /* the very last prior: conv9 (step 300) cell (4,4), centre 1350 px, ar 1/2 of min 264 */
    hw = 264 / sqrt(2.0) / 2, hh = 264 * sqrt(2.0) / 2;
    assert_box(p.boxes + 4 * 8891, (1350 - hw) / 300, (1350 - hh) / 300, (1350 + hw) / 300,
               (1350 + hh) / 300, 1e-5);
    /* fc7 (6 per cell: 1, sqrt, 2, 1/2, 3, 1/3) starts at 5776; its 6th box is ar 1/3 */
    hw = 60 / sqrt(3.0) / 2, hh = 60 * sqrt(3.0) / 2;
    assert_box(p.boxes + 4 * (5776 + 5), (8 - hw) / 300, (8 - hh) / 300, (8 + hw) / 300,
               (8 + hh) / 300, tol);
    for (int i = 0; i < p.count; i++) {
        ck_assert(p.variances[4 * i] == 0.1f && p.variances[4 * i + 3] == 0.2f);
    }
    ssd_priors_free(&p);
}
END_TEST

START_TEST(caffe_prior_param_errors) {
    nn_error err;
    ssd_caffe_prior_params p = ssd_caffe_prior_default();
    ck_assert_int_eq(ssd_caffe_priors_per_location(&p, &err), -1); /* no min_size */
    p.n_min_sizes = 1, p.min_sizes[0] = 30;
    ck_assert_int_eq(ssd_caffe_priors_per_location(&p, &err), 1);
    p.n_max_sizes = 1, p.max_sizes[0] = 20; /* max must exceed min */
    ck_assert_int_eq(ssd_caffe_priors_per_location(&p, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "max_size"));
    p.max_sizes[0] = 60;
    p.n_aspect_ratios = 3;
    p.aspect_ratios[0] = 2, p.aspect_ratios[1] = 0.5f, p.aspect_ratios[2] = 1; /* 0.5 and 1 repeat */
    ck_assert_int_eq(ssd_caffe_priors_per_location(&p, &err), 4);
    p.flip = false;
    ck_assert_int_eq(ssd_caffe_priors_per_location(&p, &err), 4); /* 1, 2, 0.5 (given), max */
    p.n_variances = 2;
    ck_assert_int_eq(ssd_caffe_priors_per_location(&p, &err), -1);
    ssd_priors pr;
    ssd_priors_init(&pr);
    p.n_variances = 0;
    ck_assert_int_eq(ssd_priors_add_caffe(&pr, &p, 0, 3, 300, 300, &err), NN_ERR_ARG);
    ck_assert_int_eq(pr.count, 0);
    ssd_priors_free(&pr);
}
END_TEST

START_TEST(caffe_priors_vs_opencv) {
    tu_fixture *fx = tu_fixture_load("fixtures/ssd_opencv.nnfx");
    ck_assert_ptr_nonnull(fx);
    nn_error err;
    /* fc7 of res10: min 60, max 111, ar 2 and 3, step 16 on 19x19 */
    ssd_caffe_prior_params prm = ssd_caffe_prior_default();
    prm.n_min_sizes = prm.n_max_sizes = 1;
    prm.min_sizes[0] = 60, prm.max_sizes[0] = 111;
    prm.n_aspect_ratios = 2, prm.aspect_ratios[0] = 2, prm.aspect_ratios[1] = 3;
    prm.n_variances = 4;
    prm.variances[0] = prm.variances[1] = 0.1f, prm.variances[2] = prm.variances[3] = 0.2f;
    prm.step_w = prm.step_h = 16;
    ssd_priors p;
    ssd_priors_init(&p);
    ck_assert_int_eq(ssd_priors_add_caffe(&p, &prm, 19, 19, 300, 300, &err), NN_OK);
    ck_assert_int_eq(p.count, 19 * 19 * 6);
    size_t n;
    const float *ref = tu_fixture_data(fx, "fc7_priors", &n);
    const int stride = 17;
    ck_assert_uint_eq(n, 4 * (size_t)((p.count + stride - 1) / stride));
    for (size_t i = 0; i < n / 4; i++) tu_assert_close(p.boxes + 4 * i * stride, ref + 4 * i, 4, 1e-6, 1e-6);
    const float *var = tu_fixture_data(fx, "fc7_variances", &n);
    tu_assert_close(p.variances, var, 16, 1e-7, 0);
    ssd_priors_free(&p);

    /* two min sizes, ratio 0.5 given after 2 (dropped as a repeat of the flip),
     * clip, one variance, non-square 5x7 map: step 60 x 42.86 */
    prm = ssd_caffe_prior_default();
    prm.n_min_sizes = prm.n_max_sizes = 2;
    prm.min_sizes[0] = 30, prm.min_sizes[1] = 80, prm.max_sizes[0] = 60, prm.max_sizes[1] = 150;
    prm.n_aspect_ratios = 2, prm.aspect_ratios[0] = 2, prm.aspect_ratios[1] = 0.5f;
    prm.clip = true;
    prm.n_variances = 1, prm.variances[0] = 0.1f;
    ssd_priors_init(&p);
    ck_assert_int_eq(ssd_priors_add_caffe(&p, &prm, 5, 7, 300, 300, &err), NN_OK);
    ck_assert_int_eq(p.count, 280);
    ref = tu_fixture_data(fx, "clip_priors", &n);
    ck_assert_uint_eq(n, 280 * 4);
    tu_assert_close(p.boxes, ref, n, 1e-6, 1e-6);
    var = tu_fixture_data(fx, "clip_variances", &n);
    tu_assert_close(p.variances, var, 16, 1e-7, 0);
    ssd_priors_free(&p);
    tu_fixture_free(fx);
}
END_TEST

/* The ssd300_vgg16 generator: maps 38..1, scales 0.07..1.05, steps 8..300. */
static void torchvision_priors(ssd_priors *p) {
    const int maps[6] = {38, 19, 10, 5, 3, 1}, steps[6] = {8, 16, 32, 64, 100, 300};
    const float scales[7] = {0.07f, 0.15f, 0.33f, 0.51f, 0.69f, 0.87f, 1.05f};
    const float ars[2] = {2, 3};
    const int n_ars[6] = {1, 2, 2, 2, 1, 1};
    nn_error err;
    ssd_priors_init(p);
    for (int k = 0; k < 6; k++)
        ck_assert_int_eq(ssd_priors_add_torchvision(p, scales[k], scales[k + 1], ars, n_ars[k],
                                                    steps[k], maps[k], maps[k], 300, 300, true, &err),
                         NN_OK);
}

START_TEST(torchvision_default_boxes) {
    tu_fixture *fx = tu_fixture_load("fixtures/ssd_torchvision.nnfx");
    ck_assert_ptr_nonnull(fx);
    ssd_priors p;
    torchvision_priors(&p);
    size_t n;
    ck_assert_int_eq(p.count, (int)tu_fixture_data(fx, "count", &n)[0]);
    ck_assert_int_eq(p.count, 8732);
    const float *idx = tu_fixture_data(fx, "sample_index", &n);
    const float *ref = tu_fixture_data(fx, "sample_boxes", NULL);
    for (size_t i = 0; i < n; i++) {
        int k = (int)idx[i];
        float px[4];
        for (int c = 0; c < 4; c++) px[c] = p.boxes[4 * k + c] * 300.0f;
        tu_assert_close(px, ref + 4 * i, 4, 1e-3, 1e-5);
    }
    /* per-map coordinate sums cover every box */
    const float *sums = tu_fixture_data(fx, "map_sums", &n);
    ck_assert_uint_eq(n, 24);
    int start = 0;
    const int per_map[6] = {38 * 38 * 4, 19 * 19 * 6, 10 * 10 * 6, 5 * 5 * 6, 3 * 3 * 4, 1 * 4};
    for (int k = 0; k < 6; k++) {
        double s[4] = {0, 0, 0, 0};
        for (int i = start; i < start + per_map[k]; i++)
            for (int c = 0; c < 4; c++) s[c] += p.boxes[4 * i + c] * 300.0;
        for (int c = 0; c < 4; c++)
            ck_assert_msg(fabs(s[c] - sums[4 * k + c]) <= 1e-5 * fabs(sums[4 * k + c]) + 1e-2,
                          "map %d coord %d: %f vs %f", k, c, s[c], sums[4 * k + c]);
        start += per_map[k];
    }
    ssd_priors_free(&p);
    tu_fixture_free(fx);
}
END_TEST

START_TEST(aizoo_anchors) {
    const int maps[5] = {33, 17, 9, 5, 3};
    const float sizes[5][2] = {{0.04f, 0.056f}, {0.08f, 0.11f}, {0.16f, 0.22f}, {0.32f, 0.45f}, {0.64f, 0.72f}};
    const float ratios[3] = {1, 0.62f, 0.42f};
    nn_error err;
    ssd_priors p;
    ssd_priors_init(&p);
    for (int k = 0; k < 5; k++)
        ck_assert_int_eq(ssd_priors_add_anchors(&p, sizes[k], 2, ratios, 3, maps[k], maps[k], &err), NN_OK);
    ck_assert_int_eq(p.count, 5972);
    double c = 0.5 / 33;
    assert_box(p.boxes + 0, c - 0.02, c - 0.02, c + 0.02, c + 0.02, 1e-6);
    assert_box(p.boxes + 4, c - 0.028, c - 0.028, c + 0.028, c + 0.028, 1e-6);
    double w = 0.04 * sqrt(0.62), h = 0.04 / sqrt(0.62);
    assert_box(p.boxes + 8, c - w / 2, c - h / 2, c + w / 2, c + h / 2, 1e-6);
    w = 0.04 * sqrt(0.42), h = 0.04 / sqrt(0.42);
    assert_box(p.boxes + 12, c - w / 2, c - h / 2, c + w / 2, c + h / 2, 1e-6);
    /* the last: 3x3 map, cell (2,2), size 0.64 ratio 0.42 */
    c = 2.5 / 3, w = 0.64 * sqrt(0.42), h = 0.64 / sqrt(0.42);
    assert_box(p.boxes + 4 * 5971, c - w / 2, c - h / 2, c + w / 2, c + h / 2, 1e-6);
    ck_assert(p.variances[4 * 5971 + 2] == 0.2f);
    const float bad_ratios[2] = {0.5f, 1};
    ck_assert_int_eq(ssd_priors_add_anchors(&p, sizes[0], 2, bad_ratios, 2, 3, 3, &err), NN_ERR_ARG);
    ssd_priors_free(&p);
}
END_TEST

START_TEST(ultraface_priors) {
    const float b8[3] = {10, 16, 24}, b16[2] = {32, 48}, b32[2] = {64, 96}, b64[3] = {128, 192, 256};
    nn_error err;
    ssd_priors p;
    ssd_priors_init(&p);
    ck_assert_int_eq(ssd_priors_add_ultraface(&p, b8, 3, 8, 320, 240, &err), NN_OK);
    ck_assert_int_eq(p.count, 40 * 30 * 3);
    ck_assert_int_eq(ssd_priors_add_ultraface(&p, b16, 2, 16, 320, 240, &err), NN_OK);
    ck_assert_int_eq(ssd_priors_add_ultraface(&p, b32, 2, 32, 320, 240, &err), NN_OK);
    ck_assert_int_eq(p.count, 3600 + 600 + 10 * 8 * 2); /* ceil(240/32) = 8 rows */
    ck_assert_int_eq(ssd_priors_add_ultraface(&p, b64, 3, 64, 320, 240, &err), NN_OK);
    ck_assert_int_eq(p.count, 4420);
    /* first: centre (4/320, 4/240), 10x10 px */
    assert_box(p.boxes + 0, 0.0125 - 0.015625, 4 / 240. - 5 / 240., 0.0125 + 0.015625, 4 / 240. + 5 / 240., 1e-6);
    /* last: centre (0.9, 0.9333), 256 px: w 0.8, h 256/240 clamped to 1 (centre form) */
    assert_box(p.boxes + 4 * 4419, 0.5, 0.9333333 - 0.5, 1.3, 0.9333333 + 0.5, 1e-6);
    ssd_priors_free(&p);
}
END_TEST

START_TEST(priors_from_parsed_res10) {
    const char *shared = tu_shared_dir();
    char path[1024];
    if (!shared) {
        fprintf(stderr, "test_ssd: shared data not found; skipping priors_from_parsed_res10\n");
        return;
    }
    snprintf(path, sizeof path, "%s/models/opencv_res10_ssd/deploy.prototxt", shared);
    if (access(path, R_OK)) {
        fprintf(stderr, "test_ssd: %s not found; skipping\n", path);
        return;
    }
    nn_error err;
    caffe_net *net;
    ck_assert_msg(caffe_net_load(path, &net, &err) == NN_OK, "%s", err.msg);
    ck_assert_msg(caffe_net_infer_shapes(net, &err) == NN_OK, "%s", err.msg);
    ssd_priors from_net, from_table;
    ssd_priors_init(&from_net);
    ck_assert_msg(caffe_net_priors(net, "mbox_priorbox", &from_net, &err) == NN_OK, "%s", err.msg);
    res10_priors(&from_table);
    ck_assert_int_eq(from_net.count, 8892);
    ck_assert_int_eq(from_net.count, from_table.count);
    ck_assert(memcmp(from_net.boxes, from_table.boxes, 4 * sizeof(float) * 8892) == 0);
    ck_assert(memcmp(from_net.variances, from_table.variances, 4 * sizeof(float) * 8892) == 0);
    ssd_detect_params dp =
        caffe_detection_params(&net->layers[caffe_net_find_layer(net, "detection_out")].detection, 640, 480);
    ck_assert_int_eq(dp.keep_top_k, 200);
    ck_assert(dp.clip && dp.image_w == 640);
    ck_assert_int_eq(caffe_net_priors(net, "conv1_h", &from_net, &err), NN_ERR_FORMAT);
    ssd_priors_free(&from_net);
    ssd_priors_free(&from_table);
    caffe_net_free(net);
}
END_TEST

/* ---------------------------------------------------------- box coding */

static const float PRIOR[4] = {0.1f, 0.2f, 0.3f, 0.6f};
static const float VAR[4] = {0.1f, 0.1f, 0.2f, 0.2f};

START_TEST(decode_by_hand) {
    const float loc[4] = {1, -2, 0.5f, (float)(log(2.0) / 0.2)};
    float out[4];
    /* centre (0.2, 0.4), size 0.2 x 0.4: cx 0.2+0.1*1*0.2, cy 0.4-0.1*2*0.4,
     * w 0.2*e^0.1, h 0.4*e^(ln 2) = 0.8 */
    ssd_decode_box(PRIOR, VAR, loc, SSD_CODE_CENTER_SIZE, false, out);
    double hw = 0.2 * exp(0.1) / 2;
    assert_box(out, 0.22 - hw, -0.08, 0.22 + hw, 0.72, 1e-6);
    ssd_decode_box(PRIOR, VAR, loc, SSD_CODE_CORNER, false, out);
    assert_box(out, 0.2, 0.0, 0.4, 0.6 + 0.2 * log(2.0) / 0.2, 1e-6);
    ssd_decode_box(PRIOR, VAR, loc, SSD_CODE_CORNER_SIZE, false, out);
    assert_box(out, 0.12, 0.12, 0.32, 0.6 + 0.4 * log(2.0), 1e-6);
    /* variances already in the offsets: cx 0.2+0.2, cy 0.4-0.8, w 0.2e^0.5, h 0.4e^3.47=12.8 */
    ssd_decode_box(PRIOR, VAR, loc, SSD_CODE_CENTER_SIZE, true, out);
    hw = 0.2 * exp(0.5) / 2;
    assert_box(out, 0.4 - hw, -0.4 - 6.4, 0.4 + hw, -0.4 + 6.4, 1e-5);
}
END_TEST

START_TEST(encode_inverts_decode) {
    const float box[4] = {0.15f, 0.1f, 0.42f, 0.5f};
    for (int code = SSD_CODE_CORNER; code <= SSD_CODE_CORNER_SIZE; code++)
        for (int vit = 0; vit < 2; vit++) {
            float loc[4], back[4];
            ssd_encode_box(PRIOR, VAR, box, (ssd_code_type)code, vit, loc);
            ssd_decode_box(PRIOR, VAR, loc, (ssd_code_type)code, vit, back);
            tu_assert_close(back, box, 4, 1e-6, 1e-5);
        }
    /* a hand value: the box centre is 0.285, prior centre 0.2, width 0.2, var 0.1 */
    float loc[4];
    ssd_encode_box(PRIOR, VAR, box, SSD_CODE_CENTER_SIZE, false, loc);
    ck_assert(fabs(loc[0] - (0.285 - 0.2) / 0.2 / 0.1) < 1e-5);
    ck_assert(fabs(loc[3] - log(0.4 / 0.4) / 0.2) < 1e-5);
}
END_TEST

START_TEST(decode_vs_torchvision) {
    tu_fixture *fx = tu_fixture_load("fixtures/ssd_torchvision.nnfx");
    ck_assert_ptr_nonnull(fx);
    size_t n;
    const float *anchors = tu_fixture_data(fx, "anchors", &n);
    const float *rel = tu_fixture_data(fx, "rel", NULL), *ref = tu_fixture_data(fx, "decoded", NULL);
    for (size_t i = 0; i < n / 4; i++) {
        float prior[4], out[4];
        for (int c = 0; c < 4; c++) prior[c] = anchors[4 * i + c] / 300.0f;
        /* BoxCoder weights (10, 10, 5, 5) are variances (0.1, 0.1, 0.2, 0.2) */
        ssd_decode_box(prior, VAR, rel + 4 * i, SSD_CODE_CENTER_SIZE, false, out);
        for (int c = 0; c < 4; c++) out[c] *= 300.0f;
        tu_assert_close(out, ref + 4 * i, 4, 2e-3, 1e-4);
    }
    tu_fixture_free(fx);
}
END_TEST

START_TEST(iou_by_hand) {
    const float a[4] = {0, 0, 2, 2}, b[4] = {1, 1, 3, 3}, c[4] = {2, 0, 3, 1}, d[4] = {5, 5, 6, 6};
    const float dot[4] = {1, 1, 1, 1};
    ck_assert(fabsf(ssd_iou(a, b) - 1.0f / 7.0f) < 1e-7f);
    ck_assert(ssd_iou(a, a) == 1.0f);
    ck_assert(ssd_iou(a, c) == 0.0f); /* touching edges */
    ck_assert(ssd_iou(a, d) == 0.0f);
    ck_assert(ssd_iou(dot, dot) == 0.0f); /* empty boxes: 0, not NaN */
}
END_TEST

/* ------------------------------------------------------------------ NMS */

/* box 3 overlaps box 0 with IoU exactly 0.5; box 1 overlaps box 0 with IoU 81/119 */
static const float NMS_BOXES[4][4] = {{0, 0, 10, 10}, {1, 1, 11, 11}, {20, 20, 30, 30}, {0, 0, 10, 5}};
static const float NMS_SCORES[4] = {0.9f, 0.8f, 0.7f, 0.95f};

static int run_nms(const float (*boxes)[4], const float *scores, int n, float thr, float iou, int top_k,
                   int *keep) {
    nn_error err;
    int n_keep = -1;
    ck_assert_int_eq(ssd_nms(&boxes[0][0], scores, 1, n, thr, iou, top_k, keep, &n_keep, &err), NN_OK);
    return n_keep;
}

START_TEST(nms_by_hand) {
    int keep[4];
    /* sorted 3, 0, 1, 2: 0 has IoU 0.5 with 3 (kept: <= threshold), 1 loses to 0 */
    ck_assert_int_eq(run_nms(NMS_BOXES, NMS_SCORES, 4, 0.0f, 0.5f, -1, keep), 3);
    ck_assert(keep[0] == 3 && keep[1] == 0 && keep[2] == 2);
    /* a tighter threshold: 0 loses to 3, then 1 (IoU 36/114 with 3) survives */
    ck_assert_int_eq(run_nms(NMS_BOXES, NMS_SCORES, 4, 0.0f, 0.49f, -1, keep), 3);
    ck_assert(keep[0] == 3 && keep[1] == 1 && keep[2] == 2);
    /* top_k 2 keeps only the two best candidates before NMS */
    ck_assert_int_eq(run_nms(NMS_BOXES, NMS_SCORES, 4, 0.0f, 0.5f, 2, keep), 2);
    ck_assert(keep[0] == 3 && keep[1] == 0);
    /* the score threshold is strict: 0.9 is not above 0.9 */
    ck_assert_int_eq(run_nms(NMS_BOXES, NMS_SCORES, 4, 0.9f, 0.5f, -1, keep), 1);
    ck_assert_int_eq(keep[0], 3);
    ck_assert_int_eq(run_nms(NMS_BOXES, NMS_SCORES, 4, 0.99f, 0.5f, -1, keep), 0);
    ck_assert_int_eq(run_nms(NMS_BOXES, NMS_SCORES, 0, 0.0f, 0.5f, -1, keep), 0);
}
END_TEST

START_TEST(nms_ties) {
    const float boxes[3][4] = {{0, 0, 1, 1}, {0, 0, 1, 1}, {5, 5, 6, 6}};
    const float scores[3] = {0.5f, 0.5f, 0.5f};
    int keep[3];
    /* equal scores: the lower index wins; the duplicate box is suppressed */
    ck_assert_int_eq(run_nms(boxes, scores, 3, 0.0f, 0.5f, -1, keep), 2);
    ck_assert(keep[0] == 0 && keep[1] == 2);
    const float scores2[3] = {0.5f, 0.6f, 0.6f};
    ck_assert_int_eq(run_nms(boxes, scores2, 3, 0.0f, 0.5f, -1, keep), 2);
    ck_assert(keep[0] == 1 && keep[1] == 2);
}
END_TEST

/* The plainest NMS there is, the reference for ssd_nms's selection (a
 * quickselect, a merge sort) and its branch-free overlap test: candidates
 * above thr in index order, a stable insertion sort by score, the first top_k,
 * then each box against every kept one with ssd_iou. */
static int naive_nms(const float *boxes, const float *scores, int n, float thr, float iou,
                     int top_k, int *keep) {
    int *order = malloc(sizeof *order * (size_t)(n + 1)), m = 0, kept = 0;
    for (int i = 0; i < n; i++)
        if (scores[i] > thr) order[m++] = i;
    for (int i = 1; i < m; i++) /* stable: move left only past lower scores */
        for (int j = i; j > 0 && scores[order[j]] > scores[order[j - 1]]; j--) {
            int t = order[j];
            order[j] = order[j - 1], order[j - 1] = t;
        }
    if (top_k >= 0 && top_k < m) m = top_k;
    for (int c = 0; c < m; c++) {
        bool ok = true;
        for (int k = 0; k < kept && ok; k++)
            ok = ssd_iou(boxes + (size_t)order[c] * 4, boxes + (size_t)keep[k] * 4) <= iou;
        if (ok) keep[kept++] = order[c];
    }
    free(order);
    return kept;
}

static unsigned next_rand(unsigned *state) { /* a small LCG: the test's own stream */
    *state = *state * 1103515245u + 12345u;
    return *state >> 8;
}

START_TEST(nms_random_vs_naive) {
    /* Random boxes on a 100 x 100 field, many the same or inverted (x2 <
     * x1), scores from a few values so ties are everywhere; top_k from none
     * to more than there are candidates. */
    enum { N = 700 };
    float *boxes = malloc(sizeof(float) * N * 4), *scores = malloc(sizeof(float) * N);
    int *keep = malloc(sizeof(int) * N), *want = malloc(sizeof(int) * N);
    unsigned seed = 12345;
    for (int round = 0; round < 60; round++) {
        int n = 1 + (int)(next_rand(&seed) % N);
        for (int i = 0; i < n; i++) {
            float *b = boxes + (size_t)i * 4;
            if (i > 0 && next_rand(&seed) % 8 == 0) { /* an exact duplicate */
                memcpy(b, boxes + (size_t)(next_rand(&seed) % (unsigned)i) * 4, sizeof(float) * 4);
            } else {
                b[0] = (float)(next_rand(&seed) % 100), b[1] = (float)(next_rand(&seed) % 100);
                b[2] = b[0] + (float)(next_rand(&seed) % 30) - (next_rand(&seed) % 16 == 0 ? 5 : 0);
                b[3] = b[1] + (float)(next_rand(&seed) % 30);
            }
            scores[i] = (float)(next_rand(&seed) % (round % 3 == 0 ? 4 : 50)) / 50.0f;
        }
        static const int top_ks[] = {-1, 0, 1, 5, 37, 400, 10000};
        int top_k = top_ks[round % 7];
        float iou = round % 2 ? 0.45f : 0.3f, thr = round % 5 == 0 ? -1.0f : 0.1f;
        int n_keep = -1;
        nn_error err;
        ck_assert_int_eq(ssd_nms(boxes, scores, 1, n, thr, iou, top_k, keep, &n_keep, &err), NN_OK);
        int n_want = naive_nms(boxes, scores, n, thr, iou, top_k, want);
        ck_assert_msg(n_keep == n_want, "round %d (n %d, top_k %d): kept %d, naive %d", round, n,
                      top_k, n_keep, n_want);
        for (int i = 0; i < n_keep; i++) ck_assert_int_eq(keep[i], want[i]);
    }
    free(boxes), free(scores), free(keep), free(want);
}
END_TEST

START_TEST(nms_vs_torchvision) {
    tu_fixture *fx = tu_fixture_load("fixtures/ssd_torchvision.nnfx");
    ck_assert_ptr_nonnull(fx);
    size_t n, n_ref;
    const float *boxes = tu_fixture_data(fx, "nms_boxes", &n);
    const float *scores = tu_fixture_data(fx, "nms_scores", NULL);
    const float *ref = tu_fixture_data(fx, "nms_keep", &n_ref);
    int keep[200], n_keep;
    nn_error err;
    ck_assert_int_eq(ssd_nms(boxes, scores, 1, (int)(n / 4), -1.0f, 0.45f, -1, keep, &n_keep, &err), NN_OK);
    ck_assert_int_eq(n_keep, (int)n_ref);
    for (int i = 0; i < n_keep; i++) ck_assert_int_eq(keep[i], (int)ref[i]);
    tu_fixture_free(fx);
}
END_TEST

/* ------------------------------------------------------------ detection */

/* Three priors (P1 overlaps P0 with IoU 0.68), three classes (0 = background);
 * returns the parameters the cases below start from (threshold 0.26, NMS IoU
 * 0.5, a 200 x 100 image). */
static ssd_detect_params detect_case(ssd_priors *p, float *loc, float *conf) {
    static const float boxes[3][4] = {{0.1f, 0.1f, 0.3f, 0.3f}, {0.12f, 0.12f, 0.32f, 0.32f}, {0.6f, 0.6f, 0.9f, 0.9f}};
    static const float c[9] = {0.1f, 0.7f, 0.2f, 0.1f, 0.6f, 0.3f, 0.2f, 0.25f, 0.55f};
    ssd_priors_init(p);
    p->count = p->capacity = 3;
    p->boxes = malloc(sizeof boxes);
    p->variances = malloc(sizeof boxes);
    memcpy(p->boxes, boxes, sizeof boxes);
    for (int i = 0; i < 12; i++) p->variances[i] = VAR[i % 4];
    memset(loc, 0, 12 * sizeof(float));
    memcpy(conf, c, sizeof c);
    ssd_detect_params prm = ssd_detect_default(3);
    prm.confidence_threshold = 0.26f;
    prm.nms_threshold = 0.5f;
    prm.image_w = 200, prm.image_h = 100;
    return prm;
}

START_TEST(detect_by_hand) {
    ssd_priors p;
    float loc[12], conf[9];
    ssd_detect_params prm = detect_case(&p, loc, conf);
    ssd_detection det[8];
    int n;
    nn_error err;
    ck_assert_int_eq(ssd_detect(&p, loc, conf, &prm, det, 8, &n, &err), NN_OK);
    /* class 1: P0 0.7 (P1 0.6 suppressed, P2 0.25 below); class 2: P2 0.55, P1 0.3 */
    ck_assert_int_eq(n, 3);
    ck_assert(det[0].label == 1 && det[0].score == 0.7f);
    ck_assert(fabsf(det[0].x1 - 20) < 1e-4f && fabsf(det[0].y1 - 10) < 1e-4f);
    ck_assert(fabsf(det[0].x2 - 60) < 1e-4f && fabsf(det[0].y2 - 30) < 1e-4f);
    ck_assert(det[1].label == 2 && det[1].score == 0.55f && fabsf(det[1].x1 - 120) < 1e-4f);
    ck_assert(det[2].label == 2 && det[2].score == 0.3f && fabsf(det[2].y2 - 32) < 1e-4f);
    /* keep_top_k 2: the best two overall, still label-major */
    prm.keep_top_k = 2;
    ck_assert_int_eq(ssd_detect(&p, loc, conf, &prm, det, 8, &n, &err), NN_OK);
    ck_assert_int_eq(n, 2);
    ck_assert(det[0].label == 1 && det[0].score == 0.7f && det[1].label == 2 && det[1].score == 0.55f);
    /* one NMS over the best class of each prior: P0 (1, .7), P1 (1, .6) suppressed, P2 (2, .55) */
    prm.keep_top_k = -1;
    prm.class_agnostic = true;
    ck_assert_int_eq(ssd_detect(&p, loc, conf, &prm, det, 8, &n, &err), NN_OK);
    ck_assert_int_eq(n, 2);
    ck_assert(det[0].label == 1 && det[0].score == 0.7f && det[1].label == 2 && det[1].score == 0.55f);
    /* not enough room */
    prm.class_agnostic = false;
    ck_assert_int_eq(ssd_detect(&p, loc, conf, &prm, det, 2, &n, &err), NN_ERR_LIMIT);
    ck_assert_int_eq(n, 0);
    /* everything below the threshold */
    prm.confidence_threshold = 0.9f;
    ck_assert_int_eq(ssd_detect(&p, loc, conf, &prm, det, 8, &n, &err), NN_OK);
    ck_assert_int_eq(n, 0);
    /* clip: a decoded box past the image edge is clamped before scaling */
    prm.confidence_threshold = 0.6f;
    prm.clip = true;
    loc[0] = -30; /* moves P0's centre 30*0.1*0.2 = 0.6 to the left */
    ck_assert_int_eq(ssd_detect(&p, loc, conf, &prm, det, 8, &n, &err), NN_OK);
    ck_assert_int_eq(n, 1);
    ck_assert(det[0].x1 == 0.0f && det[0].x2 == 0.0f);
    ssd_priors_free(&p);
    /* no priors at all */
    ssd_priors_init(&p);
    ck_assert_int_eq(ssd_detect(&p, NULL, NULL, &prm, det, 8, &n, &err), NN_OK);
    ck_assert_int_eq(n, 0);
}
END_TEST

/* Box voting on detect_case: class 1 keeps P0 (0.7) and suppresses P1
 * (0.6, IoU 0.68 with P0), so P0's box becomes (0.7 P0 + 0.6 P1) / 1.3;
 * class 2 keeps P2 (alone) and P1 (0.3), which P0 (0.2 as class 2) votes
 * for: (0.3 P1 + 0.2 P0) / 0.5. */
START_TEST(detect_box_voting_by_hand) {
    ssd_priors p;
    float loc[12], conf[9];
    ssd_detect_params prm = detect_case(&p, loc, conf);
    prm.vote_iou = 0.5f, prm.vote_floor = SSD_VOTE_FLOOR;
    ssd_detection det[8];
    int n;
    nn_error err;
    ck_assert_int_eq(ssd_detect(&p, loc, conf, &prm, det, 8, &n, &err), NN_OK);
    ck_assert_int_eq(n, 3);
    const float a = 0.1f, b = 0.12f; /* P0's and P1's x1 (and y1); x2 = x1 + 0.2 */
    float x1 = (0.7f * a + 0.6f * b) / 1.3f;
    ck_assert(det[0].label == 1 && det[0].score == 0.7f);
    ck_assert_float_eq_tol(det[0].x1, 200 * x1, 1e-4);
    ck_assert_float_eq_tol(det[0].y1, 100 * x1, 1e-4);
    ck_assert_float_eq_tol(det[0].x2, 200 * (x1 + 0.2f), 1e-4);
    ck_assert_float_eq_tol(det[0].y2, 100 * (x1 + 0.2f), 1e-4);
    /* P2 overlaps nothing: its own box */
    ck_assert(det[1].label == 2 && det[1].score == 0.55f);
    ck_assert_float_eq_tol(det[1].x1, 120, 1e-4);
    ck_assert(det[2].label == 2 && det[2].score == 0.3f);
    ck_assert_float_eq_tol(det[2].x1, 200 * (0.3f * b + 0.2f * a) / 0.5f, 1e-4);
    /* a threshold above P1's score: P0's box is the same, as P1 still votes */
    prm.confidence_threshold = 0.65f;
    ck_assert_int_eq(ssd_detect(&p, loc, conf, &prm, det, 8, &n, &err), NN_OK);
    ck_assert_int_eq(n, 1);
    ck_assert_float_eq_tol(det[0].x1, 200 * x1, 1e-4);
    /* but not above the floor, nor under the vote IoU: P0's own box */
    prm.vote_floor = 0.65f;
    ck_assert_int_eq(ssd_detect(&p, loc, conf, &prm, det, 8, &n, &err), NN_OK);
    ck_assert_float_eq_tol(det[0].x1, 200 * a, 1e-4);
    prm.vote_floor = SSD_VOTE_FLOOR, prm.vote_iou = 0.7f;
    ck_assert_int_eq(ssd_detect(&p, loc, conf, &prm, det, 8, &n, &err), NN_OK);
    ck_assert_float_eq_tol(det[0].x1, 200 * a, 1e-4);
    /* class-agnostic: the best class of each prior votes (P1 as class 1, 0.6) */
    prm.vote_iou = 0.5f, prm.confidence_threshold = 0.26f, prm.class_agnostic = true;
    ck_assert_int_eq(ssd_detect(&p, loc, conf, &prm, det, 8, &n, &err), NN_OK);
    ck_assert_int_eq(n, 2);
    ck_assert_float_eq_tol(det[0].x1, 200 * x1, 1e-4);
    ck_assert_float_eq_tol(det[1].x1, 120, 1e-4);
    /* keep_top_k reorders the merged list: each box still gets its own vote */
    prm.class_agnostic = false, prm.keep_top_k = 2;
    ck_assert_int_eq(ssd_detect(&p, loc, conf, &prm, det, 8, &n, &err), NN_OK);
    ck_assert_int_eq(n, 2);
    ck_assert_float_eq_tol(det[0].x1, 200 * x1, 1e-4);
    ck_assert(det[1].score == 0.55f);
    ck_assert_float_eq_tol(det[1].x1, 120, 1e-4);
    ssd_priors_free(&p);
}
END_TEST

/* Many classes, many priors, random scores with ties: ssd_detect (which
 * buckets every class's candidates in one pass over conf) against ssd_nms run
 * class by class (a strided scan of each class's scores), label-major. */
START_TEST(detect_many_classes_vs_per_class_nms) {
    enum { N = 400, NC = 9, TOPK = 60 };
    ssd_priors p;
    ssd_priors_init(&p);
    p.count = p.capacity = N;
    p.boxes = malloc(sizeof(float) * 4 * N);
    p.variances = malloc(sizeof(float) * 4 * N);
    float *loc = calloc(4 * N, sizeof(float)), *conf = malloc(sizeof(float) * N * NC);
    unsigned seed = 7;
    for (int i = 0; i < N; i++) { /* boxes on a coarse grid, so many overlap */
        seed = seed * 1103515245u + 12345u;
        float x = (float)(seed >> 16 & 15) / 20.0f, y = (float)(seed >> 20 & 15) / 20.0f;
        float w = 0.1f + (float)(seed >> 24 & 3) * 0.05f;
        float b[4] = {x, y, x + w, y + w};
        memcpy(p.boxes + 4 * i, b, sizeof b);
        for (int k = 0; k < 4; k++) p.variances[4 * i + k] = 1.0f;
        for (int c = 0; c < NC; c++) { /* 16 levels: ties are common */
            seed = seed * 1103515245u + 12345u;
            conf[i * NC + c] = (float)(seed >> 20 & 15) / 16.0f;
        }
    }
    ssd_detect_params prm = ssd_detect_default(NC);
    prm.code_type = SSD_CODE_CORNER; /* loc 0: each box is its prior, exactly */
    prm.background_label = 2;
    prm.confidence_threshold = 0.4f;
    prm.nms_threshold = 0.45f;
    prm.top_k = TOPK;
    static ssd_detection det[NC * TOPK];
    int n;
    nn_error err;
    ck_assert_int_eq(ssd_detect(&p, loc, conf, &prm, det, NC * TOPK, &n, &err), NN_OK);
    int at = 0, keep[N], n_keep;
    for (int c = 0; c < NC; c++) {
        if (c == prm.background_label) continue;
        ck_assert_int_eq(ssd_nms(p.boxes, conf + c, NC, N, prm.confidence_threshold,
                                 prm.nms_threshold, TOPK, keep, &n_keep, &err), NN_OK);
        ck_assert_int_gt(n_keep, 1);
        for (int k = 0; k < n_keep; k++, at++) {
            ck_assert_int_lt(at, n);
            ck_assert_int_eq(det[at].label, c);
            ck_assert(det[at].score == conf[keep[k] * NC + c]);
            ck_assert(det[at].x1 == p.boxes[4 * keep[k]] && det[at].y2 == p.boxes[4 * keep[k] + 3]);
        }
    }
    ck_assert_int_eq(at, n);
    ssd_priors_free(&p);
    free(loc), free(conf);
}
END_TEST

START_TEST(detect_vs_opencv) {
    tu_fixture *fx = tu_fixture_load("fixtures/ssd_opencv.nnfx");
    ck_assert_ptr_nonnull(fx);
    nn_error err;
    ssd_caffe_prior_params prm = ssd_caffe_prior_default();
    prm.n_min_sizes = prm.n_max_sizes = 2;
    prm.min_sizes[0] = 30, prm.min_sizes[1] = 80, prm.max_sizes[0] = 60, prm.max_sizes[1] = 150;
    prm.n_aspect_ratios = 2, prm.aspect_ratios[0] = 2, prm.aspect_ratios[1] = 0.5f;
    prm.clip = true;
    prm.n_variances = 1, prm.variances[0] = 0.1f;
    ssd_priors p;
    ssd_priors_init(&p);
    ck_assert_int_eq(ssd_priors_add_caffe(&p, &prm, 5, 7, 300, 300, &err), NN_OK);
    size_t n_loc, n_conf, n_ref;
    const float *loc = tu_fixture_data(fx, "loc", &n_loc), *conf = tu_fixture_data(fx, "conf", &n_conf);
    const float *ref = tu_fixture_data(fx, "detections", &n_ref);
    ck_assert_uint_eq(n_loc, 280 * 4);
    ck_assert_uint_eq(n_conf, 280 * 3);
    ssd_detect_params dp = ssd_detect_default(3);
    dp.nms_threshold = 0.45f, dp.top_k = 400, dp.keep_top_k = 50, dp.confidence_threshold = 0.3f;
    ssd_detection det[64];
    int n;
    ck_assert_msg(ssd_detect(&p, loc, conf, &dp, det, 64, &n, &err) == NN_OK, "%s", err.msg);
    ck_assert_int_eq(n, (int)(n_ref / 7));
    /* OpenCV rows: [image, label, score, x1, y1, x2, y2]; match each of ours */
    for (int i = 0; i < n; i++) {
        bool found = false;
        for (size_t r = 0; r < n_ref / 7 && !found; r++) {
            const float *row = ref + 7 * r;
            found = (int)row[1] == det[i].label && fabsf(row[2] - det[i].score) < 1e-6f &&
                    fabsf(row[3] - det[i].x1) < 1e-5f && fabsf(row[4] - det[i].y1) < 1e-5f &&
                    fabsf(row[5] - det[i].x2) < 1e-5f && fabsf(row[6] - det[i].y2) < 1e-5f;
        }
        ck_assert_msg(found, "detection %d (label %d score %f) not in OpenCV's output", i,
                      det[i].label, det[i].score);
    }
    ssd_priors_free(&p);
    tu_fixture_free(fx);
}
END_TEST

Suite *ssd_suite(void) {
    Suite *s = suite_create("ssd");
    TCase *tc = tcase_create("priors");
    tcase_add_test(tc, caffe_priors_res10_by_hand);
    tcase_add_test(tc, caffe_prior_param_errors);
    tcase_add_test(tc, caffe_priors_vs_opencv);
    tcase_add_test(tc, torchvision_default_boxes);
    tcase_add_test(tc, aizoo_anchors);
    tcase_add_test(tc, ultraface_priors);
    tcase_add_test(tc, priors_from_parsed_res10);
    suite_add_tcase(s, tc);
    tc = tcase_create("coding");
    tcase_add_test(tc, decode_by_hand);
    tcase_add_test(tc, encode_inverts_decode);
    tcase_add_test(tc, decode_vs_torchvision);
    tcase_add_test(tc, iou_by_hand);
    suite_add_tcase(s, tc);
    tc = tcase_create("nms");
    tcase_add_test(tc, nms_by_hand);
    tcase_add_test(tc, nms_ties);
    tcase_add_test(tc, nms_random_vs_naive);
    tcase_add_test(tc, nms_vs_torchvision);
    tcase_add_test(tc, detect_by_hand);
    tcase_add_test(tc, detect_box_voting_by_hand);
    tcase_add_test(tc, detect_many_classes_vs_per_class_nms);
    tcase_add_test(tc, detect_vs_opencv);
    suite_add_tcase(s, tc);
    return s;
}
