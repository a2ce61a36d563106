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

/* GFLOP/s of an FMA loop on `threads` threads at once (vectors of the best
 * ISA this CPU has), taking the best of a few short runs. */
double bench_peak_gflops(int threads);

/* Peers: each returns false if its library is absent or cannot do the shape.
 * Times are the best of `repeats` runs, in milliseconds. */
typedef enum { BENCH_FWD = 0, BENCH_BWD_DATA, BENCH_BWD_WEIGHTS } bench_pass;
bool bench_onednn_available(void);
bool bench_onednn_time(const nn_conv2d_shape *s, bench_pass pass, int threads, int repeats,
                       double *ms_min);
bool bench_openblas_available(void);
bool bench_openblas_time(const nn_conv2d_shape *s, bench_pass pass, int threads, int repeats,
                         double *ms_min);

#endif
