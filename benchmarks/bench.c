/*
 * bench.c - times the convolution kernels on the layers the project runs,
 * batch 1, for the forward pass, backward data and backward weights, on 1
 * and 2 threads. Two layer sets (--net):
 *   vgg       the 13 VGG-16 convolutions at 300x300 plus SSD's conv6 (3x3,
 *             dilation 6, 512->1024 at 19x19), conv7 (1x1, 1024->1024) and
 *             its two largest heads, conf4_3 and conf7
 *   face_ssd  every convolution of the face detector (vision/face_ssd.c,
 *             default widths 16,32,48,96,160,160, 2 classes) at 640x480:
 *             conv1 is 3x3 stride 2, the rest 3x3 stride 1 pad 1, and each
 *             of the 5 maps has a loc (12) and a conf (6) head.
 *
 * For each it prints the min and median of the repeats (and cpu_ms, the
 * least CPU time one repeat took over all threads: on a machine shared with
 * other work, 1-thread comparisons are steadier in CPU time than in wall
 * time, which counts the time the thread waited for a core), GFLOP/s counted as
 * 2*Cout*Ho*Wo*(Cin/G)*Kh*Kw, and the percentage of the FP32 peak measured
 * on this machine at the same thread count (an FMA loop). The kernels get a
 * workspace (nn_conv2d_shape.scratch) kept across calls, as a ctx gives
 * them, so their buffers are not allocated and faulted in per call. Peers (oneDNN,
 * OpenBLAS im2col+sgemm) are timed too when their libraries are installed.
 *
 *   build/bench [--json] [--net=vgg|face_ssd] [--layers=conv1_1,conv4] [--passes=fwd,fwd_direct,bwd_data,bwd_weights,fwd_packed]
 *               [--threads=1,2] [--repeats=N] [--isa=avx2] [--no-peers] [--winograd=2|4]
 * A layer filter matches name prefixes ("conv4" is conv4_1..conv4_3).
 * --winograd=2 or 4 forces Winograd F(2x2) or F(4x4) in the forward passes
 * wherever it can run (3x3 stride 1; nn_conv2d_shape.winograd_tile), to
 * measure what the selection rule (nn/winograd_simd.h, wg_fwd_tile) picks from.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "bench.h"
#include "nn_internal.h"
#include "timing.h"

typedef struct {
    const char *name;
    int cin, cout, h, w, k, stride, pad, dil;
} layer;

static const layer vgg_layers[] = {
    /* name      cin  cout    h    w  k  s  p  d */
    {"conv1_1",    3,   64, 300, 300, 3, 1, 1, 1}, {"conv1_2",   64,   64, 300, 300, 3, 1, 1, 1},
    {"conv2_1",   64,  128, 150, 150, 3, 1, 1, 1}, {"conv2_2",  128,  128, 150, 150, 3, 1, 1, 1},
    {"conv3_1",  128,  256,  75,  75, 3, 1, 1, 1}, {"conv3_2",  256,  256,  75,  75, 3, 1, 1, 1},
    {"conv3_3",  256,  256,  75,  75, 3, 1, 1, 1}, {"conv4_1",  256,  512,  38,  38, 3, 1, 1, 1},
    {"conv4_2",  512,  512,  38,  38, 3, 1, 1, 1}, {"conv4_3",  512,  512,  38,  38, 3, 1, 1, 1},
    {"conv5_1",  512,  512,  19,  19, 3, 1, 1, 1}, {"conv5_2",  512,  512,  19,  19, 3, 1, 1, 1},
    {"conv5_3",  512,  512,  19,  19, 3, 1, 1, 1}, {"conv6",    512, 1024,  19,  19, 3, 1, 6, 6},
    {"conv7",   1024, 1024,  19,  19, 1, 1, 0, 1},
    /* SSD300's two largest heads: the class scores (91 classes x 4 and x 6
     * priors per cell) on conv4_3 and on conv7 */
    {"conf4_3",  512,  364,  38,  38, 3, 1, 1, 1}, {"conf7",   1024,  546,  19,  19, 3, 1, 1, 1},
};

/* Input sizes: 640x480 -> conv1 (stride 2) 320x240 -> pool 160x120, then a
 * ceil-mode 2x2 pool before each later stage: 80x60, 40x30, 20x15, 10x8. */
static const layer face_ssd_layers[] = {
    /* name      cin  cout    h    w  k  s  p  d */
    {"conv1",      3,   16, 480, 640, 3, 2, 1, 1},
    {"conv2_1",   16,   32, 120, 160, 3, 1, 1, 1}, {"conv2_2",   32,   32, 120, 160, 3, 1, 1, 1},
    {"loc0",      32,   12, 120, 160, 3, 1, 1, 1}, {"conf0",     32,    6, 120, 160, 3, 1, 1, 1},
    {"conv3_1",   32,   48,  60,  80, 3, 1, 1, 1}, {"conv3_2",   48,   48,  60,  80, 3, 1, 1, 1},
    {"loc1",      48,   12,  60,  80, 3, 1, 1, 1}, {"conf1",     48,    6,  60,  80, 3, 1, 1, 1},
    {"conv4_1",   48,   96,  30,  40, 3, 1, 1, 1}, {"conv4_2",   96,   96,  30,  40, 3, 1, 1, 1},
    {"loc2",      96,   12,  30,  40, 3, 1, 1, 1}, {"conf2",     96,    6,  30,  40, 3, 1, 1, 1},
    {"conv5_1",   96,  160,  15,  20, 3, 1, 1, 1}, {"conv5_2",  160,  160,  15,  20, 3, 1, 1, 1},
    {"loc3",     160,   12,  15,  20, 3, 1, 1, 1}, {"conf3",    160,    6,  15,  20, 3, 1, 1, 1},
    {"conv6_1",  160,  160,   8,  10, 3, 1, 1, 1},
    {"loc4",     160,   12,   8,  10, 3, 1, 1, 1}, {"conf4",    160,    6,   8,  10, 3, 1, 1, 1},
};

/* fwd_packed: the forward pass with weights packed once beforehand (the
 * optional conv2d_pack_weights / conv2d_forward_packed), as for inference.
 * fwd_direct: the forward pass on the direct GEMM even where Winograd would
 * run (nn_conv2d_shape.direct_only), the path the 85 % target is for. */
enum { N_PASSES = 5, PASS_FWD_PACKED = 3, PASS_FWD_DIRECT = 4 };
static const char *pass_names[N_PASSES] = {"fwd", "bwd_data", "bwd_weights", "fwd_packed",
                                           "fwd_direct"};

/* What a pass computes, for the peers: both extra passes are forward. */
static bench_pass pass_kind(int p) { return p >= PASS_FWD_PACKED ? BENCH_FWD : (bench_pass)p; }

typedef struct {
    bool json, peers;
    const layer *layers;
    int n_layers;
    char layer_filter[256];
    bool pass_on[N_PASSES];
    int threads[8], n_threads;
    int repeats;
    int winograd_tile; /* --winograd=2|4: that variant wherever Winograd can run */
} options;

static bool layer_selected(const options *o, const char *name) {
    if (!o->layer_filter[0]) return true;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", o->layer_filter);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ","))
        if (strncmp(name, tok, strlen(tok)) == 0) return true;
    return false;
}

static void usage(void) {
    fprintf(stderr, "usage: bench [--json] [--net=vgg|face_ssd] [--layers=a,b] [--passes=fwd,fwd_direct,bwd_data,bwd_weights,fwd_packed]\n"
                    "             [--threads=1,2] [--repeats=N] [--isa=reference|avx2|avx512]"
                    " [--no-peers] [--winograd=2|4]\n");
}

static bool parse_args(int argc, char **argv, options *o) {
    *o = (options){.peers = true, .layers = vgg_layers,
                   .n_layers = (int)(sizeof vgg_layers / sizeof vgg_layers[0]), .pass_on = {true, true, true, false, true}, .threads = {1, 2},
                   .n_threads = 2, .repeats = 5};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--json") == 0) {
            o->json = true;
        } else if (strcmp(a, "--no-peers") == 0) {
            o->peers = false;
        } else if (strcmp(a, "--net=vgg") == 0) {
            o->layers = vgg_layers;
            o->n_layers = (int)(sizeof vgg_layers / sizeof vgg_layers[0]);
        } else if (strcmp(a, "--net=face_ssd") == 0) {
            o->layers = face_ssd_layers;
            o->n_layers = (int)(sizeof face_ssd_layers / sizeof face_ssd_layers[0]);
        } else if (strncmp(a, "--layers=", 9) == 0) {
            snprintf(o->layer_filter, sizeof o->layer_filter, "%s", a + 9);
        } else if (strncmp(a, "--passes=", 9) == 0) {
            char list[128];
            snprintf(list, sizeof list, ",%s,", a + 9);
            for (int p = 0; p < N_PASSES; p++) {
                char name[32];
                snprintf(name, sizeof name, ",%s,", pass_names[p]);
                o->pass_on[p] = strstr(list, name) != NULL;
            }
        } else if (strncmp(a, "--threads=", 10) == 0) {
            o->n_threads = 0;
            char buf[64];
            snprintf(buf, sizeof buf, "%s", a + 10);
            for (char *t = strtok(buf, ","); t && o->n_threads < 8; t = strtok(NULL, ","))
                if (atoi(t) >= 1) o->threads[o->n_threads++] = atoi(t);
        } else if (strncmp(a, "--repeats=", 10) == 0) {
            o->repeats = atoi(a + 10);
            if (o->repeats < 1) o->repeats = 1;
        } else if (strcmp(a, "--winograd=2") == 0 || strcmp(a, "--winograd=4") == 0) {
            o->winograd_tile = atoi(a + 11);
        } else if (strncmp(a, "--isa=", 6) == 0) {
            int isa = -1;
            for (int k = NN_ISA_REFERENCE; k <= NN_ISA_AVX512; k++)
                if (strcmp(a + 6, nn_isa_name((nn_isa)k)) == 0) isa = k;
            if (isa < 0 || nn_set_isa((nn_isa)isa) != NN_OK) {
                fprintf(stderr, "bench: ISA %s not available here\n", a + 6);
                return false;
            }
        } else {
            usage();
            return false;
        }
    }
    return o->n_threads > 0;
}

static nn_conv2d_shape layer_shape(const layer *l) {
    nn_conv2d_shape s = {.n = 1, .cin = l->cin, .h = l->h, .w = l->w, .cout = l->cout,
                         .kh = l->k, .kw = l->k, .stride_h = l->stride, .stride_w = l->stride,
                         .pad_h = l->pad, .pad_w = l->pad, .dil_h = l->dil, .dil_w = l->dil,
                         .groups = 1, .relu = true};
    s.hout = (l->h + 2 * l->pad - l->dil * (l->k - 1) - 1) / l->stride + 1;
    s.wout = (l->w + 2 * l->pad - l->dil * (l->k - 1) - 1) / l->stride + 1;
    return s;
}

static double conv_flops(const nn_conv2d_shape *s) {
    return 2.0 * s->n * s->cout * s->hout * s->wout * (double)(s->cin / s->groups) * s->kh * s->kw;
}

static float *alloc_filled(size_t n, unsigned seed) {
    float *p = nn_aligned_alloc(n * sizeof(float));
    if (!p) return NULL;
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        p[i] = (float)(seed >> 8) / 16777216.0f - 0.5f;
    }
    return p;
}

static double cpu_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct {
    float *x, *w, *b, *y, *dy, *dx, *dw, *db;
    float *packed; /* fwd_packed only */
} buffers;

static void run_pass(const nn_kernels *k, const nn_conv2d_shape *s, int pass,
                     buffers *bf) {
    switch (pass) {
    case BENCH_FWD: k->conv2d_forward(s, bf->x, bf->w, bf->b, bf->y); break;
    case BENCH_BWD_DATA: k->conv2d_backward_data(s, bf->dy, bf->w, bf->dx); break;
    case BENCH_BWD_WEIGHTS: k->conv2d_backward_weights(s, bf->x, bf->dy, bf->dw, bf->db); break;
    case PASS_FWD_PACKED: k->conv2d_forward_packed(s, bf->x, bf->packed, bf->b, bf->y); break;
    default: k->conv2d_forward(s, bf->x, bf->w, bf->b, bf->y); break; /* fwd_direct */
    }
}

int main(int argc, char **argv) {
    options o;
    if (!parse_args(argc, argv, &o)) return 2;
    const nn_kernels *k = nn_kernels_get();
    bool have_dnnl = o.peers && bench_onednn_available();
    bool have_blas = o.peers && bench_openblas_available();

    double peak[8];
    nn_isa isa = NN_ISA_REFERENCE;
    for (int i = NN_ISA_REFERENCE; i <= NN_ISA_AVX512; i++)
        if (nn_kernels_for((nn_isa)i) == k) isa = (nn_isa)i;
    /* the reference kernels are scalar; their percentages use the AVX2 peak */
    for (int t = 0; t < o.n_threads; t++)
        peak[t] = bench_peak_gflops(o.threads[t], isa == NN_ISA_REFERENCE ? NN_ISA_AVX2 : isa);
    if (!o.json) {
        printf("kernels: %s; peers: oneDNN %s, OpenBLAS %s\n", k->name,
               have_dnnl ? "yes" : "absent", have_blas ? "yes" : "absent");
        for (int t = 0; t < o.n_threads; t++)
            printf("measured FP32 peak on %d thread%s: %.1f GFLOP/s\n", o.threads[t],
                   o.threads[t] > 1 ? "s" : "", peak[t]);
        printf("vs_X = our ms_min / X's ms_min, runs interleaved (< 1: we are faster); "
               "oneDNN uses its own blocked layouts, untimed reorders\n");
        printf("\n%-8s %-11s %3s %9s %9s %8s %6s %10s %10s %8s\n", "layer", "pass", "thr", "ms_min",
               "ms_med", "GFLOP/s", "%peak", "vs_oneDNN", "vs_OpenBLAS", "cpu_ms");
    } else {
        printf("{\n  \"kernels\": \"%s\",\n  \"peak_gflops\": {", k->name);
        for (int t = 0; t < o.n_threads; t++)
            printf("%s\"%d\": %.2f", t ? ", " : "", o.threads[t], peak[t]);
        printf("},\n  \"layers\": [");
    }

    double *times = malloc(sizeof(double) * o.repeats);
    nn_scratch *scratch = nn_scratch_create();
    if (!times || !scratch) return 1;
    bool first_row = true;
    for (int ti = 0; ti < o.n_threads; ti++) {
        int threads = o.threads[ti];
        nn_threads_set(threads);
        double total_ms[N_PASSES] = {0}, total_flops[N_PASSES] = {0};
        for (int li = 0; li < o.n_layers; li++) {
            const layer *l = &o.layers[li];
            if (!layer_selected(&o, l->name)) continue;
            nn_conv2d_shape s = layer_shape(l);
            s.scratch = scratch;
            s.winograd_tile = o.winograd_tile;
            size_t nx = (size_t)s.cin * s.h * s.w, ny = (size_t)s.cout * s.hout * s.wout;
            size_t nw = (size_t)s.cout * s.cin * s.kh * s.kw;
            buffers bf = {alloc_filled(nx, 1), alloc_filled(nw, 2), alloc_filled(s.cout, 3),
                          alloc_filled(ny, 4), alloc_filled(ny, 5), alloc_filled(nx, 6),
                          alloc_filled(nw, 7), alloc_filled(s.cout, 8), NULL};
            if (!bf.x || !bf.w || !bf.b || !bf.y || !bf.dy || !bf.dx || !bf.dw || !bf.db) {
                fprintf(stderr, "bench: out of memory\n");
                return 1;
            }
            for (int p = 0; p < N_PASSES; p++) {
                if (!o.pass_on[p]) continue;
                if (p == PASS_FWD_PACKED) {
                    if (!k->conv2d_forward_packed) continue;
                    bf.packed = nn_aligned_alloc(k->conv2d_packed_floats(&s) * sizeof(float));
                    if (!bf.packed) continue;
                    k->conv2d_pack_weights(&s, bf.w, bf.packed);
                }
                /* Ours and the peers take turns, so a burst of load from
                 * elsewhere hits all of them alike; each keeps its minimum. */
                bench_peer *peer[2] = {
                    have_dnnl ? bench_onednn_prepare(&s, pass_kind(p), threads) : NULL,
                    have_blas ? bench_openblas_prepare(&s, pass_kind(p), threads) : NULL};
                s.direct_only = p == PASS_FWD_DIRECT;
                double peer_ms[2] = {1e30, 1e30}, cpu_ms = 1e30;
                for (int r = -1; r < o.repeats; r++) { /* r = -1 warms up */
                    double t0 = bench_now_s(), c0 = cpu_now_s();
                    run_pass(k, &s, p, &bf);
                    double c_ms = (cpu_now_s() - c0) * 1e3;
                    if (r >= 0) times[r] = (bench_now_s() - t0) * 1e3;
                    if (r >= 0 && c_ms < cpu_ms) cpu_ms = c_ms;
                    for (int q = 0; q < 2; q++) {
                        if (!peer[q]) continue;
                        t0 = bench_now_s();
                        bench_peer_run(peer[q]);
                        double ms = (bench_now_s() - t0) * 1e3;
                        if (r >= 0 && ms < peer_ms[q]) peer_ms[q] = ms;
                    }
                }
                bool dnnl_ok = peer[0] != NULL, blas_ok = peer[1] != NULL;
                for (int q = 0; q < 2; q++) bench_peer_free(peer[q]);
                qsort(times, o.repeats, sizeof(double), timing_cmp_double);
                double ms_min = times[0], ms_med = times[o.repeats / 2];
                double flops = conv_flops(&s), gf = flops / (ms_min * 1e-3) * 1e-9;
                double pct = peak[ti] > 0 ? 100.0 * gf / peak[ti] : 0.0;
                total_ms[p] += ms_min;
                total_flops[p] += flops;
                double dnnl_ms = peer_ms[0], blas_ms = peer_ms[1];
                if (o.json) {
                    printf("%s\n    {\"name\": \"%s\", \"pass\": \"%s\", \"threads\": %d, "
                           "\"ms_min\": %.3f, \"ms_median\": %.3f, \"gflops\": %.1f, "
                           "\"pct_peak\": %.1f, \"cpu_ms_min\": %.3f",
                           first_row ? "" : ",", l->name, pass_names[p], threads, ms_min, ms_med,
                           gf, pct, cpu_ms);
                    if (dnnl_ok) printf(", \"onednn_ms\": %.3f", dnnl_ms);
                    if (blas_ok) printf(", \"openblas_ms\": %.3f", blas_ms);
                    printf("}");
                    first_row = false;
                } else {
                    char vd[16] = "-", vb[16] = "-";
                    if (dnnl_ok) snprintf(vd, sizeof vd, "%.2fx", ms_min / dnnl_ms);
                    if (blas_ok) snprintf(vb, sizeof vb, "%.2fx", ms_min / blas_ms);
                    printf("%-8s %-11s %3d %9.2f %9.2f %8.1f %5.1f%% %10s %10s %8.2f\n", l->name,
                           pass_names[p], threads, ms_min, ms_med, gf, pct, vd, vb, cpu_ms);
                }
                fflush(stdout);
                nn_aligned_free(bf.packed);
                bf.packed = NULL;
            }
            nn_aligned_free(bf.x), nn_aligned_free(bf.w), nn_aligned_free(bf.b);
            nn_aligned_free(bf.y), nn_aligned_free(bf.dy), nn_aligned_free(bf.dx);
            nn_aligned_free(bf.dw), nn_aligned_free(bf.db);
        }
        for (int p = 0; p < N_PASSES; p++) {
            if (!o.pass_on[p] || total_ms[p] == 0) continue;
            double gf = total_flops[p] / (total_ms[p] * 1e-3) * 1e-9;
            double pct = peak[ti] > 0 ? 100.0 * gf / peak[ti] : 0.0;
            if (o.json) {
                printf(",\n    {\"name\": \"total\", \"pass\": \"%s\", \"threads\": %d, "
                       "\"ms_min\": %.3f, \"ms_median\": %.3f, \"gflops\": %.1f, "
                       "\"pct_peak\": %.1f}",
                       pass_names[p], threads, total_ms[p], total_ms[p], gf, pct);
            } else {
                printf("%-8s %-11s %3d %9.2f %9s %8.1f %5.1f%%   (sum of per-layer minima)\n",
                       "total", pass_names[p], threads, total_ms[p], "", gf, pct);
            }
        }
    }
    free(times);
    nn_scratch_destroy(scratch);

    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    if (o.json)
        printf("\n  ],\n  \"peak_rss_mb\": %.1f\n}\n", ru.ru_maxrss / 1024.0);
    else
        printf("\npeak resident memory: %.1f MB\n", ru.ru_maxrss / 1024.0);
    nn_threads_shutdown();
    return 0;
}
