/*
 * winograd_simd.h - Winograd F(2x2, 3x3) and F(4x4, 3x3) for 3x3, stride-1,
 * dilation-1 convolutions without groups; part of the kernels_simd.h
 * template (same vector vocabulary, same micro-kernel).
 *
 * Each tile x tile block of outputs ("tile", 2x2 or 4x4) is computed from
 * the alpha x alpha input patch around it (alpha = tile + 2: 4 or 6) as
 *     Y = A^T [ sum_ci (G g G^T) .* (B^T d B) ] A
 * with g the 3x3 kernel and d the patch. F(2x2):
 *     B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
 *     G   = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]
 *     A^T = [1 1 1 0; 0 1 -1 -1];
 * F(4x4), the points 0, +-1, +-2 and infinity (Lavin & Gray 2015):
 *     B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0;
 *            0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1]
 *     G   = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6;
 *            1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1]
 *     A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1].
 * The sum over input channels of the alpha^2 elementwise products is
 * alpha^2 (16 or 36) independent GEMMs, M[xi][co][t] = sum_ci U[xi][co][ci]
 * V[xi][ci][t], run by the GEMM micro-kernel: per output and input channel
 * 16/4 = 4 multiplies for F(2x2), 36/16 = 2.25 for F(4x4), against 9 direct
 * (2.25x and 4x fewer). The transforms add work per element of input,
 * output and weights only; they run on VL tiles at a time (the patch
 * elements of VL neighbouring tiles are a strided gather for F(2x2), rows
 * split 4 ways in registers for F(4x4), whose outputs are interleaved back
 * the same way), and F(4x4)'s pair up rows of B^T and A^T so each costs 12
 * and 10 adds/FMAs.
 *
 * Which variant runs (wg_fwd_tile, measured; details there): F(4x4) from
 * 16 channels and 64 4x4 tiles per call, or 16 tiles when U is small or
 * the weights were packed beforehand (the weight transform is then free).
 * F(2x2) where F(4x4) does not run, from WG_FWD_MIN_CHANNELS (64 on
 * AVX-512, 32 on AVX2) and 64 2x2 tiles (16 packed); the direct GEMM
 * otherwise. Backward
 * data (the forward convolution of dy with flipped kernels) takes F(4x4)
 * where the unpacked forward would, but from 256x256 channels only with
 * 256 tiles per image, else F(2x2) (wg_bwd_tile).
 *
 * Numerics: F(2x2)'s transforms only add, subtract and halve; F(4x4)'s
 * multiply by up to 25 (B^T on both sides) and 64 (A^T) and divide by 6
 * and 24, so its rounding error is larger. Measured against a direct
 * convolution in double on He-scaled weights, inputs in [-1, 1], 1-130
 * channels (tests/test_winograd.c), the worst output's error relative to
 * the sum of |w||x| over its window: F(4x4) 6.1e-6, F(2x2) 2.4e-7, the
 * direct GEMM 2.2e-7; relative to max |y|: 7.5e-6, 4.1e-7, 8.2e-7. The
 * tests bound it at 2e-5 and 1e-6 per output.
 *
 * Memory: V and M for all tiles of a large image would be 4x (F(2x2)) or
 * 2.25x (F(4x4)) the input and output, so the image is processed in bands
 * of tile rows. When there are enough bands (4 per thread), each thread
 * takes whole bands with buffers of its own and runs all three steps on
 * them, with no waiting between steps; otherwise the threads share each
 * band (split by transform channel, then by GEMM item, then by output
 * channel). Each band streams all of U (alpha^2 * cout * cin floats) once,
 * so bands are sized against it: V + M of a band hold about twice U's
 * floats, at least enough to keep a narrow layer's band in L2 and at most
 * WG_BAND_MAX. Measured on VGG-16 with F(2x2): small bands win for 64-128
 * channels, large ones for 256-512; F(4x4)'s U is 2.25x larger, so its
 * bands are cut into fewer, equal ones (a 38x38 map is one band).
 */

#define WG_BAND_MIN (384 * 1024)      /* floats: V + M of a band in L2 */
#define WG_BAND_MAX (6 * 1024 * 1024) /* floats: 24 MB */

/* Rows of V and M are padded to an odd number of cache lines, so the 16
 * panels the micro-kernel reads at once do not alias in L1; likewise the 16
 * or 36 matrices of one kind (U, V or M) start one cache line past a
 * multiple of 4 KB from each other (wg_xi_stride), as the transforms touch
 * them all at once. */
static size_t KS(wg_xi_stride)(size_t floats) { return (floats + 1023) / 1024 * 1024 + 16; }

static int KS(wg_ld)(int tiles) {
    int ld = ks_cdiv(tiles, 16) * 16;
    return (ld / 16) % 2 ? ld : ld + 16;
}

/* Winograd backward data (either variant, wg_bwd_tile) applies: 3x3,
 * stride 1, dilation 1, no groups, enough channels for the GEMMs to pay,
 * and enough tiles (over the batch) to amortise the weight transform. */
static bool KS(wg_ok_batch)(const nn_conv2d_shape *s, int batch) {
    long tiles = (long)batch * ks_cdiv(s->hout, 2) * ks_cdiv(s->wout, 2);
    return s->kh == 3 && s->kw == 3 && s->stride_h == 1 && s->stride_w == 1 && s->dil_h == 1 &&
           s->dil_w == 1 && s->groups == 1 && s->cin >= 16 && s->cout >= 16 && tiles >= 256;
}

static bool KS(wg_ok)(const nn_conv2d_shape *s) { return KS(wg_ok_batch)(s, s->n); }

/* Whether F(4x4) beats F(2x2) when each call transforms the weights:
 * channels enough, and tiles enough over the call to repay the larger
 * weight transform: 64, or 16 while U (36 floats per kernel) fits in L2
 * (see wg_fwd_tile). */
static bool KS(wg4_unpacked_pays)(int cin, int cout, long tiles4_call) {
    bool small_u = (long)cin * cout <= 128L * 128;
    return ks_min(cin, cout) >= WG4_FWD_MIN_CHANNELS && tiles4_call >= (small_u ? 16 : 64);
}

/* Backward data's variant, where wg_ok: F(4x4) where the unpacked forward
 * would pick it for the equivalent forward convolution (dx from dy), except
 * that from 256x256 channels, where U (36 floats per kernel: 9 MB and more)
 * outgrows L2 and each image's band reads it all, it needs 256 tiles per
 * image. VGG-16 at 300x300, 1 thread, ms F(2x2) / F(4x4): AVX-512 conv2_2
 * 34.3 / 20.7, conv3_2 27.8 / 19.2, but at 38x38 (100 tiles) conv4_1
 * 15.1 / 15.8, conv4_2 31.3 / 30.8; AVX2 conv3_2 47.1 / 34.5, conv4_1
 * 26.4 / 30.9, conv4_2 53.2 / 61.2 (the flipped weights' transform reads
 * them across rows, and dx is added to, not stored). */
static int KS(wg_bwd_tile)(const nn_conv2d_shape *s) {
    long tiles4 = (long)ks_cdiv(s->h, 4) * ks_cdiv(s->w, 4);
    bool large_u = (long)s->cin * s->cout >= 256L * 256;
    return KS(wg4_unpacked_pays)(s->cin, s->cout, s->n * tiles4) && (!large_u || tiles4 >= 256)
               ? 4
               : 2;
}

/* The forward variant: 0 (none: the direct GEMM), 2 for F(2x2) or 4 for
 * F(4x4), for a call on `batch` images with the weights packed beforehand
 * or not. Packed weights hold the U of wg_fwd_tile(s, 1, true), and a
 * packed call uses that whatever its batch.
 *
 * The rule, from build/bench --winograd=2|4 (1 thread, workspace kept
 * across calls; ms F(2x2) / F(4x4) / direct GEMM, unpacked; "p": packed):
 *   - F(4x4) needs fewer channels than F(2x2): face_ssd at 640x480,
 *     16->32 at 120x160 AVX-512 1.90 / 1.10 / 1.17, AVX2 2.73 / 1.55 /
 *     2.36; 32->48 at 60x80 AVX-512 1.04 / 0.70 / 0.86: from
 *     WG4_FWD_MIN_CHANNELS (16 on both) in and out;
 *   - unpacked, each call transforms the weights (36 floats per kernel
 *     against 16), which small maps do not repay: VGG-16 512->512 at 19x19
 *     (25 4x4 tiles) AVX-512 10.1 / 11.9 / 13.4, face_ssd 160->160 at 15x20
 *     (20 tiles) 0.85 / 0.94 / 1.07 (AVX2 1.42 / 1.46 / 1.91); but where U
 *     fits in L2 it pays early: 96->160 at 15x20 0.66 / 0.60 / 0.64 (AVX2
 *     1.08 / 0.88 / 1.14). So F(4x4) from 64 tiles, or 16 up to 128x128
 *     channels (wg4_unpacked_pays). At 38x38 (100 tiles) it wins: 512->512
 *     29.9 / 26.5 / 49.0, 256->512 14.7 / 12.2 / 24.0 (AVX2 52.0 / 43.3 /
 *     97.2). F(2x2) from 64 of its tiles (VGG-16 19x19, 100 tiles, above;
 *     face_ssd 160->160 at 8x10, 20 tiles: 0.42 / 0.80 / 0.39);
 *   - packed, the weight transform is free, so small maps pay: 19x19
 *     512->512 p 9.1 / 6.0, 15x20 160->160 p 0.69 / 0.57, but 8x10
 *     160->160 p 0.24 / 0.44 (direct 0.39), where 6 4x4 tiles fill a fifth
 *     of the GEMM's NR columns: F(4x4) from 16 tiles, F(2x2) from 16;
 *   - larger maps: F(4x4) wherever it applies (VGG-16 300x300 to 75x75:
 *     conv1_2 42.5 / 30.3 / 49.7, conv2_2 35.8 / 22.3 / 47.0, conv3_2
 *     29.3 / 19.4 / 47.0; AVX2 conv3_2 49.7 / 33.0 / 88.0).
 * The F(2x2) channel threshold WG_FWD_MIN_CHANNELS is set per ISA (the
 * direct GEMM's tile sets it); it matters only where F(4x4) does not run.
 * Measured on face_ssd at 640x480, 1 thread, ms direct GEMM / F(2x2)
 * (before F(4x4)):
 *   AVX-512 (64):  16->32 1.27 / 2.18, 32->32 2.29 / 2.74, 32->48 0.81 /
 *                  0.97, 48->48 and 48->96 equal; VGG-16 64->64 at 300x300
 *                  49 / 42;
 *   AVX2 (32):     16->32 2.38 / 2.74, 32->32 4.73 / 4.35, 48->48 2.46 /
 *                  1.95, 48->96 1.23 / 0.90. */
static int KS(wg_fwd_tile)(const nn_conv2d_shape *s, int batch, bool packed) {
    bool shape_ok = s->kh == 3 && s->kw == 3 && s->stride_h == 1 && s->stride_w == 1 &&
                    s->dil_h == 1 && s->dil_w == 1 && s->groups == 1;
    if (s->direct_only || !shape_ok) return 0;
    if (s->winograd_tile == 2 || s->winograd_tile == 4) return s->winograd_tile;
    int channels = ks_min(s->cin, s->cout);
    long tiles4 = (long)ks_cdiv(s->hout, 4) * ks_cdiv(s->wout, 4);
    long tiles2 = (long)batch * ks_cdiv(s->hout, 2) * ks_cdiv(s->wout, 2);
    if (packed ? channels >= WG4_FWD_MIN_CHANNELS && tiles4 >= 16
               : KS(wg4_unpacked_pays)(s->cin, s->cout, batch * tiles4))
        return 4;
    if (channels >= WG_FWD_MIN_CHANNELS && tiles2 >= (packed ? 16 : 64)) return 2;
    return 0;
}

/* Floats between the packed U matrices (m output, k input channels). */
static size_t KS(wg_a_xi)(int m, int k) {
    return KS(wg_xi_stride)((size_t)ks_cdiv(m, MR) * MR * k);
}

/* Transformed matrices of a variant: (tile + 2)^2, 16 or 36. */
static int KS(wg_xis)(int tile) { return (tile + 2) * (tile + 2); }

/* A left inverse L of each variant's G (3 x alpha, L G = I): g = L U L^T
 * recovers a weight from packed U. */
static const float KS(wg_l2)[3][4] = {{1, 0, 0, 0}, {0, 1, -1, 0}, {0, 0, 0, 1}};
static const float KS(wg_l4)[3][6] = {{4, 0, 0, 0, 0, 0}, {0, -3, 3, 0, 0, 0}, {0, 0, 0, 0, 0, 1}};

static inline vf KS(wg_scale)(vf a, float c) { return vf_fma(a, vf_set1(c), vf_zero()); }

/* t = G g for 3 vectors g (a column or a row of the kernel): 4 of F(2x2)
 * or 6 of F(4x4). */
static inline void KS(wg_gg)(int tile, const vf g[3], vf *t) {
    vf p = vf_add(g[0], g[2]);
    if (tile == 2) {
        t[0] = g[0];
        t[1] = KS(wg_scale)(vf_add(p, g[1]), 0.5f);
        t[2] = KS(wg_scale)(vf_sub(p, g[1]), 0.5f);
        t[3] = g[2];
        return;
    }
    vf q = vf_fma(g[0], vf_set1(1.0f / 24), KS(wg_scale)(g[2], 1.0f / 6));
    vf r = KS(wg_scale)(g[1], 1.0f / 12);
    t[0] = KS(wg_scale)(g[0], 0.25f);
    t[1] = KS(wg_scale)(vf_add(p, g[1]), -1.0f / 6);
    t[2] = KS(wg_scale)(vf_sub(p, g[1]), -1.0f / 6);
    t[3] = vf_add(q, r);
    t[4] = vf_sub(q, r);
    t[5] = g[2];
}

typedef struct {
    const float *w;
    float *apack;
    int m, k, cin, tile;
    bool flip;
    size_t per_xi;
} KS(wgw_job);

/* One MR-row panel of all matrices U[xi]: for each k, the panel's MR rows
 * are the lanes of one vector (MR <= VL), gathered from the MR kernels,
 * transformed as U = G g G^T and stored MR floats to each U[xi]. */
static void KS(wg_weight_panel)(void *arg, int panel) {
    KS(wgw_job) *J = arg;
    int m0 = panel * MR, mr = ks_min(MR, J->m - m0), alpha = J->tile + 2;
    /* kernel (mi, ki) at w + mi * row_step + ki * col_step; flipped: the
     * kernel of (ki, mi), read back to front */
    int row_step = J->flip ? 9 : J->k * 9, col_step = J->flip ? J->cin * 9 : 9;
    vmask keep = vmask_range(0, MR);
    for (int ki = 0; ki < J->k; ki++) {
        const float *g0 = J->w + (size_t)m0 * row_step + (size_t)ki * col_step;
        /* flipped, the panel's kernels are MR*9 floats in a row but each ki
         * is a row of cin kernels further on: fetch a few ki ahead */
        if (J->flip && ki + 4 < J->k)
            for (int line = 0; line < mr * 9; line += 16) __builtin_prefetch(g0 + 4 * col_step + line);
        vf g[3][3], t[6][3];
        for (int i = 0; i < 9; i++)
            g[i / 3][i % 3] = vf_gather_stride(g0, J->flip ? 8 - i : i, row_step, mr, INT_MAX);
        for (int c = 0; c < 3; c++) { /* t = G g, column by column */
            vf col[3] = {g[0][c], g[1][c], g[2][c]}, tc[6];
            KS(wg_gg)(J->tile, col, tc);
            for (int a = 0; a < alpha; a++) t[a][c] = tc[a];
        }
        float *dst = J->apack + ((size_t)panel * J->k + ki) * MR;
        for (int a = 0; a < alpha; a++) { /* (G g) G^T, row by row */
            vf u[6];
            KS(wg_gg)(J->tile, t[a], u);
            for (int b = 0; b < alpha; b++)
                vf_mask_storeu(dst + (size_t)(a * alpha + b) * J->per_xi, keep, u[b]);
        }
    }
}

/* U[xi] = (G g G^T)[xi] for each (co, ci), packed as MR-row panels of the
 * [cout][cin] matrix of each xi: [xis][panels][k][MR], into out (xis *
 * wg_a_xi floats) or the workspace's weights slot when out is NULL. `flip` transforms the
 * weights of the equivalent forward convolution of backward data instead:
 * the kernel rotated by 180 degrees and cin/cout swapped (m = ci, k = co). */
static float *KS(wg_weights)(const nn_conv2d_shape *s, const float *w, int tile, bool flip,
                             int *m_out, int *k_out, float *out) {
    int m = flip ? s->cin : s->cout, k = flip ? s->cout : s->cin;
    size_t per_xi = KS(wg_a_xi)(m, k), xis = KS(wg_xis)(tile);
    float *apack = out ? out
                       : nn_scratch_get(s->scratch, KS_SLOT_WEIGHTS, sizeof(float) * xis * per_xi);
    if (!apack) return NULL;
    KS(wgw_job) J = {w, apack, m, k, s->cin, tile, flip, per_xi};
    nn_parallel_for(ks_cdiv(m, MR), KS(wg_weight_panel), &J);
    *m_out = m;
    *k_out = k;
    return apack;
}

/* The weight g[ky][kx] of (co, ci) recovered from packed U: g = L U L^T. */
static float KS(wg_weight_at)(const float *u, int tile, int cout, int cin, int co, int ci,
                              int ky, int kx) {
    int alpha = tile + 2;
    size_t a_xi = KS(wg_a_xi)(cout, cin), at = ((size_t)(co / MR) * cin + ci) * MR + co % MR;
    double acc = 0.0;
    for (int a = 0; a < alpha; a++)
        for (int b = 0; b < alpha; b++) {
            double la = tile == 4 ? KS(wg_l4)[ky][a] : KS(wg_l2)[ky][a];
            double lb = tile == 4 ? KS(wg_l4)[kx][b] : KS(wg_l2)[kx][b];
            if (la != 0.0 && lb != 0.0) acc += la * lb * u[(size_t)(a * alpha + b) * a_xi + at];
        }
    return (float)acc;
}

/* Direct convolution from packed U, for when there is no memory for the
 * Winograd buffers: slow, but needs nothing. */
static void KS(forward_wg_scalar)(const nn_conv2d_shape *s, const float *x, const float *u,
                                  int tile, const float *b, float *y) {
    for (int n = 0; n < s->n; n++)
        for (int co = 0; co < s->cout; co++)
            for (int oy = 0; oy < s->hout; oy++)
                for (int ox = 0; ox < s->wout; ox++) {
                    float acc = b ? b[co] : 0.0f;
                    for (int ci = 0; ci < s->cin; ci++)
                        for (int ky = 0; ky < 3; ky++) {
                            int iy = oy - s->pad_h + ky;
                            if (iy < 0 || iy >= s->h) continue;
                            for (int kx = 0; kx < 3; kx++) {
                                int ix = ox - s->pad_w + kx;
                                if (ix < 0 || ix >= s->w) continue;
                                acc += KS(wg_weight_at)(u, tile, s->cout, s->cin, co, ci, ky, kx) *
                                       x[(((size_t)n * s->cin + ci) * s->h + iy) * s->w + ix];
                            }
                        }
                    if (s->relu && acc < 0.0f) acc = 0.0f;
                    y[(((size_t)n * s->cout + co) * s->hout + oy) * s->wout + ox] = acc;
                }
}

typedef struct {
    /* the convolution being computed: input planes, sizes, padding */
    const float *x;
    int h, w, pad_h, pad_w, hout, wout;
    int tile, xis;       /* the variant: outputs per tile side (2 or 4), matrices (16 or 36) */
    int m, k;            /* GEMM: m output channels, k input channels */
    const float *apack;  /* [xis][panels][k][MR], xi stride a_xi */
    float *v, *mm;       /* [xis][k][ld] and [xis][m][ld] for the band, xi strides v_xi, m_xi */
    size_t a_xi, v_xi, m_xi;
    int tw, ty0, ty1, ld;
    float *y;            /* output planes [m][hout][wout] */
    const float *bias;
    bool relu, accumulate;
    int m_chunk, m_chunks, p_chunk;
    atomic_int next;
    int *boff;           /* [tasks][KC] */
} KS(wg_job);

/* F(2x2): V[xi][c][t] for one input channel over the band's tiles. */
static void KS(wg_input2)(void *arg, int c) {
    KS(wg_job) *J = arg;
    const float *plane = J->x + (size_t)c * J->h * J->w;
    size_t xi_stride = J->v_xi;
    float *vc = J->v + (size_t)c * J->ld;
    for (int ty = J->ty0; ty < J->ty1; ty++) {
        int iy0 = 2 * ty - J->pad_h;
        for (int tx = 0; tx < J->tw; tx += VL) {
            int n = ks_min(VL, J->tw - tx), t = (ty - J->ty0) * J->tw + tx;
            vf d[4][4];
            for (int r = 0; r < 4; r++) {
                int iy = iy0 + r;
                for (int q = 0; q < 4; q++)
                    d[r][q] = iy >= 0 && iy < J->h
                                  ? vf_gather_stride(plane + (size_t)iy * J->w, 2 * tx - J->pad_w + q,
                                                     2, n, J->w)
                                  : vf_zero();
            }
            vf bt[4][4]; /* B^T d */
            for (int q = 0; q < 4; q++) {
                bt[0][q] = vf_sub(d[0][q], d[2][q]);
                bt[1][q] = vf_add(d[1][q], d[2][q]);
                bt[2][q] = vf_sub(d[2][q], d[1][q]);
                bt[3][q] = vf_sub(d[1][q], d[3][q]);
            }
            vmask keep = vmask_range(0, n);
            for (int r = 0; r < 4; r++) { /* (B^T d) B */
                vf o[4] = {vf_sub(bt[r][0], bt[r][2]), vf_add(bt[r][1], bt[r][2]),
                           vf_sub(bt[r][2], bt[r][1]), vf_sub(bt[r][1], bt[r][3])};
                for (int q = 0; q < 4; q++)
                    vf_mask_storeu(vc + (r * 4 + q) * xi_stride + t, keep, o[q]);
            }
        }
    }
}

/* F(2x2): Y = A^T M A (+ bias, ReLU, or += into y) for one output channel. */
static void KS(wg_output2)(void *arg, int co) {
    KS(wg_job) *J = arg;
    size_t xi_stride = J->m_xi;
    const float *mc = J->mm + (size_t)co * J->ld;
    float *plane = J->y + (size_t)co * J->hout * J->wout;
    float bias = J->bias ? J->bias[co] : 0.0f;
    float out[4][VL];
    for (int ty = J->ty0; ty < J->ty1; ty++)
        for (int tx = 0; tx < J->tw; tx += VL) {
            int n = ks_min(VL, J->tw - tx), t = (ty - J->ty0) * J->tw + tx;
            vf a[4][2]; /* A^T M, rows 0..3 of M reduced to 2 */
            for (int q = 0; q < 4; q++) {
                vf m0 = vf_loadu(mc + (0 * 4 + q) * xi_stride + t);
                vf m1 = vf_loadu(mc + (1 * 4 + q) * xi_stride + t);
                vf m2 = vf_loadu(mc + (2 * 4 + q) * xi_stride + t);
                vf m3 = vf_loadu(mc + (3 * 4 + q) * xi_stride + t);
                a[q][0] = vf_add(vf_add(m0, m1), m2);
                a[q][1] = vf_sub(vf_sub(m1, m2), m3);
            }
            for (int i = 0; i < 2; i++) { /* (A^T M) A */
                vf o0 = vf_add(vf_add(a[0][i], a[1][i]), a[2][i]);
                vf o1 = vf_sub(vf_sub(a[1][i], a[2][i]), a[3][i]);
                vf_storeu(out[2 * i], o0);
                vf_storeu(out[2 * i + 1], o1);
            }
            /* the four outputs of each tile interleave in y: write them out */
            for (int i = 0; i < 2; i++) {
                int oy = 2 * ty + i;
                if (oy >= J->hout) break;
                float *row = plane + (size_t)oy * J->wout;
                for (int l = 0; l < n; l++)
                    for (int j = 0; j < 2; j++) {
                        int ox = 2 * (tx + l) + j;
                        if (ox >= J->wout) break;
                        float v = out[2 * i + j][l];
                        if (J->accumulate) {
                            row[ox] += v;
                        } else {
                            v += bias;
                            row[ox] = J->relu && v < 0.0f ? 0.0f : v;
                        }
                    }
            }
        }
}

/* F(4x4): the rows of B^T applied to 6 vectors d (a column or a row of the
 * patch): the two +-pairs share their halves, so 12 add/fma instead of 36. */
static inline void KS(wg4_bt)(const vf d[6], vf o[6]) {
    vf four = vf_set1(4.0f), mfour = vf_set1(-4.0f), mfive = vf_set1(-5.0f);
    vf a = vf_fma(mfour, d[2], d[4]);    /* d4 - 4 d2 */
    vf b = vf_fma(mfour, d[1], d[3]);    /* d3 - 4 d1 */
    vf c = vf_sub(d[4], d[2]);           /* d4 - d2 */
    vf e = vf_sub(d[3], d[1]);
    e = vf_add(e, e);                    /* 2 (d3 - d1) */
    o[0] = vf_fma(mfive, d[2], vf_fma(four, d[0], d[4]));
    o[1] = vf_add(a, b);
    o[2] = vf_sub(a, b);
    o[3] = vf_add(c, e);
    o[4] = vf_sub(c, e);
    o[5] = vf_fma(mfive, d[3], vf_fma(four, d[1], d[5]));
}

/* F(4x4): patch column q (0..5) of row `row` for VL tiles from tile tx,
 * d[q][l] = row[4 (tx + l) - pad_w + q], zero outside [0, w). The 4 VL + 4
 * floats from the first are split 4 ways twice (q = 0..3, then 4, 5 from 4
 * further on); near the edges they are first copied with the padding made
 * zero. */
static inline void KS(wg4_patch_row)(const float *row, int x0, int w, vf d[6]) {
    float edge[4 * VL + 4];
    const float *src = row + x0;
    if (x0 < 0 || x0 + 4 * VL + 4 > w) {
        for (int c = 0; c < 4 * VL + 4; c += VL) {
            int lo = ks_max(0, -(x0 + c)), hi = ks_min(ks_min(VL, 4 * VL + 4 - c), w - (x0 + c));
            vf v = lo < hi ? vf_maskz_loadu(row + x0 + c, vmask_range(lo, hi)) : vf_zero();
            if (c + VL <= 4 * VL + 4)
                vf_storeu(edge + c, v);
            else
                vf_mask_storeu(edge + c, vmask_range(0, 4 * VL + 4 - c), v);
        }
        src = edge;
    }
    vf next[4];
    vf_load_deinterleave4(src, d);
    vf_load_deinterleave4(src + 4, next);
    d[4] = next[0];
    d[5] = next[1];
}

/* F(4x4): V[xi][c][t] for one input channel over the band's tiles. */
static void KS(wg_input4)(void *arg, int c) {
    KS(wg_job) *J = arg;
    const float *plane = J->x + (size_t)c * J->h * J->w;
    size_t xi_stride = J->v_xi;
    float *vc = J->v + (size_t)c * J->ld;
    for (int ty = J->ty0; ty < J->ty1; ty++) {
        int iy0 = 4 * ty - J->pad_h;
        for (int tx = 0; tx < J->tw; tx += VL) {
            int n = ks_min(VL, J->tw - tx), t = (ty - J->ty0) * J->tw + tx;
            vf db[6][6]; /* d B, row by row as the rows are read */
            for (int r = 0; r < 6; r++) {
                int iy = iy0 + r;
                vf d[6];
                if (iy >= 0 && iy < J->h)
                    KS(wg4_patch_row)(plane + (size_t)iy * J->w, 4 * tx - J->pad_w, J->w, d);
                else
                    for (int q = 0; q < 6; q++) d[q] = vf_zero();
                KS(wg4_bt)(d, db[r]);
            }
            vmask keep = vmask_range(0, n);
            for (int q = 0; q < 6; q++) { /* B^T (d B), column by column */
                vf col[6] = {db[0][q], db[1][q], db[2][q], db[3][q], db[4][q], db[5][q]}, o[6];
                KS(wg4_bt)(col, o);
                for (int r = 0; r < 6; r++)
                    vf_mask_storeu(vc + (r * 6 + q) * xi_stride + t, keep, o[r]);
            }
        }
    }
}

/* F(4x4): the rows of A^T applied to 6 vectors m. */
static inline void KS(wg4_at)(const vf m[6], vf o[4]) {
    vf s12 = vf_add(m[1], m[2]), d12 = vf_sub(m[1], m[2]);
    vf s34 = vf_add(m[3], m[4]), d34 = vf_sub(m[3], m[4]);
    o[0] = vf_add(vf_add(m[0], s12), s34);
    o[1] = vf_fma(vf_set1(2.0f), d34, d12);
    o[2] = vf_fma(vf_set1(4.0f), s34, s12);
    o[3] = vf_add(vf_fma(vf_set1(8.0f), d34, d12), m[5]);
}

/* F(4x4): Y = A^T M A (+ bias, ReLU, or += into y) for one output channel.
 * The 4 outputs of a tile row sit side by side in y, so a row of VL tiles
 * is 4 VL consecutive floats: the 4 vectors are interleaved into them,
 * straight into y when all are inside it, else through a small buffer and
 * masked stores at the right edge. */
static void KS(wg_output4)(void *arg, int co) {
    KS(wg_job) *J = arg;
    size_t xi_stride = J->m_xi;
    const float *mc = J->mm + (size_t)co * J->ld;
    float *plane = J->y + (size_t)co * J->hout * J->wout;
    vf bias = vf_set1(J->bias ? J->bias[co] : 0.0f);
    float row_out[4 * VL];
    for (int ty = J->ty0; ty < J->ty1; ty++)
        for (int tx = 0; tx < J->tw; tx += VL) {
            int n = ks_min(VL, J->tw - tx), t = (ty - J->ty0) * J->tw + tx;
            int ox0 = 4 * tx, count = ks_min(4 * n, J->wout - ox0);
            vf a[4][6]; /* A^T M, column by column */
            for (int q = 0; q < 6; q++) {
                vf m[6], o[4];
                for (int r = 0; r < 6; r++) m[r] = vf_loadu(mc + (r * 6 + q) * xi_stride + t);
                KS(wg4_at)(m, o);
                for (int i = 0; i < 4; i++) a[i][q] = o[i];
            }
            for (int i = 0; i < 4; i++) { /* (A^T M) A, row i of each tile */
                int oy = 4 * ty + i;
                if (oy >= J->hout) break;
                vf o[4];
                KS(wg4_at)(a[i], o);
                float *dst = plane + (size_t)oy * J->wout + ox0;
                if (!J->accumulate)
                    for (int j = 0; j < 4; j++) {
                        o[j] = vf_add(o[j], bias);
                        if (J->relu) o[j] = vf_max(o[j], vf_zero());
                    }
                if (count == 4 * VL && !J->accumulate) {
                    vf_store_interleave4(dst, o[0], o[1], o[2], o[3]);
                    continue;
                }
                vf_store_interleave4(row_out, o[0], o[1], o[2], o[3]);
                for (int v = 0; v < count; v += VL) {
                    vmask keep = vmask_range(0, ks_min(VL, count - v));
                    vf val = vf_loadu(row_out + v);
                    if (J->accumulate) val = vf_add(val, vf_maskz_loadu(dst + v, keep));
                    vf_mask_storeu(dst + v, keep, val);
                }
            }
        }
}

static void KS(wg_input)(void *arg, int c) {
    KS(wg_job) *J = arg;
    if (J->tile == 4)
        KS(wg_input4)(arg, c);
    else
        KS(wg_input2)(arg, c);
}

static void KS(wg_output)(void *arg, int co) {
    KS(wg_job) *J = arg;
    if (J->tile == 4)
        KS(wg_output4)(arg, co);
    else
        KS(wg_output2)(arg, co);
}

/* One item of the band's GEMMs: items are (xi, tile chunk, row chunk). */
static void KS(wg_gemm_item)(KS(wg_job) *J, int i, int *boff) {
    KS(smap) map;
    int tiles = (J->ty1 - J->ty0) * J->tw, p_chunks = ks_cdiv(tiles, J->p_chunk);
    {
        int mi = i % J->m_chunks, pi = i / J->m_chunks % p_chunks, xi = i / J->m_chunks / p_chunks;
        int m0 = mi * J->m_chunk, m1 = ks_min(J->m, m0 + J->m_chunk);
        int q0 = pi * J->p_chunk, q1 = ks_min(tiles, q0 + J->p_chunk);
        const float *v = J->v + xi * J->v_xi;
        float *c = J->mm + xi * J->m_xi;
        const float *apack = J->apack + xi * J->a_xi;
        for (int kb = 0; kb < J->k; kb += KC) {
            int kc = ks_min(KC, J->k - kb);
            for (int kk = 0; kk < kc; kk++) boff[kk] = (kb + kk) * J->ld;
            for (int p = q0; p < q1; p += NR) {
                int nr = ks_min(NR, q1 - p);
                KS(smap_linear)(&map, p, nr);
                for (int m = m0; m < m1; m += MR) {
                    int mr = ks_min(MR, m1 - m);
                    const float *ap = apack + ((size_t)(m / MR) * J->k + kb) * MR;
                    KS(ukernels)[mr](kc, ap, v + p, boff, c + (size_t)m * J->ld, J->ld, &map, NULL,
                                     kb > 0, false);
                }
            }
        }
    }
}

static int KS(wg_gemm_items)(const KS(wg_job) *J) {
    int tiles = (J->ty1 - J->ty0) * J->tw;
    return J->xis * ks_cdiv(tiles, J->p_chunk) * J->m_chunks;
}

/* The band's GEMMs shared by all threads: items from a common counter. */
static void KS(wg_gemm_task)(void *arg, int task) {
    KS(wg_job) *J = arg;
    int *boff = J->boff + (size_t)task * KC, items = KS(wg_gemm_items)(J), i;
    while ((i = atomic_fetch_add(&J->next, 1)) < items) KS(wg_gemm_item)(J, i, boff);
}

/* Bands owned by one thread each: a task takes whole bands from a counter
 * and runs the three steps on its own V and M, so threads never wait for
 * each other within a call. Used when there are bands enough to share. */
typedef struct {
    const KS(wg_job) *proto; /* everything but the image, the band and the buffers */
    int bands, band_rows, th, items;
    size_t x_image, y_image;
    float *v, *mm;           /* [tasks] of one band's V and M */
    size_t v_floats, m_floats;
    int *boff;               /* [tasks][KC] */
    atomic_int next;
} KS(wg_private);

static void KS(wg_private_task)(void *arg, int task) {
    KS(wg_private) *P = arg;
    int i;
    while ((i = atomic_fetch_add(&P->next, 1)) < P->items) {
        KS(wg_job) J;
        memcpy(&J, P->proto, sizeof J); /* no other thread touches J.next */
        int n = i / P->bands, band = i % P->bands;
        J.x += n * P->x_image;
        J.y += n * P->y_image;
        J.ty0 = band * P->band_rows;
        J.ty1 = ks_min(P->th, J.ty0 + P->band_rows);
        J.v = P->v + (size_t)task * P->v_floats;
        J.mm = P->mm + (size_t)task * P->m_floats;
        int tiles = (J.ty1 - J.ty0) * J.tw;
        J.p_chunk = ks_min(ks_cdiv(tiles, NR), 8) * NR; /* as the shared band's items */
        J.m_chunks = 1;
        J.m_chunk = J.m;
        for (int c = 0; c < J.k; c++) KS(wg_input)(&J, c);
        for (int it = 0, n_items = KS(wg_gemm_items)(&J); it < n_items; it++)
            KS(wg_gemm_item)(&J, it, P->boff + (size_t)task * KC);
        for (int co = 0; co < J.m; co++) KS(wg_output)(&J, co);
    }
}

/* y (=, or += when accumulate) conv3x3(x) over `batch` images: x has k
 * planes of h x w per image, y has m planes of hout x wout. apack from
 * wg_weights. V, M and the offsets come from workspace ws (NULL: allocated
 * here). Returns false if memory is short (then nothing was written). */
static bool KS(wg_run)(int tile, const float *x, int batch, int k, int h, int w,
                       int pad_h, int pad_w, const float *apack, int m, int hout, int wout,
                       float *y, const float *bias, bool relu, bool accumulate, nn_scratch *ws) {
    int xis = KS(wg_xis)(tile), th = ks_cdiv(hout, tile), tw = ks_cdiv(wout, tile);
    long band = ks_min(WG_BAND_MAX, ks_max(WG_BAND_MIN, 2L * xis * m * k));
    int band_rows = ks_max(1, ks_min(th, (int)(band / ((long)xis * (k + m) * (tw + 32)))));
    if (tile == 4) { /* F(4x4)'s U is 2.25x larger: fewer, equal bands */
        band_rows = ks_max(1, ks_min(th, (int)(band / ((long)xis * (k + m) * tw))));
        band_rows = ks_cdiv(th, ks_cdiv(th, band_rows));
    }
    int ld = KS(wg_ld)(band_rows * tw);
    int threads = nn_threads_get(), bands = ks_cdiv(th, band_rows);
    /* + NR: vectors and panels at the end of a row read a little past it */
    size_t v_xi = KS(wg_xi_stride)((size_t)k * ld), m_xi = KS(wg_xi_stride)((size_t)m * ld);
    if (threads > 1 && (long)batch * bands >= 4L * threads) {
        int tasks = threads;
        KS(wg_job) proto = {.x = x, .h = h, .w = w, .pad_h = pad_h, .pad_w = pad_w, .hout = hout,
                            .wout = wout, .tile = tile, .xis = xis, .m = m, .k = k,
                            .apack = apack, .tw = tw,
                            .a_xi = KS(wg_a_xi)(m, k), .v_xi = v_xi, .m_xi = m_xi, .ld = ld,
                            .y = y, .bias = bias, .relu = relu, .accumulate = accumulate};
        KS(wg_private) P = {.proto = &proto, .bands = bands, .band_rows = band_rows, .th = th,
                            .items = batch * bands, .x_image = (size_t)k * h * w,
                            .y_image = (size_t)m * hout * wout, .v_floats = xis * v_xi + NR,
                            .m_floats = xis * m_xi + NR};
        P.v = nn_scratch_get(ws, KS_SLOT_INPUT, sizeof(float) * P.v_floats * tasks);
        P.mm = nn_scratch_get(ws, KS_SLOT_OUTPUT, sizeof(float) * P.m_floats * tasks);
        P.boff = nn_scratch_get(ws, KS_SLOT_TASKS, sizeof(int) * KC * tasks);
        bool ok = P.v && P.mm && P.boff;
        if (ok) {
            atomic_store(&P.next, 0);
            nn_parallel_for(tasks, KS(wg_private_task), &P);
        }
        nn_scratch_release(ws, P.v);
        nn_scratch_release(ws, P.mm);
        nn_scratch_release(ws, P.boff);
        if (ok) return true;
        /* short of memory for a band per thread: try the shared band */
    }
    float *v = nn_scratch_get(ws, KS_SLOT_INPUT, sizeof(float) * (xis * v_xi + NR));
    float *mm = nn_scratch_get(ws, KS_SLOT_OUTPUT, sizeof(float) * (xis * m_xi + NR));
    int *boff = nn_scratch_get(ws, KS_SLOT_TASKS, sizeof(int) * KC * threads);
    bool ok = v && mm && boff;
    for (int n = 0; ok && n < batch; n++) {
        for (int ty0 = 0; ty0 < th; ty0 += band_rows) {
            KS(wg_job) J = {.x = x + (size_t)n * k * h * w, .h = h, .w = w,
                            .pad_h = pad_h, .pad_w = pad_w, .hout = hout, .wout = wout,
                            .tile = tile, .xis = xis, .m = m,
                            .k = k, .apack = apack, .v = v, .mm = mm, .tw = tw,
                            .a_xi = KS(wg_a_xi)(m, k),
                            .v_xi = v_xi, .m_xi = m_xi, .ty0 = ty0,
                            .ty1 = ks_min(th, ty0 + band_rows), .ld = ld,
                            .y = y + (size_t)n * m * hout * wout, .bias = bias, .relu = relu,
                            .accumulate = accumulate, .boff = boff};
            int tiles = (J.ty1 - J.ty0) * tw;
            /* tile chunks of a few panels, row chunks when tiles are few */
            J.p_chunk = ks_min(ks_cdiv(tiles, NR), 8) * NR;
            int p_chunks = ks_cdiv(tiles, J.p_chunk);
            J.m_chunks = xis * p_chunks >= 3 * threads ? 1 : ks_cdiv(m, 4 * MR);
            J.m_chunk = ks_cdiv(ks_cdiv(m, J.m_chunks), MR) * MR;
            J.m_chunks = ks_cdiv(m, J.m_chunk);
            nn_parallel_for(k, KS(wg_input), &J);
            atomic_store(&J.next, 0);
            nn_parallel_for(ks_min(threads, xis * p_chunks * J.m_chunks), KS(wg_gemm_task), &J);
            nn_parallel_for(m, KS(wg_output), &J);
        }
    }
    nn_scratch_release(ws, v);
    nn_scratch_release(ws, mm);
    nn_scratch_release(ws, boff);
    return ok;
}
