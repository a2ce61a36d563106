/* test_pipeline.c - the whole maskdet detect pipeline (bundled face detector,
 * then the bundled classifier on each face) on the shared sample photos:
 * demo2.jpg shows one masked face, sample1.jpg three unmasked ones. Skips
 * when ../shared is absent. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* Runs detect --json on one sample and returns the parsed object. */
static cJSON *detect_json(const char *shared, const char *sample, const char *extra) {
    char args[4096], *out = NULL;
    snprintf(args, sizeof args, "detect --json %s '%s/samples/%s'", extra, shared, sample);
    int rc = tu_run_maskdet(args, &out, NULL);
    ck_assert_msg(rc == 0, "maskdet %s exited %d", args, rc);
    cJSON *o = cJSON_Parse(out);
    ck_assert_msg(o != NULL, "not JSON: %s", out);
    free(out);
    return o;
}

/* Counts detections whose label is `label`. */
static int count_label(const cJSON *o, const char *label, int *total) {
    const cJSON *dets = cJSON_GetObjectItem(o, "detections"), *d;
    int n = 0;
    *total = cJSON_GetArraySize(dets);
    cJSON_ArrayForEach(d, dets) {
        const cJSON *l = cJSON_GetObjectItem(d, "label");
        ck_assert(cJSON_IsString(l));
        ck_assert_ptr_nonnull(cJSON_GetObjectItem(d, "face_score"));
        n += !strcmp(l->valuestring, label);
    }
    return n;
}

START_TEST(masked_and_unmasked_faces) {
    const char *shared = tu_shared_dir();
    if (!shared) {
        fprintf(stderr, "test_pipeline: ../shared not found; skipping\n");
        return;
    }
    int total;
    cJSON *o = detect_json(shared, "demo2.jpg", "");
    ck_assert_int_eq(count_label(o, "mask", &total), 1);
    ck_assert_int_eq(total, 1);
    ck_assert_ptr_nonnull(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "time_ms"), "classify"));
    cJSON_Delete(o);

    o = detect_json(shared, "sample1.jpg", "");
    ck_assert_int_eq(count_label(o, "no_mask", &total), 3);
    ck_assert_int_eq(total, 3);
    cJSON_Delete(o);

    /* --detector-only reports faces, unclassified */
    o = detect_json(shared, "sample1.jpg", "--detector-only");
    ck_assert_int_eq(count_label(o, "face", &total), 3);
    cJSON_Delete(o);
}
END_TEST

Suite *pipeline_suite(void) {
    Suite *s = suite_create("pipeline");
    TCase *tc = tcase_create("shared samples");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, masked_and_unmasked_faces);
    suite_add_tcase(s, tc);
    return s;
}
