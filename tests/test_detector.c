/* test_detector.c - the SSD detector API on the real models of /work/shared
 * (detections vs the cv2.dnn reference JSONs), the .nnw round trip, arena
 * reuse, an input-size override, and bad model files. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "caffe_build.h"
#include "detector.h"
#include "testutil.h"

typedef struct {
    const char *dir, *prototxt, *caffemodel, *reference;
    float threshold;
} model_case;

static const model_case MODELS[] = {
    {"opencv_res10_ssd", "deploy.prototxt", "res10_300x300_ssd_from_uint8.caffemodel",
     "reference_output_caffe.json", 0.5f},
    {"aizoo_face_mask_ssd", "face_mask_detection.prototxt", "face_mask_detection.caffemodel",
     "reference_output.json", 0.5f},
    {"ultraface_rfb320", "RFB-320.prototxt", "RFB-320.caffemodel", "reference_output.json", 0.7f},
};

static const char *const IMAGES[] = {"sample1.jpg", "sample2.jpg", "sample3.jpg", "sample4.jpg",
                                     "sample5.jpg", "sample6.jpg", "demo2.jpg"};

static bool model_paths(int i, char *proto, char *weights, size_t len) {
    const char *shared = tu_shared_dir();
    if (!shared) {
        fprintf(stderr, "test_detector: shared data not found; skipping %s\n", MODELS[i].dir);
        return false;
    }
    snprintf(proto, len, "%s/models/%s/%s", shared, MODELS[i].dir, MODELS[i].prototxt);
    snprintf(weights, len, "%s/models/%s/%s", shared, MODELS[i].dir, MODELS[i].caffemodel);
    if (access(proto, R_OK) || access(weights, R_OK)) {
        fprintf(stderr, "test_detector: %s not found; skipping\n", MODELS[i].dir);
        return false;
    }
    return true;
}

/* Same detections, to float noise (the kernels may sum in another order). */
static void assert_same(const ssd_detection *a, const ssd_detection *b, int n) {
    for (int i = 0; i < n; i++) {
        ck_assert_int_eq(a[i].label, b[i].label);
        ck_assert(fabsf(a[i].score - b[i].score) < 1e-5f);
        ck_assert(fabsf(a[i].x1 - b[i].x1) < 1e-2f && fabsf(a[i].y1 - b[i].y1) < 1e-2f);
        ck_assert(fabsf(a[i].x2 - b[i].x2) < 1e-2f && fabsf(a[i].y2 - b[i].y2) < 1e-2f);
    }
}

static detector *open_caffe(int i) {
    char proto[1024], weights[1024];
    if (!model_paths(i, proto, weights, sizeof proto)) return NULL;
    detector *det;
    nn_error err;
    ck_assert_msg(detector_from_caffe(proto, weights, &det, &err) == NN_OK, "%s", err.msg);
    return det;
}

static image load_sample(const char *name) {
    char path[1024];
    snprintf(path, sizeof path, "%s/samples/%s", tu_shared_dir(), name);
    image img;
    nn_error err;
    ck_assert_msg(image_load(path, 3, &img, &err) == NN_OK, "%s", err.msg);
    return img;
}

/* References: tests/fixtures/detector_cv2.nnfx, made by gen_detector.py with
 * OpenCV's dnn (and each model's documented post-processing) on the pixels
 * our decoder (stb_image) gives. The shared reference_output*.json files were
 * made on OpenCV-decoded (libjpeg) pixels, which differ by a few levels on
 * about 3% of the pixels: enough to move a borderline face across the
 * threshold. check_detector_cv2.py checks those with the command line. */
static const char *const FIXTURE_KEY[] = {"res10", "aizoo", "ultraface"};

/* Our detections on every sample: the same faces (each reference box matched
 * to the closest of ours), corners within 1 px, scores within 1e-3, labels equal. */
static void check_against_reference(detector *det, int i, const detector_params *p) {
    tu_fixture *fx = tu_fixture_load("fixtures/detector_cv2.nnfx");
    ck_assert_ptr_nonnull(fx);
    double max_box = 0, max_score = 0;
    int total = 0;
    for (size_t k = 0; k < sizeof IMAGES / sizeof IMAGES[0]; k++) {
        char key[64], stem[32];
        snprintf(stem, sizeof stem, "%s", IMAGES[k]);
        *strchr(stem, '.') = 0;
        snprintf(key, sizeof key, "%s.%s", FIXTURE_KEY[i], stem);
        size_t nv;
        const float *ref = tu_fixture_data(fx, key, &nv);
        ck_assert_ptr_nonnull(ref);
        int nref = ref[0] < 0 ? 0 : (int)(nv / 6);
        image img = load_sample(IMAGES[k]);
        ssd_detection dets[256];
        int n;
        nn_error err;
        ck_assert_msg(detector_detect(det, &img, p, dets, 256, &n, &err) == NN_OK, "%s", err.msg);
        ck_assert_msg(n == nref, "%s %s: %d detections, reference %d", MODELS[i].dir, IMAGES[k], n,
                      nref);
        bool used[256] = {false};
        for (int j = 0; j < nref; j++) {
            const float *rb = ref + j * 6;
            int best = -1;
            double best_err = 1e30;
            for (int q = 0; q < n; q++) {
                if (used[q]) continue;
                double e = fmax(fmax(fabs(dets[q].x1 - rb[0]), fabs(dets[q].y1 - rb[1])),
                                fmax(fabs(dets[q].x2 - rb[2]), fabs(dets[q].y2 - rb[3])));
                if (e < best_err) best_err = e, best = q;
            }
            ck_assert_int_ge(best, 0);
            used[best] = true;
            double se = fabs(dets[best].score - rb[5]);
            ck_assert_msg(best_err <= 1.0, "%s %s face %d: box off by %.3f px", MODELS[i].dir,
                          IMAGES[k], j, best_err);
            ck_assert_msg(se <= 1e-3, "%s %s face %d: score %.6f vs %.6f", MODELS[i].dir, IMAGES[k],
                          j, dets[best].score, rb[5]);
            ck_assert_int_eq(dets[best].label, (int)rb[4]);
            max_box = fmax(max_box, best_err), max_score = fmax(max_score, se);
            total++;
        }
        image_free(&img);
    }
    fprintf(stderr,
            "test_detector: %s: %d detections match; max box diff %.4f px, max score diff %.2e\n",
            MODELS[i].dir, total, max_box, max_score);
    tu_fixture_free(fx);
}

static void reference_case(int i) {
    detector *det = open_caffe(i);
    if (!det) return;
    detector_params p = detector_params_default();
    p.threshold = MODELS[i].threshold;
    check_against_reference(det, i, &p);
    detector_free(det);
}

START_TEST(res10_matches_opencv) { reference_case(0); }
END_TEST
START_TEST(aizoo_matches_opencv) { reference_case(1); }
END_TEST
START_TEST(ultraface_matches_opencv) { reference_case(2); }
END_TEST

/* Box voting on a Caffe SSD (off by default: the reference outputs above are
 * without it): the same detections and scores, only boxes move, by less
 * than a face. AIZOO's own NMS refuses it. */
START_TEST(box_voting_moves_boxes_only) {
    detector *det = open_caffe(0);
    if (!det) return;
    detector_params p = detector_params_default();
    p.threshold = MODELS[0].threshold;
    image img = load_sample(IMAGES[0]);
    ssd_detection plain[256], voted[256];
    int n_plain, n_voted;
    nn_error err;
    ck_assert_msg(detector_detect(det, &img, &p, plain, 256, &n_plain, &err) == NN_OK, "%s",
                  err.msg);
    p.box_vote = 1;
    ck_assert_msg(detector_detect(det, &img, &p, voted, 256, &n_voted, &err) == NN_OK, "%s",
                  err.msg);
    ck_assert_int_eq(n_voted, n_plain);
    ck_assert_int_ge(n_plain, 1);
    double most = 0;
    for (int i = 0; i < n_plain; i++) {
        ck_assert(voted[i].score == plain[i].score && voted[i].label == plain[i].label);
        float a[4] = {plain[i].x1, plain[i].y1, plain[i].x2, plain[i].y2};
        float b[4] = {voted[i].x1, voted[i].y1, voted[i].x2, voted[i].y2};
        ck_assert_msg(ssd_iou(a, b) > 0.7f, "face %d moved too far (IoU %.2f)", i, ssd_iou(a, b));
        for (int k = 0; k < 4; k++) most = fmax(most, fabs(a[k] - b[k]));
    }
    ck_assert_msg(most > 0.01, "voting moved no box (%.4f px)", most);
    /* and the default again: the plain boxes (the model's default is off) */
    p.box_vote = -1;
    ck_assert_int_eq(detector_detect(det, &img, &p, voted, 256, &n_voted, &err), NN_OK);
    ck_assert(n_voted == n_plain && voted[0].x1 == plain[0].x1);
    detector_free(det);
    detector *aizoo = open_caffe(1);
    if (aizoo) {
        p = detector_params_default();
        p.box_vote = 1;
        ck_assert_int_ne(detector_detect(aizoo, &img, &p, voted, 256, &n_voted, &err), NN_OK);
        ck_assert_msg(strstr(err.msg, "box voting"), "%s", err.msg);
        detector_free(aizoo);
    }
    image_free(&img);
}
END_TEST

/* import-caffe -> .nnw -> load gives the same detections with the file's
 * own defaults (threshold, preprocessing). */
START_TEST(nnw_round_trip) {
    detector *det = open_caffe(0);
    if (!det) return;
    char path[] = "/tmp/test_detector_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    nn_error err;
    ck_assert_msg(detector_save(det, path, &err) == NN_OK, "%s", err.msg);
    detector *loaded;
    ck_assert_msg(detector_load(path, &loaded, &err) == NN_OK, "%s", err.msg);
    unlink(path);
    ck_assert_str_eq(detector_meta(loaded, "arch"), "caffe");
    ck_assert_str_eq(detector_class_name(loaded, 1), "face");
    image img = load_sample("sample1.jpg");
    ssd_detection a[64], b[64];
    int na, nb;
    ck_assert(detector_detect(det, &img, NULL, a, 64, &na, &err) == NN_OK);
    ck_assert(detector_detect(loaded, &img, NULL, b, 64, &nb, &err) == NN_OK);
    ck_assert_int_eq(na, nb);
    ck_assert_int_ge(na, 1);
    assert_same(a, b, na);
    image_free(&img);
    detector_free(det);
    detector_free(loaded);
}
END_TEST

/* Repeated calls reuse the ctx arena: no system allocation after the first. */
START_TEST(arena_reused) {
    detector *det = open_caffe(2);
    if (!det) return;
    image img = load_sample("demo2.jpg");
    ssd_detection d[64];
    int n;
    nn_error err;
    /* the first pass grows the arena; the second finds it merged into one block */
    for (int k = 0; k < 2; k++)
        ck_assert(detector_detect(det, &img, NULL, d, 64, &n, &err) == NN_OK);
    size_t allocs = nn_arena_system_allocs(nn_ctx_arena(detector_ctx(det)));
    for (int k = 0; k < 2; k++)
        ck_assert(detector_detect(det, &img, NULL, d, 64, &n, &err) == NN_OK);
    ck_assert_uint_eq(nn_arena_system_allocs(nn_ctx_arena(detector_ctx(det))), allocs);
    ck_assert_int_eq(n, 1);
    image_free(&img);
    detector_free(det);
}
END_TEST

/* A larger input: the network and priors are rebuilt for it; the faces of
 * the reference are still found, and going back gives the 300x300 result. */
START_TEST(input_size_override) {
    detector *det = open_caffe(0);
    if (!det) return;
    image img = load_sample("sample4.jpg");
    ssd_detection base[64], big[256], again[64];
    int nb, ng, na;
    nn_error err;
    detector_params p = detector_params_default();
    ck_assert(detector_detect(det, &img, &p, base, 64, &nb, &err) == NN_OK);
    p.input_w = 480, p.input_h = 360;
    ck_assert_msg(detector_detect(det, &img, &p, big, 256, &ng, &err) == NN_OK, "%s", err.msg);
    for (int i = 0; i < nb; i++) {
        float bb[4] = {base[i].x1, base[i].y1, base[i].x2, base[i].y2}, best = 0;
        for (int j = 0; j < ng; j++) {
            float gb[4] = {big[j].x1, big[j].y1, big[j].x2, big[j].y2};
            best = fmaxf(best, ssd_iou(bb, gb));
        }
        ck_assert_msg(best > 0.5f, "face %d not found at 480x360 (best IoU %.2f)", i, best);
    }
    p.input_w = p.input_h = 0;
    ck_assert(detector_detect(det, &img, &p, again, 64, &na, &err) == NN_OK);
    ck_assert_int_eq(na, nb);
    assert_same(base, again, nb);
    image_free(&img);
    detector_free(det);
}
END_TEST

/* ---- bad input */

static char *temp_file(const void *data, size_t len) {
    char *path = strdup("/tmp/test_detector_XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
    close(fd);
    return path;
}

static char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc(*len + 1);
    ck_assert_uint_eq(fread(buf, 1, *len, f), *len);
    buf[*len] = 0;
    fclose(f);
    return buf;
}

START_TEST(bad_caffe_files) {
    char proto[1024], weights[1024];
    if (!model_paths(1, proto, weights, sizeof proto)) return;
    size_t wlen, plen;
    char *wbuf = read_all(weights, &wlen), *pbuf = read_all(proto, &plen);
    detector *det;
    nn_error err;
    /* truncated caffemodel */
    char *cut = temp_file(wbuf, wlen / 2);
    nn_status st = detector_from_caffe(proto, cut, &det, &err);
    ck_assert_int_eq(st, NN_ERR_TRUNCATED);
    ck_assert_msg(strstr(err.msg, cut) != NULL, "%s", err.msg);
    ck_assert_ptr_null(det);
    unlink(cut);
    free(cut);
    /* corrupted: a length field in the middle made huge */
    char *bad = malloc(wlen);
    memcpy(bad, wbuf, wlen);
    for (size_t k = 40; k < 48; k++)
        bad[k] = (char)0xff;
    char *corrupt = temp_file(bad, wlen);
    st = detector_from_caffe(proto, corrupt, &det, &err);
    ck_assert_int_ne(st, NN_OK);
    ck_assert_msg(strstr(err.msg, "caffemodel") != NULL, "%s", err.msg);
    unlink(corrupt);
    free(corrupt);
    free(bad);
    /* prototxt syntax error: a brace missing */
    const char *broken = "input: \"data\"\ninput_dim: 1\ninput_dim: 3\ninput_dim: 8\ninput_dim: 8\n"
                         "layer {\n  name: \"c\"\n  type: \"Convolution\"\n  bottom: \"data\"\n";
    char *bp = temp_file(broken, strlen(broken));
    ck_assert_int_ne(detector_from_caffe(bp, weights, &det, &err), NN_OK);
    ck_assert_msg(strstr(err.msg, bp) != NULL && strstr(err.msg, "missing '}'") != NULL, "%s",
                  err.msg);
    unlink(bp);
    free(bp);
    /* an unknown layer type names the layer and its line */
    char *prelu = malloc(plen + 1);
    memcpy(prelu, pbuf, plen + 1);
    char *relu = strstr(prelu, "type: \"ReLU\"");
    ck_assert_ptr_nonnull(relu);
    memcpy(relu, "type: \"PReL\"", 12);
    char *pp = temp_file(prelu, plen);
    ck_assert_int_ne(detector_from_caffe(pp, weights, &det, &err), NN_OK);
    ck_assert_msg(strstr(err.msg, "PReL") && strstr(err.msg, "conv2d_0_activation") &&
                      strstr(err.msg, ":21:"),
                  "%s", err.msg);
    unlink(pp);
    free(pp);
    free(prelu);
    /* blob size mismatch: conv2d_0 declared with 16 outputs, weights have 32 */
    char *mism = malloc(plen + 1);
    memcpy(mism, pbuf, plen + 1);
    char *no = strstr(mism, "num_output: 32");
    ck_assert_ptr_nonnull(no);
    memcpy(no, "num_output: 16", 14);
    char *mp = temp_file(mism, plen);
    ck_assert_int_eq(detector_from_caffe(mp, weights, &det, &err), NN_ERR_SHAPE);
    ck_assert_msg(strstr(err.msg, "layer 'conv2d_0' blob 0") != NULL, "%s", err.msg);
    unlink(mp);
    free(mp);
    free(mism);
    free(wbuf);
    free(pbuf);
}
END_TEST

static char *save_weights(nn_weights *w) {
    char *path = strdup("/tmp/test_detector_XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    nn_error err;
    ck_assert_msg(nn_weights_save(w, path, &err) == NN_OK, "%s", err.msg);
    return path;
}

START_TEST(wrong_model_files) {
    nn_error err;
    detector *det;
    /* a classifier given as the detector */
    nn_weights *w = nn_weights_create();
    ck_assert(nn_weights_set_meta(w, "kind", "classifier", &err) == NN_OK);
    ck_assert(nn_weights_set_meta(w, "arch", "compact", &err) == NN_OK);
    char *path = save_weights(w);
    ck_assert_int_eq(detector_load(path, &det, &err), NN_ERR_FORMAT);
    ck_assert_msg(strstr(err.msg, path) && strstr(err.msg, "classifier"), "%s", err.msg);
    ck_assert_ptr_null(det);
    unlink(path);
    free(path);
    /* a detector of an arch we do not know */
    ck_assert(nn_weights_set_meta(w, "kind", "detector", &err) == NN_OK);
    ck_assert(nn_weights_set_meta(w, "arch", "yolo", &err) == NN_OK);
    ck_assert_int_eq(detector_from_weights(w, &det, &err), NN_ERR_FORMAT);
    ck_assert_msg(strstr(err.msg, "\"arch\"") && strstr(err.msg, "yolo"), "%s", err.msg);
    /* arch caffe without the prototxt; with a broken one */
    ck_assert(nn_weights_set_meta(w, "arch", "caffe", &err) == NN_OK);
    ck_assert(nn_weights_set_meta(w, "classes", "background,face", &err) == NN_OK);
    ck_assert(nn_weights_set_meta(w, "input.width", "8", &err) == NN_OK);
    ck_assert(nn_weights_set_meta(w, "input.height", "8", &err) == NN_OK);
    ck_assert(nn_weights_set_meta(w, "input.channel_order", "bgr", &err) == NN_OK);
    ck_assert(nn_weights_set_meta(w, "ssd.priors", "caffe", &err) == NN_OK);
    ck_assert(nn_weights_set_meta(w, "ssd.prior_blob", "p", &err) == NN_OK);
    ck_assert_int_eq(detector_from_weights(w, &det, &err), NN_ERR_FORMAT);
    ck_assert_msg(strstr(err.msg, "caffe.prototxt") != NULL, "%s", err.msg);
    ck_assert(nn_weights_set_meta(w, "caffe.prototxt", "layer { name: \"x\" ", &err) == NN_OK);
    ck_assert_int_ne(detector_from_weights(w, &det, &err), NN_OK);
    ck_assert_msg(strstr(err.msg, "caffe.prototxt:1:") != NULL, "%s", err.msg);
    /* a conv whose weights are missing from the file */
    ck_assert(nn_weights_set_meta(
                  w, "caffe.prototxt",
                  "input: \"data\" input_shape { dim: 1 dim: 3 dim: 8 dim: 8 }\n"
                  "layer { name: \"conv\" type: \"Convolution\" bottom: \"data\" top: \"c\"\n"
                  "  convolution_param { num_output: 2 kernel_size: 3 } }\n",
                  &err) == NN_OK);
    ck_assert(nn_weights_set_meta(w, "ssd.loc", "c", &err) == NN_OK);
    ck_assert(nn_weights_set_meta(w, "ssd.conf", "c", &err) == NN_OK);
    ck_assert_int_eq(detector_from_weights(w, &det, &err), NN_ERR_NOT_FOUND);
    ck_assert_msg(strstr(err.msg, "'conv'") != NULL, "%s", err.msg);
    /* bad metadata values */
    ck_assert(nn_weights_set_meta(w, "input.channel_order", "rbg", &err) == NN_OK);
    ck_assert_int_eq(detector_from_weights(w, &det, &err), NN_ERR_FORMAT);
    ck_assert_msg(strstr(err.msg, "input.channel_order") != NULL, "%s", err.msg);
    ck_assert(nn_weights_set_meta(w, "input.channel_order", "rgb", &err) == NN_OK);
    ck_assert(nn_weights_set_meta(w, "input.width", "-3", &err) == NN_OK);
    ck_assert_int_eq(detector_from_weights(w, &det, &err), NN_ERR_FORMAT);
    ck_assert_msg(strstr(err.msg, "input.width") != NULL, "%s", err.msg);
    nn_weights_free(w);
}
END_TEST

/* caffe_build on a tiny hand-made net: BatchNorm + Scale folded into the conv,
 * a Scale alone (per-channel affine), Eltwise, ceil-mode pooling; the output
 * is computed by hand. */
START_TEST(build_tiny_net) {
    const char *text =
        "input: \"data\" input_shape { dim: 1 dim: 1 dim: 3 dim: 3 }\n"
        "layer { name: \"conv\" type: \"Convolution\" bottom: \"data\" top: \"c\"\n"
        "  convolution_param { num_output: 2 kernel_size: 1 } }\n"
        "layer { name: \"bn\" type: \"BatchNorm\" bottom: \"c\" top: \"c\" }\n"
        "layer { name: \"sc\" type: \"Scale\" bottom: \"c\" top: \"c\" scale_param { bias_term: "
        "true } }\n"
        "layer { name: \"aff\" type: \"Scale\" bottom: \"c\" top: \"a\" scale_param { bias_term: "
        "true } }\n"
        "layer { name: \"sum\" type: \"Eltwise\" bottom: \"a\" bottom: \"c\" top: \"s\" }\n"
        "layer { name: \"pool\" type: \"Pooling\" bottom: \"s\" top: \"p\"\n"
        "  pooling_param { pool: MAX kernel_size: 2 stride: 2 } }\n";
    caffe_net *net;
    nn_error err;
    ck_assert_msg(caffe_net_parse(text, strlen(text), "tiny", &net, &err) == NN_OK, "%s", err.msg);
    ck_assert(caffe_net_infer_shapes(net, &err) == NN_OK);
    /* attach blobs by hand: conv w = (1, 2), b = (0, 1); bn mean (2,4)/2, var (8,18)/2 with
     * factor 2 -> mean (1,2), var (4,9); scale (3,1) + (0.5,0); affine (2,-1) + (1,1) */
    static float cw[2] = {1, 2}, cb[2] = {0, 1}, mean[2] = {2, 4}, var[2] = {8, 18}, fac[1] = {2};
    static float g[2] = {3, 1}, be[2] = {0.5f, 0}, ag[2] = {2, -1}, ab[2] = {1, 1};
    struct {
        const char *layer;
        int n;
        float *d[3];
        int cnt[3];
    } blobs[] = {
        {"conv", 2, {cw, cb}, {2, 2}},
        {"bn", 3, {mean, var, fac}, {2, 2, 1}},
        {"sc", 2, {g, be}, {2, 2}},
        {"aff", 2, {ag, ab}, {2, 2}},
    };
    for (size_t i = 0; i < 4; i++) {
        caffe_layer *L = &net->layers[caffe_net_find_layer(net, blobs[i].layer)];
        L->n_blobs = blobs[i].n;
        L->blobs = calloc((size_t)blobs[i].n, sizeof *L->blobs);
        for (int k = 0; k < blobs[i].n; k++) {
            L->blobs[k].count = (size_t)blobs[i].cnt[k];
            L->blobs[k].data = malloc(sizeof(float) * 2);
            memcpy(L->blobs[k].data, blobs[i].d[k], sizeof(float) * (size_t)blobs[i].cnt[k]);
        }
    }
    caffe_built b;
    ck_assert_msg(caffe_build(net, &b, &err) == NN_OK, "%s", err.msg);
    /* BatchNorm + Scale folded into the conv: 2 params left on it */
    ck_assert_ptr_null(nn_model_find_param(b.model, "bn.running_mean"));
    ck_assert_ptr_nonnull(nn_model_find_param(b.model, "aff.weight"));
    nn_tensor *x = nn_tensor_new4(1, 1, 3, 3);
    for (int i = 0; i < 9; i++)
        x->data[i] = (float)i - 4;
    nn_ctx *ctx = nn_ctx_create();
    nn_ctx_set_grad_enabled(ctx, false);
    ck_assert(nn_model_forward(b.model, ctx, x) != NULL);
    nn_tensor *y = nn_model_output(b.model, caffe_build_find(&b, "p"));
    ck_assert_int_eq(y->shape[2], 2); /* ceil: (3-2)/2 rounded up + 1 */
    for (int ch = 0; ch < 2; ch++)
        for (int oy = 0; oy < 2; oy++)
            for (int ox = 0; ox < 2; ox++) {
                double best = -1e30;
                for (int dy = 0; dy < 2; dy++)
                    for (int dx = 0; dx < 2; dx++) {
                        int iy = oy * 2 + dy, ix = ox * 2 + dx;
                        if (iy > 2 || ix > 2) continue;
                        double v = cw[ch] * (iy * 3 + ix - 4) + cb[ch];
                        v = g[ch] * (v - mean[ch] / 2) / sqrt(var[ch] / 2 + 1e-5) + be[ch];
                        double s = (ag[ch] * v + ab[ch]) + v;
                        best = fmax(best, s);
                    }
                double got = y->data[(ch * 2 + oy) * 2 + ox];
                ck_assert_msg(fabs(got - best) < 1e-4, "ch %d (%d,%d): %g vs %g", ch, oy, ox, got,
                              best);
            }
    nn_ctx_destroy(ctx);
    nn_tensor_free(x);
    caffe_build_free(&b);
    caffe_net_free(net);
}
END_TEST

Suite *detector_suite(void) {
    Suite *s = suite_create("detector");
    TCase *tc = tcase_create("models");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, build_tiny_net);
    tcase_add_test(tc, wrong_model_files);
    tcase_add_test(tc, bad_caffe_files);
    tcase_add_test(tc, res10_matches_opencv);
    tcase_add_test(tc, aizoo_matches_opencv);
    tcase_add_test(tc, box_voting_moves_boxes_only);
    tcase_add_test(tc, ultraface_matches_opencv);
    tcase_add_test(tc, nnw_round_trip);
    tcase_add_test(tc, arena_reused);
    tcase_add_test(tc, input_size_override);
    suite_add_tcase(s, tc);
    return s;
}
