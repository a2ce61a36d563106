/*
 * test_cls_cmd.c - `maskdet train-classifier`, `eval-classifier` and
 * `classify` run as programs on tiny data sets the test writes: class
 * folders of synthetic faces (masked faces have a bright lower half) and a
 * small VOC photo set. Checks exit codes, output files, JSON fields, that a
 * resumed run ends with the same weights as an uninterrupted one, and
 * (with ../shared present) the shipped model's accuracy on real data.
 */
#include <check.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "classifier_run.h"
#include "det_metrics.h"
#include "dsfixture.h"
#include "image.h"
#include "testutil.h"

/* Runs `maskdet ARGS`, capturing stdout and stderr; returns the exit code. */
static int run(const char *args, const char *tmp, char **out_text, char **err_text) {
    (void)tmp;
    return tu_run_maskdet(args, out_text, err_text);
}

/* Runs and frees the captured text, returning the exit code. */
static int run_quiet(const char *args, const char *tmp) {
    char *out, *err;
    int rc = run(args, tmp, &out, &err);
    if (rc != 0) fprintf(stderr, "maskdet %s -> %d\n%s", args, rc, err);
    free(out);
    free(err);
    return rc;
}

/* root/photos: 2 photos, each with a masked face (20 px) and a bare one (40 px). */
static void write_photos(const char *root) {
    for (int p = 0; p < 2; p++) {
        image img = {0};
        nn_error err = {0};
        ck_assert_int_eq(image_alloc(&img, 96, 64, 3, &err), NN_OK);
        memset(img.pixels, 90, 96 * 64 * 3);
        for (int y = 20; y < 30; y++) /* lower half of face 1 is bright */
            for (int x = 5; x < 25; x++)
                memset(img.pixels + (y * 96 + x) * 3, 230, 3);
        char rel[128], path[1024];
        snprintf(rel, sizeof rel, "photos/images/p%d.jpg", p);
        dsf_write_text(root, rel, "");
        snprintf(path, sizeof path, "%s/%s", root, rel);
        ck_assert_int_eq(image_save(&img, path, 95, &err), NN_OK);
        image_free(&img);
        char xml[1024];
        snprintf(xml, sizeof xml,
                 "<annotation><filename>p%d.png</filename>\n"
                 "<size><width>96</width><height>64</height></size>\n"
                 "<object><name>with_mask</name><bndbox><xmin>5</xmin><ymin>10</ymin>"
                 "<xmax>25</xmax><ymax>30</ymax></bndbox></object>\n"
                 "<object><name>without_mask</name><bndbox><xmin>50</xmin><ymin>10</ymin>"
                 "<xmax>90</xmax><ymax>50</ymax></bndbox></object>\n"
                 "</annotation>\n",
                 p);
        snprintf(rel, sizeof rel, "photos/annotations/p%d.xml", p);
        dsf_write_text(root, rel, xml);
    }
}

static const char *TINY = "--input-size 8 --batch 4 --threads 1 --cache-mb 1 --min-face 0";

START_TEST(train_eval_classify) {
    char tmp[512], args[4096];
    dsf_make_tempdir(tmp, sizeof tmp);
    dsf_write_face_folders(tmp, 8);
    write_photos(tmp);
    char *out, *err;
    snprintf(args, sizeof args,
             "train-classifier '%s/faces' '%s/photos' -o '%s/m.nnw' --epochs 2 %s "
             "--val-split 0.25 --log '%s/log.csv' --plot '%s/curves.png'",
             tmp, tmp, tmp, TINY, tmp, tmp);
    ck_assert_int_eq(run(args, tmp, &out, &err), 0);
    ck_assert_msg(strstr(err, "epoch 2/2") != NULL, "%s", err);
    free(out);
    free(err);
    ck_assert(dsf_exists(tmp, "m.nnw"));
    ck_assert(dsf_exists(tmp, "m.ckpt.nnw"));
    ck_assert(dsf_exists(tmp, "curves.png"));
    /* the log: a header and two rows */
    char path[1024];
    snprintf(path, sizeof path, "%s/log.csv", tmp);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    char line[512];
    int lines = 0;
    while (fgets(line, sizeof line, f))
        lines++;
    fclose(f);
    ck_assert_int_eq(lines, 3);

    /* the model file says how to run it */
    nn_weights *w;
    nn_error e = {0};
    snprintf(path, sizeof path, "%s/m.nnw", tmp);
    ck_assert_int_eq(nn_weights_load(path, &w, &e), NN_OK);
    ck_assert_str_eq(nn_weights_meta(w, "kind"), "classifier");
    ck_assert_str_eq(nn_weights_meta(w, "arch"), "compact");
    ck_assert_str_eq(nn_weights_meta(w, "classes"), "mask,no_mask");
    ck_assert_str_eq(nn_weights_meta(w, "input.width"), "8");
    ck_assert_str_eq(nn_weights_meta(w, "crop.margin"), "0.1");
    ck_assert_ptr_nonnull(nn_weights_meta(w, "train.val_accuracy"));
    nn_weights_free(w);

    /* eval on the folders: JSON fields, pictures */
    snprintf(args, sizeof args,
             "eval-classifier --model '%s/m.nnw' --data '%s/faces' --json --confusion "
             "'%s/conf.png' --errors '%s/errors.png' --threads 1",
             tmp, tmp, tmp, tmp);
    ck_assert_int_eq(run(args, tmp, &out, &err), 0);
    cJSON *o = cJSON_Parse(out);
    ck_assert_msg(o != NULL, "not JSON: %s", out);
    ck_assert_int_eq(cJSON_GetObjectItem(o, "n")->valueint, 16);
    double acc = cJSON_GetObjectItem(o, "accuracy")->valuedouble;
    ck_assert(acc >= 0 && acc <= 1);
    ck_assert_ptr_nonnull(cJSON_GetObjectItem(o, "balanced_accuracy"));
    cJSON *per = cJSON_GetObjectItem(o, "per_class");
    ck_assert_ptr_nonnull(cJSON_GetObjectItem(cJSON_GetObjectItem(per, "mask"), "f1"));
    ck_assert_int_eq(
        cJSON_GetObjectItem(cJSON_GetObjectItem(per, "no_mask"), "support")->valueint, 8);
    cJSON *conf = cJSON_GetObjectItem(o, "confusion");
    ck_assert_int_eq(cJSON_GetArraySize(conf), 2);
    /* the matrix adds up, and its diagonal is the accuracy */
    double total = 0, diag = 0;
    for (int t = 0; t < 2; t++)
        for (int p = 0; p < 2; p++) {
            double v = cJSON_GetArrayItem(cJSON_GetArrayItem(conf, t), p)->valuedouble;
            total += v;
            if (t == p) diag += v;
        }
    ck_assert(total == 16);
    ck_assert(fabs(diag / total - acc) < 1e-9);
    ck_assert_ptr_null(cJSON_GetObjectItem(o, "by_face_size")); /* folders: no sizes */
    cJSON_Delete(o);
    free(out);
    free(err);
    ck_assert(dsf_exists(tmp, "conf.png"));
    ck_assert(dsf_exists(tmp, "errors.png"));

    /* eval on photos: accuracy by face size, then only the held-out photos */
    snprintf(args, sizeof args, "eval-classifier --model '%s/m.nnw' --data '%s/photos' --json",
             tmp, tmp);
    ck_assert_int_eq(run(args, tmp, &out, &err), 0);
    o = cJSON_Parse(out);
    ck_assert_msg(o != NULL, "not JSON: %s", out);
    ck_assert_int_eq(cJSON_GetObjectItem(o, "n")->valueint, 4);
    cJSON *sizes = cJSON_GetObjectItem(o, "by_face_size");
    ck_assert_int_eq(cJSON_GetArraySize(sizes), 4);
    ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(sizes, 1), "range_px")->valuestring,
                     "16-32");
    ck_assert_int_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(sizes, 1), "n")->valueint, 2);
    ck_assert_int_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(sizes, 2), "n")->valueint, 2);
    cJSON_Delete(o);
    free(out);
    free(err);
    snprintf(args, sizeof args,
             "eval-classifier --model '%s/m.nnw' --data '%s/photos' --json --held-out", tmp, tmp);
    ck_assert_int_eq(run(args, tmp, &out, &err), 0);
    o = cJSON_Parse(out);
    ck_assert_msg(o != NULL, "not JSON: %s", out);
    /* the photos held out are those the hash of their name picks (2 faces each) */
    int held = det_split_is_val("p0", 1, 0.25f) + det_split_is_val("p1", 1, 0.25f);
    ck_assert_int_eq(cJSON_GetObjectItem(o, "n")->valueint, 2 * held);
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(o, "held_out")));
    cJSON_Delete(o);
    free(out);
    free(err);
    /* text output */
    snprintf(args, sizeof args, "eval-classifier --model '%s/m.nnw' --data '%s/photos'", tmp, tmp);
    ck_assert_int_eq(run(args, tmp, &out, &err), 0);
    ck_assert_msg(strstr(out, "balanced accuracy") && strstr(out, "by face size"), "%s", out);
    free(out);
    free(err);

    /* classify: one result per image; a missing one is reported, exit 1 */
    snprintf(args, sizeof args,
             "classify --model '%s/m.nnw' --json '%s/faces/with_mask/00.png' "
             "'%s/faces/without_mask/01.png'",
             tmp, tmp, tmp);
    ck_assert_int_eq(run(args, tmp, &out, &err), 0);
    o = cJSON_Parse(out);
    ck_assert_msg(o != NULL, "not JSON: %s", out);
    cJSON *results = cJSON_GetObjectItem(o, "results");
    ck_assert_int_eq(cJSON_GetArraySize(results), 2);
    for (int i = 0; i < 2; i++) {
        cJSON *r = cJSON_GetArrayItem(results, i);
        const char *cls = cJSON_GetObjectItem(r, "class")->valuestring;
        ck_assert(!strcmp(cls, "mask") || !strcmp(cls, "no_mask"));
        cJSON *probs = cJSON_GetObjectItem(r, "probabilities");
        double s = cJSON_GetObjectItem(probs, "mask")->valuedouble +
                   cJSON_GetObjectItem(probs, "no_mask")->valuedouble;
        ck_assert(fabs(s - 1) < 1e-5);
    }
    cJSON_Delete(o);
    free(out);
    free(err);
    snprintf(args, sizeof args, "classify --model '%s/m.nnw' '%s/nothere.png' '%s/faces/with_mask/00.png'",
             tmp, tmp, tmp);
    ck_assert_int_eq(run(args, tmp, &out, &err), 1);
    ck_assert_msg(strstr(err, "nothere.png") && strstr(out, "00.png:"), "%s / %s", out, err);
    free(out);
    free(err);
    dsf_remove_tree(tmp);
}
END_TEST

/* Same weights from 2 epochs straight and from 1 epoch + --resume to 2. */
START_TEST(resume_matches) {
    char tmp[512], args[4096];
    dsf_make_tempdir(tmp, sizeof tmp);
    dsf_write_face_folders(tmp, 6);
    snprintf(args, sizeof args, "train-classifier '%s/faces' -o '%s/a.nnw' --epochs 2 %s --seed 3",
             tmp, tmp, TINY);
    ck_assert_int_eq(run_quiet(args, tmp), 0);
    /* the "interrupted" run: stops after epoch 1 of the same 2-epoch schedule */
    snprintf(args, sizeof args,
             "train-classifier '%s/faces' -o '%s/b.nnw' --epochs 2 %s --seed 3 --stop-after 1",
             tmp, tmp, TINY);
    ck_assert_int_eq(run_quiet(args, tmp), 0);
    snprintf(args, sizeof args, "train-classifier --resume '%s/b.ckpt.nnw'", tmp);
    char *out, *err;
    ck_assert_int_eq(run(args, tmp, &out, &err), 0);
    ck_assert_msg(strstr(err, "resuming") && strstr(err, "epoch 2/2"), "%s", err);
    ck_assert_msg(!strstr(err, "epoch 1/2"), "%s", err);
    free(out);
    free(err);
    nn_weights *a, *b;
    nn_error e = {0};
    char path[1024];
    snprintf(path, sizeof path, "%s/a.ckpt.nnw", tmp);
    ck_assert_int_eq(nn_weights_load(path, &a, &e), NN_OK);
    snprintf(path, sizeof path, "%s/b.ckpt.nnw", tmp);
    ck_assert_int_eq(nn_weights_load(path, &b, &e), NN_OK);
    ck_assert_int_eq(nn_weights_count(a), nn_weights_count(b));
    ck_assert_str_eq(nn_weights_meta(b, "train.epoch"), "2");
    for (int i = 0; i < nn_weights_count(a); i++) {
        const nn_tensor *ta = nn_weights_tensor(a, i);
        const nn_tensor *tb = nn_weights_find(b, nn_weights_name(a, i));
        ck_assert_ptr_nonnull(tb);
        ck_assert_msg(!memcmp(ta->data, tb->data, ta->numel * sizeof(float)), "%s differs",
                      nn_weights_name(a, i));
    }
    ck_assert_str_eq(nn_weights_meta(a, "train.history"), nn_weights_meta(b, "train.history"));
    nn_weights_free(a);
    nn_weights_free(b);
    dsf_remove_tree(tmp);
}
END_TEST

/* --negatives: detections on no labelled face become a third class,
 * background; a detection on a face, or on a photo of another set, is not
 * one; a malformed file is an error naming its line. */
START_TEST(train_with_negatives) {
    char tmp[512], args[4096], path[1024];
    dsf_make_tempdir(tmp, sizeof tmp);
    write_photos(tmp); /* faces at (5,10)-(25,30) and (50,10)-(90,50) */
    dsf_write_text(tmp, "neg.jsonl",
                   "{\"image\":\"x/images/p0.jpg\",\"detections\":["
                   "{\"box\":[60,52,90,63],\"face_score\":0.4},"
                   "{\"box\":[6,11,25,30],\"face_score\":0.9},"   /* a face: not a negative */
                   "{\"box\":[30,35,45,60],\"face_score\":0.3}]}\n"
                   "\n"
                   "{\"image\":\"p1.png\",\"detections\":[{\"box\":[30,35,45,60]}]}\n"
                   "{\"image\":\"q9.jpg\",\"detections\":[{\"box\":[0,0,10,10]}]}\n");
    char *out, *err;
    snprintf(args, sizeof args,
             "train-classifier '%s/photos' --negatives '%s/neg.jsonl' -o '%s/m.nnw' --epochs 1 "
             "%s --val-split 0.25 --seed 4", /* seed 4: p0 trains, p1 is held out */
             tmp, tmp, tmp, TINY);
    int rc = run(args, tmp, &out, &err);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, err);
    ck_assert_msg(strstr(err, "4 faces (voc), 3 negatives"), "%s", err);
    ck_assert_msg(strstr(err, "background"), "%s", err);
    free(out);
    free(err);
    nn_weights *w;
    nn_error e = {0};
    snprintf(path, sizeof path, "%s/m.nnw", tmp);
    ck_assert_int_eq(nn_weights_load(path, &w, &e), NN_OK);
    ck_assert_str_eq(nn_weights_meta(w, "classes"), "mask,no_mask,background");
    ck_assert_str_eq(nn_weights_meta(w, "train.split"), "photo-hash");
    nn_weights_free(w);
    /* eval-classifier scores faces as mask or no_mask only */
    snprintf(args, sizeof args, "eval-classifier --model '%s/m.nnw' --data '%s/photos' --json",
             tmp, tmp);
    ck_assert_int_eq(run(args, tmp, &out, &err), 0);
    cJSON *o = cJSON_Parse(out);
    ck_assert_msg(o != NULL, "not JSON: %s", out);
    ck_assert_int_eq(cJSON_GetObjectItem(o, "n")->valueint, 4);
    cJSON *conf = cJSON_GetObjectItem(o, "confusion");
    for (int t = 0; t < cJSON_GetArraySize(conf); t++) {
        cJSON *row = cJSON_GetArrayItem(conf, t);
        if (cJSON_GetArraySize(row) > 2) /* nothing predicted background */
            ck_assert_int_eq(cJSON_GetArrayItem(row, 2)->valueint, 0);
    }
    cJSON_Delete(o);
    free(out);
    free(err);
    /* a second file adds its boxes; a file given twice counts once */
    dsf_write_text(tmp, "neg2.jsonl",
                   "{\"image\":\"p0.jpg\",\"detections\":[{\"box\":[28,2,46,20]}]}\n");
    snprintf(args, sizeof args,
             "train-classifier '%s/photos' --negatives '%s/neg.jsonl' --negatives '%s/neg2.jsonl' "
             "--negatives '%s/neg.jsonl' -o '%s/m3.nnw' --epochs 1 %s --val-split 0.25 --seed 4",
             tmp, tmp, tmp, tmp, tmp, TINY);
    rc = run(args, tmp, &out, &err);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, err);
    ck_assert_msg(strstr(err, "4 faces (voc), 4 negatives"), "%s", err);
    free(out);
    free(err);
    /* bad files */
    dsf_write_text(tmp, "bad.jsonl", "{\"image\":\"p0.jpg\",\"detections\":[]}\nnot json\n");
    dsf_write_text(tmp, "nobox.jsonl", "{\"image\":\"p0.jpg\",\"detections\":[{\"box\":[1,2]}]}\n");
    dsf_write_text(tmp, "text.jsonl",
                   "{\"image\":\"p0.jpg\",\"detections\":[{\"box\":[60,52,90,63]}]}\n"
                   "{\"image\":\"p0.jpg\",\"detections\":[{\"box\":[1,2,\"x\",9]}]}\n");
    const char *bad[][2] = {{"bad.jsonl", "bad.jsonl:2: not a JSON object"},
                            {"nobox.jsonl", "nobox.jsonl:1: a detection without a 4-number"},
                            {"text.jsonl", "text.jsonl:2: a box coordinate is not a number"},
                            {"absent.jsonl", "absent.jsonl: cannot open"}};
    for (int i = 0; i < 4; i++) {
        snprintf(args, sizeof args,
                 "train-classifier '%s/photos' --negatives '%s/%s' -o '%s/m2.nnw' --epochs 1 %s",
                 tmp, tmp, bad[i][0], tmp, TINY);
        ck_assert_int_eq(run(args, tmp, &out, &err), 1);
        ck_assert_msg(strstr(err, bad[i][1]), "%s", err);
        free(out);
        free(err);
    }
    ck_assert(!dsf_exists(tmp, "m2.nnw"));
    dsf_remove_tree(tmp);
}
END_TEST

START_TEST(usage_errors) {
    char tmp[512];
    dsf_make_tempdir(tmp, sizeof tmp);
    const char *bad[] = {
        "train-classifier",
        "train-classifier x -o",
        "train-classifier x",
        "train-classifier x -o m.nnw --arch resnet",
        "train-classifier x -o m.nnw --epochs 0",
        "train-classifier x -o m.nnw --optim lbfgs",
        "train-classifier x -o m.nnw --gamma 2,1",
        "train-classifier x -o m.nnw --balance maybe",
        "train-classifier x -o m.nnw --input-size 12",
        "train-classifier x -o m.nnw --bogus",
        "train-classifier x -o m.nnw --negative-iou 0.9",
        "train-classifier x -o m.nnw --negatives a --negatives b --negatives c --negatives d "
        "--negatives e",
        "eval-classifier",
        "eval-classifier --data x --min-face -3",
        "eval-classifier --data x --bogus 1",
        "classify",
        "classify --bogus a.png",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *out, *err;
        ck_assert_msg(run(bad[i], tmp, &out, &err) == 2, "'%s' should exit 2: %s", bad[i], err);
        ck_assert_msg(strlen(err) > 0, "'%s' says nothing", bad[i]);
        free(out);
        free(err);
    }
    const char *help[] = {"train-classifier --help", "eval-classifier --help", "classify -h"};
    for (size_t i = 0; i < 3; i++) {
        char *out, *err;
        ck_assert_int_eq(run(help[i], tmp, &out, &err), 0);
        ck_assert_ptr_nonnull(strstr(out, "usage: maskdet"));
        free(out);
        free(err);
    }
    /* failures that are not usage errors exit 1 */
    ck_assert_int_eq(run_quiet("eval-classifier --model /nonexistent.nnw --data x", tmp) == 1, 1);
    ck_assert_int_eq(run_quiet("train-classifier /nonexistent -o m.nnw", tmp) == 1, 1);
    dsf_remove_tree(tmp);
}
END_TEST

/* The shipped model on a slice of the real class-folder set. */
START_TEST(shipped_model_on_real_data) {
    const char *shared = tu_shared_dir();
    if (!shared) {
        fprintf(stderr, "cls_cmd: ../shared not found, skipping the shipped-model check\n");
        return;
    }
    const char *model = "../models/classifier.nnw";
    if (access(model, R_OK) != 0) {
        fprintf(stderr, "cls_cmd: %s not found, skipping the shipped-model check\n", model);
        return;
    }
    classifier_runner *r;
    nn_error e = {0};
    ck_assert_msg(classifier_run_load(model, &r, &e) == NN_OK, "%s", e.msg);
    const char *dirs[2] = {"with_mask", "without_mask"};
    int correct = 0, total = 0;
    for (int c = 0; c < 2; c++) {
        /* every 25th file name of the sorted listing: about 70 per class */
        char cmd[2048];
        snprintf(cmd, sizeof cmd,
                 "ls '%s/datasets/facemask_classification_chandrikadeb7/%s' | sort | awk 'NR %% 25 == 1'",
                 shared, dirs[c]);
        FILE *ls = popen(cmd, "r");
        ck_assert_ptr_nonnull(ls);
        char name[512];
        while (fgets(name, sizeof name, ls)) {
            name[strcspn(name, "\n")] = '\0';
            char path[2048];
            snprintf(path, sizeof path, "%s/datasets/facemask_classification_chandrikadeb7/%s/%s",
                     shared, dirs[c], name);
            image img = {0};
            ck_assert_msg(image_load(path, 3, &img, &e) == NN_OK, "%s", e.msg);
            float probs[CLASSIFIER_MAX_CLASSES];
            ck_assert_int_eq(classifier_run_image(r, &img, probs, &e), NN_OK);
            correct += classifier_argmax(probs, 2) == c; /* mask = 0, no_mask = 1 */
            total++;
            image_free(&img);
        }
        pclose(ls);
    }
    classifier_run_free(r);
    ck_assert_int_gt(total, 100);
    ck_assert_msg(correct >= 0.95 * total, "shipped model: %d of %d right", correct, total);
}
END_TEST

Suite *cls_cmd_suite(void) {
    Suite *s = suite_create("cls_cmd");
    TCase *tc = tcase_create("cli");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, train_eval_classify);
    tcase_add_test(tc, resume_matches);
    tcase_add_test(tc, train_with_negatives);
    tcase_add_test(tc, usage_errors);
    tcase_add_test(tc, shipped_model_on_real_data);
    suite_add_tcase(s, tc);
    return s;
}
