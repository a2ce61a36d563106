/* test_detector_face_ssd.c - our face SSD model files run through the generic
 * detector API (what `maskdet detect` uses) exactly as face_ssd_detect runs them. */
#include <string.h>

#include "detector.h"
#include "face_ssd.h"
#include "image.h"
#include "testutil.h"

START_TEST(detector_api_runs_face_ssd) {
    face_ssd f;
    nn_error err;
    face_ssd_spec spec = face_ssd_default_spec();
    ck_assert_msg(face_ssd_build(&spec, 2, NULL, &f, &err) == NN_OK, "%s", err.msg);
    nn_model_init(f.model, 3);
    /* biases that make some priors score above threshold */
    for (int i = 0; i < nn_model_param_count(f.model); i++) {
        nn_param p = nn_model_param(f.model, i);
        if (strstr(p.name, "conf") && strstr(p.name, ".bias")) tu_fill_uniform(p.tensor, -1, 3, 5);
    }
    nn_weights *w = nn_weights_create();
    ck_assert_msg(face_ssd_to_weights(&f, w, NN_DTYPE_F32, &err) == NN_OK, "%s", err.msg);

    image img = {0};
    ck_assert_int_eq(image_alloc(&img, 97, 75, 3, &err), NN_OK);
    for (size_t i = 0; i < (size_t)97 * 75 * 3; i++) img.pixels[i] = (uint8_t)(i * 37 % 251);

    face_ssd direct;
    ck_assert_msg(face_ssd_from_weights(w, &direct, &err) == NN_OK, "%s", err.msg);
    ssd_detection a[64], b[64];
    int na = 0, nb = 0;
    ck_assert_int_eq(face_ssd_detect(&direct, &img, 0.3f, -1.0f, a, 64, &na, &err), NN_OK);

    detector *det;
    ck_assert_msg(detector_from_weights(w, &det, &err) == NN_OK, "%s", err.msg); /* owns w */
    detector_params prm = detector_params_default();
    prm.threshold = 0.3f;
    ck_assert_msg(detector_detect(det, &img, &prm, b, 64, &nb, &err) == NN_OK, "%s", err.msg);
    ck_assert_int_gt(na, 0);
    ck_assert_int_eq(na, nb);
    for (int i = 0; i < na; i++) {
        ck_assert_int_eq(a[i].label, b[i].label);
        ck_assert_float_eq_tol(a[i].score, b[i].score, 1e-6);
        ck_assert_float_eq_tol(a[i].x1, b[i].x1, 1e-3);
        ck_assert_float_eq_tol(a[i].y2, b[i].y2, 1e-3);
    }
    ck_assert_str_eq(detector_class_name(det, 1), "face");
    /* a tensor input is refused with a clear error, not run */
    nn_tensor *t = nn_tensor_new4(1, 3, 8, 8);
    ck_assert_int_eq(detector_detect_tensor(det, t, 8, 8, &prm, b, 64, &nb, &err), NN_ERR_ARG);
    nn_tensor_free(t);

    detector_free(det);
    face_ssd_free(&direct);
    face_ssd_free(&f);
    image_free(&img);
}
END_TEST

Suite *detector_face_ssd_suite(void) {
    Suite *s = suite_create("detector_face_ssd");
    TCase *tc = tcase_create("api");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, detector_api_runs_face_ssd);
    suite_add_tcase(s, tc);
    return s;
}
