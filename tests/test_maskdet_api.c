/*
 * test_maskdet_api.c - the embedding API (apps/lib/maskdet.h) as a program
 * that links it would use it: faces found and labelled on the sample photos,
 * padded rows, errors with their messages, a result array smaller than the
 * face count, two handles in two threads, and no heap allocation per frame.
 *
 * The photos' annotations are those of ../shared/samples/README.md: sample1
 * to sample6 hold 3, 3, 3, 4, 5, 4 faces, none masked; demo2 one masked face.
 * The README gives counts only; where the faces are comes from an independent
 * detector's reference output beside it (face-api's SSD MobileNetV1, which
 * finds exactly those 22 faces: shared/models/faceapi_ssd_mobilenetv1).
 *
 * Allocations are counted by wrapping malloc & co. at link time (the
 * Makefile links run_tests with -Wl,--wrap=malloc,...): every call our code
 * makes goes through the counters below.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "classifier.h"
#include "face_ssd.h"
#include "image.h"
#include "maskdet.h"
#include "testutil.h"

/* ------------------------------------------------ allocation counting */

static atomic_long alloc_calls;

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
void *__real_aligned_alloc(size_t alignment, size_t size);
int __real_posix_memalign(void **out, size_t alignment, size_t size);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);
void *__wrap_aligned_alloc(size_t alignment, size_t size);
int __wrap_posix_memalign(void **out, size_t alignment, size_t size);

void *__wrap_malloc(size_t size) {
    atomic_fetch_add(&alloc_calls, 1);
    return __real_malloc(size);
}
void *__wrap_calloc(size_t n, size_t size) {
    atomic_fetch_add(&alloc_calls, 1);
    return __real_calloc(n, size);
}
void *__wrap_realloc(void *p, size_t size) {
    atomic_fetch_add(&alloc_calls, 1);
    return __real_realloc(p, size);
}
void *__wrap_aligned_alloc(size_t alignment, size_t size) {
    atomic_fetch_add(&alloc_calls, 1);
    return __real_aligned_alloc(alignment, size);
}
int __wrap_posix_memalign(void **out, size_t alignment, size_t size) {
    atomic_fetch_add(&alloc_calls, 1);
    return __real_posix_memalign(out, alignment, size);
}

/* The count so far, for the other suites' allocation tests (test_conv_scratch.c). */
long maskdet_test_alloc_calls(void);
long maskdet_test_alloc_calls(void) { return atomic_load(&alloc_calls); }

/* ------------------------------------------------------------- helpers */

#define MODELS_DIR "../models" /* tests run in tests/ */
#define MAX_FACES 64

static maskdet *open_default(void) {
    maskdet_options opt = maskdet_options_default();
    opt.models_dir = MODELS_DIR;
    maskdet *md = NULL;
    maskdet_error err;
    ck_assert_msg(maskdet_open(&opt, &md, &err) == 0, "maskdet_open: %s", err.msg);
    return md;
}

/* ../shared/samples/NAME as an RGB image, or false when the folder is absent. */
static bool load_sample(const char *name, image *img) {
    const char *shared = tu_shared_dir();
    if (!shared) return false;
    char path[4096];
    snprintf(path, sizeof path, "%s/samples/%s", shared, name);
    if (access(path, R_OK) != 0) return false;
    nn_error err;
    ck_assert_msg(image_load(path, 3, img, &err) == NN_OK, "%s", err.msg);
    return true;
}

static int detect(maskdet *md, const image *img, maskdet_face *faces, int max_faces) {
    maskdet_error err;
    int n = maskdet_detect(md, img->pixels, img->width, img->height, img->width * 3, faces,
                           max_faces, &err);
    ck_assert_msg(n >= 0, "maskdet_detect: %s", err.msg);
    return n;
}

static float iou(const float a[4], const float b[4]) {
    float iw = fminf(a[2], b[2]) - fmaxf(a[0], b[0]), ih = fminf(a[3], b[3]) - fmaxf(a[1], b[1]);
    if (iw <= 0 || ih <= 0) return 0;
    float inter = iw * ih;
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter);
}

static bool same_faces(const maskdet_face *a, const maskdet_face *b, int n) {
    for (int i = 0; i < n; i++)
        if (a[i].x1 != b[i].x1 || a[i].y1 != b[i].y1 || a[i].x2 != b[i].x2 ||
            a[i].y2 != b[i].y2 || a[i].label != b[i].label || a[i].score != b[i].score ||
            a[i].face_score != b[i].face_score || strcmp(a[i].label_name, b[i].label_name))
            return false;
    return true;
}

/* ------------------------------------------------ faces on the samples */

typedef struct {
    const char *file;
    int faces;
    maskdet_label label; /* every face of the photo */
} sample_truth;

static const sample_truth samples[] = {
    {"sample1.jpg", 3, MASKDET_NO_MASK}, {"sample2.jpg", 3, MASKDET_NO_MASK},
    {"sample3.jpg", 3, MASKDET_NO_MASK}, {"sample4.jpg", 4, MASKDET_NO_MASK},
    {"sample5.jpg", 5, MASKDET_NO_MASK}, {"sample6.jpg", 4, MASKDET_NO_MASK},
    {"demo2.jpg", 1, MASKDET_MASK},
};
#define N_SAMPLES (int)(sizeof samples / sizeof samples[0])

/* The reference face boxes of one photo (box_px of the face-api reference). */
static int reference_boxes(const cJSON *images, const char *file, float boxes[][4], int max) {
    const cJSON *dets = cJSON_GetObjectItem(cJSON_GetObjectItem(images, file), "detections");
    int n = 0;
    const cJSON *d;
    cJSON_ArrayForEach(d, dets) {
        const cJSON *box = cJSON_GetObjectItem(d, "box_px");
        ck_assert(cJSON_GetArraySize(box) == 4 && n < max);
        for (int k = 0; k < 4; k++) boxes[n][k] = (float)cJSON_GetArrayItem(box, k)->valuedouble;
        n++;
    }
    return n;
}

START_TEST(samples_faces_found_and_labelled) {
    const char *shared = tu_shared_dir();
    char path[4096];
    snprintf(path, sizeof path, "%s/models/faceapi_ssd_mobilenetv1/reference_output.json",
             shared ? shared : ".");
    char *text = NULL;
    FILE *f = shared ? fopen(path, "rb") : NULL;
    if (!f) {
        fprintf(stderr, "maskdet_api: skipped (no ../shared samples and reference boxes)\n");
        return;
    }
    text = calloc(1, 1 << 20);
    size_t len = fread(text, 1, (1 << 20) - 1, f);
    fclose(f);
    ck_assert(len > 0);
    cJSON *ref = cJSON_Parse(text);
    free(text);
    ck_assert_msg(ref != NULL, "%s: not JSON", path);
    const cJSON *images = cJSON_GetObjectItem(ref, "images");

    maskdet *md = open_default();
    int truth_faces = 0, found = 0, labelled = 0, false_alarms = 0;
    for (int s = 0; s < N_SAMPLES; s++) {
        image img;
        ck_assert_msg(load_sample(samples[s].file, &img), "%s missing", samples[s].file);
        float ref_box[16][4];
        int n_ref = reference_boxes(images, samples[s].file, ref_box, 16);
        ck_assert_int_eq(n_ref, samples[s].faces); /* the reference agrees with the README */
        maskdet_face faces[MAX_FACES];
        int n = detect(md, &img, faces, MAX_FACES);
        ck_assert_int_le(n, MAX_FACES);
        /* each reference face is matched by the best unmatched detection */
        bool used[MAX_FACES] = {false};
        for (int r = 0; r < n_ref; r++) {
            int best = -1;
            float best_iou = 0.3f;
            for (int i = 0; i < n; i++) {
                float box[4] = {faces[i].x1, faces[i].y1, faces[i].x2, faces[i].y2};
                float v = iou(box, ref_box[r]);
                if (!used[i] && v >= best_iou) best = i, best_iou = v;
            }
            if (best < 0) continue;
            used[best] = true;
            found++;
            labelled += faces[best].label == samples[s].label;
            if (samples[s].label == MASKDET_MASK) /* the one masked face must be found as such */
                ck_assert_str_eq(faces[best].label_name, "mask");
        }
        for (int i = 0; i < n; i++) {
            false_alarms += !used[i];
            ck_assert(faces[i].score >= 0.5f && faces[i].score <= 1.0f);
            ck_assert(faces[i].face_score > 0.0f && faces[i].face_score <= 1.0f);
            ck_assert(i == 0 || faces[i].face_score <= faces[i - 1].face_score);
        }
        truth_faces += n_ref;
        image_free(&img);
    }
    /* The bundled models find 15 of the 23 faces here (the misses are small or
     * turned faces), label 14 of those right, and raise 2 false alarms: the
     * floors sit just under that, so a worse model or pipeline fails. */
    ck_assert_int_eq(truth_faces, 23);
    ck_assert_msg(found >= 14, "found %d of 23 faces", found);
    ck_assert_msg(labelled >= 13, "labelled %d of %d found faces right", labelled, found);
    ck_assert_msg(false_alarms <= 3, "%d detections match no face", false_alarms);
    maskdet_close(md);
    cJSON_Delete(ref);
}
END_TEST

/* A frame whose rows carry padding gives the same faces as the packed one. */
START_TEST(padded_rows_same_faces) {
    image img;
    if (!load_sample("sample1.jpg", &img)) {
        fprintf(stderr, "maskdet_api: padded rows skipped (no ../shared/samples)\n");
        return;
    }
    maskdet *md = open_default();
    maskdet_face packed[MAX_FACES], padded[MAX_FACES];
    int n = detect(md, &img, packed, MAX_FACES);
    ck_assert_int_gt(n, 0);

    int stride = img.width * 3 + 13; /* odd on purpose */
    uint8_t *rows = malloc((size_t)stride * img.height);
    memset(rows, 0xAB, (size_t)stride * img.height); /* the padding is junk, not zeros */
    for (int y = 0; y < img.height; y++)
        memcpy(rows + (size_t)y * stride, img.pixels + (size_t)y * img.width * 3,
               (size_t)img.width * 3);
    maskdet_error err;
    int m = maskdet_detect(md, rows, img.width, img.height, stride, padded, MAX_FACES, &err);
    ck_assert_msg(m == n, "padded: %d faces (%s), packed: %d", m, m < 0 ? err.msg : "", n);
    ck_assert(same_faces(packed, padded, n));
    free(rows);
    maskdet_close(md);
    image_free(&img);
}
END_TEST

/* ------------------------------------------------------------- errors */

START_TEST(open_errors_say_why) {
    maskdet_options opt = maskdet_options_default();
    maskdet *md = (maskdet *)&opt; /* must be set to NULL on failure */
    maskdet_error err = {""};

    opt.detector_path = "no-such-dir/face_detector.nnw";
    ck_assert_int_lt(maskdet_open(&opt, &md, &err), 0);
    ck_assert_ptr_null(md);
    ck_assert_msg(strstr(err.msg, "no-such-dir/face_detector.nnw") && strstr(err.msg, "open"),
                  "%s", err.msg);

    opt.detector_path = MODELS_DIR "/classifier.nnw"; /* the wrong kind of model */
    ck_assert_int_lt(maskdet_open(&opt, &md, &err), 0);
    ck_assert_msg(strstr(err.msg, "classifier.nnw") && strstr(err.msg, "classifier") &&
                      strstr(err.msg, "detector"),
                  "%s", err.msg);

    opt = maskdet_options_default();
    opt.models_dir = MODELS_DIR;
    opt.classifier_path = MODELS_DIR "/face_detector.nnw"; /* and the other way round */
    ck_assert_int_lt(maskdet_open(&opt, &md, &err), 0);
    ck_assert_msg(strstr(err.msg, "face_detector.nnw") && strstr(err.msg, "not a classifier"),
                  "%s", err.msg);

    opt = maskdet_options_default();
    opt.mask_threshold = 1.5f;
    ck_assert_int_lt(maskdet_open(&opt, &md, &err), 0);
    ck_assert_msg(strstr(err.msg, "mask_threshold"), "%s", err.msg);
    ck_assert_int_lt(maskdet_open(&opt, &md, NULL), 0); /* err may be NULL */
}
END_TEST

START_TEST(detect_errors_say_why) {
    maskdet *md = open_default();
    enum { W = 64, H = 48 };
    uint8_t *rgb = calloc(W * 3 * H, 1);
    maskdet_face faces[4];
    maskdet_error err;

    ck_assert_int_lt(maskdet_detect(md, NULL, W, H, W * 3, faces, 4, &err), 0);
    ck_assert_str_eq(err.msg, "maskdet_detect: NULL frame buffer");
    ck_assert_int_lt(maskdet_detect(md, rgb, W, H, W * 3 - 1, faces, 4, &err), 0); /* short rows */
    ck_assert_str_eq(err.msg, "maskdet_detect: stride 191 bytes is less than a row (3 x 64)");
    ck_assert_int_lt(maskdet_detect(md, rgb, 0, H, W * 3, faces, 4, &err), 0);
    ck_assert_str_eq(err.msg, "maskdet_detect: frame size 0x48 out of range (1..16384 a side)");
    ck_assert_int_lt(maskdet_detect(md, rgb, W, -1, W * 3, faces, 4, NULL), 0); /* err may be NULL */
    ck_assert_int_lt(maskdet_detect(md, rgb, W, H, W * 3, NULL, 4, &err), 0); /* no result array */
    ck_assert_msg(strstr(err.msg, "no room for results"), "%s", err.msg);
    ck_assert_int_lt(maskdet_detect(md, rgb, W, H, W * 3, faces, -1, &err), 0);
    ck_assert_msg(strstr(err.msg, "no room for results"), "%s", err.msg);
    ck_assert_int_lt(maskdet_detect(NULL, rgb, W, H, W * 3, faces, 4, &err), 0);
    ck_assert_str_eq(err.msg, "maskdet_detect: NULL handle");
    /* after all that, a good call still works */
    ck_assert_int_ge(maskdet_detect(md, rgb, W, H, W * 3, faces, 4, &err), 0);
    free(rgb);
    maskdet_close(md);
    maskdet_close(NULL);
}
END_TEST

/* Like snprintf: the count of faces found, whatever room was given; only the
 * first max_faces are written, and they are the best ones. */
START_TEST(max_faces_smaller_than_count) {
    image img;
    if (!load_sample("sample6.jpg", &img)) {
        fprintf(stderr, "maskdet_api: max_faces skipped (no ../shared/samples)\n");
        return;
    }
    maskdet *md = open_default();
    maskdet_face all[MAX_FACES], some[3];
    int n = detect(md, &img, all, MAX_FACES);
    ck_assert_int_ge(n, 2);

    memset(some, 0x5A, sizeof some);
    maskdet_face untouched = some[1];
    ck_assert_int_eq(detect(md, &img, some, 1), n);
    ck_assert(same_faces(all, some, 1));
    ck_assert(!memcmp(&some[1], &untouched, sizeof untouched));
    ck_assert_int_eq(detect(md, &img, NULL, 0), n); /* just count */
    maskdet_close(md);
    image_free(&img);
}
END_TEST

/* ------------------------------------------------------------- threads */

typedef struct {
    const image *frames;
    int n_frames;
    maskdet_face faces[8][MAX_FACES];
    int counts[8];
    char error[512];
} thread_job;

static void *detect_all(void *arg) {
    thread_job *job = arg;
    maskdet_options opt = maskdet_options_default();
    opt.models_dir = MODELS_DIR;
    maskdet *md;
    maskdet_error err;
    if (maskdet_open(&opt, &md, &err)) {
        snprintf(job->error, sizeof job->error, "%s", err.msg);
        return NULL;
    }
    for (int round = 0; round < 2; round++) /* twice: the second reuses every buffer */
        for (int i = 0; i < job->n_frames; i++) {
            const image *img = &job->frames[i];
            job->counts[i] = maskdet_detect(md, img->pixels, img->width, img->height,
                                            img->width * 3, job->faces[i], MAX_FACES, &err);
            if (job->counts[i] < 0) snprintf(job->error, sizeof job->error, "%s", err.msg);
        }
    maskdet_close(md);
    return NULL;
}

START_TEST(two_handles_two_threads_agree) {
    image frames[3];
    const char *names[3] = {"sample2.jpg", "demo2.jpg", "sample5.jpg"};
    int n_frames = 0;
    for (int i = 0; i < 3; i++)
        if (load_sample(names[i], &frames[n_frames])) n_frames++;
    if (n_frames == 0) { /* no photos: a synthetic frame still exercises the pipeline */
        nn_error e;
        ck_assert_int_eq(image_alloc(&frames[0], 320, 240, 3, &e), NN_OK);
        for (size_t i = 0; i < (size_t)320 * 240 * 3; i++)
            frames[0].pixels[i] = (uint8_t)(i * 31 % 253);
        n_frames = 1;
    }
    thread_job *jobs = calloc(3, sizeof *jobs); /* [0], [1]: threads; [2]: this thread */
    for (int k = 0; k < 3; k++) jobs[k].frames = frames, jobs[k].n_frames = n_frames;
    pthread_t t[2];
    for (int k = 0; k < 2; k++) ck_assert_int_eq(pthread_create(&t[k], NULL, detect_all, &jobs[k]), 0);
    for (int k = 0; k < 2; k++) pthread_join(t[k], NULL);
    detect_all(&jobs[2]);
    for (int k = 0; k < 3; k++) ck_assert_msg(jobs[k].error[0] == '\0', "%s", jobs[k].error);
    for (int i = 0; i < n_frames; i++)
        for (int k = 0; k < 2; k++) {
            ck_assert_int_eq(jobs[k].counts[i], jobs[2].counts[i]);
            ck_assert(same_faces(jobs[k].faces[i], jobs[2].faces[i],
                                 jobs[2].counts[i] < MAX_FACES ? jobs[2].counts[i] : MAX_FACES));
        }
    free(jobs);
    for (int i = 0; i < n_frames; i++) image_free(&frames[i]);
}
END_TEST

/* ---------------------------------------------------- no allocation per frame */

/* A small random face SSD, saved to a temporary model file: it resizes frames
 * to 120 pixels on the longer side, and its biases make it report many
 * "faces", so the classifier runs on several crops of every frame. */
static void write_small_detector(char *path, size_t len) {
    face_ssd f;
    nn_error err;
    face_ssd_spec spec = face_ssd_default_spec();
    spec.n_maps = 3;
    for (int i = 0; i < 6; i++) spec.widths[i] = 8;
    ck_assert_msg(face_ssd_build(&spec, 2, NULL, &f, &err) == NN_OK, "%s", err.msg);
    nn_model_init(f.model, 11);
    f.input_long_side = 120; /* frames are resized to it, as the bundled model's are */
    f.conf_threshold = 0.65f; /* the file's own threshold (ssd.threshold) */
    for (int i = 0; i < nn_model_param_count(f.model); i++) {
        nn_param p = nn_model_param(f.model, i);
        if (strstr(p.name, "conf") && strstr(p.name, ".bias")) tu_fill_uniform(p.tensor, -1, 3, 7);
    }
    nn_weights *w = nn_weights_create();
    ck_assert_msg(face_ssd_to_weights(&f, w, NN_DTYPE_F32, &err) == NN_OK, "%s", err.msg);
    snprintf(path, len, "/tmp/maskdet_api_%d.nnw", (int)getpid());
    ck_assert_msg(nn_weights_save(w, path, &err) == NN_OK, "%s", err.msg);
    nn_weights_free(w);
    face_ssd_free(&f);
}

/* A random "compact" classifier at 16x16 (the bundled one is 48x48: nine
 * times the work, too slow on the reference kernels under the sanitizers).
 * classes: "mask,no_mask" or "mask,no_mask,background". With logits given,
 * its last layer's weights are zeroed and its biases set to them, so it
 * outputs exactly softmax(logits) for every crop. */
static void write_classifier(char *path, size_t len, const char *classes, const float *logits) {
    nn_model *m;
    nn_error err;
    int n_classes = strchr(strchr(classes, ',') + 1, ',') ? 3 : 2;
    ck_assert_msg(classifier_build("compact", 16, n_classes, &m, &err) == NN_OK, "%s", err.msg);
    nn_model_init(m, 13);
    if (logits) { /* the last two parameters: the linear layer's weight and bias */
        int n = nn_model_param_count(m);
        nn_tensor *wt = nn_model_param(m, n - 2).tensor, *b = nn_model_param(m, n - 1).tensor;
        ck_assert_uint_eq(b->numel, (size_t)n_classes);
        memset(wt->data, 0, wt->numel * sizeof(float));
        for (int c = 0; c < n_classes; c++) b->data[c] = logits[c];
    }
    nn_weights *w = nn_weights_create();
    ck_assert_msg(nn_model_to_weights(m, w, NN_DTYPE_F32, &err) == NN_OK, "%s", err.msg);
    const char *meta[][2] = {{"kind", "classifier"},
                             {"arch", "compact"},
                             {"input.width", "16"},
                             {"input.height", "16"},
                             {"input.channel_order", "rgb"},
                             {"input.mean", "0,0,0"},
                             {"input.scale", "0.0039215686,0.0039215686,0.0039215686"},
                             {"classes", classes},
                             {"crop.margin", "0.1"}};
    for (size_t i = 0; i < sizeof meta / sizeof meta[0]; i++)
        ck_assert_msg(nn_weights_set_meta(w, meta[i][0], meta[i][1], &err) == NN_OK, "%s",
                      err.msg);
    snprintf(path, len, "/tmp/maskdet_api_cls_%d_%s%s.nnw", (int)getpid(),
             n_classes == 3 ? "bg" : "", logits ? "fixed" : "");
    ck_assert_msg(nn_weights_save(w, path, &err) == NN_OK, "%s", err.msg);
    nn_weights_free(w);
    nn_model_free(m);
}

static void write_small_classifier(char *path, size_t len) {
    write_classifier(path, len, "mask,no_mask", NULL);
}

/* Which kernel table is in use, to put it back. */
static nn_isa current_isa(void) {
    const char *name = nn_kernels_get()->name;
    return !strcmp(name, "avx512") ? NN_ISA_AVX512
           : !strcmp(name, "avx2") ? NN_ISA_AVX2
                                   : NN_ISA_REFERENCE;
}

/* What a loop of frames saw: allocator calls from frame 2 on, faces, failures. */
typedef struct {
    long allocations;
    int classified, counts_seen, failed_frame;
    maskdet_error err;
} frame_loop;

/* Runs `frames` frames of W x H (a different picture each, rows padded) through
 * md; frame 1 may allocate, the others are counted. No ck_assert in here:
 * Check allocates to record where each one is. */
static frame_loop run_frames(maskdet *md, int W, int H, int frames) {
    frame_loop r = {0};
    enum { ROOM = 6 };
    int stride = W * 3 + 5, last_count = -1;
    uint8_t *rgb = malloc((size_t)stride * H);
    maskdet_face faces[ROOM];
    long before = 0;
    for (int frame = 1; frame <= frames && rgb && !r.failed_frame; frame++) {
        for (size_t i = 0; i < (size_t)stride * H; i++)
            rgb[i] = (uint8_t)((i * 37 + (size_t)frame * frame * 101) % 251);
        if (frame == 2) before = atomic_load(&alloc_calls);
        int n = maskdet_detect(md, rgb, W, H, stride, faces, ROOM, &r.err);
        if (n < 0) r.failed_frame = frame;
        for (int i = 0; i < n && i < ROOM; i++) r.classified += faces[i].label != MASKDET_FACE;
        r.counts_seen += n != last_count;
        last_count = n;
    }
    r.allocations = atomic_load(&alloc_calls) - before;
    if (!rgb) r.failed_frame = -1;
    free(rgb);
    return r;
}

/* After the first call at a frame size, maskdet_detect calls no allocator:
 * frames 2 to 10 (different pictures, different face counts and sizes) are
 * counted, on every kernel table this CPU has: the plain-C reference, and the
 * SIMD kernels, whose temporary buffers live in each ctx's workspace
 * (nn/scratch.c). Small random models keep the reference run quick; what is
 * checked is everything: preprocessing, resizing, priors, the convolutions,
 * decoding, NMS, crops, classifier batches, the arenas. */
START_TEST(no_allocation_after_first_frame) {
    char path[256], cls_path[256];
    write_small_detector(path, sizeof path);
    write_small_classifier(cls_path, sizeof cls_path);
    nn_isa isa = current_isa();
    for (int table = NN_ISA_REFERENCE; table <= NN_ISA_AVX512; table++) {
        if (nn_set_isa((nn_isa)table) != NN_OK) continue; /* not on this CPU */
        maskdet_options opt = maskdet_options_default();
        opt.models_dir = MODELS_DIR;
        opt.detector_path = path;
        opt.classifier_path = cls_path;
        opt.face_threshold = 0.3f;
        maskdet *md;
        maskdet_error err;
        ck_assert_msg(maskdet_open(&opt, &md, &err) == 0, "%s", err.msg);
        enum { FRAMES = 10 };
        frame_loop r = run_frames(md, 97, 75, FRAMES);
        maskdet_close(md);
        const char *name = nn_isa_name((nn_isa)table);
        ck_assert_msg(!r.failed_frame, "%s, frame %d: %s", name, r.failed_frame, r.err.msg);
        ck_assert_msg(r.classified >= FRAMES, "%s: only %d faces classified", name, r.classified);
        ck_assert_msg(r.counts_seen >= 2, "%s: every frame had the same face count", name);
        ck_assert_msg(r.allocations == 0, "%s: %ld allocations in frames 2..%d", name,
                      r.allocations, FRAMES);
    }
    nn_set_isa(isa);
    unlink(path);
    unlink(cls_path);
}
END_TEST

/* The faces of one fixed 97x75 picture, with the small detector and a
 * classifier whose output is softmax(logits) for every crop. */
static int faces_with_classifier(const char *det_path, const char *classes, const float *logits,
                                 float check_weight, maskdet_face *faces, int max_faces) {
    char cls_path[256];
    write_classifier(cls_path, sizeof cls_path, classes, logits);
    maskdet_options opt = maskdet_options_default();
    opt.detector_path = det_path;
    opt.classifier_path = cls_path;
    opt.face_threshold = 0.3f;
    opt.face_check_weight = check_weight;
    opt.no_tta = 1; /* the classifier's output is the same for every crop */
    maskdet *md;
    maskdet_error err;
    ck_assert_msg(maskdet_open(&opt, &md, &err) == 0, "%s", err.msg);
    unlink(cls_path);
    /* the default threshold: the detector file's, unless the classifier checks faces */
    float t = maskdet_default_face_threshold(md);
    if (strstr(classes, "background"))
        ck_assert_float_eq(t, MASKDET_CHECKED_FACE_THRESHOLD);
    else
        ck_assert_float_eq_tol(t, 0.65f, 1e-6);
    enum { W = 97, H = 75 };
    static uint8_t rgb[W * H * 3];
    for (int i = 0; i < W * H * 3; i++) rgb[i] = (uint8_t)(i * 37 % 251);
    int n = maskdet_detect(md, rgb, W, H, 3 * W, faces, max_faces, &err);
    ck_assert_msg(n >= 0, "%s", err.msg);
    maskdet_close(md);
    return n;
}

/* A classifier with a background class checks each box: the face score
 * becomes the detector's times 1 - w + w P(face), P(face) = 1 -
 * P(background); boxes that fall under the threshold go, and P(mask) is
 * taken among the face classes. */
START_TEST(background_class_checks_faces) {
    char det_path[256];
    write_small_detector(det_path, sizeof det_path);
    enum { ROOM = 1000 };
    maskdet_face *base = calloc(ROOM, sizeof *base), *got = calloc(ROOM, sizeof *got);
    ck_assert(base && got);
    const float two[2] = {1, 0}; /* P(mask) = e / (1 + e) */
    int n0 = faces_with_classifier(det_path, "mask,no_mask", two, 0, base, ROOM);
    ck_assert_msg(n0 >= 3 && n0 <= ROOM, "the small detector found %d faces", n0);
    float p_mask = expf(1) / (1 + expf(1));
    ck_assert_float_eq_tol(base[0].score, p_mask, 1e-5);

    /* never background: the same faces, scores and labels */
    const float face[3] = {1, 0, -40};
    int n = faces_with_classifier(det_path, "mask,no_mask,background", face, 1, got, ROOM);
    ck_assert_int_eq(n, n0);
    for (int i = 0; i < n; i++) {
        ck_assert_float_eq_tol(got[i].face_score, base[i].face_score, 1e-5);
        ck_assert_float_eq_tol(got[i].x1, base[i].x1, 1e-4);
        ck_assert_int_eq(got[i].label, MASKDET_MASK);
        ck_assert_float_eq_tol(got[i].score, p_mask, 1e-5);
    }
    /* always background: nothing left */
    const float none[3] = {1, 0, 40};
    ck_assert_int_eq(faces_with_classifier(det_path, "mask,no_mask,background", none, 1, got, ROOM),
                     0);
    /* P(face) = 2/3: face scores shrink by a third; those under 0.3 go */
    const float third[3] = {0, 0, 0};
    n = faces_with_classifier(det_path, "mask,no_mask,background", third, 1, got, ROOM);
    int expected = 0;
    for (int i = 0; i < n0; i++) expected += base[i].face_score * (2.0f / 3) > 0.3f + 1e-5f;
    ck_assert_msg(expected > 0 && expected < n0, "pick a frame that tests the cut (%d of %d)",
                  expected, n0);
    ck_assert_int_eq(n, expected);
    for (int i = 0; i < n; i++) {
        ck_assert_float_eq_tol(got[i].face_score, base[i].face_score * (2.0f / 3), 1e-5);
        ck_assert_float_eq_tol(got[i].score, 0.5f, 1e-5);
        if (i) ck_assert(got[i].face_score <= got[i - 1].face_score);
    }
    /* max_faces smaller than the count: the best ones, and the full count */
    ck_assert_int_eq(faces_with_classifier(det_path, "mask,no_mask,background", third, 1, got, 2),
                     expected);
    ck_assert_float_eq_tol(got[1].face_score, base[1].face_score * (2.0f / 3), 1e-5);
    /* the default weight w at P(face) = 1/2 keeps 1 - w / 2 of each score */
    const float half[3] = {0, 0, logf(2)};
    float keep = 1 - MASKDET_FACE_CHECK_WEIGHT / 2;
    n = faces_with_classifier(det_path, "mask,no_mask,background", half, 0, got, ROOM);
    expected = 0;
    for (int i = 0; i < n0; i++) expected += base[i].face_score * keep > 0.3f + 1e-5f;
    ck_assert(expected > 0 && expected < n0);
    ck_assert_int_eq(n, expected);
    for (int i = 0; i < n; i++)
        ck_assert_float_eq_tol(got[i].face_score, base[i].face_score * keep, 1e-5);
    /* and a weight out of range is refused */
    maskdet_options opt = maskdet_options_default();
    opt.face_check_weight = 1.5f;
    maskdet *md = NULL;
    maskdet_error err;
    ck_assert_int_lt(maskdet_open(&opt, &md, &err), 0);
    ck_assert_ptr_nonnull(strstr(err.msg, "face_check_weight"));
    free(base), free(got);
    unlink(det_path);
}
END_TEST

/* A fixed classifier written to a path of its own (write_classifier's name
 * depends only on the classes). */
static void write_classifier_as(const char *path, const char *classes, const float *logits) {
    char tmp[256];
    write_classifier(tmp, sizeof tmp, classes, logits);
    ck_assert_int_eq(rename(tmp, path), 0);
}

/* Several classifiers: their probabilities are averaged. Two fixed ones with
 * P(mask) = e^2 / (1 + e^2) and 1 / (1 + e) give the mean of the two for
 * every face, with or without the mirrored views; a bad list says why. */
START_TEST(classifier_ensemble_averages) {
    char det_path[256], a[256], b[256], bg[256], list[1200];
    write_small_detector(det_path, sizeof det_path);
    snprintf(a, sizeof a, "/tmp/maskdet_api_ens_a_%d.nnw", (int)getpid());
    snprintf(b, sizeof b, "/tmp/maskdet_api_ens_b_%d.nnw", (int)getpid());
    snprintf(bg, sizeof bg, "/tmp/maskdet_api_ens_bg_%d.nnw", (int)getpid());
    write_classifier_as(a, "mask,no_mask", (const float[]){2, 0});
    write_classifier_as(b, "mask,no_mask", (const float[]){0, 1});
    write_classifier_as(bg, "mask,no_mask,background", (const float[]){0, 1, -9});
    float p_a = expf(2) / (1 + expf(2)), p_b = 1 / (1 + expf(1)), mean = 0.5f * (p_a + p_b);
    enum { W = 97, H = 75, ROOM = 64 };
    static uint8_t rgb[W * H * 3];
    for (int i = 0; i < W * H * 3; i++) rgb[i] = (uint8_t)(i * 37 % 251);
    snprintf(list, sizeof list, "%s,%s", a, b);
    for (int tta = 0; tta < 2; tta++) {
        maskdet_options opt = maskdet_options_default();
        opt.detector_path = det_path;
        opt.classifier_path = list;
        opt.face_threshold = 0.6f; /* a few faces are enough */
        opt.no_tta = !tta;
        maskdet *md;
        maskdet_error err;
        ck_assert_msg(maskdet_open(&opt, &md, &err) == 0, "%s", err.msg);
        maskdet_face faces[ROOM];
        int n = maskdet_detect(md, rgb, W, H, 3 * W, faces, ROOM, &err);
        ck_assert_msg(n >= 2, "%d faces: %s", n, n < 0 ? err.msg : "");
        for (int i = 0; i < n && i < ROOM; i++) {
            ck_assert_int_eq(faces[i].label, MASKDET_MASK);
            ck_assert_float_eq_tol(faces[i].score, mean, 1e-5);
        }
        maskdet_close(md);
    }
    struct {
        const char *fmt, *expect;
    } bad[] = {
        {"%s,,%s", "empty"},
        {"%s,%s,", "empty"},
        {"%s,%s,%s,%s,%s", "more than 4"},
        {"%s,%s", "classes differ"},
        {"%s,/tmp/no-such-classifier.nnw", "no-such-classifier"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (i == 3) snprintf(list, sizeof list, bad[i].fmt, a, bg);
        else snprintf(list, sizeof list, bad[i].fmt, a, b, a, b, a);
        maskdet_options opt = maskdet_options_default();
        opt.detector_path = det_path;
        opt.classifier_path = list;
        maskdet *md = NULL;
        maskdet_error err;
        ck_assert_int_lt(maskdet_open(&opt, &md, &err), 0);
        ck_assert_ptr_null(md);
        ck_assert_msg(strstr(err.msg, bad[i].expect), "case %zu: '%s'", i, err.msg);
    }
    unlink(a), unlink(b), unlink(bg), unlink(det_path);
}
END_TEST

/* The same with the bundled models at 640x480 on the best kernels: the layer
 * shapes of a real frame (wide layers take the Winograd and GEMM paths). */
START_TEST(no_allocation_after_first_frame_bundled_models) {
    maskdet *md = open_default();
    enum { FRAMES = 4 };
    frame_loop r = run_frames(md, 640, 480, FRAMES);
    maskdet_close(md);
    ck_assert_msg(!r.failed_frame, "frame %d: %s", r.failed_frame, r.err.msg);
    ck_assert_msg(r.allocations == 0, "%s kernels: %ld allocations in frames 2..%d",
                  nn_kernels_get()->name, r.allocations, FRAMES);
}
END_TEST

Suite *maskdet_api_suite(void) {
    Suite *s = suite_create("maskdet_api");
    /* the bundled models on the photos: slow under the sanitizers on a busy machine */
    TCase *photos = tcase_create("photos");
    tcase_set_timeout(photos, 600);
    tcase_add_test(photos, samples_faces_found_and_labelled);
    tcase_add_test(photos, padded_rows_same_faces);
    tcase_add_test(photos, max_faces_smaller_than_count);
    tcase_add_test(photos, two_handles_two_threads_agree);
    suite_add_tcase(s, photos);
    TCase *errors = tcase_create("errors");
    tcase_set_timeout(errors, 120);
    tcase_add_test(errors, open_errors_say_why);
    tcase_add_test(errors, detect_errors_say_why);
    tcase_add_test(errors, background_class_checks_faces);
    tcase_add_test(errors, classifier_ensemble_averages);
    suite_add_tcase(s, errors);
    TCase *frames = tcase_create("frame_loop");
    tcase_set_timeout(frames, 600);
    tcase_add_test(frames, no_allocation_after_first_frame);
    tcase_add_test(frames, no_allocation_after_first_frame_bundled_models);
    suite_add_tcase(s, frames);
    return s;
}
