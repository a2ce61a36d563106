/*
 * vec.c - nn_vec_for: a range loop over the thread pool in fixed-size chunks,
 * and the threaded copy and add built on it (see vec.h).
 */
#include "vec.h"

#include <string.h>

#include "nn.h"

typedef struct {
    size_t n, grain;
    nn_vec_range_fn fn;
    void *arg;
} vec_job;

static void vec_task(void *arg, int i) {
    const vec_job *job = arg;
    size_t begin = (size_t)i * job->grain;
    size_t end = job->n - begin < job->grain ? job->n : begin + job->grain;
    job->fn(job->arg, begin, end);
}

void nn_vec_for(size_t n, size_t grain, nn_vec_range_fn fn, void *arg) {
    if (n == 0) return;
    if (grain == 0) grain = 1;
    size_t chunks = (n + grain - 1) / grain;
    /* nn_parallel_for counts tasks in int; grow the chunks if there are too many */
    while (chunks > (1u << 30)) {
        grain *= 2;
        chunks = (n + grain - 1) / grain;
    }
    if (chunks == 1) {
        fn(arg, 0, n);
        return;
    }
    vec_job job = {.n = n, .grain = grain, .fn = fn, .arg = arg};
    nn_parallel_for((int)chunks, vec_task, &job);
}

typedef struct {
    float *dst;
    const float *src;
} vec_pair;

static void copy_task(void *arg, size_t begin, size_t end) {
    const vec_pair *p = arg;
    memcpy(p->dst + begin, p->src + begin, (end - begin) * sizeof(float));
}

NN_VEC_CLONES
static void add_range(float *restrict dst, const float *restrict src, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] += src[i];
}

static void add_task(void *arg, size_t begin, size_t end) {
    const vec_pair *p = arg;
    add_range(p->dst + begin, p->src + begin, end - begin);
}

void nn_vec_copy(float *dst, const float *src, size_t n) {
    vec_pair p = {dst, src};
    nn_vec_for(n, 4 * NN_VEC_GRAIN, copy_task, &p);
}

void nn_vec_add(float *dst, const float *src, size_t n) {
    vec_pair p = {dst, src};
    nn_vec_for(n, NN_VEC_GRAIN, add_task, &p);
}
