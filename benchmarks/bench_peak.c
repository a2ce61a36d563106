/*
 * bench_peak.c - measures the FP32 peak: independent FMA chains (more than
 * the FMA latency x ports, so the units never wait) on every thread at once.
 * The AVX-512 / AVX2 loops are compiled for their ISA by function attribute,
 * so this file needs no special flags; the peak is that of the ISA whose
 * kernels are measured.
 *
 * The time is the wall time from a common start until the last thread ends,
 * so the peak on N threads is what N threads get done together on this
 * machine at the moment: on a shared machine whose cores are busy elsewhere
 * it is below N x one thread's (each thread timing itself would hide that).
 */
#include <immintrin.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "bench.h"

#define PEAK_ITERS 20000000L

double bench_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* 12 chains x 16 lanes x 2 flops per iteration */
__attribute__((target("avx512f,fma"))) static double fma_loop_avx512(long iters) {
    __m512 a[12], m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
#pragma GCC unroll 12
    for (int i = 0; i < 12; i++) a[i] = _mm512_set1_ps((float)i);
    for (long it = 0; it < iters; it++) {
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++) a[i] = _mm512_fmadd_ps(a[i], m, c);
    }
    __m512 s = a[0];
#pragma GCC unroll 12
    for (int i = 1; i < 12; i++) s = _mm512_add_ps(s, a[i]);
    float out[16];
    _mm512_storeu_ps(out, s);
    return out[0]; /* the caller keeps the result, so the loop stays */
}

__attribute__((target("avx2,fma"))) static double fma_loop_avx2(long iters) {
    __m256 a[12], m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
#pragma GCC unroll 12
    for (int i = 0; i < 12; i++) a[i] = _mm256_set1_ps((float)i);
    for (long it = 0; it < iters; it++) {
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++) a[i] = _mm256_fmadd_ps(a[i], m, c);
    }
    __m256 s = a[0];
#pragma GCC unroll 12
    for (int i = 1; i < 12; i++) s = _mm256_add_ps(s, a[i]);
    float out[8];
    _mm256_storeu_ps(out, s);
    return out[0];
}

typedef struct {
    long iters;
    int lanes;
    atomic_bool *go;
    volatile double sink;
} peak_arg;

static void *peak_thread(void *p) {
    peak_arg *a = p;
    while (!atomic_load(a->go)) {} /* all threads start together */
    a->sink = a->lanes == 16 ? fma_loop_avx512(a->iters) : fma_loop_avx2(a->iters);
    return NULL;
}

double bench_peak_gflops(int threads, nn_isa isa) {
    if (isa > nn_cpu_best_isa()) isa = nn_cpu_best_isa();
    if (isa < NN_ISA_AVX2) return 0.0;
    int lanes = isa >= NN_ISA_AVX512 ? 16 : 8;
    if (threads < 1) threads = 1;
    if (threads > 64) threads = 64;
    double best = 0.0;
    for (int rep = 0; rep < 12; rep++) { /* short trials: noise only lowers them */
        pthread_t th[64];
        peak_arg args[64];
        atomic_bool go;
        atomic_init(&go, false);
        int started = 0;
        for (int t = 0; t < threads; t++) {
            args[t] = (peak_arg){.iters = PEAK_ITERS / 16, .lanes = lanes, .go = &go};
            if (pthread_create(&th[t], NULL, peak_thread, &args[t]) != 0) break;
            started++;
        }
        double t0 = bench_now_s();
        atomic_store(&go, true);
        for (int t = 0; t < started; t++) pthread_join(th[t], NULL);
        double seconds = bench_now_s() - t0;
        double flops = (double)started * (PEAK_ITERS / 16) * 12.0 * lanes * 2.0;
        double g = flops / seconds * 1e-9;
        if (g > best) best = g;
    }
    return best;
}
