/* bench_peers.c - placeholder peers (filled in below). */
#include "bench.h"
bool bench_onednn_available(void) { return false; }
bool bench_onednn_time(const nn_conv2d_shape *s, bench_pass pass, int threads, int repeats,
                       double *ms_min) { return false; }
bool bench_openblas_available(void) { return false; }
bool bench_openblas_time(const nn_conv2d_shape *s, bench_pass pass, int threads, int repeats,
                         double *ms_min) { return false; }
