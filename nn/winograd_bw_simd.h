/*
 * winograd_bw_simd.h - the weight gradient of 3x3, stride-1, dilation-1
 * convolutions (no groups, padding 0 or 1) by Winograd F(3x3, 4x4); part of
 * the kernels_simd.h template (same vector vocabulary), included just
 * before conv2d_backward_weights.
 *
 *   dW[co][ci][ky][kx] += sum over images n and outputs (oy, ox) of
 *                         dy[n][co][oy][ox] * x[n][ci][oy - pad + ky][ox - pad + kx]
 *   db[co]             += sum of dy[n][co]
 *
 * For one 4x4 tile of outputs the sum is the correlation of the 6x6 input
 * patch d around it with the 4x4 dy tile g, which gives 3x3 values: a
 * Winograd F(3x3, 4x4) with alpha = 6, on the points 0, +-1, +-2 and
 * infinity of F(4x4, 3x3) (winograd_simd.h):
 *     dW_tile = A^T [ (H g H^T) .* (B^T d B) ] A
 *     B^T = F(4x4, 3x3)'s B^T (the points alone fix it)
 *     H   = [1 0 0 0; 1 1 1 1; 1 -1 1 -1; 1 2 4 8; 1 -2 4 -8; 0 0 0 1]
 *           (a 4-tap filter evaluated at the points, unscaled)
 *     A^T = [1/4 -1/6 -1/6 1/24 1/24 0; 0 -1/6 1/6 1/12 -1/12 0;
 *            0 -1/6 -1/6 1/6 1/6 1]
 * i.e. the "G" of a 4-tap filter and the "A" of 3 outputs, with F(4x4)'s
 * scales 1/4, -1/6, -1/6, 1/24, 1/24, 1 moved from G to A (S H g H^T S .*
 * V = S (H g H^T .* V) S): the dy transform then only adds and doubles, and
 * the scaling runs once per weight instead of once per tile
 * (tests/test_winograd.c checks the matrices in double).
 *
 * Summed over tiles, per transform index xi (36 of them) this is a GEMM
 * whose reduction runs over tiles:
 *     M[xi][co][ci] = sum_t U[xi][t][co] * V[xi][t][ci]
 * (U = H g H^T of dy, V = B^T d B of x), then dW = A^T M A once per
 * (co, ci). 36 multiplies per tile and channel pair against 9 * 16 = 144
 * direct: 4x fewer. The transforms run with channels in the vector lanes,
 * from HWC copies of x and dy (one band of tile rows at a time), and store
 * U and V as [xi][t][channels]: the GEMM's micro-kernel broadcasts MR
 * channels of one side and loads NR of the other per tile, keeping the
 * MR x NR block of M in registers over the band's tiles.
 *
 * Threads: items are (image, band); each task has its own copies, U, V and
 * M accumulator, and the accumulators are summed in the output transform.
 *
 * Which shapes take it: wgb_pays (measured there), or any shape it applies
 * to with nn_conv2d_shape.winograd_tile = 4 (tests, benchmarks).
 *
 * Numerics: H multiplies by up to 15 per side, B^T by up to 10, and A^T
 * divides by 6 and 24, so the error is larger than the direct sum's: worst
 * weight 1.9e-6 of its sum |x||dy| against 1.9e-7 for the outer product
 * (tests/test_winograd.c).
 */

#define WGB_XIS 36

typedef struct {
    const nn_conv2d_shape *s;
    const float *x, *dy;
    float *dw;
    int tw, band_rows, bands, tiles; /* tiles per row, tile rows per band, bands per image,
                                      * tiles per band (at most) */
    bool x_on_b;        /* the GEMM's vector side (NR lanes) is x's channels, else dy's */
    int cx, cd;         /* HWC widths (channels rounded up: NR on the vector side, else VL) */
    int wpx, wpd;       /* HWC row widths in pixels: x (band patch), dy (band tiles) */
    int ma, nb;         /* GEMM rows (broadcast side) and columns (vector side): channels */
    int ldm;            /* M rows: nb rounded up to NR */
    size_t v_xi, u_xi, m_xi;               /* floats per xi of V, U, M */
    size_t xb_off, dyb_off, v_off, u_off, m_off, db_off, task_floats;
    float *scratch;     /* [tasks][task_floats] */
    int tasks, items;
} KS(wgb_job);

/* --------------------------------------------------------------- copies */

/* Input rows of band (n, band) as HWC: xb[(r * wpx + q) * cx + c] =
 * x[n][c][4 ty0 - pad_h + r][q - pad_w], zero outside the image and for
 * c >= cin. */
static void KS(wgb_pack_x)(const KS(wgb_job) *J, int n, int ty0, int rows_in, float *xb) {
    const nn_conv2d_shape *s = J->s;
    int plane = s->h * s->w, cx = J->cx;
    const float *xn = J->x + (size_t)n * s->cin * plane;
    for (int r = 0; r < rows_in; r++) {
        int iy = 4 * ty0 - s->pad_h + r;
        float *dp = KS(padded_row_cl)(xb + (size_t)r * J->wpx * cx, iy, s, J->wpx, cx);
        if (!dp) continue;
        for (int c = 0; c < cx; c += VL) {
            int lanes = ks_min(VL, s->cin - c);
            for (int ix = 0; ix < s->w; ix += VL) {
                int px = ks_min(VL, s->w - ix);
                if (lanes > 0)
                    KS(transpose_copy)(dp + (size_t)ix * cx + c, cx,
                                       xn + (size_t)c * plane + (size_t)iy * s->w + ix, plane,
                                       lanes, px);
                else
                    for (int p = 0; p < px; p++) vf_storeu(dp + (size_t)(ix + p) * cx + c, vf_zero());
            }
        }
    }
}

/* dy of band (n, band) as HWC: dyb[(r * wpd + q) * cd + c] =
 * dy[n][c][4 ty0 + r][q], zero past the output and for c >= cout. */
static void KS(wgb_pack_dy)(const KS(wgb_job) *J, int n, int ty0, int rows, float *dyb) {
    const nn_conv2d_shape *s = J->s;
    int plane = s->hout * s->wout, cd = J->cd;
    const float *dyn = J->dy + (size_t)n * s->cout * plane;
    for (int r = 0; r < 4 * rows; r++) {
        int oy = 4 * ty0 + r;
        float *d = dyb + (size_t)r * J->wpd * cd;
        if (oy >= s->hout) {
            memset(d, 0, sizeof(float) * J->wpd * cd);
            continue;
        }
        memset(d + (size_t)s->wout * cd, 0, sizeof(float) * (J->wpd - s->wout) * cd);
        for (int c = 0; c < cd; c += VL) {
            int lanes = ks_min(VL, s->cout - c);
            for (int ox = 0; ox < s->wout; ox += VL) {
                int px = ks_min(VL, s->wout - ox);
                float *dst = d + (size_t)ox * cd + c;
                if (lanes > 0)
                    KS(transpose_copy)(dst, cd, dyn + (size_t)c * plane + (size_t)oy * s->wout + ox,
                                       plane, lanes, px);
                else
                    for (int p = 0; p < px; p++) vf_storeu(dst + (size_t)p * cd, vf_zero());
            }
        }
    }
}

/* ----------------------------------------------------------- transforms */

/* H applied to 4 vectors g (a row or a column of a dy tile): the points'
 * values of the cubic with coefficients g, 8 adds. */
static inline void KS(wgb_h)(const vf g[4], vf o[6]) {
    vf even = vf_add(g[0], g[2]), odd = vf_add(g[1], g[3]);
    vf even4 = vf_fma(vf_set1(4.0f), g[2], g[0]);            /* g0 + 4 g2 */
    vf odd4 = vf_fma(vf_set1(4.0f), g[3], g[1]);             /* g1 + 4 g3 */
    odd4 = vf_add(odd4, odd4);                               /* 2 g1 + 8 g3 */
    o[0] = g[0];
    o[1] = vf_add(even, odd);
    o[2] = vf_sub(even, odd);
    o[3] = vf_add(even4, odd4);
    o[4] = vf_sub(even4, odd4);
    o[5] = g[3];
}

/* V[xi][t][c..c+VL) = (B^T d B)[xi] for every tile t of the band and
 * channel vector c, from the HWC copy (6 rows of 6 vectors per tile). */
static void KS(wgb_input)(const KS(wgb_job) *J, int rows, const float *xb, float *v) {
    int cx = J->cx;
    size_t v_xi = J->v_xi;
    for (int ty = 0; ty < rows; ty++)
        for (int tx = 0; tx < J->tw; tx++) {
            int t = ty * J->tw + tx;
            const float *patch = xb + ((size_t)4 * ty * J->wpx + 4 * tx) * cx;
            float *vt = v + (size_t)t * cx;
            for (int c = 0; c < cx; c += VL) {
                vf db[6][6]; /* d B, row by row */
                for (int r = 0; r < 6; r++) {
                    vf d[6];
                    const float *row = patch + (size_t)r * J->wpx * cx + c;
                    for (int q = 0; q < 6; q++) d[q] = vf_loadu(row + (size_t)q * cx);
                    KS(wg4_bt)(d, db[r]);
                }
                for (int q = 0; q < 6; q++) { /* B^T (d B), column by column */
                    vf col[6] = {db[0][q], db[1][q], db[2][q], db[3][q], db[4][q], db[5][q]}, o[6];
                    KS(wg4_bt)(col, o);
                    for (int r = 0; r < 6; r++) vf_storeu(vt + (r * 6 + q) * v_xi + c, o[r]);
                }
            }
        }
}

/* U[xi][t][c..c+VL) = (H g H^T)[xi] for every tile t of the band and
 * channel vector c, from the HWC copy of dy (4 rows of 4 vectors per tile).
 * H's row 1 is all ones, so U[1][1] is the sum of the tile: summed into
 * dbsum, it gives db. */
static void KS(wgb_dy)(const KS(wgb_job) *J, int rows, const float *dyb, float *u, float *dbsum) {
    int cd = J->cd;
    size_t u_xi = J->u_xi;
    for (int ty = 0; ty < rows; ty++)
        for (int tx = 0; tx < J->tw; tx++) {
            int t = ty * J->tw + tx;
            const float *tile = dyb + ((size_t)4 * ty * J->wpd + 4 * tx) * cd;
            float *ut = u + (size_t)t * cd;
            for (int c = 0; c < cd; c += VL) {
                vf gh[4][6]; /* g H^T, row by row */
                for (int r = 0; r < 4; r++) {
                    vf g[4];
                    const float *row = tile + (size_t)r * J->wpd * cd + c;
                    for (int q = 0; q < 4; q++) g[q] = vf_loadu(row + (size_t)q * cd);
                    KS(wgb_h)(g, gh[r]);
                }
                for (int q = 0; q < 6; q++) { /* H (g H^T), column by column */
                    vf col[4] = {gh[0][q], gh[1][q], gh[2][q], gh[3][q]}, o[6];
                    KS(wgb_h)(col, o);
                    for (int r = 0; r < 6; r++) vf_storeu(ut + (r * 6 + q) * u_xi + c, o[r]);
                    if (q == 1) vf_storeu(dbsum + c, vf_add(vf_loadu(dbsum + c), o[1]));
                }
            }
        }
}

/* ------------------------------------------------------------------ GEMM */

/* m[r][0..NR) += sum over tiles t of a[t * lda + r] * b[t * ldb + 0..NR),
 * for r < mr: the MR x NR block stays in registers over all tiles. */
static inline __attribute__((always_inline)) void
KS(wgb_body)(int tiles, const float *a, int lda, const float *b, int ldb, float *m, int ldm,
             const int mr) {
    vf acc[MR][NRV];
    KS(tile_zero)(acc, mr);
    for (int t = 0; t < tiles; t++, a += lda, b += ldb) {
        vf bv[NRV];
#pragma GCC unroll 4
        for (int j = 0; j < NRV; j++) bv[j] = vf_loadu(b + j * VL);
        KS(tile_fma)(acc, a, bv, mr);
    }
#pragma GCC unroll 16
    for (int r = 0; r < MR; r++) {
        if (r >= mr) continue;
        float *o = m + (size_t)r * ldm;
#pragma GCC unroll 4
        for (int j = 0; j < NRV; j++) vf_storeu(o + j * VL, vf_add(vf_loadu(o + j * VL), acc[r][j]));
    }
}

#define KS_WGB(R)                                                                          \
    static void KS(wgb_uk_##R)(int tiles, const float *a, int lda, const float *b, int ldb, \
                               float *m, int ldm) {                                        \
        KS(wgb_body)(tiles, a, lda, b, ldb, m, ldm, R);                                    \
    }
KS_WGB(1) KS_WGB(2) KS_WGB(3) KS_WGB(4) KS_WGB(5) KS_WGB(6)
#if MR > 6
KS_WGB(7) KS_WGB(8) KS_WGB(9) KS_WGB(10) KS_WGB(11) KS_WGB(12) KS_WGB(13) KS_WGB(14)
#endif

typedef void (*KS(wgb_fn))(int, const float *, int, const float *, int, float *, int);
static const KS(wgb_fn) KS(wgb_uks)[MR + 1] = {
    NULL, KS(wgb_uk_1), KS(wgb_uk_2), KS(wgb_uk_3), KS(wgb_uk_4), KS(wgb_uk_5), KS(wgb_uk_6),
#if MR > 6
    KS(wgb_uk_7), KS(wgb_uk_8), KS(wgb_uk_9), KS(wgb_uk_10), KS(wgb_uk_11), KS(wgb_uk_12),
    KS(wgb_uk_13), KS(wgb_uk_14),
#endif
};

/* M[xi] += A[xi]^T B[xi] over the band's tiles, every xi. */
static void KS(wgb_gemm)(const KS(wgb_job) *J, int tiles, const float *u, const float *v,
                         float *mm) {
    const float *a = J->x_on_b ? u : v, *b = J->x_on_b ? v : u;
    size_t a_xi = J->x_on_b ? J->u_xi : J->v_xi, b_xi = J->x_on_b ? J->v_xi : J->u_xi;
    int lda = J->x_on_b ? J->cd : J->cx, ldb = J->x_on_b ? J->cx : J->cd;
    for (int xi = 0; xi < WGB_XIS; xi++)
        for (int n0 = 0; n0 < J->nb; n0 += NR)
            for (int m0 = 0; m0 < J->ma; m0 += MR) {
                int mr = ks_min(MR, J->ma - m0);
                KS(wgb_uks)[mr](tiles, a + xi * a_xi + m0, lda, b + xi * b_xi + n0, ldb,
                                mm + xi * J->m_xi + (size_t)m0 * J->ldm + n0, J->ldm);
            }
}

/* ------------------------------------------------------- the whole call */

static void KS(wgb_task)(void *arg, int task) {
    KS(wgb_job) *J = arg;
    const nn_conv2d_shape *s = J->s;
    float *base = J->scratch + (size_t)task * J->task_floats;
    float *xb = base + J->xb_off, *dyb = base + J->dyb_off, *v = base + J->v_off;
    float *u = base + J->u_off, *mm = base + J->m_off, *dbsum = base + J->db_off;
    int th = ks_cdiv(s->hout, 4);
    /* Items dealt round-robin, not from a counter: each task's M sums the
     * same items in the same order in every run, so dW does not depend on
     * timing (the sum over tasks runs in task order). */
    for (int item = task; item < J->items; item += J->tasks) {
        int n = item / J->bands, ty0 = item % J->bands * J->band_rows;
        int rows = ks_min(J->band_rows, th - ty0);
        KS(wgb_pack_x)(J, n, ty0, 4 * rows + 2, xb);
        KS(wgb_pack_dy)(J, n, ty0, rows, dyb);
        KS(wgb_input)(J, rows, xb, v);
        KS(wgb_dy)(J, rows, dyb, u, dbsum);
        KS(wgb_gemm)(J, rows * J->tw, u, v, mm);
    }
}

/* A^T applied to 6 vectors m (a row or a column of M): 3 values. */
static inline void KS(wgb_at)(const vf m[6], vf o[3]) {
    vf s12 = vf_add(m[1], m[2]), d12 = vf_sub(m[1], m[2]);
    vf s34 = vf_add(m[3], m[4]), d34 = vf_sub(m[3], m[4]);
    vf sixth = vf_set1(-1.0f / 6);
    o[0] = vf_fma(vf_set1(0.25f), m[0], vf_fma(sixth, s12, KS(wg_scale)(s34, 1.0f / 24)));
    o[1] = vf_fma(sixth, d12, KS(wg_scale)(d34, 1.0f / 12));
    o[2] = vf_add(vf_fma(sixth, s12, KS(wg_scale)(s34, 1.0f / 6)), m[5]);
}

/* dW += A^T M A for GEMM row `row` (a channel of the broadcast side) and
 * every channel of the vector side, M summed over the tasks' accumulators. */
static void KS(wgb_output)(void *arg, int row) {
    KS(wgb_job) *J = arg;
    const nn_conv2d_shape *s = J->s;
    for (int c0 = 0; c0 < J->nb; c0 += VL) {
        vf m[WGB_XIS];
        for (int xi = 0; xi < WGB_XIS; xi++) m[xi] = vf_zero();
        for (int t = 0; t < J->tasks; t++) {
            const float *mt = J->scratch + (size_t)t * J->task_floats + J->m_off +
                              (size_t)row * J->ldm + c0;
            for (int xi = 0; xi < WGB_XIS; xi++) m[xi] = vf_add(m[xi], vf_loadu(mt + xi * J->m_xi));
        }
        vf am[3][6]; /* A^T M, column by column */
        for (int q = 0; q < 6; q++) {
            vf col[6] = {m[q], m[6 + q], m[12 + q], m[18 + q], m[24 + q], m[30 + q]}, o[3];
            KS(wgb_at)(col, o);
            for (int i = 0; i < 3; i++) am[i][q] = o[i];
        }
        float taps[9][VL];
        for (int i = 0; i < 3; i++) { /* (A^T M) A, row by row */
            vf o[3];
            KS(wgb_at)(am[i], o);
            for (int j = 0; j < 3; j++) vf_storeu(taps[i * 3 + j], o[j]);
        }
        for (int l = 0; l < VL && c0 + l < J->nb; l++) {
            int co = J->x_on_b ? row : c0 + l, ci = J->x_on_b ? c0 + l : row;
            float *d = J->dw + ((size_t)co * s->cin + ci) * 9;
            for (int k = 0; k < 9; k++) d[k] += taps[k][l];
        }
    }
}

/* Floats of U + V per band and task: about half of L2, the other half
 * holding much of the M accumulator (36 * cout * cin floats); but at least
 * WGB_BAND_MIN_TILES tiles, as M is read and written once per band. Small
 * CNN conv2/conv3 (batch 32, 1 thread, ms): bands of 64K floats 19.0 /
 * 18.2, 128K 17.6 / 16.3, 512K 22.0 / 16.5; VGG-16 conv4_1 (256->512,
 * 38x38), 32 tiles at least: 13.1 instead of 17.3. */
#define WGB_BAND_FLOATS (128 * 1024)
#define WGB_BAND_MIN_TILES 32

/* The shapes this path computes. */
static bool KS(wgb_applies)(const nn_conv2d_shape *s) {
    return s->kh == 3 && s->kw == 3 && s->stride_h == 1 && s->stride_w == 1 && s->dil_h == 1 &&
           s->dil_w == 1 && s->groups == 1 && s->pad_h >= 0 && s->pad_h <= 1 && s->pad_w >= 0 &&
           s->pad_w <= 1 && s->hout > 0 && s->wout > 0 && s->n > 0;
}

/* Whether Winograd beats the outer-product kernel (where it applies).
 * Measured with build/bench --passes=bwd_weights (batch 1, ms Winograd /
 * outer product; AVX-512 1 thread unless said) and bench_train:
 *   - channels: VGG-16 conv1_1 (3 in) 7.2 / 4.2 (AVX2 9.3 / 8.0), the
 *     small CNN's conv1 (3->32, batch 32) 21.3 / 12.7: the 3 channels fill
 *     a fifth of a vector in V. From 16 in it wins: face_ssd conv2_1
 *     (16->32 at 120x160) 0.92 / 1.36 (AVX2 1.39 / 2.54), and any number
 *     out from 6: its conf heads (->6) 0.79 / 1.29, 0.13 / 0.34;
 *   - tiles per call: few leave the fixed cost of M (zeroing, the output
 *     transform, per band) unpaid: VGG-16 conv5 (512->512 at 19x19, 25
 *     tiles) 16.8 / 14.5, face_ssd conv6_1 (160->160 at 8x10, 6 tiles)
 *     0.64 / 0.40, conv5_2 (15x20, 20 tiles) 1.01 / 1.03 (2 threads 1.09 /
 *     1.05); from 80 it wins: conv4_2 (96->96 at 30x40) 0.87 / 1.20, VGG-16
 *     conv4_1 (100 tiles) 13.1 / 24.7. So from 64 tiles over the batch;
 *   - M's size: 512x512 channels make it 37 MB per thread, streamed per
 *     band: VGG-16 conv4_2 at 38x38, AVX2 106 / 93, 2 threads 45 / 27
 *     (1 thread AVX-512 35 / 50); 256->512 still wins (conv4_1 above, 2
 *     threads 11.2 / 12.7, AVX2 23.4 / 45.9). So up to 256 x 512.
 * Elsewhere it wins by 1.5x to 2.5x: VGG-16 conv1_2 to conv3_3 26.3 /
 * 44.9 ... 22.6 / 44.0 (AVX2 40.8 / 87.5 ... 32.7 / 85.3), the small
 * CNN's conv2 and conv3 (batch 32) 17.6 / 31.5 and 16.5 / 29.6. */
static bool KS(wgb_pays)(const nn_conv2d_shape *s) {
    long tiles = (long)s->n * ks_cdiv(s->hout, 4) * ks_cdiv(s->wout, 4);
    return s->cin >= 16 && s->cout >= 6 && (long)s->cin * s->cout <= 256L * 512 && tiles >= 64;
}

/* The fraction of the GEMM's MR x NR blocks used by ma rows, nb columns. */
static double KS(wgb_fill)(int ma, int nb) {
    return (double)ma / (ks_cdiv(ma, MR) * MR) * nb / (ks_cdiv(nb, NR) * NR);
}

/* Returns false (nothing written) when memory is short. */
static bool KS(backward_weights_winograd)(const nn_conv2d_shape *s, const float *x,
                                          const float *dy, float *dw, float *db) {
    int th = ks_cdiv(s->hout, 4), tw = ks_cdiv(s->wout, 4);
    KS(wgb_job) J = {.s = s, .x = x, .dy = dy, .dw = dw, .tw = tw};
    /* the vector side takes the channels that fill the NR lanes better */
    J.x_on_b = KS(wgb_fill)(s->cout, s->cin) >= KS(wgb_fill)(s->cin, s->cout);
    J.ma = J.x_on_b ? s->cout : s->cin;
    J.nb = J.x_on_b ? s->cin : s->cout;
    J.cx = J.x_on_b ? ks_cdiv(s->cin, NR) * NR : ks_cdiv(s->cin, VL) * VL;
    J.cd = J.x_on_b ? ks_cdiv(s->cout, VL) * VL : ks_cdiv(s->cout, NR) * NR;
    J.ldm = ks_cdiv(J.nb, NR) * NR;
    /* bands of whole tile rows, equal in size */
    long band_tiles = ks_max(WGB_BAND_MIN_TILES,
                             (int)(WGB_BAND_FLOATS / ((long)WGB_XIS * (J.cx + J.cd))));
    J.band_rows = ks_max(1, ks_min(th, (int)(band_tiles / tw)));
    J.band_rows = ks_cdiv(th, ks_cdiv(th, J.band_rows));
    J.bands = ks_cdiv(th, J.band_rows);
    J.tiles = J.band_rows * tw;
    J.wpx = 4 * tw + 2;
    J.wpd = 4 * tw;
    /* per task: x copy | dy copy | V | U | M | db sums */
    double floats = (double)(4 * J.band_rows + 2) * J.wpx * J.cx +
                    (double)4 * J.band_rows * J.wpd * J.cd +
                    (double)WGB_XIS * J.tiles * (J.cx + J.cd) + (double)WGB_XIS * J.ma * J.ldm;
    if (floats * nn_threads_get() * sizeof(float) > (double)((size_t)1 << 40) ||
        (double)s->n * J.bands >= INT_MAX)
        return false;
    J.v_xi = KS(wg_xi_stride)((size_t)J.tiles * J.cx);
    J.u_xi = KS(wg_xi_stride)((size_t)J.tiles * J.cd);
    J.m_xi = KS(wg_xi_stride)((size_t)J.ma * J.ldm);
    J.xb_off = 0;
    J.dyb_off = ((size_t)(4 * J.band_rows + 2) * J.wpx * J.cx + 15) / 16 * 16;
    J.v_off = J.dyb_off + ((size_t)4 * J.band_rows * J.wpd * J.cd + 15) / 16 * 16;
    J.u_off = J.v_off + WGB_XIS * J.v_xi;
    J.m_off = J.u_off + WGB_XIS * J.u_xi;
    J.db_off = J.m_off + WGB_XIS * J.m_xi;
    J.task_floats = (J.db_off + J.cd + 15) / 16 * 16;
    J.items = s->n * J.bands;
    J.tasks = ks_min(nn_threads_get(), J.items);
    J.scratch = nn_scratch_get(s->scratch, KS_SLOT_TASKS, sizeof(float) * J.task_floats * J.tasks);
    if (!J.scratch) return false;
    for (int t = 0; t < J.tasks; t++) /* accumulators and db sums start at zero */
        memset(J.scratch + (size_t)t * J.task_floats + J.m_off, 0,
               sizeof(float) * (J.task_floats - J.m_off));
    nn_parallel_for(J.tasks, KS(wgb_task), &J);
    nn_parallel_for(J.ma, KS(wgb_output), &J);
    if (db)
        for (int t = 0; t < J.tasks; t++) {
            const float *dbsum = J.scratch + (size_t)t * J.task_floats + J.db_off;
            for (int co = 0; co < s->cout; co++) db[co] += dbsum[co];
        }
    nn_scratch_release(s->scratch, J.scratch);
    return true;
}
