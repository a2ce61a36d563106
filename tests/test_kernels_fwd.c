/*
 * test_kernels_fwd.c - the forward convolution paths added for speed, each
 * against the plain-C reference kernel on odd shapes, for every SIMD ISA
 * this CPU has, on 1, 2 and 3 threads, with weights unpacked and packed:
 *   - the direct GEMM through the polyphase copy (stride 2 and 3, with
 *     padding and dilation; output rows of at least one vector);
 *   - Winograd forward as its rule picks it (winograd_simd.h, wg_fwd_tile):
 *     F(4x4) from 16 channels and 64 4x4 tiles (16 with packed weights or
 *     up to 128x128 channels),
 *     F(2x2) from 64 channels on AVX-512, 32 on AVX2, and 64 2x2 tiles,
 *     with bands shared by the threads and with a band per thread (enough
 *     bands, 2 threads); odd shapes forced onto each variant and the
 *     error bound are in test_winograd.c;
 *   - the small-Cin direct kernel (Cin*Kh*Kw <= 32, strided), and first
 *     layers of 1, 3, 7 input channels at stride 1 (the direct GEMM).
 * Tolerance is relative to the magnitude of the reference result, as in
 * test_kernels.c (summation orders differ), 3x looser where F(4x4) may run.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

typedef struct {
    int n, cin, h, w, cout, k, sh, sw, ph, pw, dh, dw;
    bool bias, relu;
} fcase;

static const fcase cases[] = {
    /* n cin   h   w cout k sh sw ph pw dh dw  bias  relu */
    /* stride 2 through the polyphase copy (wout >= 16) */
    {1, 3, 33, 41, 16, 3, 2, 2, 1, 1, 1, 1, true, true},    /* face_ssd conv1, small */
    {2, 1, 35, 37, 7, 3, 2, 2, 1, 1, 1, 1, true, false},    /* one channel, batch 2 */
    {1, 7, 21, 67, 17, 3, 2, 2, 0, 0, 1, 1, false, false},  /* no padding           */
    {1, 17, 19, 45, 33, 3, 2, 2, 2, 2, 2, 2, true, true},   /* stride 2, dilation 2 */
    {1, 33, 13, 53, 3, 3, 2, 1, 1, 1, 1, 1, true, false},   /* mixed strides        */
    {1, 3, 29, 99, 5, 7, 2, 2, 3, 3, 1, 1, true, true},     /* 7x7 stride 2         */
    {1, 5, 17, 100, 9, 3, 3, 3, 1, 1, 1, 1, true, false},   /* stride 3             */
    {1, 4, 20, 70, 6, 1, 2, 2, 0, 0, 1, 1, true, false},    /* 1x1 stride 2         */
    /* small Cin and strided: the small-Cin direct kernel */
    {1, 2, 31, 50, 20, 3, 2, 2, 2, 2, 2, 2, true, true},    /* dilation 2           */
    {1, 3, 21, 40, 9, 3, 2, 1, 1, 1, 1, 1, false, true},    /* stride 2 x 1         */
    {1, 3, 20, 37, 33, 3, 1, 3, 0, 1, 1, 1, true, false},   /* stride 1 x 3         */
    /* stride 1, small Cin (first layers): the direct GEMM */
    {1, 3, 23, 37, 64, 3, 1, 1, 1, 1, 1, 1, true, true},    /* VGG conv1_1, small   */
    {1, 1, 19, 33, 17, 3, 1, 1, 1, 1, 1, 1, false, true},   /* one channel          */
    {1, 7, 17, 35, 33, 3, 1, 1, 1, 1, 1, 1, true, false},
    /* Winograd forward: F(4x4) here (>= 16 channels, >= 64 4x4 tiles) */
    {1, 64, 33, 35, 65, 3, 1, 1, 1, 1, 1, 1, true, true},
    {2, 65, 31, 17, 64, 3, 1, 1, 0, 0, 1, 1, false, false}, /* no padding, batch 2  */
    {1, 96, 30, 40, 96, 3, 1, 1, 1, 1, 1, 1, true, true},   /* face_ssd conv4_2     */
    {3, 64, 61, 45, 64, 3, 1, 1, 1, 1, 1, 1, true, false},  /* 9 bands: a band per
                                                               thread on 2 threads */
    {2, 33, 17, 23, 35, 3, 1, 1, 0, 0, 1, 1, true, true},   /* 15x21, 48 4x4 tiles:
                                                               F(4x4), a small U */
    {1, 130, 16, 16, 130, 3, 1, 1, 1, 1, 1, 1, false, true}, /* 16 4x4 tiles, large U:
                                                               F(2x2) unpacked,
                                                               F(4x4) packed */
    /* 47-48 channels: F(4x4) on both ISAs; 16->17: F(4x4) too */
    {1, 48, 30, 41, 47, 3, 1, 1, 1, 1, 1, 1, true, true},
    {1, 16, 37, 33, 17, 3, 1, 1, 1, 1, 1, 1, true, false},
};

static double max_abs(const float *v, size_t n) {
    double m = 1.0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)v[i]));
    return m;
}

static nn_conv2d_shape make_shape(const fcase *c) {
    nn_conv2d_shape s = {
        .n = c->n, .cin = c->cin, .h = c->h, .w = c->w, .cout = c->cout, .kh = c->k, .kw = c->k,
        .stride_h = c->sh, .stride_w = c->sw, .pad_h = c->ph, .pad_w = c->pw, .dil_h = c->dh,
        .dil_w = c->dw, .groups = 1, .relu = c->relu,
    };
    s.hout = (c->h + 2 * c->ph - c->dh * (c->k - 1) - 1) / c->sh + 1;
    s.wout = (c->w + 2 * c->pw - c->dw * (c->k - 1) - 1) / c->sw + 1;
    return s;
}

/* Forward, unpacked and packed, of one ISA against the reference; with
 * direct_only, the direct GEMM even where Winograd would run. */
static void check_case(const nn_kernels *k, int idx, int threads, bool direct_only) {
    const fcase *c = &cases[idx];
    nn_conv2d_shape s = make_shape(c);
    s.direct_only = direct_only;
    size_t nx = (size_t)s.n * s.cin * s.h * s.w, ny = (size_t)s.n * s.cout * s.hout * s.wout;
    size_t nw = (size_t)s.cout * s.cin * s.kh * s.kw;
    float *x = tu_rand_floats(nx, 101 + idx), *w = tu_rand_floats(nw, 202 + idx);
    float *b = tu_rand_floats(s.cout, 303 + idx), *bias = c->bias ? b : NULL;
    float *y_ref = tu_rand_floats(ny, 5), *y = tu_rand_floats(ny, 6); /* garbage to overwrite */
    nn_kernels_reference.conv2d_forward(&s, x, w, bias, y_ref);
    double scale = max_abs(y_ref, ny);
    /* F(4x4) rounds more than the GEMM (test_winograd.c bounds it per
     * output): 3e-5 of max |y| where it may run, 1e-5 elsewhere */
    bool winograd = c->k == 3 && c->sh == 1 && c->sw == 1 && c->dh == 1 && c->dw == 1;
    double tol = !direct_only && winograd ? 3e-5 : 1e-5;

    k->conv2d_forward(&s, x, w, bias, y);
    double e = tu_max_rel_err(y, y_ref, ny, tol * scale, 1e-5);
    ck_assert_msg(e <= 1.0, "%s forward%s, case %d, %d threads: error %.3g", k->name,
                  direct_only ? " direct" : "", idx, threads, e);

    float *packed = nn_aligned_alloc(k->conv2d_packed_floats(&s) * sizeof(float));
    ck_assert_ptr_nonnull(packed);
    k->conv2d_pack_weights(&s, w, packed);
    for (size_t i = 0; i < ny; i++) y[i] = -7.0f;
    k->conv2d_forward_packed(&s, x, packed, bias, y);
    e = tu_max_rel_err(y, y_ref, ny, tol * scale, 1e-5);
    ck_assert_msg(e <= 1.0, "%s forward packed%s, case %d, %d threads: error %.3g", k->name,
                  direct_only ? " direct" : "", idx, threads, e);
    nn_aligned_free(packed);
    free(x), free(w), free(b), free(y_ref), free(y);
}

START_TEST(simd_vs_reference) {
    int saved = nn_threads_get();
    for (int threads = 1; threads <= 3; threads++) {
        nn_threads_set(threads);
        for (int isa = NN_ISA_AVX2; isa <= NN_ISA_AVX512; isa++) {
            const nn_kernels *k = nn_kernels_for((nn_isa)isa);
            if (!k) continue; /* an ISA this CPU lacks: nothing to run */
            check_case(k, _i, threads, false);
            check_case(k, _i, threads, true);
        }
    }
    nn_threads_set(saved);
}
END_TEST

/* direct_only reaches the GEMM: on a Winograd shape the packed weights
 * are then GEMM panels (about K floats per output channel), not the 16
 * transformed matrices U (16 per input and output channel). */
START_TEST(direct_only_packs_panels) {
    nn_conv2d_shape s = make_shape(&cases[14]); /* 64 -> 65, 33x35: Winograd on both ISAs */
    size_t panels_max = (size_t)(s.cout + 16) * s.cin * 9;
    for (int isa = NN_ISA_AVX2; isa <= NN_ISA_AVX512; isa++) {
        const nn_kernels *k = nn_kernels_for((nn_isa)isa);
        if (!k) continue;
        s.direct_only = false;
        ck_assert_uint_ge(k->conv2d_packed_floats(&s), (size_t)16 * s.cout * s.cin);
        ck_assert_uint_gt(k->conv2d_packed_floats(&s), panels_max);
        s.direct_only = true;
        ck_assert_uint_le(k->conv2d_packed_floats(&s), panels_max);
        ck_assert_uint_ge(k->conv2d_packed_floats(&s), (size_t)s.cout * s.cin * 9);
    }
}
END_TEST

/* The reference table is reached when forced (NN_ISA=reference in the
 * environment does the same through nn_kernels_get). */
START_TEST(forced_reference) {
    ck_assert_int_eq(nn_set_isa(NN_ISA_REFERENCE), NN_OK);
    ck_assert_str_eq(nn_kernels_get()->name, "reference");
    if (nn_cpu_best_isa() >= NN_ISA_AVX2) {
        ck_assert_int_eq(nn_set_isa(NN_ISA_AVX2), NN_OK);
        ck_assert_str_eq(nn_kernels_get()->name, "avx2");
    }
    ck_assert_int_eq(nn_set_isa(nn_cpu_best_isa()), NN_OK);
}
END_TEST

Suite *kernels_fwd_suite(void) {
    Suite *s = suite_create("kernels_fwd");
    TCase *tc = tcase_create("forward_paths");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, simd_vs_reference, 0, (int)(sizeof cases / sizeof cases[0]));
    tcase_add_test(tc, forced_reference);
    tcase_add_test(tc, direct_only_packs_panels);
    suite_add_tcase(s, tc);
    return s;
}
