/* test_det_cmd.c - `maskdet train-detector` and `maskdet eval --detector-only`
 * run as programs on a tiny synthetic VOC set written by the test: files
 * appear, the log grows one row per epoch, a run stopped and resumed ends
 * with the same weights as one that ran straight through, and eval prints
 * the JSON fields. The maskdet binary sits next to run_tests. */
#include <check.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"
#include "dsfixture.h"
#include "image.h"
#include "nn.h"

/* Runs `maskdet ARGS` on one thread with stdout captured; returns the exit code. */
static int run(const char *args, const char *tmp, char **out_text) {
    (void)tmp;
    setenv("NN_THREADS", "1", 1); /* Check runs each test in its own process */
    return tu_run_maskdet(args, out_text, NULL);
}

#define TRAIN_ARGS                                                                              \
    "train-detector --data '%s/data' --out '%s/%s' --epochs 3 --batch 2 --size 64 "            \
    "--widths 4,8,8,8,8,8 --maps 2 --eval-every 1 --val-fraction 0.3 --warmup 2 --seed 3"

START_TEST(train_resume_and_eval) {
    char tmp[512], args[4096];
    dsf_make_tempdir(tmp, sizeof tmp);
    dsf_write_voc_photos(tmp);

    /* straight through, with an exported model */
    snprintf(args, sizeof args,
             TRAIN_ARGS " --export '%s/model.nnw' --input-scale 1.5 --threshold 0.625", tmp, tmp,
             "a", tmp);
    ck_assert_int_eq(run(args, tmp, NULL), 0);
    ck_assert(dsf_exists(tmp, "a/last.ckpt.nnw"));
    ck_assert(dsf_exists(tmp, "a/best.nnw"));
    ck_assert(dsf_exists(tmp, "a/log.csv"));
    ck_assert(dsf_exists(tmp, "a/curves.png"));
    ck_assert(dsf_exists(tmp, "model.nnw"));
    char path[1024];
    snprintf(path, sizeof path, "%s/a/log.csv", tmp);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    int lines = 0;
    for (int ch; (ch = fgetc(f)) != EOF;) lines += ch == '\n';
    fclose(f);
    ck_assert_int_eq(lines, 1 + 3);

    /* stopped after 2 epochs, then resumed: the same final weights */
    snprintf(args, sizeof args, TRAIN_ARGS " --stop-after 2", tmp, tmp, "b");
    ck_assert_int_eq(run(args, tmp, NULL), 0);
    snprintf(args, sizeof args, TRAIN_ARGS " --resume", tmp, tmp, "b");
    ck_assert_int_eq(run(args, tmp, NULL), 0);
    nn_weights *wa = NULL, *wb = NULL;
    nn_error err = {0};
    snprintf(path, sizeof path, "%s/a/last.ckpt.nnw", tmp);
    ck_assert_int_eq(nn_weights_load(path, &wa, &err), NN_OK);
    snprintf(path, sizeof path, "%s/b/last.ckpt.nnw", tmp);
    ck_assert_int_eq(nn_weights_load(path, &wb, &err), NN_OK);
    ck_assert_int_eq(nn_weights_count(wa), nn_weights_count(wb));
    for (int i = 0; i < nn_weights_count(wa); i++) {
        const nn_tensor *ta = nn_weights_tensor(wa, i);
        const nn_tensor *tb = nn_weights_find(wb, nn_weights_name(wa, i));
        ck_assert_ptr_nonnull(tb);
        ck_assert_msg(ta->numel == tb->numel &&
                          memcmp(ta->data, tb->data, ta->numel * sizeof(float)) == 0,
                      "%s differs after resume", nn_weights_name(wa, i));
    }
    const char *m = nn_weights_meta(wb, "config.match_iou");
    ck_assert_msg(m && strtod(m, NULL) == 0.5, "match_iou %s", m ? m : "(none)");

    /* a lower matching threshold is kept in the config and changes training */
    snprintf(args, sizeof args, TRAIN_ARGS " --match-iou 0.2", tmp, tmp, "c");
    ck_assert_int_eq(run(args, tmp, NULL), 0);
    nn_weights *wc = NULL;
    snprintf(path, sizeof path, "%s/c/last.ckpt.nnw", tmp);
    ck_assert_int_eq(nn_weights_load(path, &wc, &err), NN_OK);
    m = nn_weights_meta(wc, "config.match_iou");
    ck_assert_msg(m && fabs(strtod(m, NULL) - 0.2) < 1e-6, "match_iou %s", m ? m : "(none)");
    bool differs = false;
    for (int i = 0; i < nn_weights_count(wa) && !differs; i++) {
        const nn_tensor *ta = nn_weights_tensor(wa, i);
        const nn_tensor *tc = nn_weights_find(wc, nn_weights_name(wa, i));
        ck_assert_ptr_nonnull(tc);
        differs = memcmp(ta->data, tc->data, ta->numel * sizeof(float)) != 0;
    }
    ck_assert_msg(differs, "--match-iou 0.2 trained the same weights as 0.5");
    nn_weights_free(wc);
    /* the top-down path and the scale compensation: kept in the config (a
     * resume rebuilds the same network and gives the same weights) and in
     * the model file */
    snprintf(args, sizeof args, TRAIN_ARGS " --top-down 1 --match-min 4 --keep-aspect", tmp, tmp,
             "d");
    ck_assert_int_eq(run(args, tmp, NULL), 0);
    snprintf(args, sizeof args, TRAIN_ARGS " --top-down 1 --match-min 4 --keep-aspect --stop-after 1",
             tmp, tmp, "e");
    ck_assert_int_eq(run(args, tmp, NULL), 0);
    snprintf(args, sizeof args, TRAIN_ARGS " --resume", tmp, tmp, "e");
    ck_assert_int_eq(run(args, tmp, NULL), 0);
    nn_weights *wd = NULL, *we = NULL;
    snprintf(path, sizeof path, "%s/d/last.ckpt.nnw", tmp);
    ck_assert_int_eq(nn_weights_load(path, &wd, &err), NN_OK);
    snprintf(path, sizeof path, "%s/e/last.ckpt.nnw", tmp);
    ck_assert_int_eq(nn_weights_load(path, &we, &err), NN_OK);
    ck_assert_ptr_nonnull(nn_weights_find(wd, "lat0.weight"));
    ck_assert_int_eq(nn_weights_count(wd), nn_weights_count(we));
    for (int i = 0; i < nn_weights_count(wd); i++) {
        const nn_tensor *td = nn_weights_tensor(wd, i);
        const nn_tensor *te = nn_weights_find(we, nn_weights_name(wd, i));
        ck_assert_ptr_nonnull(te);
        ck_assert_msg(memcmp(td->data, te->data, td->numel * sizeof(float)) == 0,
                      "%s differs after resume", nn_weights_name(wd, i));
    }
    ck_assert_str_eq(nn_weights_meta(we, "config.top_down"), "1");
    ck_assert_str_eq(nn_weights_meta(we, "config.match_min"), "4");
    ck_assert_str_eq(nn_weights_meta(we, "config.keep_aspect"), "1");
    nn_weights_free(wd), nn_weights_free(we);
    snprintf(path, sizeof path, "%s/e/best.nnw", tmp);
    ck_assert_int_eq(nn_weights_load(path, &wd, &err), NN_OK);
    ck_assert_str_eq(nn_weights_meta(wd, "face_ssd.top_down"), "1");
    nn_weights_free(wd);
    /* the exported model carries the chosen default threshold */
    snprintf(path, sizeof path, "%s/model.nnw", tmp);
    ck_assert_int_eq(nn_weights_load(path, &wc, &err), NN_OK);
    m = nn_weights_meta(wc, "ssd.threshold");
    ck_assert_msg(m && strtod(m, NULL) == 0.625, "ssd.threshold %s", m ? m : "(none)");
    nn_weights_free(wc);
    nn_weights_free(wa);
    nn_weights_free(wb);

    /* eval on the exported model */
    char *out = NULL;
    snprintf(args, sizeof args,
             "eval --detector-only --detector '%s/model.nnw' --data '%s/data' --json --pr '%s/pr.png'",
             tmp, tmp, tmp);
    ck_assert_int_eq(run(args, tmp, &out), 0);
    cJSON *j = cJSON_Parse(out);
    ck_assert_msg(j != NULL, "not JSON: %s", out);
    ck_assert_int_eq(cJSON_GetObjectItem(j, "n_images")->valueint, 8);
    ck_assert_int_eq(cJSON_GetObjectItem(j, "n_faces")->valueint, 8);
    cJSON *ap = cJSON_GetObjectItem(j, "face_ap50");
    ck_assert(cJSON_IsNumber(ap) && ap->valuedouble >= 0 && ap->valuedouble <= 1);
    cJSON *by = cJSON_GetObjectItem(j, "face_ap50_by_size");
    ck_assert_ptr_nonnull(cJSON_GetObjectItem(by, "small"));
    ck_assert_ptr_nonnull(cJSON_GetObjectItem(by, "large"));
    ck_assert_ptr_nonnull(cJSON_GetObjectItem(j, "precision"));
    ck_assert_ptr_nonnull(cJSON_GetObjectItem(j, "recall"));
    ck_assert(dsf_exists(tmp, "pr.png"));
    ck_assert_double_eq_tol(cJSON_GetObjectItem(j, "input_scale")->valuedouble, 1.5, 1e-6);
    cJSON_Delete(j);
    free(out);
    dsf_remove_tree(tmp);
}
END_TEST

START_TEST(usage_errors) {
    char tmp[512];
    dsf_make_tempdir(tmp, sizeof tmp);
    ck_assert_int_eq(run("train-detector", tmp, NULL), 2);
    ck_assert_int_eq(run("train-detector --data x --epochs 0", tmp, NULL), 2);
    ck_assert_int_eq(run("train-detector --data x --match-iou 0", tmp, NULL), 2);
    ck_assert_int_eq(run("train-detector --data x --match-iou 1.5", tmp, NULL), 2);
    ck_assert_int_eq(run("train-detector --data x --threshold 2", tmp, NULL), 2);
    ck_assert_int_eq(run("train-detector --data x --top-down 9", tmp, NULL), 2);
    ck_assert_int_eq(run("train-detector --data x --match-min -1", tmp, NULL), 2);
    ck_assert_int_eq(run("train-detector --help", tmp, NULL), 0);
    ck_assert_int_eq(run("eval --detector-only", tmp, NULL), 2);
    ck_assert_int_eq(run("eval --data x", tmp, NULL), 1); /* the full pipeline: no such folder */
    ck_assert_int_eq(run("eval --help", tmp, NULL), 0);
    char args[2048];
    snprintf(args, sizeof args, "eval --detector-only --detector '%s/none.nnw' --data '%s'", tmp,
             tmp);
    ck_assert_int_eq(run(args, tmp, NULL), 1);
    dsf_remove_tree(tmp);
}
END_TEST

Suite *det_cmd_suite(void) {
    Suite *s = suite_create("det_cmd");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, train_resume_and_eval);
    tcase_add_test(tc, usage_errors);
    suite_add_tcase(s, tc);
    return s;
}
