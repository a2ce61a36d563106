/*
 * bench_peers.c - optional reference points, loaded with dlopen only if the
 * library is installed (the build never needs them):
 *
 *   oneDNN (libdnnl.so.2, v2.x C API): convolution primitives with
 *     format_tag_any, i.e. oneDNN's own blocked layouts and no reorders in the
 *     timed region - its best case. Threads through OpenMP (libgomp).
 *   OpenBLAS (libopenblas.so.0): the classic im2col + cblas_sgemm (and
 *     sgemm + col2im for backward data), with a plain-C im2col/col2im that is
 *     timed too.
 *
 * The few oneDNN types and constants used are declared here by value (from
 * dnnl_types.h of v2.6); descriptors are opaque buffers larger than theirs.
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

/* ------------------------------------------------------------------ oneDNN */

typedef int64_t dnnl_dims_t[12];
typedef struct {
    int arg;
    void *memory;
} dnnl_exec_arg;
typedef struct {
    _Alignas(64) unsigned char bytes[16384];
} dnnl_opaque; /* dnnl_memory_desc_t / dnnl_convolution_desc_t */

enum {
    DNNL_F32 = 3, DNNL_TAG_ANY = 1, DNNL_TAG_A = 2, DNNL_TAG_ABCD = 5, DNNL_CPU = 1,
    DNNL_FWD_INFERENCE = 96, DNNL_BWD_DATA = 160, DNNL_BWD_WEIGHTS = 192, DNNL_CONV_DIRECT = 1,
    DNNL_Q_SRC = 129, DNNL_Q_DIFF_SRC = 130, DNNL_Q_WEIGHTS = 131, DNNL_Q_DIFF_WEIGHTS = 132,
    DNNL_Q_DST = 133, DNNL_Q_DIFF_DST = 134,
    DNNL_ARG_SRC = 1, DNNL_ARG_DST = 17, DNNL_ARG_WEIGHTS = 33, DNNL_ARG_BIAS = 41,
    DNNL_ARG_DIFF_SRC = 129, DNNL_ARG_DIFF_DST = 145, DNNL_ARG_DIFF_WEIGHTS = 161,
    DNNL_ARG_DIFF_BIAS = 169,
};
#define DNNL_ALLOCATE ((void *)(size_t)-1)

static struct {
    bool tried, ok;
    int (*engine_create)(void **, int, size_t);
    int (*stream_create)(void **, void *, unsigned);
    int (*stream_wait)(void *);
    int (*md_init)(void *, int, const int64_t *, int, int);
    int (*fwd_init)(void *, int, int, const void *, const void *, const void *, const void *,
                    const int64_t *, const int64_t *, const int64_t *, const int64_t *);
    int (*bwd_data_init)(void *, int, const void *, const void *, const void *, const int64_t *,
                         const int64_t *, const int64_t *, const int64_t *);
    int (*bwd_weights_init)(void *, int, const void *, const void *, const void *, const void *,
                            const int64_t *, const int64_t *, const int64_t *, const int64_t *);
    int (*pd_create)(void **, const void *, const void *, void *, const void *);
    int (*pd_destroy)(void *);
    const void *(*pd_query_md)(const void *, int, int);
    int (*mem_create)(void **, const void *, void *, void *);
    int (*mem_destroy)(void *);
    int (*mem_get_handle)(const void *, void **);
    size_t (*md_get_size)(const void *);
    int (*prim_create)(void **, const void *);
    int (*prim_destroy)(void *);
    int (*prim_execute)(const void *, void *, int, const dnnl_exec_arg *);
    void (*omp_set_num_threads)(int);
    void *engine, *stream;
} dn;

#define DN_SYM(field, name) ok = ok && (*(void **)&dn.field = dlsym(lib, name)) != NULL

bool bench_onednn_available(void) {
    if (dn.tried) return dn.ok;
    dn.tried = true;
    /* Idle OpenMP threads must sleep, not spin: the runs are interleaved with
     * ours, and spinning peers would steal our cores. */
    setenv("OMP_WAIT_POLICY", "PASSIVE", 0);
    void *lib = dlopen("libdnnl.so.2", RTLD_NOW | RTLD_LOCAL);
    if (!lib) return false;
    bool ok = true;
    DN_SYM(engine_create, "dnnl_engine_create");
    DN_SYM(stream_create, "dnnl_stream_create");
    DN_SYM(stream_wait, "dnnl_stream_wait");
    DN_SYM(md_init, "dnnl_memory_desc_init_by_tag");
    DN_SYM(fwd_init, "dnnl_dilated_convolution_forward_desc_init");
    DN_SYM(bwd_data_init, "dnnl_dilated_convolution_backward_data_desc_init");
    DN_SYM(bwd_weights_init, "dnnl_dilated_convolution_backward_weights_desc_init");
    DN_SYM(pd_create, "dnnl_primitive_desc_create");
    DN_SYM(pd_destroy, "dnnl_primitive_desc_destroy");
    DN_SYM(pd_query_md, "dnnl_primitive_desc_query_md");
    DN_SYM(mem_create, "dnnl_memory_create");
    DN_SYM(mem_destroy, "dnnl_memory_destroy");
    DN_SYM(mem_get_handle, "dnnl_memory_get_data_handle");
    DN_SYM(md_get_size, "dnnl_memory_desc_get_size");
    DN_SYM(prim_create, "dnnl_primitive_create");
    DN_SYM(prim_destroy, "dnnl_primitive_destroy");
    DN_SYM(prim_execute, "dnnl_primitive_execute");
    void *gomp = dlopen("libgomp.so.1", RTLD_NOW | RTLD_NOLOAD);
    if (gomp) *(void **)&dn.omp_set_num_threads = dlsym(gomp, "omp_set_num_threads");
    ok = ok && dn.engine_create(&dn.engine, DNNL_CPU, 0) == 0 &&
         dn.stream_create(&dn.stream, dn.engine, 1u) == 0;
    dn.ok = ok;
    return ok;
}

/* Memory for descriptor md, owned by oneDNN, filled with small values. The
 * fill matters: oneDNN's memory is uninitialised, and recycled heap bytes read
 * as floats include denormals, each of which costs a microcode assist: such
 * runs took 10-100x their normal time (conv4_2 forward once 518 ms, not 39). */
static void *dn_memory(const void *md) {
    void *mem = NULL, *data = NULL;
    if (!md || dn.mem_create(&mem, md, dn.engine, DNNL_ALLOCATE) != 0) return NULL;
    if (dn.mem_get_handle(mem, &data) != 0 || !data) {
        dn.mem_destroy(mem);
        return NULL;
    }
    float *f = data;
    size_t n = dn.md_get_size(md) / sizeof(float);
    for (size_t i = 0; i < n; i++) f[i] = 0.01f * (float)((int)(i % 7) - 3);
    return mem;
}

struct bench_peer {
    bool is_onednn;
    int threads;
    /* oneDNN */
    void *prim, *pd, *fwd_pd, *mem[4];
    dnnl_exec_arg args[4];
    int nargs;
    /* OpenBLAS */
    nn_conv2d_shape s;
    bench_pass pass;
    float *col, *x, *y, *w;
};

void bench_peer_free(bench_peer *p) {
    if (!p) return;
    if (p->is_onednn) {
        for (int i = 0; i < 4; i++)
            if (p->mem[i]) dn.mem_destroy(p->mem[i]);
        if (p->prim) dn.prim_destroy(p->prim);
        if (p->pd) dn.pd_destroy(p->pd);
        if (p->fwd_pd) dn.pd_destroy(p->fwd_pd);
    } else {
        free(p->col), free(p->x), free(p->y), free(p->w);
    }
    free(p);
}

bench_peer *bench_onednn_prepare(const nn_conv2d_shape *s, bench_pass pass, int threads) {
    if (!bench_onednn_available() || s->groups != 1 || s->n < 1) return NULL;
    bench_peer *P = calloc(1, sizeof *P);
    if (!P) return NULL;
    P->is_onednn = true;
    P->threads = threads;
    static dnnl_opaque src, wei, bia, dst, fwd_desc, op_desc;
    int64_t xd[4] = {s->n, s->cin, s->h, s->w}, wd[4] = {s->cout, s->cin, s->kh, s->kw};
    int64_t yd[4] = {s->n, s->cout, s->hout, s->wout}, bd[1] = {s->cout};
    dnnl_dims_t strides = {s->stride_h, s->stride_w}, dil = {s->dil_h - 1, s->dil_w - 1};
    dnnl_dims_t pl = {s->pad_h, s->pad_w}, pr;
    pr[0] = (s->hout - 1) * s->stride_h + s->dil_h * (s->kh - 1) + 1 - s->h - s->pad_h;
    pr[1] = (s->wout - 1) * s->stride_w + s->dil_w * (s->kw - 1) + 1 - s->w - s->pad_w;
    bool ok = !dn.md_init(&src, 4, xd, DNNL_F32, DNNL_TAG_ANY) &&
              !dn.md_init(&wei, 4, wd, DNNL_F32, DNNL_TAG_ANY) &&
              !dn.md_init(&dst, 4, yd, DNNL_F32, DNNL_TAG_ANY) &&
              !dn.md_init(&bia, 1, bd, DNNL_F32, DNNL_TAG_A) &&
              !dn.fwd_init(&fwd_desc, DNNL_FWD_INFERENCE, DNNL_CONV_DIRECT, &src, &wei, &bia, &dst,
                           strides, dil, pl, pr) &&
              !dn.pd_create(&P->fwd_pd, &fwd_desc, NULL, dn.engine, NULL);
    if (ok && pass == BENCH_FWD) {
        P->pd = P->fwd_pd;
        P->fwd_pd = NULL;
    } else if (ok && pass == BENCH_BWD_DATA) {
        ok = !dn.bwd_data_init(&op_desc, DNNL_CONV_DIRECT, &src, &wei, &dst, strides, dil, pl, pr) &&
             !dn.pd_create(&P->pd, &op_desc, NULL, dn.engine, P->fwd_pd);
    } else if (ok) {
        ok = !dn.bwd_weights_init(&op_desc, DNNL_CONV_DIRECT, &src, &wei, &bia, &dst, strides, dil,
                                  pl, pr) &&
             !dn.pd_create(&P->pd, &op_desc, NULL, dn.engine, P->fwd_pd);
    }
    ok = ok && P->pd && dn.prim_create(&P->prim, P->pd) == 0;
    if (ok) {
        static const int q_fwd[4] = {DNNL_Q_SRC, DNNL_Q_WEIGHTS, -1, DNNL_Q_DST};
        static const int a_fwd[4] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_BIAS, DNNL_ARG_DST};
        static const int q_bd[4] = {DNNL_Q_DIFF_SRC, DNNL_Q_WEIGHTS, -2, DNNL_Q_DIFF_DST};
        static const int a_bd[4] = {DNNL_ARG_DIFF_SRC, DNNL_ARG_WEIGHTS, 0, DNNL_ARG_DIFF_DST};
        static const int q_bw[4] = {DNNL_Q_SRC, DNNL_Q_DIFF_WEIGHTS, -1, DNNL_Q_DIFF_DST};
        static const int a_bw[4] = {DNNL_ARG_SRC, DNNL_ARG_DIFF_WEIGHTS, DNNL_ARG_DIFF_BIAS,
                                    DNNL_ARG_DIFF_DST};
        const int *q = pass == BENCH_FWD ? q_fwd : pass == BENCH_BWD_DATA ? q_bd : q_bw;
        const int *a = pass == BENCH_FWD ? a_fwd : pass == BENCH_BWD_DATA ? a_bd : a_bw;
        for (int i = 0; i < 4; i++) {
            if (q[i] == -2) continue; /* backward data has no bias */
            const void *md = q[i] == -1 ? (const void *)&bia : dn.pd_query_md(P->pd, q[i], 0);
            P->mem[i] = dn_memory(md);
            if (!P->mem[i]) ok = false;
            P->args[P->nargs++] = (dnnl_exec_arg){a[i], P->mem[i]};
        }
    }
    if (!ok) {
        bench_peer_free(P);
        return NULL;
    }
    return P;
}

/* ---------------------------------------------------------------- OpenBLAS */

enum { CBLAS_ROW_MAJOR = 101, CBLAS_NO_TRANS = 111, CBLAS_TRANS = 112 };

static struct {
    bool tried, ok;
    void (*sgemm)(int, int, int, int, int, int, float, const float *, int, const float *, int,
                  float, float *, int);
    void (*set_threads)(int);
} ob;

bool bench_openblas_available(void) {
    if (ob.tried) return ob.ok;
    ob.tried = true;
    setenv("OPENBLAS_THREAD_TIMEOUT", "4", 0); /* idle threads sleep at once (2^4 cycles) */
    /* Debian's OpenBLAS may not recognise this CPU (in a VM it fell back to its
     * SSE3 "Prescott" kernels): name the core type its AVX-512/AVX2 kernels need. */
    if (nn_cpu_best_isa() >= NN_ISA_AVX512)
        setenv("OPENBLAS_CORETYPE", "SkylakeX", 0);
    else if (nn_cpu_best_isa() >= NN_ISA_AVX2)
        setenv("OPENBLAS_CORETYPE", "Haswell", 0);
    void *lib = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_LOCAL);
    if (!lib) return false;
    *(void **)&ob.sgemm = dlsym(lib, "cblas_sgemm");
    *(void **)&ob.set_threads = dlsym(lib, "openblas_set_num_threads");
    ob.ok = ob.sgemm && ob.set_threads;
    return ob.ok;
}

/* col[k][p] = x at tap k for output pixel p (one image, groups = 1) */
static void im2col(const nn_conv2d_shape *s, const float *x, float *col) {
    int taps = s->kh * s->kw, p = s->hout * s->wout;
    for (int k = 0; k < s->cin * taps; k++) {
        int c = k / taps, ky = k % taps / s->kw, kx = k % s->kw;
        float *row = col + (size_t)k * p;
        for (int oy = 0; oy < s->hout; oy++) {
            int iy = oy * s->stride_h - s->pad_h + ky * s->dil_h;
            for (int ox = 0; ox < s->wout; ox++) {
                int ix = ox * s->stride_w - s->pad_w + kx * s->dil_w;
                row[oy * s->wout + ox] = iy >= 0 && iy < s->h && ix >= 0 && ix < s->w
                                             ? x[((size_t)c * s->h + iy) * s->w + ix]
                                             : 0.0f;
            }
        }
    }
}

static void col2im(const nn_conv2d_shape *s, const float *col, float *dx) {
    int taps = s->kh * s->kw, p = s->hout * s->wout;
    for (int k = 0; k < s->cin * taps; k++) {
        int c = k / taps, ky = k % taps / s->kw, kx = k % s->kw;
        const float *row = col + (size_t)k * p;
        for (int oy = 0; oy < s->hout; oy++) {
            int iy = oy * s->stride_h - s->pad_h + ky * s->dil_h;
            if (iy < 0 || iy >= s->h) continue;
            for (int ox = 0; ox < s->wout; ox++) {
                int ix = ox * s->stride_w - s->pad_w + kx * s->dil_w;
                if (ix >= 0 && ix < s->w) dx[((size_t)c * s->h + iy) * s->w + ix] += row[oy * s->wout + ox];
            }
        }
    }
}

bench_peer *bench_openblas_prepare(const nn_conv2d_shape *s, bench_pass pass, int threads) {
    if (!bench_openblas_available() || s->groups != 1 || s->n != 1) return NULL;
    bench_peer *P = calloc(1, sizeof *P);
    if (!P) return NULL;
    P->threads = threads;
    P->s = *s;
    P->pass = pass;
    int k = s->cin * s->kh * s->kw, p = s->hout * s->wout;
    P->col = calloc((size_t)k * p, sizeof(float));
    P->x = calloc((size_t)s->cin * s->h * s->w, sizeof(float));
    P->y = calloc((size_t)s->cout * p, sizeof(float));
    P->w = calloc((size_t)s->cout * k, sizeof(float));
    if (!P->col || !P->x || !P->y || !P->w) {
        bench_peer_free(P);
        return NULL;
    }
    return P;
}

void bench_peer_run(bench_peer *P) {
    if (P->is_onednn) {
        if (dn.omp_set_num_threads) dn.omp_set_num_threads(P->threads);
        dn.prim_execute(P->prim, dn.stream, P->nargs, P->args);
        dn.stream_wait(dn.stream);
        return;
    }
    const nn_conv2d_shape *s = &P->s;
    int k = s->cin * s->kh * s->kw, p = s->hout * s->wout;
    ob.set_threads(P->threads);
    if (P->pass == BENCH_FWD) {
        im2col(s, P->x, P->col);
        ob.sgemm(CBLAS_ROW_MAJOR, CBLAS_NO_TRANS, CBLAS_NO_TRANS, s->cout, p, k, 1.0f, P->w, k,
                 P->col, p, 0.0f, P->y, p);
    } else if (P->pass == BENCH_BWD_DATA) {
        ob.sgemm(CBLAS_ROW_MAJOR, CBLAS_TRANS, CBLAS_NO_TRANS, k, p, s->cout, 1.0f, P->w, k, P->y,
                 p, 0.0f, P->col, p);
        col2im(s, P->col, P->x);
    } else {
        im2col(s, P->x, P->col);
        ob.sgemm(CBLAS_ROW_MAJOR, CBLAS_NO_TRANS, CBLAS_TRANS, s->cout, k, p, 1.0f, P->y, p,
                 P->col, p, 1.0f, P->w, k);
    }
}
