/*
 * test_cmd_data.c - `maskdet data stats|crop` run as a program: the JSON it
 * prints, the files crop writes, exit codes and error messages.
 * The maskdet binary sits next to run_tests (same build folder).
 */
#include <check.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "dsfixture.h"
#include "image.h"

/* Runs `maskdet ARGS`, capturing stdout and stderr; returns the exit code. */
static int run(const char *args, const char *tmp, char **out_text, char **err_text) {
    (void)tmp;
    return tu_run_maskdet(args, out_text, err_text);
}

static void write_voc_set(const char *root) {
    image img = {0};
    nn_error err = {0};
    ck_assert_int_eq(image_alloc(&img, 60, 40, 3, &err), NN_OK);
    memset(img.pixels, 90, 60 * 40 * 3);
    char path[1024];
    dsf_write_text(root, "data/images/p.jpg", "");
    snprintf(path, sizeof path, "%s/data/images/p.jpg", root);
    ck_assert_int_eq(image_save(&img, path, 90, &err), NN_OK);
    image_free(&img);
    dsf_write_text(root, "data/annotations/p.xml",
                   "<annotation><filename>p.png</filename>\n"
                   "<size><width>60</width><height>40</height></size>\n"
                   "<object><name>with_mask</name><bndbox><xmin>1</xmin><ymin>1</ymin>"
                   "<xmax>21</xmax><ymax>21</ymax></bndbox></object>\n"
                   "<object><name>mask_weared_incorrect</name><bndbox><xmin>30</xmin><ymin>5</ymin>"
                   "<xmax>40</xmax><ymax>15</ymax></bndbox></object>\n"
                   "</annotation>\n");
}

START_TEST(stats_json_and_crop) {
    char tmp[512], args[2048];
    dsf_make_tempdir(tmp, sizeof tmp);
    write_voc_set(tmp);
    char *out, *err;
    snprintf(args, sizeof args, "data stats '%s/data' --json", tmp);
    ck_assert_int_eq(run(args, tmp, &out, &err), 0);
    cJSON *o = cJSON_Parse(out);
    ck_assert_msg(o != NULL, "not JSON: %s", out);
    ck_assert_int_eq(cJSON_GetObjectItem(o, "n_images")->valueint, 1);
    ck_assert_int_eq(cJSON_GetObjectItem(o, "n_faces")->valueint, 2);
    cJSON *classes = cJSON_GetObjectItem(o, "classes");
    ck_assert_int_eq(cJSON_GetObjectItem(classes, "with_mask")->valueint, 1);
    ck_assert_int_eq(cJSON_GetObjectItem(classes, "mask_weared_incorrect")->valueint, 1);
    ck_assert_int_eq(cJSON_GetObjectItem(classes, "mask")->valueint, 1);
    ck_assert_int_eq(cJSON_GetObjectItem(classes, "no_mask")->valueint, 1);
    cJSON *sizes = cJSON_GetObjectItem(o, "size_histogram");
    ck_assert_int_eq(cJSON_GetObjectItem(sizes, "<16")->valueint, 1);
    ck_assert_int_eq(cJSON_GetObjectItem(sizes, "16-32")->valueint, 1);
    cJSON_Delete(o);
    free(out);
    free(err);

    /* The chart: a 1440 x 800 PNG with something drawn on it. */
    snprintf(args, sizeof args, "data stats '%s/data' --chart '%s/chart.png'", tmp, tmp);
    ck_assert_int_eq(run(args, tmp, &out, &err), 0);
    free(out);
    free(err);
    {
        char chart[1024];
        snprintf(chart, sizeof chart, "%s/chart.png", tmp);
        image png = {0};
        nn_error e = {0};
        ck_assert_msg(image_load(chart, 3, &png, &e) == NN_OK, "%s", e.msg);
        ck_assert_int_eq(png.width, 1440);
        ck_assert_int_eq(png.height, 800);
        size_t dark = 0;
        for (size_t i = 0; i < (size_t)png.width * png.height * 3; i++)
            dark += png.pixels[i] < 128;
        ck_assert_uint_gt(dark, 1000);
        image_free(&png);
    }
    snprintf(args, sizeof args, "data stats '%s/data' --chart /nonexistent/dir/c.png", tmp);
    ck_assert_int_eq(run(args, tmp, &out, &err), 1);
    ck_assert_msg(strstr(err, "/nonexistent/dir/c.png") != NULL, "%s", err);
    free(out);
    free(err);

    snprintf(args, sizeof args, "data stats '%s/data' --incorrect-class", tmp);
    ck_assert_int_eq(run(args, tmp, &out, &err), 0);
    ck_assert_ptr_nonnull(strstr(out, "mask_incorrect"));
    free(out);
    free(err);

    snprintf(args, sizeof args, "data crop '%s/data' -o '%s/crops' --margin 0 --min-size 12", tmp,
             tmp);
    ck_assert_int_eq(run(args, tmp, &out, &err), 0);
    ck_assert_msg(strstr(out, "wrote 1 face crops") != NULL, "%s", out);
    char rel[64];
    snprintf(rel, sizeof rel, "crops/mask/p_0.jpg");
    ck_assert(dsf_exists(tmp, rel));
    ck_assert(!dsf_exists(tmp, "crops/no_mask/p_1.jpg"));
    char path[1024];
    snprintf(path, sizeof path, "%s/crops/mask/p_0.jpg", tmp);
    image img = {0};
    nn_error e = {0};
    ck_assert_int_eq(image_load(path, 3, &img, &e), NN_OK);
    ck_assert_int_eq(img.width, 20);
    ck_assert_int_eq(img.height, 20);
    image_free(&img);
    free(out);
    free(err);
    dsf_remove_tree(tmp);
}
END_TEST

START_TEST(usage_and_errors) {
    char tmp[512], args[2048];
    dsf_make_tempdir(tmp, sizeof tmp);
    char *out, *err;
    ck_assert_int_eq(run("data --help", tmp, &out, &err), 0);
    ck_assert_ptr_nonnull(strstr(out, "maskdet data stats"));
    free(out);
    free(err);
    ck_assert_int_eq(run("data stats", tmp, &out, &err), 2);
    ck_assert_ptr_nonnull(strstr(err, "missing PATH"));
    free(out);
    free(err);
    ck_assert_int_eq(run("data stats . --bogus", tmp, &out, &err), 2);
    ck_assert_ptr_nonnull(strstr(err, "--bogus"));
    free(out);
    free(err);
    ck_assert_int_eq(run("data crop .", tmp, &out, &err), 2);
    ck_assert_ptr_nonnull(strstr(err, "-o OUTDIR"));
    free(out);
    free(err);
    ck_assert_int_eq(run("data stats . --format yolo", tmp, &out, &err), 2);
    free(out);
    free(err);

    /* A malformed XML: stop with file and line, or skip with --skip-bad. */
    write_voc_set(tmp);
    dsf_write_jpeg_header(tmp, "data/images/q.jpg", 10, 10);
    dsf_write_text(tmp, "data/annotations/q.xml", "<annotation>\n<size>\n</annotation>\n");
    snprintf(args, sizeof args, "data stats '%s/data'", tmp);
    ck_assert_int_eq(run(args, tmp, &out, &err), 1);
    ck_assert_msg(strstr(err, "q.xml:3:") != NULL, "%s", err);
    free(out);
    free(err);
    snprintf(args, sizeof args, "data stats '%s/data' --skip-bad --json", tmp);
    ck_assert_int_eq(run(args, tmp, &out, &err), 0);
    ck_assert_msg(strstr(err, "q.xml:3:") != NULL, "%s", err);
    ck_assert_ptr_nonnull(strstr(out, "\"n_images\":1"));
    free(out);
    free(err);
    dsf_remove_tree(tmp);
}
END_TEST

Suite *cmd_data_suite(void) {
    Suite *s = suite_create("cmd_data");
    TCase *tc = tcase_create("cli");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, stats_json_and_crop);
    tcase_add_test(tc, usage_and_errors);
    suite_add_tcase(s, tc);
    return s;
}
