/*
 * timing.h - the clocks and the sort every benchmark program uses (header
 * only, so each program under benchmarks/NAME/ includes "../timing.h"
 * without linking anything more).
 *
 * Wall time is what a user waits; CPU time of the whole process (all its
 * threads) is what the work cost, and stays steady when other processes hold
 * the cores of a shared machine. Report both, min and median.
 */
#ifndef BENCHMARKS_TIMING_H
#define BENCHMARKS_TIMING_H

#include <stdlib.h>
#include <time.h>

static inline double timing_wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static inline double timing_cpu_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

/* qsort comparator for doubles, ascending. */
static inline int timing_cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sorts v and returns its median. */
static inline double timing_median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, timing_cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

#endif
