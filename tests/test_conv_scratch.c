/*
 * test_conv_scratch.c - the conv kernels' workspace (nn/scratch.c): after a
 * first pass over a set of layers, the SIMD kernels (forward, forward with
 * packed weights, backward data, backward weights) call no allocator, on every
 * path: small-Cin, direct GEMM, packed GEMM, col2im, Winograd (one image, and
 * whole images per thread with a child workspace each), both backward-weights
 * paths. The results must still equal the reference kernels' while buffers
 * are reused across layers of different sizes with stale contents.
 *
 * Allocations are counted by the malloc wrapper of test_maskdet_api.c (every
 * allocator call of the program goes through it) and by the workspace's own
 * counter. Nothing is asserted inside a counted stretch: Check allocates.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn_internal.h"
#include "testutil.h"

long maskdet_test_alloc_calls(void); /* tests/test_maskdet_api.c */

typedef struct {
    const char *what;
    int n, cin, h, w, cout, k, stride, pad;
} layer;

/* Which path each takes is decided in nn/kernels_simd.h (its header comment);
 * NR is 16 pixels on AVX2 and 32 on AVX-512. */
static const layer layers[] = {
    {"small-Cin forward (3 channels, stride 2)", 1, 3, 33, 31, 8, 3, 2, 1},
    {"direct GEMM (stride 1, rows >= a vector)", 1, 8, 20, 40, 16, 3, 1, 1},
    {"packed GEMM, col2im, dot-product dW (stride 2, 5 outputs)", 1, 5, 17, 13, 5, 3, 2, 1},
    {"Winograd, outer-product dW (64 channels, 289 tiles)", 1, 64, 34, 34, 64, 3, 1, 1},
    {"Winograd backward data, whole images per thread", 4, 16, 18, 18, 16, 3, 1, 1},
    {"1x1, packed GEMM with 12 outputs", 2, 24, 9, 11, 12, 1, 1, 0},
};
enum { N_LAYERS = (int)(sizeof layers / sizeof layers[0]) };

static nn_conv2d_shape shape_of(const layer *l, nn_scratch *ws) {
    nn_conv2d_shape s = {.n = l->n, .cin = l->cin, .h = l->h, .w = l->w, .cout = l->cout,
                         .kh = l->k, .kw = l->k, .stride_h = l->stride, .stride_w = l->stride,
                         .pad_h = l->pad, .pad_w = l->pad, .dil_h = 1, .dil_w = 1, .groups = 1,
                         .relu = true, .scratch = ws};
    s.hout = (l->h + 2 * l->pad - l->k) / l->stride + 1;
    s.wout = (l->w + 2 * l->pad - l->k) / l->stride + 1;
    return s;
}

static void fill(float *v, size_t n, uint64_t seed) {
    for (size_t i = 0; i < n; i++) { /* a small LCG: any values in [-1, 1) do */
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        v[i] = (float)((seed >> 40) * (2.0 / 16777216.0) - 1.0);
    }
}

/* Buffers of one layer: inputs, the SIMD kernels' outputs, the reference's. */
typedef struct {
    nn_conv2d_shape s;
    size_t nx, nw, ny, npacked;
    float *x, *w, *b, *dy, *packed;
    float *y, *yp, *dx, *dw, *db;             /* SIMD */
    float *y_ref, *dx_ref, *dw_ref, *db_ref; /* reference */
} bufs;

static float *alloc_floats(size_t n) {
    float *p = nn_aligned_alloc(n * sizeof(float));
    ck_assert_ptr_nonnull(p);
    return p;
}

static void bufs_init(bufs *B, const nn_kernels *k, const layer *l, nn_scratch *ws) {
    B->s = shape_of(l, ws);
    const nn_conv2d_shape *s = &B->s;
    B->nx = (size_t)s->n * s->cin * s->h * s->w;
    B->nw = (size_t)s->cout * s->cin * s->kh * s->kw;
    B->ny = (size_t)s->n * s->cout * s->hout * s->wout;
    B->npacked = k->conv2d_packed_floats(s);
    float **big[] = {&B->x, &B->dx, &B->dx_ref};
    for (int i = 0; i < 3; i++) *big[i] = alloc_floats(B->nx);
    float **wsz[] = {&B->w, &B->dw, &B->dw_ref};
    for (int i = 0; i < 3; i++) *wsz[i] = alloc_floats(B->nw);
    float **ysz[] = {&B->dy, &B->y, &B->yp, &B->y_ref};
    for (int i = 0; i < 4; i++) *ysz[i] = alloc_floats(B->ny);
    float **bsz[] = {&B->b, &B->db, &B->db_ref};
    for (int i = 0; i < 3; i++) *bsz[i] = alloc_floats((size_t)s->cout);
    B->packed = alloc_floats(B->npacked);
}

static void bufs_free(bufs *B) {
    float *all[] = {B->x,  B->w,  B->b,     B->dy,     B->packed, B->y,     B->yp,
                    B->dx, B->dw, B->db, B->y_ref, B->dx_ref, B->dw_ref, B->db_ref};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) nn_aligned_free(all[i]);
}

/* New data for pass `pass`, and the reference results (not counted). The
 * backward kernels accumulate: dx, dw, db start from the same nonzero values. */
static void prepare(bufs *B, const nn_kernels *k, int idx, int pass) {
    uint64_t seed = 1000u * (uint64_t)pass + 10u * (uint64_t)idx;
    fill(B->x, B->nx, seed + 1);
    fill(B->w, B->nw, seed + 2);
    fill(B->b, (size_t)B->s.cout, seed + 3);
    fill(B->dy, B->ny, seed + 4);
    fill(B->dx_ref, B->nx, seed + 5);
    memcpy(B->dx, B->dx_ref, B->nx * sizeof(float));
    fill(B->dw_ref, B->nw, seed + 6);
    memcpy(B->dw, B->dw_ref, B->nw * sizeof(float));
    fill(B->db_ref, (size_t)B->s.cout, seed + 7);
    memcpy(B->db, B->db_ref, (size_t)B->s.cout * sizeof(float));
    nn_conv2d_shape plain = B->s;
    plain.scratch = NULL;
    k->conv2d_pack_weights(&plain, B->w, B->packed); /* done once per set of weights */
    const nn_kernels *ref = &nn_kernels_reference;
    ref->conv2d_forward(&plain, B->x, B->w, B->b, B->y_ref);
    ref->conv2d_backward_data(&plain, B->dy, B->w, B->dx_ref);
    ref->conv2d_backward_weights(&plain, B->x, B->dy, B->dw_ref, B->db_ref);
}

/* The four kernels through the workspace: what a training step and an
 * inference frame run. */
static void run_kernels(bufs *B, const nn_kernels *k) {
    k->conv2d_forward(&B->s, B->x, B->w, B->b, B->y);
    k->conv2d_forward_packed(&B->s, B->x, B->packed, B->b, B->yp);
    k->conv2d_backward_data(&B->s, B->dy, B->w, B->dx);
    k->conv2d_backward_weights(&B->s, B->x, B->dy, B->dw, B->db);
}

static double max_abs(const float *v, size_t n) {
    double m = 1.0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)v[i]));
    return m;
}

static void expect_close(const float *got, const float *want, size_t n, const char *isa,
                         const char *what, const char *layer_name, int pass) {
    double e = tu_max_rel_err(got, want, n, 1e-5 * max_abs(want, n), 1e-5);
    ck_assert_msg(e <= 1.0, "%s %s, %s, pass %d: error %.3g", isa, what, layer_name, pass, e);
}

static void check_isa(nn_isa isa) {
    const nn_kernels *k = nn_kernels_for(isa);
    if (!k) {
        fprintf(stderr, "conv_scratch: no %s on this CPU, skipped\n", nn_isa_name(isa));
        return;
    }
    nn_scratch *ws = nn_scratch_create();
    ck_assert_ptr_nonnull(ws);
    bufs B[N_LAYERS];
    for (int i = 0; i < N_LAYERS; i++) bufs_init(&B[i], k, &layers[i], ws);

    enum { PASSES = 3 };
    long calls_after_first = 0;
    size_t ws_allocs_first = 0, ws_allocs_after_first = 0;
    for (int pass = 1; pass <= PASSES; pass++) {
        for (int i = 0; i < N_LAYERS; i++) {
            prepare(&B[i], k, i, pass);
            long calls0 = maskdet_test_alloc_calls();
            size_t ws0 = nn_scratch_system_allocs(ws);
            run_kernels(&B[i], k);
            if (pass > 1) {
                calls_after_first += maskdet_test_alloc_calls() - calls0;
                ws_allocs_after_first += nn_scratch_system_allocs(ws) - ws0;
            }
            const char *name = layers[i].what;
            expect_close(B[i].y, B[i].y_ref, B[i].ny, k->name, "forward", name, pass);
            expect_close(B[i].yp, B[i].y_ref, B[i].ny, k->name, "forward packed", name, pass);
            expect_close(B[i].dx, B[i].dx_ref, B[i].nx, k->name, "backward data", name, pass);
            expect_close(B[i].dw, B[i].dw_ref, B[i].nw, k->name, "backward weights", name, pass);
            expect_close(B[i].db, B[i].db_ref, (size_t)B[i].s.cout, k->name, "backward bias",
                         name, pass);
        }
        if (pass == 1) ws_allocs_first = nn_scratch_system_allocs(ws);
    }
    /* the workspace did serve the first pass (else the zero below says nothing) */
    ck_assert_msg(ws_allocs_first > 0, "%s: the kernels never used the workspace", k->name);
    ck_assert_msg(ws_allocs_after_first == 0, "%s: the workspace grew %zu times after pass 1",
                  k->name, ws_allocs_after_first);
    ck_assert_msg(calls_after_first == 0, "%s: %ld allocator calls in passes 2..%d", k->name,
                  calls_after_first, PASSES);
    for (int i = 0; i < N_LAYERS; i++) bufs_free(&B[i]);
    nn_scratch_destroy(ws);
}

START_TEST(avx2_kernels_allocate_nothing_after_first_pass) { check_isa(NN_ISA_AVX2); }
END_TEST

START_TEST(avx512_kernels_allocate_nothing_after_first_pass) { check_isa(NN_ISA_AVX512); }
END_TEST

/* Through the ops: nn_conv2d (forward and backward) hands the ctx's workspace
 * to the kernels, so a training step repeated in one ctx allocates nothing
 * after the first (the arena and the tape keep their memory too). */
START_TEST(conv2d_op_steps_allocate_nothing_after_first) {
    int xs[4] = {2, 16, 18, 18}, w1s[4] = {32, 16, 3, 3}, w2s[4] = {8, 32, 3, 3};
    nn_tensor *x = tu_param(4, xs, -1, 1, 3), *w1 = tu_param(4, w1s, -0.2f, 0.2f, 4);
    nn_tensor *w2 = tu_param(4, w2s, -0.2f, 0.2f, 5);
    ck_assert_ptr_nonnull(x);
    ck_assert_ptr_nonnull(w1);
    ck_assert_ptr_nonnull(w2);
    ck_assert_int_eq(nn_tensor_set_requires_grad(x, true), NN_OK);
    ck_assert_int_eq(nn_tensor_set_requires_grad(w1, true), NN_OK);
    ck_assert_int_eq(nn_tensor_set_requires_grad(w2, true), NN_OK);
    nn_ctx *ctx = nn_ctx_create();
    ck_assert_ptr_nonnull(ctx);
    nn_conv2d_params p1 = nn_conv2d_default(), p2 = nn_conv2d_default();
    p1.pad_h = p1.pad_w = 1;
    p1.relu = true;
    p2.stride_h = p2.stride_w = 2;
    long before = 0;
    float first_loss = 0, loss_value[4] = {0};
    nn_status st[4] = {0};
    for (int step = 0; step < 4; step++) {
        if (step == 1) before = maskdet_test_alloc_calls();
        nn_ctx_reset(ctx);
        nn_tensor *h = nn_conv2d(ctx, x, w1, NULL, &p1);
        nn_tensor *y = nn_conv2d(ctx, h, w2, NULL, &p2);
        nn_tensor *loss = nn_sum(ctx, y);
        st[step] = nn_backward(ctx, loss);
        loss_value[step] = loss ? loss->data[0] : NAN;
        if (step == 0) first_loss = loss_value[0];
    }
    long allocations = maskdet_test_alloc_calls() - before;
    for (int step = 0; step < 4; step++) {
        ck_assert_msg(st[step] == NN_OK, "step %d: %s", step, nn_ctx_error(ctx));
        ck_assert_float_eq(loss_value[step], first_loss); /* same inputs, same answer */
    }
    ck_assert_msg(nn_scratch_system_allocs(nn_ctx_kernel_scratch(ctx)) > 0,
                  "the kernels never used the ctx's workspace (reference kernels?)");
    ck_assert_msg(allocations == 0, "%ld allocator calls in steps 2..4", allocations);
    nn_ctx_destroy(ctx);
    nn_tensor_free(x);
    nn_tensor_free(w1);
    nn_tensor_free(w2);
}
END_TEST

/* A NULL workspace allocates per call (get) and frees (release); a real one
 * hands back the same aligned buffer until a larger one is asked for. */
START_TEST(workspace_grows_only_when_asked_for_more) {
    nn_scratch *ws = nn_scratch_create();
    ck_assert_ptr_nonnull(ws);
    char *a = nn_scratch_get(ws, 0, 100);
    ck_assert_ptr_nonnull(a);
    ck_assert_uint_eq((uintptr_t)a % 64, 0);
    memset(a, 1, 100);
    ck_assert_ptr_eq(nn_scratch_get(ws, 0, 50), a);
    ck_assert_ptr_eq(nn_scratch_get(ws, 0, 100), a);
    ck_assert_uint_eq(nn_scratch_system_allocs(ws), 1);
    char *b = nn_scratch_get(ws, 1, 10); /* another slot: another buffer */
    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_ne(a, b);
    char *c = nn_scratch_get(ws, 0, 1000);
    ck_assert_ptr_nonnull(c);
    memset(c, 2, 1000);
    ck_assert_uint_eq(nn_scratch_system_allocs(ws), 3);
    ck_assert_uint_ge(nn_scratch_bytes(ws), 1010);
    nn_scratch_release(ws, c); /* keeps it */
    ck_assert_ptr_eq(nn_scratch_get(ws, 0, 1000), c);
    ck_assert_ptr_null(nn_scratch_get(ws, NN_SCRATCH_SLOTS, 8)); /* no such slot */
    ck_assert_ptr_null(nn_scratch_get(ws, -1, 8));
    /* children: none until reserved, then distinct and kept */
    ck_assert_ptr_null(nn_scratch_child(ws, 0));
    ck_assert(nn_scratch_reserve_children(ws, 2));
    nn_scratch *c0 = nn_scratch_child(ws, 0), *c1 = nn_scratch_child(ws, 1);
    ck_assert_ptr_nonnull(c0);
    ck_assert_ptr_nonnull(c1);
    ck_assert_ptr_null(nn_scratch_child(ws, 2));
    void *in_child = nn_scratch_get(c1, 0, 64);
    ck_assert_ptr_nonnull(in_child);
    ck_assert(nn_scratch_reserve_children(ws, 3)); /* growing keeps the children's buffers */
    ck_assert_ptr_eq(nn_scratch_get(nn_scratch_child(ws, 1), 0, 64), in_child);
    nn_scratch_destroy(ws);

    /* without a workspace: a fresh buffer each time, freed by release */
    void *p = nn_scratch_get(NULL, 0, 256);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq((uintptr_t)p % 64, 0);
    nn_scratch_release(NULL, p);
    ck_assert(!nn_scratch_reserve_children(NULL, 2));
    ck_assert_ptr_null(nn_scratch_child(NULL, 0));
    ck_assert_uint_eq(nn_scratch_system_allocs(NULL), 0);
    nn_scratch_destroy(NULL);
}
END_TEST

Suite *conv_scratch_suite(void) {
    Suite *s = suite_create("conv_scratch");
    TCase *tc = tcase_create("workspace");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, workspace_grows_only_when_asked_for_more);
    tcase_add_test(tc, avx2_kernels_allocate_nothing_after_first_pass);
    tcase_add_test(tc, avx512_kernels_allocate_nothing_after_first_pass);
    tcase_add_test(tc, conv2d_op_steps_allocate_nothing_after_first);
    suite_add_tcase(s, tc);
    return s;
}
