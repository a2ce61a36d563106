/*
 * bench_detect.c - times whole detectors at 300x300, batch 1: the OpenCV
 * res10 SSD (Caffe import, /work/shared) and SSD300-VGG16 (91 classes as
 * torchvision's default, random weights), on 1 and 2 threads. One call is
 * detector_detect_tensor: the network plus decoding and NMS (the input is
 * already preprocessed). Prints min and median; when benchmarks/detect/peers.py
 * runs (OpenCV DNN and PyTorch, both optional) the same run prints the
 * peers' times and the ratios. "cpu" is the process CPU time of the fastest
 * call (all threads): on a busy shared machine it is the steadier figure.
 *
 *   build/bench_detect [--repeats N] [--no-peers]
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "detector.h"
#include "ssd_vgg16.h"
#include "../timing.h"

typedef struct {
    double min_ms, median_ms;
    double forward_ms, post_ms; /* of the last call */
    double cpu_min_ms;          /* process CPU time (all threads), least of the repeats */
} timing;

static bool time_detector(detector *det, int repeats, timing *t) {
    nn_tensor *x = nn_tensor_new4(1, 3, 300, 300);
    for (size_t i = 0; i < x->numel; i++)
        x->data[i] = (float)((i * 7919) % 255) - 120.0f;
    ssd_detection *found = malloc(sizeof *found * 20000);
    double ts[64];
    nn_error err;
    int n;
    bool ok = true;
    t->cpu_min_ms = 1e30;
    for (int r = -1; r < repeats && ok; r++) { /* r = -1: warm-up */
        double t0 = timing_wall_ms(), c0 = timing_cpu_ms();
        ok = detector_detect_tensor(det, x, 300, 300, NULL, found, 20000, &n, &err) == NN_OK;
        if (r >= 0) ts[r] = timing_wall_ms() - t0;
        if (r >= 0 && timing_cpu_ms() - c0 < t->cpu_min_ms) t->cpu_min_ms = timing_cpu_ms() - c0;
    }
    if (!ok) fprintf(stderr, "bench_detect: %s\n", err.msg);
    detector_timing last = detector_last_timing(det);
    t->forward_ms = last.forward_ms, t->post_ms = last.postprocess_ms;
    qsort(ts, (size_t)repeats, sizeof ts[0], timing_cmp_double);
    t->min_ms = ts[0], t->median_ms = ts[repeats / 2];
    nn_tensor_free(x);
    free(found);
    return ok;
}

static const char *shared_dir(void) {
    static const char *candidates[] = {NULL, "../shared", "/work/shared", "../../shared"};
    candidates[0] = getenv("MASKDET_SHARED");
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++) {
        struct stat st;
        if (candidates[i] && stat(candidates[i], &st) == 0 && S_ISDIR(st.st_mode))
            return candidates[i];
    }
    return NULL;
}

static detector *vgg_detector(void) {
    ssd_vgg16 net;
    nn_error err;
    if (ssd_vgg16_build(91, &net, &err)) return NULL;
    nn_model_init(net.model, 1);
    nn_weights *w = nn_weights_create();
    char classes[1024] = "background";
    for (int c = 1; c < 91; c++)
        snprintf(classes + strlen(classes), sizeof classes - strlen(classes), ",c%d", c);
    static const char *const meta[][2] = {
        {"kind", "detector"},       {"arch", "ssd_vgg16"},          {"input.width", "300"},
        {"input.height", "300"},    {"input.channel_order", "rgb"}, {"input.mean", "123,117,104"},
        {"ssd.nms", "0.45"},        {"ssd.top_k", "400"},           {"ssd.keep_top_k", "200"},
        {"ssd.clip", "before_nms"}, {"ssd.threshold", "0.01"},
    };
    bool ok = nn_model_to_weights(net.model, w, NN_DTYPE_F32, &err) == NN_OK &&
              nn_weights_set_meta(w, "classes", classes, &err) == NN_OK;
    for (size_t i = 0; ok && i < sizeof meta / sizeof meta[0]; i++)
        ok = nn_weights_set_meta(w, meta[i][0], meta[i][1], &err) == NN_OK;
    ssd_vgg16_free(&net);
    detector *det = NULL;
    if (!ok || detector_from_weights(w, &det, &err)) {
        fprintf(stderr, "bench_detect: ssd_vgg16: %s\n", err.msg);
        nn_weights_free(w);
        return NULL;
    }
    return det;
}

/* Runs peers.py for `threads`; fills opencv/pytorch medians (0 if absent). */
static void run_peers(const char *shared, int threads, int repeats, double *cv_ms,
                      double *torch_ms) {
    *cv_ms = *torch_ms = 0;
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 benchmarks/detect/peers.py --threads %d --repeats %d --shared '%s' "
             "2>/dev/null",
             threads, repeats, shared ? shared : "/nonexistent");
    FILE *p = popen(cmd, "r");
    if (!p) return;
    char line[1024];
    while (fgets(line, sizeof line, p)) {
        cJSON *j = cJSON_Parse(line);
        if (!j) continue;
        cJSON *peer = cJSON_GetObjectItem(j, "peer"), *med = cJSON_GetObjectItem(j, "median_ms");
        cJSON *mn = cJSON_GetObjectItem(j, "min_ms");
        if (cJSON_IsString(peer) && cJSON_IsNumber(med)) {
            printf("  peer %-8s %-13s %d thread%s  min %8.1f ms  median %8.1f ms\n",
                   peer->valuestring, cJSON_GetObjectItem(j, "model")->valuestring, threads,
                   threads == 1 ? " " : "s", cJSON_IsNumber(mn) ? mn->valuedouble : 0,
                   med->valuedouble);
            if (!strcmp(peer->valuestring, "opencv")) *cv_ms = med->valuedouble;
            if (!strcmp(peer->valuestring, "pytorch")) *torch_ms = med->valuedouble;
        }
        cJSON_Delete(j);
    }
    pclose(p);
}

int main(int argc, char **argv) {
    int repeats = 10;
    bool peers = true;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--repeats") && i + 1 < argc)
            repeats = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--no-peers"))
            peers = false;
        else {
            fprintf(stderr, "usage: bench_detect [--repeats N] [--no-peers]\n");
            return 2;
        }
    }
    if (repeats < 1 || repeats > 64) repeats = 10;
    const char *shared = shared_dir();
    detector *res10 = NULL;
    if (shared) {
        char proto[1024], weights[1024];
        snprintf(proto, sizeof proto, "%s/models/opencv_res10_ssd/deploy.prototxt", shared);
        snprintf(weights, sizeof weights,
                 "%s/models/opencv_res10_ssd/res10_300x300_ssd_from_uint8.caffemodel", shared);
        nn_error err;
        if (detector_from_caffe(proto, weights, &res10, &err))
            fprintf(stderr, "bench_detect: %s\n", err.msg);
    } else {
        fprintf(stderr, "bench_detect: shared data not found; res10 skipped\n");
    }
    detector *vgg = vgg_detector();
    printf("detectors at 300x300, batch 1 (kernels: %s), %d repeats\n", nn_kernels_get()->name,
           repeats);
    for (int threads = 1; threads <= 2; threads++) {
        nn_threads_set(threads);
        timing tr = {0}, tv = {0};
        if (res10 && time_detector(res10, repeats, &tr))
            printf("  ours     res10         %d thread%s  min %8.1f ms  median %8.1f ms"
                   "  cpu %7.1f ms  (last: network %.1f, decode+NMS %.1f)\n",
                   threads, threads == 1 ? " " : "s", tr.min_ms, tr.median_ms, tr.cpu_min_ms,
                   tr.forward_ms, tr.post_ms);
        int vrep = repeats > 5 ? 5 : repeats;
        if (vgg && time_detector(vgg, vrep, &tv))
            printf("  ours     ssd300_vgg16  %d thread%s  min %8.1f ms  median %8.1f ms"
                   "  cpu %7.1f ms  (last: network %.1f, decode+NMS %.1f)\n",
                   threads, threads == 1 ? " " : "s", tv.min_ms, tv.median_ms, tv.cpu_min_ms,
                   tv.forward_ms, tv.post_ms);
        if (!peers) continue;
        double cv_ms, torch_ms;
        run_peers(shared, threads, repeats, &cv_ms, &torch_ms);
        if (cv_ms > 0 && tr.median_ms > 0)
            printf("  res10: ours / OpenCV DNN = %.2f (median)\n", tr.median_ms / cv_ms);
        if (torch_ms > 0 && tv.median_ms > 0)
            printf("  ssd300_vgg16: ours / PyTorch = %.2f (median)\n", tv.median_ms / torch_ms);
        if (cv_ms == 0 && torch_ms == 0)
            printf("  (no peers: python3 with cv2 / torch not found)\n");
    }
    detector_free(res10);
    detector_free(vgg);
    nn_threads_shutdown();
    return 0;
}
