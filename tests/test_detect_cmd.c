/* test_detect_cmd.c - `maskdet detect` on images and folders (bundled
 * models): usage errors, the folder walk (recursive, sorted, by extension in
 * any case, broken files skipped and counted, -o mirroring the folder's
 * paths, the exit status), --face-threshold / --mask-threshold on the shared
 * sample photos, and --min-face finding a small face the default scale
 * misses. Tests that need ../shared skip with a message when it is absent. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image.h"
#include "testutil.h"

static bool exists(const char *dir, const char *name) {
    char path[8192];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return access(path, R_OK) == 0;
}

/* A small grey image with a gradient, saved as path (format by extension). */
static void write_image(const char *dir, const char *name) {
    char path[8192];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    image img;
    nn_error err;
    ck_assert_int_eq(image_alloc(&img, 48, 40, 3, &err), NN_OK);
    for (int i = 0; i < 48 * 40 * 3; i++) img.pixels[i] = (uint8_t)(60 + i % 97);
    ck_assert_msg(image_save(&img, path, 90, &err) == NN_OK, "%s", err.msg);
    image_free(&img);
}

/* A 48 x 40 24-bit BMP written by hand (image_save does PNG and JPEG only). */
static void write_bmp(const char *dir, const char *name) {
    char path[8192];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    enum { W = 48, H = 40, ROW = W * 3, SIZE = 54 + ROW * H };
    static uint8_t bmp[SIZE];
    const uint32_t fields[][2] = {{2, SIZE}, {10, 54}, {14, 40}, {18, W}, {22, H}, {34, ROW * H}};
    memset(bmp, 0, sizeof bmp);
    bmp[0] = 'B', bmp[1] = 'M';
    for (size_t k = 0; k < sizeof fields / sizeof *fields; k++)
        for (int b = 0; b < 4; b++) bmp[fields[k][0] + b] = (uint8_t)(fields[k][1] >> (8 * b));
    bmp[26] = 1;  /* planes */
    bmp[28] = 24; /* bits per pixel */
    for (int i = 54; i < SIZE; i++) bmp[i] = (uint8_t)(i * 5);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fwrite(bmp, 1, SIZE, f), SIZE);
    fclose(f);
}

static void write_text(const char *dir, const char *name, const char *text) {
    char path[8192];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static void make_dir(const char *dir, const char *name) {
    char path[8192];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    ck_assert_int_eq(mkdir(path, 0777), 0);
}

static void remove_tree(const char *dir) {
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

START_TEST(usage_errors) {
    char *out, *err;
    ck_assert_int_eq(tu_run_maskdet("detect --help", &out, &err), 0);
    ck_assert_ptr_nonnull(strstr(out, "--min-face"));
    ck_assert_ptr_nonnull(strstr(out, "--raw WxH"));
    ck_assert_ptr_nonnull(strstr(out, "--mask-threshold"));
    ck_assert_ptr_nonnull(strstr(out, "Exit status"));
    free(out), free(err);
    static const char *const bad[] = {
        "detect",                                 /* no input                       */
        "detect --mask-threshold 2 x.jpg",        /* out of [0, 1]                  */
        "detect --face-threshold -0.1 x.jpg",     /*                                */
        "detect --min-face 0 x.jpg",              /* pixels >= 1                    */
        "detect --face-check-weight 0 x.jpg",     /* (0, 1]: --no-face-check is off */
        "detect --face-check-weight 1.5 x.jpg",   /*                                */
        "detect --min-face 20 --input-size 64x64 x.jpg", /* one or the other       */
        "detect --raw 0x48 -",                    /* bad frame size                 */
        "detect --raw 64x48 x.jpg",               /* --raw reads stdin              */
        "detect --raw 64x48 --json -",            /* stdout carries frames          */
        "detect --json-out j.json x.jpg",         /* --json-out is for video        */
        "detect -",                               /* stdin without --raw            */
        "detect --bogus x.jpg",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc = tu_run_maskdet(bad[i], &out, &err);
        ck_assert_msg(rc == 2, "'%s' exited %d: %s", bad[i], rc, err);
        ck_assert_msg(strlen(err) > 0, "'%s' said nothing on stderr", bad[i]);
        free(out), free(err);
    }
}
END_TEST

START_TEST(folder_walk) {
    char dir[] = "/tmp/test_detect_cmd_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char in[4200], outdir[4200];
    snprintf(in, sizeof in, "%s/in", dir);
    snprintf(outdir, sizeof outdir, "%s/out", dir);
    ck_assert_int_eq(mkdir(in, 0777), 0);
    make_dir(in, "b");
    make_dir(in, "a");
    make_dir(in, "a/c");
    write_image(in, "b/2.PNG");
    write_image(in, "a/1.jpg");
    write_image(in, "a/c/3.jpeg");
    write_bmp(in, "top.bmp");
    write_text(in, "broken.jpg", "not a jpeg at all");
    write_text(in, "notes.txt", "ignored: not an image by its extension");

    char args[9000], *out, *err;
    snprintf(args, sizeof args, "detect --json -o '%s' '%s/'", outdir, in);
    int rc = tu_run_maskdet(args, &out, &err);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, err);
    /* one JSON line per image, in sorted order at every level */
    static const char *const order[] = {"a/1.jpg", "a/c/3.jpeg", "b/2.PNG", "top.bmp"};
    char *line = out;
    for (size_t k = 0; k < 4; k++) {
        ck_assert_msg(line && *line, "only %zu of 4 JSON lines: %s", k, out);
        char *end = strchr(line, '\n');
        ck_assert_ptr_nonnull(end);
        *end = '\0';
        cJSON *o = cJSON_Parse(line);
        ck_assert_msg(o != NULL, "not JSON: %s", line);
        char want[4300];
        snprintf(want, sizeof want, "%s/%s", in, order[k]);
        ck_assert_str_eq(cJSON_GetObjectItem(o, "image")->valuestring, want);
        ck_assert_int_eq(cJSON_GetObjectItem(o, "width")->valueint, 48);
        ck_assert(cJSON_IsArray(cJSON_GetObjectItem(o, "detections")));
        cJSON_Delete(o);
        line = end + 1;
    }
    ck_assert_str_eq(line, "");
    /* the broken file is reported and counted; the summary adds up */
    ck_assert_msg(strstr(err, "broken.jpg"), "%s", err);
    ck_assert_msg(strstr(err, "4 images"), "%s", err);
    ck_assert_msg(strstr(err, "1 skipped"), "%s", err);
    ck_assert_msg(strstr(err, "1 other files ignored"), "%s", err);
    free(out), free(err);
    /* -o mirrors the relative paths; a .bmp is written as .bmp.png */
    ck_assert(exists(outdir, "a/1.jpg"));
    ck_assert(exists(outdir, "a/c/3.jpeg"));
    ck_assert(exists(outdir, "b/2.PNG"));
    ck_assert(exists(outdir, "top.bmp.png"));
    ck_assert(!exists(outdir, "broken.jpg"));

    /* text output, same images */
    snprintf(args, sizeof args, "detect '%s'", in);
    ck_assert_int_eq(tu_run_maskdet(args, &out, &err), 0);
    /* one line per image: "PATH: N detection(s) (WxH, T ms)" (N is the model's call) */
    const char *line3 = strstr(out, "a/c/3.jpeg: ");
    ck_assert_msg(line3 != NULL, "%s", out);
    int n3 = -1, w3 = 0, h3 = 0;
    ck_assert_msg(sscanf(line3, "a/c/3.jpeg: %d detection%*[s] (%dx%d,", &n3, &w3, &h3) == 3 ||
                      sscanf(line3, "a/c/3.jpeg: %d detection (%dx%d,", &n3, &w3, &h3) == 3,
                  "%s", out);
    ck_assert(n3 >= 0 && w3 == 48 && h3 == 40);
    free(out), free(err);

    /* a broken image named on the command line fails the run */
    snprintf(args, sizeof args, "detect '%s/broken.jpg' '%s/top.bmp'", in, in);
    ck_assert_int_eq(tu_run_maskdet(args, &out, &err), 1);
    ck_assert_msg(strstr(out, "top.bmp"), "the good image is still processed: %s", out);
    free(out), free(err);
    /* a folder with no readable image, an empty folder: failures */
    make_dir(dir, "only_broken");
    char only_broken[4300];
    snprintf(only_broken, sizeof only_broken, "%s/only_broken", dir);
    write_text(only_broken, "x.png", "no png");
    snprintf(args, sizeof args, "detect '%s'", only_broken);
    ck_assert_int_eq(tu_run_maskdet(args, &out, &err), 1);
    ck_assert_msg(strstr(err, "0 images") && strstr(err, "1 skipped"), "%s", err);
    free(out), free(err);
    make_dir(dir, "empty");
    snprintf(args, sizeof args, "detect '%s/empty'", dir);
    ck_assert_int_eq(tu_run_maskdet(args, &out, &err), 1);
    ck_assert_msg(strstr(err, "no images"), "%s", err);
    free(out), free(err);
    remove_tree(dir);
}
END_TEST

/* Runs detect --json on one image and returns the parsed object. */
static cJSON *detect_json(const char *extra, const char *path) {
    char args[8192], *out = NULL, *err = NULL;
    snprintf(args, sizeof args, "detect --json %s '%s'", extra, path);
    int rc = tu_run_maskdet(args, &out, &err);
    ck_assert_msg(rc == 0, "maskdet %s exited %d: %s", args, rc, err);
    cJSON *o = cJSON_Parse(out);
    ck_assert_msg(o != NULL, "not JSON: %s", out);
    free(out), free(err);
    return o;
}

static int n_detections(const cJSON *o) {
    return cJSON_GetArraySize(cJSON_GetObjectItem(o, "detections"));
}

static const char *first_label(const cJSON *o) {
    const cJSON *d = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "detections"), 0);
    return d ? cJSON_GetObjectItem(d, "label")->valuestring : "";
}

START_TEST(thresholds) {
    const char *shared = tu_shared_dir();
    if (!shared) {
        fprintf(stderr, "test_detect_cmd: ../shared not found; skipping thresholds\n");
        return;
    }
    char demo2[4096], sample1[4096];
    snprintf(demo2, sizeof demo2, "%s/samples/demo2.jpg", shared);
    snprintf(sample1, sizeof sample1, "%s/samples/sample1.jpg", shared);
    /* demo2: one masked face, P(mask) just under 1 (test_pipeline) */
    cJSON *o = detect_json("", demo2);
    ck_assert_int_eq(n_detections(o), 1);
    ck_assert_str_eq(first_label(o), "mask");
    double p_mask = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "detections"), 0),
                                        "score")->valuedouble;
    cJSON_Delete(o);
    ck_assert(p_mask < 1.0);
    /* a mask threshold above P(mask) turns it into no_mask, scored 1 - P(mask) */
    o = detect_json("--mask-threshold 1", demo2);
    ck_assert_str_eq(first_label(o), "no_mask");
    double p_no = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "detections"), 0),
                                      "score")->valuedouble;
    ck_assert(fabs(p_no - (1.0 - p_mask)) < 1e-5);
    cJSON_Delete(o);
    /* --no-box-vote keeps the detector's best box, --no-tta one look per
     * classifier, and a single --classifier is not the bundled pair: the
     * same face, another box and other scores */
    o = detect_json("", demo2);
    const cJSON *d0 = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "detections"), 0);
    double x1 = cJSON_GetArrayItem(cJSON_GetObjectItem(d0, "box"), 0)->valuedouble;
    cJSON_Delete(o);
    char models_opt[600];
    snprintf(models_opt, sizeof models_opt, "--no-box-vote --no-tta --classifier '%s'",
             "../models/classifier.nnw"); /* tests run in tests/ */
    o = detect_json(models_opt, demo2);
    ck_assert_int_eq(n_detections(o), 1);
    ck_assert_str_eq(first_label(o), "mask");
    d0 = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "detections"), 0);
    double x1_plain = cJSON_GetArrayItem(cJSON_GetObjectItem(d0, "box"), 0)->valuedouble;
    double p_single = cJSON_GetObjectItem(d0, "score")->valuedouble;
    ck_assert_msg(fabs(x1_plain - x1) > 1e-3 && fabs(x1_plain - x1) < 10, "x1 %.3f vs %.3f",
                  x1_plain, x1);
    ck_assert_msg(fabs(p_single - p_mask) > 1e-7, "P(mask) %.8f both ways", p_mask);
    cJSON_Delete(o);
    /* sample1: its two clear faces and a few doubtful boxes at face score
     * 0.2; the scores decide which are kept */
    o = detect_json("--face-threshold 0.2", sample1);
    int all = n_detections(o);
    ck_assert_int_ge(all, 3);
    double min_face_score = 1, max_face_score = 0;
    const cJSON *d;
    cJSON_ArrayForEach(d, cJSON_GetObjectItem(o, "detections")) {
        double s = cJSON_GetObjectItem(d, "face_score")->valuedouble;
        min_face_score = s < min_face_score ? s : min_face_score;
        max_face_score = s > max_face_score ? s : max_face_score;
    }
    cJSON_Delete(o);
    char extra[64];
    snprintf(extra, sizeof extra, "--face-threshold %.4f", (min_face_score + max_face_score) / 2);
    o = detect_json(extra, sample1);
    int some = n_detections(o);
    ck_assert_msg(some >= 1 && some < all, "%d of %d kept", some, all);
    cJSON_Delete(o);
    snprintf(extra, sizeof extra, "--threshold %.4f", fmin(max_face_score + 1e-3, 1.0));
    o = detect_json(extra, sample1);
    ck_assert_int_eq(n_detections(o), 0);
    cJSON_Delete(o);
}
END_TEST

/* Halves the image (2x2 means) until it is at most twice `width` wide, then
 * resizes: a downscale without the aliasing of one bilinear step. */
static void shrink_to(image *img, int width) {
    nn_error err;
    while (img->width >= 2 * width) {
        image half;
        ck_assert_int_eq(image_alloc(&half, img->width / 2, img->height / 2, 3, &err), NN_OK);
        for (int y = 0; y < half.height; y++)
            for (int x = 0; x < half.width; x++)
                for (int c = 0; c < 3; c++) {
                    const uint8_t *p = img->pixels + ((size_t)2 * y * img->width + 2 * x) * 3 + c;
                    size_t row = (size_t)img->width * 3;
                    half.pixels[((size_t)y * half.width + x) * 3 + c] =
                        (uint8_t)((p[0] + p[3] + p[row] + p[row + 3] + 2) / 4);
                }
        image_free(img);
        *img = half;
    }
    image small;
    int height = (int)((long)img->height * width / img->width);
    ck_assert_int_eq(image_resize(img, width, height, &small, &err), NN_OK);
    image_free(img);
    *img = small;
}

START_TEST(min_face_finds_small_faces) {
    const char *shared = tu_shared_dir();
    if (!shared) {
        fprintf(stderr, "test_detect_cmd: ../shared not found; skipping min-face\n");
        return;
    }
    /* sample1.jpg (1920 px wide, faces about 190-260 px) shrunk 8x, so its
     * faces are about 24-32 px, into a 1280x960 grey frame. At the default
     * scale (longer side 640) they become 12-16 input px: too small for the
     * bundled detector. --min-face 16 runs it at scale 16 / 16 = 1. */
    char path[4096];
    snprintf(path, sizeof path, "%s/samples/sample1.jpg", shared);
    image photo, frame;
    nn_error err;
    ck_assert_msg(image_load(path, 3, &photo, &err) == NN_OK, "%s", err.msg);
    ck_assert_int_eq(photo.width, 1920);
    shrink_to(&photo, 240);
    ck_assert_int_eq(image_alloc(&frame, 1280, 960, 3, &err), NN_OK);
    memset(frame.pixels, 128, (size_t)1280 * 960 * 3);
    const int left = 700, top = 500;
    for (int y = 0; y < photo.height; y++)
        memcpy(frame.pixels + ((size_t)(top + y) * 1280 + left) * 3,
               photo.pixels + (size_t)y * photo.width * 3, (size_t)photo.width * 3);
    char dir[] = "/tmp/test_min_face_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/small_faces.png", dir);
    ck_assert(image_save(&frame, path, 0, &err) == NN_OK);
    image_free(&frame);

    cJSON *o = detect_json("--detector-only", path);
    ck_assert_msg(n_detections(o) == 0, "the default scale found %d faces", n_detections(o));
    cJSON_Delete(o);
    o = detect_json("--detector-only --min-face 16", path);
    ck_assert_msg(n_detections(o) >= 1, "--min-face 16 found no face");
    const cJSON *d;
    cJSON_ArrayForEach(d, cJSON_GetObjectItem(o, "detections")) {
        const cJSON *box = cJSON_GetObjectItem(d, "box");
        double x1 = cJSON_GetArrayItem(box, 0)->valuedouble;
        double y1 = cJSON_GetArrayItem(box, 1)->valuedouble;
        double x2 = cJSON_GetArrayItem(box, 2)->valuedouble;
        double y2 = cJSON_GetArrayItem(box, 3)->valuedouble;
        /* inside the pasted photo, and face-sized (the photo's faces, shrunk) */
        ck_assert_msg(x1 > left - 4 && x2 < left + photo.width + 4 && y1 > top - 4 &&
                          y2 < top + photo.height + 4,
                      "box %.0f,%.0f,%.0f,%.0f outside the photo", x1, y1, x2, y2);
        ck_assert_msg(x2 - x1 > 15 && x2 - x1 < 45, "box width %.1f", x2 - x1);
    }
    cJSON_Delete(o);
    image_free(&photo);

    /* AIZOO's anchors are fractions of the image: no input scale helps */
    char args[16384], *out, *messages;
    snprintf(args, sizeof args,
             "import-caffe '%s/models/aizoo_face_mask_ssd/face_mask_detection.prototxt' "
             "'%s/models/aizoo_face_mask_ssd/face_mask_detection.caffemodel' -o '%s/aizoo.nnw'",
             shared, shared, dir);
    ck_assert_int_eq(tu_run_maskdet(args, NULL, NULL), 0);
    snprintf(args, sizeof args, "detect --detector '%s/aizoo.nnw' --min-face 20 '%s'", dir, path);
    ck_assert_int_eq(tu_run_maskdet(args, &out, &messages), 1);
    ck_assert_msg(strstr(messages, "min_face_px needs a detector"), "%s", messages);
    free(out), free(messages);
    remove_tree(dir);
}
END_TEST

Suite *detect_cmd_suite(void) {
    Suite *s = suite_create("detect_cmd");
    TCase *tc = tcase_create("images and folders");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, usage_errors);
    tcase_add_test(tc, folder_walk);
    tcase_add_test(tc, thresholds);
    tcase_add_test(tc, min_face_finds_small_faces);
    suite_add_tcase(s, tc);
    return s;
}
