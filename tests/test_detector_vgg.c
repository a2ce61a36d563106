/* test_detector_vgg.c - the detector API on arch "ssd_vgg16" against
 * torchvision's ssd300_vgg16 postprocess_detections (softmax, BoxCoder
 * weights 10,10,5,5 with dw/dh clamped at log(1000/16), boxes clipped, per
 * class score > 0.2 and top 400, batched NMS 0.45, keep 200) on the formula
 * weights of tests/fixtures/gen_ssd_vgg16.py. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "detector.h"
#include "ssd_vgg16.h"
#include "testutil.h"

START_TEST(vgg_matches_torchvision_postprocess) {
    tu_fixture *fx = tu_fixture_load("fixtures/ssd_vgg16.nnfx");
    ck_assert_ptr_nonnull(fx);
    nn_error err;
    ssd_vgg16 net;
    ck_assert_msg(ssd_vgg16_build(3, &net, &err) == NN_OK, "%s", err.msg);
    tu_ssd_formula_weights(net.model);
    nn_weights *w = nn_weights_create();
    ck_assert(nn_model_to_weights(net.model, w, NN_DTYPE_F32, &err) == NN_OK);
    ssd_vgg16_free(&net);
    static const char *const meta[][2] = {
        {"kind", "detector"},          {"arch", "ssd_vgg16"},      {"classes", "background,a,b"},
        {"input.width", "300"},        {"input.height", "300"},    {"input.channel_order", "rgb"},
        {"input.mean", "123,117,104"}, {"ssd.nms", "0.45"},        {"ssd.top_k", "400"},
        {"ssd.keep_top_k", "200"},     {"ssd.clip", "before_nms"}, {"ssd.threshold", "0.01"},
    };
    for (size_t i = 0; i < sizeof meta / sizeof meta[0]; i++)
        ck_assert(nn_weights_set_meta(w, meta[i][0], meta[i][1], &err) == NN_OK);
    detector *det;
    ck_assert_msg(detector_from_weights(w, &det, &err) == NN_OK, "%s", err.msg);

    nn_tensor *x = nn_tensor_new4(1, 3, 300, 300);
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < 300; y++)
            for (int xx = 0; xx < 300; xx++)
                x->data[(c * 300 + y) * 300 + xx] = (float)sin(0.05 * xx + 0.07 * y + c);
    detector_params p = detector_params_default();
    p.threshold = 0.2f;
    ssd_detection d[256];
    int n;
    ck_assert_msg(detector_detect_tensor(det, x, 300, 300, &p, d, 256, &n, &err) == NN_OK, "%s",
                  err.msg);

    size_t nref;
    if (getenv("VGG_DUMP"))
        for (int q = 0; q < n; q++)
            fprintf(stderr, "%d %.6f %.3f %.3f %.3f %.3f\n", d[q].label, d[q].score, d[q].x1,
                    d[q].y1, d[q].x2, d[q].y2);
    const float *boxes = tu_fixture_data(fx, "det_boxes", &nref);
    const float *scores = tu_fixture_data(fx, "det_scores", &nref);
    const float *labels = tu_fixture_data(fx, "det_labels", &nref);
    ck_assert_int_eq(n, (int)nref);
    /* The formula weights make a periodic pattern with many scores equal to
     * 1e-6, below the forward pass's float noise, so which of two such boxes
     * NMS keeps can differ, and the choice ripples along the pattern. For each
     * of the reference's best 50: either ours has it (label, box within
     * 0.05 px, score within 1e-4), or ours kept a box of the same label and
     * at least its score (less 1e-4) that overlaps it beyond the NMS IoU, as
     * NMS must have for dropping it. Most must match directly. */
    double max_box = 0, max_score = 0;
    int direct = 0;
    for (int j = 0; j < 50; j++) {
        const float *rb = boxes + j * 4;
        bool found = false, tie = false;
        for (int q = 0; q < n && !found; q++) {
            if (d[q].label != (int)labels[j] || d[q].score < scores[j] - 1e-4) continue;
            double e = fmax(fmax(fabs(d[q].x1 - rb[0]), fabs(d[q].y1 - rb[1])),
                            fmax(fabs(d[q].x2 - rb[2]), fabs(d[q].y2 - rb[3])));
            float qb[4] = {d[q].x1, d[q].y1, d[q].x2, d[q].y2};
            if (e <= 0.05 && fabs(d[q].score - scores[j]) <= 1e-4) {
                found = true;
                max_box = fmax(max_box, e),
                max_score = fmax(max_score, fabs(d[q].score - scores[j]));
            } else if (ssd_iou(qb, rb) > 0.45f) {
                tie = true;
            }
        }
        ck_assert_msg(found || tie, "reference detection %d (score %g) not found", j, scores[j]);
        direct += found;
    }
    ck_assert_int_ge(direct, 35);
    fprintf(stderr,
            "test_detector_vgg: %d of the top 50 match directly (the rest are ties); max box diff "
            "%.4f px, "
            "max score diff %.2e\n",
            direct, max_box, max_score);
    nn_tensor_free(x);
    detector_free(det);
    tu_fixture_free(fx);
}
END_TEST

Suite *detector_vgg_suite(void) {
    Suite *s = suite_create("detector_vgg");
    TCase *tc = tcase_create("torchvision");
    tcase_set_timeout(tc, 1200);
    tcase_add_test(tc, vgg_matches_torchvision_postprocess);
    suite_add_tcase(s, tc);
    return s;
}
