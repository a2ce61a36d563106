/*
 * test_detector_cli.c - `maskdet import-caffe` and `maskdet detect` run as
 * programs: the converted file runs with no options, --json prints one object
 * per image matching the library's detections, -o writes annotated images,
 * and usage / model errors give exit codes 2 / 1 with a message.
 * The maskdet binary sits next to run_tests (same build folder).
 */
#include <check.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "detector.h"
#include "testutil.h"

/* Runs `maskdet ARGS`; stdout and stderr into malloc'ed strings; returns the exit code. */
static int run(const char *args, char **out_text, char **err_text) {
    return tu_run_maskdet(args, out_text, err_text);
}

START_TEST(import_then_detect) {
    const char *shared = tu_shared_dir();
    if (!shared) {
        fprintf(stderr, "test_detector_cli: shared data not found; skipping\n");
        return;
    }
    char dir[] = "/tmp/test_detector_cli_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char args[8192], *out, *err;
    snprintf(args, sizeof args,
             "import-caffe '%s/models/aizoo_face_mask_ssd/face_mask_detection.prototxt' "
             "'%s/models/aizoo_face_mask_ssd/face_mask_detection.caffemodel' -o '%s/aizoo.nnw' "
             "--name mine",
             shared, shared, dir);
    ck_assert_msg(run(args, &out, &err) == 0, "%s", err);
    free(out), free(err);
    /* detect --json: one object per image, as the library finds */
    snprintf(args, sizeof args,
             "detect --detector '%s/aizoo.nnw' --json -o '%s/annotated' '%s/samples/demo2.jpg'",
             dir, dir, shared);
    ck_assert_msg(run(args, &out, &err) == 0, "%s", err);
    cJSON *j = cJSON_Parse(out);
    ck_assert_msg(j != NULL, "%s", out);
    ck_assert_int_eq(cJSON_GetObjectItem(j, "width")->valueint, 464);
    cJSON *dets = cJSON_GetObjectItem(j, "detections");
    ck_assert_int_eq(cJSON_GetArraySize(dets), 1);
    cJSON *d0 = cJSON_GetArrayItem(dets, 0);
    ck_assert_str_eq(cJSON_GetObjectItem(d0, "label")->valuestring, "mask");
    ck_assert_ptr_nonnull(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "time_ms"), "forward"));

    char path[4096];
    snprintf(path, sizeof path, "%s/aizoo.nnw", dir);
    detector *det;
    nn_error e;
    ck_assert_msg(detector_load(path, &det, &e) == NN_OK, "%s", e.msg);
    ck_assert_str_eq(detector_meta(det, "name"), "mine");
    snprintf(path, sizeof path, "%s/samples/demo2.jpg", shared);
    image img;
    ck_assert(image_load(path, 3, &img, &e) == NN_OK);
    ssd_detection found[16];
    int n;
    ck_assert(detector_detect(det, &img, NULL, found, 16, &n, &e) == NN_OK);
    ck_assert_int_eq(n, 1);
    cJSON *box = cJSON_GetObjectItem(d0, "box");
    ck_assert(fabs(cJSON_GetArrayItem(box, 0)->valuedouble - found[0].x1) < 1e-3);
    ck_assert(fabs(cJSON_GetArrayItem(box, 3)->valuedouble - found[0].y2) < 1e-3);
    ck_assert(fabs(cJSON_GetObjectItem(d0, "score")->valuedouble - found[0].score) < 1e-6);
    image_free(&img);
    detector_free(det);
    cJSON_Delete(j);
    free(out), free(err);
    snprintf(path, sizeof path, "%s/annotated/demo2.jpg", dir);
    ck_assert_int_eq(access(path, R_OK), 0);

    /* errors: usage (2), a missing model and a missing image (1) */
    ck_assert_int_eq(run("detect", &out, &err), 2);
    free(out), free(err);
    ck_assert_int_eq(run("detect --help", &out, &err), 0);
    ck_assert_ptr_nonnull(strstr(out, "--detector"));
    free(out), free(err);
    snprintf(args, sizeof args, "detect --detector '%s/none.nnw' x.jpg", dir);
    ck_assert_int_eq(run(args, &out, &err), 1);
    ck_assert_ptr_nonnull(strstr(err, "none.nnw"));
    free(out), free(err);
    snprintf(args, sizeof args, "detect --detector '%s/aizoo.nnw' '%s/missing.jpg'", dir, dir);
    ck_assert_int_eq(run(args, &out, &err), 1);
    ck_assert_ptr_nonnull(strstr(err, "missing.jpg"));
    free(out), free(err);
    ck_assert_int_eq(run("import-caffe a.prototxt", &out, &err), 2);
    free(out), free(err);
    snprintf(args, sizeof args, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(args), 0);
}
END_TEST

Suite *detector_cli_suite(void) {
    Suite *s = suite_create("detector_cli");
    TCase *tc = tcase_create("commands");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, import_then_detect);
    suite_add_tcase(s, tc);
    return s;
}
