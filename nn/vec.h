/*
 * vec.h - helpers for the fast loops of the op files (private, not in nn.h).
 *
 * NN_VEC_CLONES before a function compiles it three times, for AVX-512
 * (x86-64-v4), AVX2+FMA (x86-64-v3) and baseline x86-64, and the loader picks
 * the best one the CPU has. The body stays plain C that the auto-vectorizer
 * turns into SIMD code (the op files are built with -O3, see the Makefile).
 * Because the reference/avx2/avx512 kernel table does not cover these loops,
 * NN_ISA does not cap them; their results can differ from the baseline build
 * in the last bits (FMA contraction), never in what is computed.
 *
 * nn_vec_for splits [0, n) into chunks of `grain` elements (the last one
 * shorter) and runs fn(arg, begin, end) for each chunk on the thread pool.
 * Each element is handled by exactly one chunk and the split does not depend
 * on the thread count, so results do not either.
 */
#ifndef NN_VEC_H
#define NN_VEC_H

#include <stddef.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define NN_VEC_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define NN_VEC_CLONES
#endif

/* Elements per task for memory-bound element-wise loops: large enough that
 * the thread pool's hand-off (a few microseconds) is noise, small enough to
 * give both cores work on a 100 KB tensor. */
#define NN_VEC_GRAIN ((size_t)1 << 15)

typedef void (*nn_vec_range_fn)(void *arg, size_t begin, size_t end);
void nn_vec_for(size_t n, size_t grain, nn_vec_range_fn fn, void *arg);

/* dst[i] = src[i] and dst[i] += src[i] for i < n, threaded; no overlap. */
void nn_vec_copy(float *dst, const float *src, size_t n);
void nn_vec_add(float *dst, const float *src, size_t n);

#endif
