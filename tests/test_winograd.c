/*
 * test_winograd.c - Winograd F(4x4,3x3) and F(2x2,3x3) of the forward pass
 * (nn/winograd_simd.h):
 *   - the transform matrices themselves (typed here from Lavin & Gray 2015,
 *     not taken from the library): A^T [(G g G^T) .* (B^T d B)] A equals
 *     the direct 3x3 correlation of each patch, in double;
 *   - odd shapes forced onto each variant (nn_conv2d_shape.winograd_tile):
 *     1 to 65 channels, outputs not a multiple of 4 (33x35, 17x23, 5x5,
 *     9x70: rows of whole vectors of tiles and a partial one),
 *     padding 0 and 1, batch 2 and 3 (a band per thread on 2 threads), on
 *     every SIMD ISA this CPU has, 1-3 threads, weights unpacked and packed,
 *     against a direct convolution in double;
 *   - backward data through F(4x4) (the flipped-kernel forward), also
 *     with whole images per thread, against double;
 *   - backward weights through F(3x3, 4x4) (nn/winograd_bw_simd.h): its
 *     matrices in double, odd shapes against a direct gradient in double
 *     (bound and measured worst case at BW_ERROR_BOUND);
 *   - the error bound. F(4x4)'s transforms multiply by up to 8 (A^T) and 5
 *     (B^T) and divide by 6 and 24 (G), so its rounding error is larger
 *     than F(2x2)'s. Each output's error is bounded relative to
 *     sum |w| |x| over its window (the size of the terms summed, which a
 *     float dot product's error is proportional to), on He-scaled weights
 *     and inputs in [-1, 1] (backward: weights and dy in [-1, 1]). Worst
 *     case measured over these shapes (1 to 130 channels), the
 *     same on AVX2 and AVX-512 (max over outputs of |y - y_ref| /
 *     (sum |w||x| + |b|); in brackets max |y - y_ref| / max |y_ref|):
 *         F(4x4) 6.1e-6 (7.5e-6), F(2x2) 2.4e-7 (4.1e-7),
 *         direct GEMM 2.2e-7 (8.2e-7); backward data through F(4x4)
 *         1.9e-6.
 *     F(4x4) is about 25x F(2x2), its largest per-output ratio on the
 *     one-channel case, where windows at the padding sum few terms. The
 *     tests allow 2e-5 for F(4x4) and 1e-6 for F(2x2), about 3x and 4x the
 *     worst seen; one tap off by 0.5 gives ~1e-2 (checked below).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* ------------------------------------------------ the matrices, in double */

static const double bt4[6][6] = {{4, 0, -5, 0, 1, 0},  {0, -4, -4, 1, 1, 0}, {0, 4, -4, -1, 1, 0},
                                 {0, -2, -1, 2, 1, 0}, {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1}};
static const double g4[6][3] = {{1.0 / 4, 0, 0},           {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                {-1.0 / 6, 1.0 / 6, -1.0 / 6}, {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                {1.0 / 24, -1.0 / 12, 1.0 / 6}, {0, 0, 1}};
static const double at4[4][6] = {
    {1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}};
static const double bt2[4][4] = {{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}};
static const double g2[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
static const double at2[2][4] = {{1, 1, 1, 0}, {0, 1, -1, -1}};

/* Y = A^T [(G g G^T) .* (B^T d B)] A for one alpha x alpha patch d (alpha =
 * tile + 2), matrices given as flat row-major arrays. */
static void winograd_tile_double(int tile, const double *bt, const double *g, const double *at,
                                 const double d[6][6], const double k[3][3], double y[4][4]) {
    int alpha = tile + 2;
    double u[6][6], v[6][6], tmp[6][6];
    for (int i = 0; i < alpha; i++) /* tmp = G k */
        for (int j = 0; j < 3; j++) {
            tmp[i][j] = 0;
            for (int l = 0; l < 3; l++) tmp[i][j] += g[i * 3 + l] * k[l][j];
        }
    for (int i = 0; i < alpha; i++) /* u = tmp G^T */
        for (int j = 0; j < alpha; j++) {
            u[i][j] = 0;
            for (int l = 0; l < 3; l++) u[i][j] += tmp[i][l] * g[j * 3 + l];
        }
    for (int i = 0; i < alpha; i++) /* tmp = B^T d */
        for (int j = 0; j < alpha; j++) {
            tmp[i][j] = 0;
            for (int l = 0; l < alpha; l++) tmp[i][j] += bt[i * alpha + l] * d[l][j];
        }
    for (int i = 0; i < alpha; i++) /* v = tmp B, then the elementwise product */
        for (int j = 0; j < alpha; j++) {
            v[i][j] = 0;
            for (int l = 0; l < alpha; l++) v[i][j] += tmp[i][l] * bt[j * alpha + l];
            v[i][j] *= u[i][j];
        }
    for (int i = 0; i < tile; i++) /* tmp = A^T v */
        for (int j = 0; j < alpha; j++) {
            tmp[i][j] = 0;
            for (int l = 0; l < alpha; l++) tmp[i][j] += at[i * alpha + l] * v[l][j];
        }
    for (int i = 0; i < tile; i++) /* y = tmp A */
        for (int j = 0; j < tile; j++) {
            y[i][j] = 0;
            for (int l = 0; l < alpha; l++) y[i][j] += tmp[i][l] * at[j * alpha + l];
        }
}

START_TEST(matrices_compute_correlation) {
    uint64_t state = 12345;
    for (int tile = 2; tile <= 4; tile += 2) {
        const double *bt = tile == 4 ? &bt4[0][0] : &bt2[0][0];
        const double *g = tile == 4 ? &g4[0][0] : &g2[0][0];
        const double *at = tile == 4 ? &at4[0][0] : &at2[0][0];
        for (int trial = 0; trial < 20; trial++) {
            double d[6][6], k[3][3], y[4][4];
            for (int i = 0; i < 36; i++) {
                state = state * 6364136223846793005ULL + 1442695040888963407ULL;
                d[i / 6][i % 6] = (double)(state >> 11) / 9007199254740992.0 * 2 - 1;
            }
            for (int i = 0; i < 9; i++) {
                state = state * 6364136223846793005ULL + 1442695040888963407ULL;
                k[i / 3][i % 3] = (double)(state >> 11) / 9007199254740992.0 * 2 - 1;
            }
            winograd_tile_double(tile, bt, g, at, d, k, y);
            for (int oy = 0; oy < tile; oy++)
                for (int ox = 0; ox < tile; ox++) {
                    double direct = 0;
                    for (int ky = 0; ky < 3; ky++)
                        for (int kx = 0; kx < 3; kx++) direct += k[ky][kx] * d[oy + ky][ox + kx];
                    ck_assert_msg(fabs(y[oy][ox] - direct) < 1e-12,
                                  "F(%dx%d) output (%d,%d): %.17g vs direct %.17g", tile, tile, oy,
                                  ox, y[oy][ox], direct);
                }
        }
    }
}
END_TEST

/* ------------------------------------------------- the kernels, odd shapes */

typedef struct {
    int n, cin, h, w, cout, pad;
    bool bias, relu;
} wcase;

static const wcase cases[] = {
    /* n cin   h   w cout pad bias  relu       output */
    {2, 1, 33, 35, 7, 1, true, false},    /* 33x35, one channel in      */
    {1, 3, 19, 25, 17, 0, false, true},   /* 17x23, no padding          */
    {2, 7, 5, 5, 33, 1, true, true},      /* 5x5: one partial tile      */
    {1, 17, 7, 7, 64, 0, true, false},    /* 5x5, no padding            */
    {1, 33, 17, 23, 65, 1, true, true},   /* 17x23                      */
    {2, 64, 35, 37, 33, 0, false, false}, /* 33x35, batch 2             */
    {1, 65, 12, 16, 64, 1, true, false},  /* 12x16: whole tiles only    */
    {3, 64, 61, 45, 64, 1, true, true},   /* 9 bands: a band per thread */
    {1, 32, 9, 70, 33, 1, true, true},    /* 9x70: rows of 16 whole tiles
                                             (64 outputs) and a partial one */
    {1, 130, 16, 16, 130, 1, false, false}, /* 130 channels             */
    {1, 17, 6, 140, 20, 1, true, false},  /* 6x140: vectors of tiles away
                                             from both edges (AVX-512)  */
};

static nn_conv2d_shape make_shape(const wcase *c, int tile) {
    nn_conv2d_shape s = {.n = c->n, .cin = c->cin, .h = c->h, .w = c->w, .cout = c->cout,
                         .kh = 3, .kw = 3, .stride_h = 1, .stride_w = 1, .pad_h = c->pad,
                         .pad_w = c->pad, .dil_h = 1, .dil_w = 1, .groups = 1, .relu = c->relu,
                         .winograd_tile = tile};
    s.hout = c->h + 2 * c->pad - 2;
    s.wout = c->w + 2 * c->pad - 2;
    return s;
}

/* y_ref in double and, per output, the size of its terms sum |w||x| + |b|. */
static void reference(const nn_conv2d_shape *s, const float *x, const float *w, const float *b,
                      double *y_ref, double *size) {
    for (int n = 0; n < s->n; n++)
        for (int co = 0; co < s->cout; co++)
            for (int oy = 0; oy < s->hout; oy++)
                for (int ox = 0; ox < s->wout; ox++) {
                    double acc = b ? b[co] : 0.0, mag = b ? fabs(b[co]) : 0.0;
                    for (int ci = 0; ci < s->cin; ci++)
                        for (int ky = 0; ky < 3; ky++) {
                            int iy = oy - s->pad_h + ky;
                            if (iy < 0 || iy >= s->h) continue;
                            for (int kx = 0; kx < 3; kx++) {
                                int ix = ox - s->pad_w + kx;
                                if (ix < 0 || ix >= s->w) continue;
                                double wv = w[((size_t)co * s->cin + ci) * 9 + ky * 3 + kx];
                                double xv = x[(((size_t)n * s->cin + ci) * s->h + iy) * s->w + ix];
                                acc += wv * xv;
                                mag += fabs(wv * xv);
                            }
                        }
                    size_t i = (((size_t)n * s->cout + co) * s->hout + oy) * s->wout + ox;
                    y_ref[i] = s->relu && acc < 0.0 ? 0.0 : acc;
                    size[i] = mag;
                }
}

/* max over outputs of |y - y_ref| / size */
static double worst_error(const float *y, const double *y_ref, const double *size, size_t n) {
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)y[i] - y_ref[i]) / (size[i] > 0.0 ? size[i] : 1e-30);
        if (isnan(y[i])) e = INFINITY;
        if (e > worst) worst = e;
    }
    return worst;
}

/* per output, relative to sum |w||x| + |b| (see the top) */
#define F4_ERROR_BOUND 2e-5
#define F2_ERROR_BOUND 1e-6

START_TEST(odd_shapes_vs_double) {
    const wcase *c = &cases[_i];
    nn_conv2d_shape s = make_shape(c, 4);
    size_t nx = (size_t)s.n * s.cin * s.h * s.w, ny = (size_t)s.n * s.cout * s.hout * s.wout;
    size_t nw = (size_t)s.cout * s.cin * 9;
    float *x = tu_rand_floats(nx, 11 + _i), *w = tu_rand_floats(nw, 22 + _i);
    float *b = tu_rand_floats(s.cout, 33 + _i), *bias = c->bias ? b : NULL;
    float he = sqrtf(6.0f / (9.0f * s.cin)); /* He-uniform weights, as trained nets start */
    for (size_t i = 0; i < nw; i++) w[i] *= he;
    for (int i = 0; i < s.cout; i++) b[i] *= 0.1f;
    double *y_ref = malloc(ny * sizeof(double)), *size = malloc(ny * sizeof(double));
    float *y = malloc(ny * sizeof(float));
    ck_assert(y_ref && size && y);
    reference(&s, x, w, bias, y_ref, size);

    int saved = nn_threads_get();
    for (int threads = 1; threads <= 3; threads++) {
        nn_threads_set(threads);
        for (int isa = NN_ISA_AVX2; isa <= NN_ISA_AVX512; isa++) {
            const nn_kernels *k = nn_kernels_for((nn_isa)isa);
            if (!k) continue; /* an ISA this CPU lacks */
            for (int tile = 2; tile <= 4; tile += 2) {
                s.winograd_tile = tile;
                double bound = tile == 4 ? F4_ERROR_BOUND : F2_ERROR_BOUND;
                /* the packed weights are the variant's U: 36 or 16 matrices */
                size_t packed_floats = k->conv2d_packed_floats(&s);
                ck_assert_uint_ge(packed_floats, (size_t)(tile + 2) * (tile + 2) * s.cout * s.cin);
                ck_assert_uint_lt(packed_floats, (size_t)(tile + 3) * (tile + 3) * (s.cout + 16) *
                                                     s.cin + 64 * 1024);
                for (size_t i = 0; i < ny; i++) y[i] = NAN; /* every output must be written */
                k->conv2d_forward(&s, x, w, bias, y);
                double e = worst_error(y, y_ref, size, ny);
                ck_assert_msg(e <= bound, "%s F(%dx%d), case %d, %d threads: error %.3g",
                              k->name, tile, tile, _i, threads, e);

                float *packed = nn_aligned_alloc(packed_floats * sizeof(float));
                ck_assert_ptr_nonnull(packed);
                k->conv2d_pack_weights(&s, w, packed);
                for (size_t i = 0; i < ny; i++) y[i] = NAN;
                k->conv2d_forward_packed(&s, x, packed, bias, y);
                e = worst_error(y, y_ref, size, ny);
                ck_assert_msg(e <= bound,
                              "%s F(%dx%d) packed, case %d, %d threads: error %.3g", k->name, tile,
                              tile, _i, threads, e);
                nn_aligned_free(packed);
            }
        }
    }
    nn_threads_set(saved);
    free(x), free(w), free(b), free(y_ref), free(size), free(y);
}
END_TEST

/* A wrong weight tap must fail the bound: the bound is far from loose. */
START_TEST(bound_catches_a_wrong_tap) {
    nn_conv2d_shape s = make_shape(&cases[4], 4);
    size_t nx = (size_t)s.n * s.cin * s.h * s.w, ny = (size_t)s.n * s.cout * s.hout * s.wout;
    size_t nw = (size_t)s.cout * s.cin * 9;
    float *x = tu_rand_floats(nx, 1), *w = tu_rand_floats(nw, 2);
    double *y_ref = malloc(ny * sizeof(double)), *size = malloc(ny * sizeof(double));
    float *y = malloc(ny * sizeof(float));
    ck_assert(y_ref && size && y);
    reference(&s, x, w, NULL, y_ref, size);
    w[5] += 0.5f; /* one tap of one kernel off by half the weights' range */
    nn_kernels_get()->conv2d_forward(&s, x, w, NULL, y);
    ck_assert_double_gt(worst_error(y, y_ref, size, ny), 10 * F4_ERROR_BOUND);
    free(x), free(w), free(y_ref), free(size), free(y);
}
END_TEST

/* ------------------------------------------- backward data through F(4x4) */

/* Shapes that backward data runs through F(4x4) (wg_bwd_tile: >= 32
 * channels, >= 64 4x4 tiles of dx over the batch, >= 256 2x2 tiles of dy);
 * batch 4 on 2 threads takes whole images per thread. */
static const wcase bwd_cases[] = {
    /* n cin   h   w cout pad                 dx */
    {1, 33, 33, 35, 40, 1, false, false}, /* 33x35      */
    {4, 32, 17, 23, 33, 1, false, false}, /* 17x23 x 4  */
    {2, 48, 26, 27, 35, 0, false, false}, /* no padding */
    {1, 32, 18, 67, 32, 1, false, false}, /* 18x67      */
};

START_TEST(backward_data_vs_double) {
    const wcase *c = &bwd_cases[_i];
    nn_conv2d_shape s = make_shape(c, 0);
    size_t nx = (size_t)s.n * s.cin * s.h * s.w, ny = (size_t)s.n * s.cout * s.hout * s.wout;
    size_t nw = (size_t)s.cout * s.cin * 9;
    float *dy = tu_rand_floats(ny, 44 + _i), *w = tu_rand_floats(nw, 55 + _i);
    double *dx_ref = calloc(nx, sizeof(double)), *size = calloc(nx, sizeof(double));
    float *dx = malloc(nx * sizeof(float));
    ck_assert(dx_ref && size && dx);
    for (int n = 0; n < s.n; n++) /* dx[ci][iy][ix] = sum w[co][ci][ky][kx] dy[co][oy][ox] */
        for (int co = 0; co < s.cout; co++)
            for (int oy = 0; oy < s.hout; oy++)
                for (int ox = 0; ox < s.wout; ox++) {
                    double g = dy[(((size_t)n * s.cout + co) * s.hout + oy) * s.wout + ox];
                    for (int ci = 0; ci < s.cin; ci++)
                        for (int ky = 0; ky < 3; ky++)
                            for (int kx = 0; kx < 3; kx++) {
                                int iy = oy - s.pad_h + ky, ix = ox - s.pad_w + kx;
                                if (iy < 0 || iy >= s.h || ix < 0 || ix >= s.w) continue;
                                size_t i = (((size_t)n * s.cin + ci) * s.h + iy) * s.w + ix;
                                double t = w[((size_t)co * s.cin + ci) * 9 + ky * 3 + kx] * g;
                                dx_ref[i] += t;
                                size[i] += fabs(t);
                            }
                }
    int saved = nn_threads_get();
    for (int threads = 1; threads <= 3; threads++) {
        nn_threads_set(threads);
        for (int isa = NN_ISA_AVX2; isa <= NN_ISA_AVX512; isa++) {
            const nn_kernels *k = nn_kernels_for((nn_isa)isa);
            if (!k) continue;
            memset(dx, 0, nx * sizeof(float)); /* backward accumulates */
            k->conv2d_backward_data(&s, dy, w, dx);
            double e = worst_error(dx, dx_ref, size, nx);
            ck_assert_msg(e <= F4_ERROR_BOUND, "%s backward data, case %d, %d threads: error %.3g",
                          k->name, _i, threads, e);
        }
    }
    nn_threads_set(saved);
    free(dy), free(w), free(dx_ref), free(size), free(dx);
}
END_TEST

/* ------------------------------------ backward weights: F(3x3, 4x4) */

/* The weight gradient of a 4x4 output tile is the correlation of the 6x6
 * input patch d with the 4x4 dy tile g (3x3 values): A^T [(H g H^T) .*
 * (B^T d B)] A with F(4x4)'s B^T, H the 4-tap filter evaluated at the
 * points 0, 1, -1, 2, -2, inf, and A^T the 3 outputs' evaluation scaled by
 * F(4x4)'s G scales (1/4, -1/6, -1/6, 1/24, 1/24, 1). Typed here from that
 * derivation, not taken from the library. */
static const double h_bw[6][4] = {{1, 0, 0, 0}, {1, 1, 1, 1}, {1, -1, 1, -1},
                                  {1, 2, 4, 8}, {1, -2, 4, -8}, {0, 0, 0, 1}};
static const double at_bw[3][6] = {{1.0 / 4, -1.0 / 6, -1.0 / 6, 1.0 / 24, 1.0 / 24, 0},
                                   {0, -1.0 / 6, 1.0 / 6, 1.0 / 12, -1.0 / 12, 0},
                                   {0, -1.0 / 6, -1.0 / 6, 1.0 / 6, 1.0 / 6, 1}};

START_TEST(bw_matrices_compute_correlation) {
    uint64_t state = 777;
    for (int trial = 0; trial < 20; trial++) {
        double d[6][6], g[4][4], hg[6][4], u[6][6], bd[6][6], v[6][6], am[3][6], dw[3][3];
        for (int i = 0; i < 36 + 16; i++) {
            state = state * 6364136223846793005ULL + 1442695040888963407ULL;
            double r = (double)(state >> 11) / 9007199254740992.0 * 2 - 1;
            if (i < 36)
                d[i / 6][i % 6] = r;
            else
                g[(i - 36) / 4][(i - 36) % 4] = r;
        }
        for (int i = 0; i < 6; i++) /* hg = H g */
            for (int j = 0; j < 4; j++) {
                hg[i][j] = 0;
                for (int l = 0; l < 4; l++) hg[i][j] += h_bw[i][l] * g[l][j];
            }
        for (int i = 0; i < 6; i++) /* u = hg H^T */
            for (int j = 0; j < 6; j++) {
                u[i][j] = 0;
                for (int l = 0; l < 4; l++) u[i][j] += hg[i][l] * h_bw[j][l];
            }
        for (int i = 0; i < 6; i++) /* bd = B^T d */
            for (int j = 0; j < 6; j++) {
                bd[i][j] = 0;
                for (int l = 0; l < 6; l++) bd[i][j] += bt4[i][l] * d[l][j];
            }
        for (int i = 0; i < 6; i++) /* v = (bd B) .* u */
            for (int j = 0; j < 6; j++) {
                v[i][j] = 0;
                for (int l = 0; l < 6; l++) v[i][j] += bd[i][l] * bt4[j][l];
                v[i][j] *= u[i][j];
            }
        for (int i = 0; i < 3; i++) /* am = A^T v */
            for (int j = 0; j < 6; j++) {
                am[i][j] = 0;
                for (int l = 0; l < 6; l++) am[i][j] += at_bw[i][l] * v[l][j];
            }
        for (int i = 0; i < 3; i++) /* dw = am A */
            for (int j = 0; j < 3; j++) {
                dw[i][j] = 0;
                for (int l = 0; l < 6; l++) dw[i][j] += am[i][l] * at_bw[j][l];
                double direct = 0;
                for (int oy = 0; oy < 4; oy++)
                    for (int ox = 0; ox < 4; ox++) direct += g[oy][ox] * d[oy + i][ox + j];
                ck_assert_msg(fabs(dw[i][j] - direct) < 1e-12, "tap (%d,%d): %.17g vs direct %.17g",
                              i, j, dw[i][j], direct);
            }
    }
}
END_TEST

/* Shapes forced onto the Winograd weight gradient (winograd_tile 4): 1 to
 * 65 channels each way, outputs 5x5, 17x23 and 33x35, padding 0 and 1,
 * batch 1 to 3. */
static const wcase bw_cases[] = {
    /* n cin   h   w cout pad                 output */
    {2, 1, 33, 35, 7, 1, false, false},   /* 33x35, one channel in */
    {1, 3, 19, 25, 17, 0, false, false},  /* 17x23, no padding     */
    {3, 7, 5, 5, 33, 1, false, false},    /* 5x5: a partial tile   */
    {1, 17, 7, 7, 64, 0, false, false},   /* 5x5, no padding       */
    {2, 33, 17, 23, 65, 1, false, false}, /* 17x23                 */
    {1, 65, 35, 37, 64, 0, false, false}, /* 33x35                 */
    {3, 64, 17, 23, 17, 1, false, false}, /* 17x23 x 3             */
    {1, 64, 33, 35, 1, 1, false, false},  /* one channel out       */
    {2, 65, 33, 35, 3, 1, false, false},  /* three channels out    */
};

/* dW and db in double, as the kernels add them to dw0 and db0; per weight
 * the size of its terms, sum |x||dy| (db: sum |dy|). */
static void bw_reference(const nn_conv2d_shape *s, const float *x, const float *dy,
                         const float *dw0, const float *db0, double *dw_ref, double *dw_size,
                         double *db_ref, double *db_size) {
    size_t nw = (size_t)s->cout * s->cin * 9;
    for (size_t i = 0; i < nw; i++) dw_ref[i] = dw0[i], dw_size[i] = fabs(dw0[i]);
    for (int co = 0; co < s->cout; co++) db_ref[co] = db0[co], db_size[co] = fabs(db0[co]);
    for (int n = 0; n < s->n; n++)
        for (int co = 0; co < s->cout; co++) {
            const float *g = dy + ((size_t)n * s->cout + co) * s->hout * s->wout;
            for (int p = 0; p < s->hout * s->wout; p++) {
                db_ref[co] += g[p];
                db_size[co] += fabs(g[p]);
            }
            for (int ci = 0; ci < s->cin; ci++) {
                const float *xp = x + ((size_t)n * s->cin + ci) * s->h * s->w;
                for (int ky = 0; ky < 3; ky++)
                    for (int kx = 0; kx < 3; kx++) {
                        double acc = 0, mag = 0;
                        for (int oy = 0; oy < s->hout; oy++) {
                            int iy = oy - s->pad_h + ky;
                            if (iy < 0 || iy >= s->h) continue;
                            for (int ox = 0; ox < s->wout; ox++) {
                                int ix = ox - s->pad_w + kx;
                                if (ix < 0 || ix >= s->w) continue;
                                double t = (double)g[oy * s->wout + ox] * xp[iy * s->w + ix];
                                acc += t;
                                mag += fabs(t);
                            }
                        }
                        size_t i = ((size_t)co * s->cin + ci) * 9 + ky * 3 + kx;
                        dw_ref[i] += acc;
                        dw_size[i] += mag;
                    }
            }
        }
}

/* Per weight, relative to sum |x||dy| (and |dw0|): worst case measured over
 * bw_cases, x and dy in [-1, 1], on AVX2 and AVX-512 and 1-3 threads:
 * 1.9e-6, on the 5x5 case without padding (the outer-product kernel on the
 * same cases: 1.9e-7). The terms are summed as transformed values up to
 * 15^2 * 10^2 times larger before A^T divides them down, hence the larger
 * error; the bound is 3x the worst. */
#define BW_ERROR_BOUND 6e-6

START_TEST(backward_weights_vs_double) {
    const wcase *c = &bw_cases[_i];
    nn_conv2d_shape s = make_shape(c, 4);
    size_t nx = (size_t)s.n * s.cin * s.h * s.w, ny = (size_t)s.n * s.cout * s.hout * s.wout;
    size_t nw = (size_t)s.cout * s.cin * 9;
    float *x = tu_rand_floats(nx, 66 + _i), *dy = tu_rand_floats(ny, 77 + _i);
    float *dw0 = tu_rand_floats(nw, 88 + _i), *db0 = tu_rand_floats(s.cout, 99 + _i);
    double *dw_ref = malloc(nw * sizeof(double)), *dw_size = malloc(nw * sizeof(double));
    double *db_ref = malloc(s.cout * sizeof(double)), *db_size = malloc(s.cout * sizeof(double));
    float *dw = malloc(nw * sizeof(float)), *db = malloc(s.cout * sizeof(float));
    ck_assert(dw_ref && dw_size && db_ref && db_size && dw && db);
    bw_reference(&s, x, dy, dw0, db0, dw_ref, dw_size, db_ref, db_size);
    int saved = nn_threads_get();
    for (int threads = 1; threads <= 3; threads++) {
        nn_threads_set(threads);
        for (int isa = NN_ISA_AVX2; isa <= NN_ISA_AVX512; isa++) {
            const nn_kernels *k = nn_kernels_for((nn_isa)isa);
            if (!k) continue;
            memcpy(dw, dw0, nw * sizeof(float)); /* backward accumulates */
            memcpy(db, db0, s.cout * sizeof(float));
            k->conv2d_backward_weights(&s, x, dy, dw, db);
            double e = worst_error(dw, dw_ref, dw_size, nw);
            ck_assert_msg(e <= BW_ERROR_BOUND, "%s backward weights, case %d, %d threads: error %.3g",
                          k->name, _i, threads, e);
            e = worst_error(db, db_ref, db_size, s.cout);
            ck_assert_msg(e <= 1e-6, "%s db, case %d, %d threads: error %.3g", k->name, _i,
                          threads, e);
        }
    }
    nn_threads_set(saved);
    free(x), free(dy), free(dw0), free(db0), free(dw_ref), free(dw_size), free(db_ref);
    free(db_size), free(dw), free(db);
}
END_TEST

/* A wrong input tap must fail the bound: one x value off by half its range
 * makes the 9 * cout weights that see it wrong. */
START_TEST(bw_bound_catches_a_wrong_tap) {
    nn_conv2d_shape s = make_shape(&bw_cases[4], 4);
    size_t nx = (size_t)s.n * s.cin * s.h * s.w, ny = (size_t)s.n * s.cout * s.hout * s.wout;
    size_t nw = (size_t)s.cout * s.cin * 9;
    float *x = tu_rand_floats(nx, 1), *dy = tu_rand_floats(ny, 2);
    float *dw = calloc(nw, sizeof(float)), *db = calloc(s.cout, sizeof(float));
    double *dw_ref = malloc(nw * sizeof(double)), *dw_size = malloc(nw * sizeof(double));
    double *db_ref = malloc(s.cout * sizeof(double)), *db_size = malloc(s.cout * sizeof(double));
    ck_assert(dw && db && dw_ref && dw_size && db_ref && db_size);
    bw_reference(&s, x, dy, dw, db, dw_ref, dw_size, db_ref, db_size);
    x[(size_t)5 * s.w + 7] += 0.5f; /* image 0, channel 0, row 5, column 7 */
    nn_kernels_get()->conv2d_backward_weights(&s, x, dy, dw, db);
    ck_assert_double_gt(worst_error(dw, dw_ref, dw_size, nw), 10 * BW_ERROR_BOUND);
    free(x), free(dy), free(dw), free(db), free(dw_ref), free(dw_size), free(db_ref), free(db_size);
}
END_TEST

Suite *winograd_suite(void) {
    Suite *s = suite_create("winograd");
    TCase *tc = tcase_create("f4x4");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, matrices_compute_correlation);
    tcase_add_loop_test(tc, odd_shapes_vs_double, 0, (int)(sizeof cases / sizeof cases[0]));
    tcase_add_test(tc, bound_catches_a_wrong_tap);
    tcase_add_loop_test(tc, backward_data_vs_double, 0,
                        (int)(sizeof bwd_cases / sizeof bwd_cases[0]));
    tcase_add_test(tc, bw_matrices_compute_correlation);
    tcase_add_loop_test(tc, backward_weights_vs_double, 0,
                        (int)(sizeof bw_cases / sizeof bw_cases[0]));
    tcase_add_test(tc, bw_bound_catches_a_wrong_tap);
    suite_add_tcase(s, tc);
    return s;
}
