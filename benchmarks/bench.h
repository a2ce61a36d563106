/*
 * bench.h - what the benchmark's files share: the machine's measured FP32
 * peak, a monotonic clock, and the optional peer libraries (oneDNN,
 * OpenBLAS) that are loaded with dlopen only if installed.
 */
#ifndef BENCH_H
#define BENCH_H

#include <stdbool.h>

#include "nn.h"

double bench_now_s(void);

/* GFLOP/s of an FMA loop on `threads` threads at once, with the vectors of
 * `isa` (AVX2 or AVX-512), taking the best of a few short runs. */
double bench_peak_gflops(int threads, nn_isa isa);

/* Peers. prepare returns NULL if the library is absent or cannot do the
 * shape; run does one timed execution; free releases everything. The caller
 * interleaves peer runs with its own so that both see the same machine load. */
typedef enum { BENCH_FWD = 0, BENCH_BWD_DATA, BENCH_BWD_WEIGHTS } bench_pass;
typedef struct bench_peer bench_peer;
bool bench_onednn_available(void);
bench_peer *bench_onednn_prepare(const nn_conv2d_shape *s, bench_pass pass, int threads);
bool bench_openblas_available(void);
bench_peer *bench_openblas_prepare(const nn_conv2d_shape *s, bench_pass pass, int threads);
void bench_peer_run(bench_peer *p);
void bench_peer_free(bench_peer *p);

#endif
