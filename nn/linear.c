/*
 * linear.c - fully connected layer:
 *
 *   y[n, o] = b[o] + sum_i x[n, i] * w[o, i]      x [N, In], w [Out, In], b [Out] or NULL
 *
 * Backward:  dx[n, i] += sum_o dy[n, o] * w[o, i]
 *            dw[o, i] += sum_n dy[n, o] * x[n, i]
 *            db[o]    += sum_n dy[n, o]
 *
 * These are three matrix products. The seed classifier's fc1 (N 32, In
 * 230400, Out 50: a 46 MB weight) shows what matters: stream w from memory
 * once per pass and do the arithmetic on cache-resident blocks.
 *  - forward: each y[n, o] is a dot product of two contiguous rows. Threads
 *    take blocks of rows of x; each walks In in chunks of LINEAR_CHUNK
 *    columns, so a chunk of every w row (Out * 4 KB) stays in L2 while all
 *    of the block's x rows use it. dot4 computes four outputs at once.
 *  - dx and dw: each output row is a weighted sum of rows of w (dx) or of x
 *    (dw), an "axpy" that vectorizes along In. Threads take chunks of In
 *    columns; within one, the block of w or x is reused from L2 for every
 *    output row, and axpy4 adds four rows per pass over the output.
 * Every output element is computed by one task in a fixed order, so the
 * results do not depend on the thread count. The tests compare these loops
 * with the plain triple loops above on odd shapes.
 */
#include "nn_internal.h"
#include "vec.h"

/* Columns of In per block: 4 KB of one row, so 50 rows of w fit in L2. */
#define LINEAR_CHUNK 1024
/* Below this many multiply-adds a pass runs on one thread. */
#define LINEAR_PARALLEL_MIN (1 << 18)

/* ------------------------------------------------------------- kernels */

/* s[k] = sum_j a[j] * b_k[j] for the four rows b0..b3, over len elements.
 * Sixteen running sums per row (one AVX-512 register) make the loop
 * vectorize without reassociating a single sum. */
NN_VEC_CLONES
static void dot4(int len, const float *restrict a, const float *restrict b0,
                 const float *restrict b1, const float *restrict b2, const float *restrict b3,
                 float s[4]) {
    float l0[16] = {0}, l1[16] = {0}, l2[16] = {0}, l3[16] = {0};
    int j = 0;
    for (; j + 16 <= len; j += 16) {
        for (int l = 0; l < 16; l++) {
            float v = a[j + l];
            l0[l] += v * b0[j + l];
            l1[l] += v * b1[j + l];
            l2[l] += v * b2[j + l];
            l3[l] += v * b3[j + l];
        }
    }
    float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
    for (int l = 0; l < 16; l++) {
        s0 += l0[l];
        s1 += l1[l];
        s2 += l2[l];
        s3 += l3[l];
    }
    for (; j < len; j++) {
        s0 += a[j] * b0[j];
        s1 += a[j] * b1[j];
        s2 += a[j] * b2[j];
        s3 += a[j] * b3[j];
    }
    s[0] = s0;
    s[1] = s1;
    s[2] = s2;
    s[3] = s3;
}

/* The same for one row. */
NN_VEC_CLONES
static float dot1(int len, const float *restrict a, const float *restrict b) {
    float lanes[16] = {0};
    int j = 0;
    for (; j + 16 <= len; j += 16)
        for (int l = 0; l < 16; l++) lanes[l] += a[j + l] * b[j + l];
    float s = 0.0f;
    for (int l = 0; l < 16; l++) s += lanes[l];
    for (; j < len; j++) s += a[j] * b[j];
    return s;
}

/* d[j] += g0*r0[j] + g1*r1[j] + g2*r2[j] + g3*r3[j] */
NN_VEC_CLONES
static void axpy4(int len, float *restrict d, const float g[4], const float *restrict r0,
                  const float *restrict r1, const float *restrict r2, const float *restrict r3) {
    float g0 = g[0], g1 = g[1], g2 = g[2], g3 = g[3];
    for (int j = 0; j < len; j++) d[j] += g0 * r0[j] + g1 * r1[j] + g2 * r2[j] + g3 * r3[j];
}

/* d[j] += g * r[j] */
NN_VEC_CLONES
static void axpy1(int len, float *restrict d, float g, const float *restrict r) {
    for (int j = 0; j < len; j++) d[j] += g * r[j];
}

/* d[0..len) += sum_k g[k * g_stride] * rows[k * row_stride + 0..len), k < count */
static void weighted_row_sum(int len, float *d, int count, const float *g, size_t g_stride,
                             const float *rows, size_t row_stride) {
    int k = 0;
    for (; k + 4 <= count; k += 4) {
        float g4[4] = {g[k * g_stride], g[(k + 1) * g_stride], g[(k + 2) * g_stride],
                       g[(k + 3) * g_stride]};
        const float *r = rows + k * row_stride;
        axpy4(len, d, g4, r, r + row_stride, r + 2 * row_stride, r + 3 * row_stride);
    }
    for (; k < count; k++) axpy1(len, d, g[k * g_stride], rows + k * row_stride);
}

/* ------------------------------------------------------------- passes */

typedef struct {
    int n_rows, in, out;
    const float *x, *w, *b, *dy;
    float *y, *dx, *dw;
    int rows_per_task;
} linear_job;

/* y rows [task*rows_per_task, ...) = b + x w^T, In walked in chunks */
static void forward_task(void *arg, int task) {
    const linear_job *j = arg;
    int n0 = task * j->rows_per_task;
    int n1 = n0 + j->rows_per_task < j->n_rows ? n0 + j->rows_per_task : j->n_rows;
    for (int n = n0; n < n1; n++)
        for (int o = 0; o < j->out; o++) j->y[(size_t)n * j->out + o] = j->b ? j->b[o] : 0.0f;
    int len;
    for (int i0 = 0; i0 < j->in; i0 += len) {
        len = j->in - i0 < LINEAR_CHUNK ? j->in - i0 : LINEAR_CHUNK;
        for (int n = n0; n < n1; n++) {
            const float *xr = j->x + (size_t)n * j->in + i0;
            float *yr = j->y + (size_t)n * j->out;
            int o = 0;
            for (; o + 4 <= j->out; o += 4) {
                const float *wr = j->w + (size_t)o * j->in + i0;
                float s[4];
                dot4(len, xr, wr, wr + j->in, wr + 2 * (size_t)j->in, wr + 3 * (size_t)j->in, s);
                for (int k = 0; k < 4; k++) yr[o + k] += s[k];
            }
            for (; o < j->out; o++) yr[o] += dot1(len, xr, j->w + (size_t)o * j->in + i0);
        }
    }
}

/* dx[:, chunk] += dy w[:, chunk] */
static void backward_data_task(void *arg, int chunk) {
    const linear_job *j = arg;
    int i0 = chunk * LINEAR_CHUNK;
    int len = j->in - i0 < LINEAR_CHUNK ? j->in - i0 : LINEAR_CHUNK;
    for (int n = 0; n < j->n_rows; n++)
        weighted_row_sum(len, j->dx + (size_t)n * j->in + i0, j->out, j->dy + (size_t)n * j->out,
                         1, j->w + i0, (size_t)j->in);
}

/* dw[:, chunk] += dy^T x[:, chunk] */
static void backward_weights_task(void *arg, int chunk) {
    const linear_job *j = arg;
    int i0 = chunk * LINEAR_CHUNK;
    int len = j->in - i0 < LINEAR_CHUNK ? j->in - i0 : LINEAR_CHUNK;
    for (int o = 0; o < j->out; o++)
        weighted_row_sum(len, j->dw + (size_t)o * j->in + i0, j->n_rows, j->dy + o,
                         (size_t)j->out, j->x + i0, (size_t)j->in);
}

/* Runs fn for tasks 0..n_tasks-1, on the pool when the pass is big enough. */
static void linear_run(const linear_job *j, int n_tasks, void (*fn)(void *, int)) {
    double work = (double)j->n_rows * j->in * j->out;
    if (work < LINEAR_PARALLEL_MIN) {
        for (int t = 0; t < n_tasks; t++) fn((void *)j, t);
    } else {
        nn_parallel_for(n_tasks, fn, (void *)j);
    }
}

static void linear_backward(nn_ctx *ctx, nn_node *node) {
    nn_tensor *x = node->in[0], *w = node->in[1], *b = node->in[2];
    linear_job j = {.n_rows = x->shape[0], .in = x->shape[1], .out = w->shape[0],
                    .x = x->data, .w = w->data, .dy = node->out->grad};
    int chunks = j.in / LINEAR_CHUNK + (j.in % LINEAR_CHUNK != 0);

    if (nn_needs_grad(x)) {
        j.dx = nn_grad(ctx, x);
        if (!j.dx) return;
        linear_run(&j, chunks, backward_data_task);
    }
    if (nn_needs_grad(w)) {
        j.dw = nn_grad(ctx, w);
        if (!j.dw) return;
        linear_run(&j, chunks, backward_weights_task);
    }
    if (b && nn_needs_grad(b)) {
        float *db = nn_grad(ctx, b);
        if (!db) return;
        for (int n = 0; n < j.n_rows; n++)
            for (int o = 0; o < j.out; o++) db[o] += j.dy[(size_t)n * j.out + o];
    }
}

nn_tensor *nn_linear(nn_ctx *ctx, nn_tensor *x, nn_tensor *w, nn_tensor *b) {
    nn_tensor *ins[3] = {x, w, b};
    if (!nn_check_inputs(ctx, "linear", 2, ins)) return NULL;
    char xs[64], ws[64];
    nn_shape_str(x, xs, sizeof xs);
    nn_shape_str(w, ws, sizeof ws);
    if (x->ndim != 2 || w->ndim != 2 || x->shape[1] != w->shape[1]) {
        nn_ctx_fail(ctx, NN_ERR_SHAPE, "linear: x %s and w %s do not fit: need x [N, In], w [Out, In]",
                    xs, ws);
        return NULL;
    }
    int n_rows = x->shape[0], out = w->shape[0];
    if (b && b->numel != (size_t)out) {
        nn_ctx_fail(ctx, NN_ERR_SHAPE, "linear: bias has %zu elements, expected %d", b->numel, out);
        return NULL;
    }
    int yshape[2] = {n_rows, out};
    nn_tensor *y = nn_ctx_tensor(ctx, 2, yshape);
    if (!y) return NULL;

    /* one block of rows per thread: each block streams w once */
    int threads = nn_threads_get();
    linear_job j = {.n_rows = n_rows, .in = x->shape[1], .out = out, .x = x->data,
                    .w = w->data, .b = b ? b->data : NULL, .y = y->data};
    j.rows_per_task = (n_rows + threads - 1) / threads;
    linear_run(&j, (n_rows + j.rows_per_task - 1) / j.rows_per_task, forward_task);

    nn_tape_record(ctx, "linear", y, linear_backward, 3, ins, 0);
    return y;
}
