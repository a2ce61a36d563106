/*
 * kernels_simd.h - the convolution kernels shared by the AVX2 and AVX-512
 * builds, written once against a small vector vocabulary. It is included by
 * kernels_avx2.c and kernels_avx512.c (each compiled with its ISA's flags),
 * which first define:
 *
 *   VL                 floats per vector (8 or 16)
 *   vf, vmask          the float vector type and its lane-mask type
 *   vf_zero/set1/load/loadu/storeu/add/sub/max/fma(a, b, c) = a*b + c
 *   vmask_range(lo,hi) lanes lo <= l < hi
 *   vf_maskz_loadu(p, m), vf_mask_storeu(p, m, v)
 *   vf_gather_stride(row, ix, stride, n, W)  row[ix + l*stride] for lanes l < n
 *                       whose index lies in [0, W), zero elsewhere
 *   vf_hsum(v)          sum of the lanes
 *   vf_load_even(p)     p[0], p[2], ..., p[2*VL-2] (reads 2*VL floats)
 *   vf_store_interleave4(p, a, b, c, d)  p[4l + j] = (a, b, c, d)[j][l], 4*VL floats
 *   vf_load_deinterleave4(p, out)        out[j][l] = p[4l + j], reads 4*VL floats
 *   MR, NRV            GEMM micro-tile: MR output rows x NRV vectors of pixels
 *   WG_FWD_MIN_CHANNELS  forward Winograd F(2x2) from this many channels in and out
 *   WG4_FWD_MIN_CHANNELS forward Winograd F(4x4) from this many channels in and out
 *   DOT_M, DOT_N       backward-weights tile (see below)
 *   KS(name)           prefix for the static names (avx2_name / avx512_name)
 *
 * The math (NCHW, per image n and group g; K = Cin/G * Kh * Kw):
 *
 *   forward        Y[co][p]  = b[co] + sum_k W[co][k] * col(x)[k][p]
 *   backward data  dX        += col2im( W^T dY )           (any stride)
 *                  or, for stride 1, a forward convolution of dY with the
 *                  weights flipped and transposed (no col2im, same speed)
 *   backward w.    dW[co][k] += sum_p dY[co][p] * col(x)[k][p]
 *
 * where col(x)[k = (ci, ky, kx)][p = (oy, ox)] = x[ci][oy*sh - ph + ky*dh]
 * [ox*sw - pw + kx*dw] (zero in the padding) is never materialised whole.
 *
 * Which path runs (first that applies):
 *   forward        Cin*Kh*Kw <= 32 and strided (first layers): the small-Cin
 *                  direct loop;
 *                  depthwise (one channel per group): a direct loop per plane;
 *                  3x3 stride 1 with channels and tiles enough: Winograd
 *                  F(4x4,3x3) or F(2x2,3x3) (winograd_simd.h, wg_fwd_tile);
 *                  stride 1, output rows >= VL and few padding columns: the
 *                  direct GEMM; anything else: the packed GEMM.
 *   backward data  Winograd from 16 channels, >= 256 2x2 tiles: F(4x4) as the
 *                  forward picks it, else F(2x2) (with >= 2 images
 *                  per thread, whole images per task); stride 1: the flipped forward through
 *                  the direct or packed GEMM; otherwise GEMM + col2im.
 *   backward w.    3x3 stride 1, padding <= 1, no groups, with channels and
 *                  tiles enough: Winograd F(3x3, 4x4) (winograd_bw_simd.h,
 *                  wgb_pays); >= NR/2 output channels per group: the outer-product
 *                  GEMM over pixels (x as HWC, dY transposed; see "backward
 *                  weights: the outer product"); else the dot-product tiles.
 *
 * The GEMM is blocked like BLIS: the weights are packed once per call into
 * MR-row panels [K][MR] (or once for good with conv2d_pack_weights); the
 * micro-kernel keeps an MR x NR tile of outputs in registers, broadcasting
 * one weight per row and loading NR pixels per k, the NR pixels of row k
 * being found at b + boff[k]. Bias and ReLU are applied in the registers
 * before the one store. B comes in one of two ways:
 *   packed  each task copies a block of col(x) (KC rows x up to NC pixels)
 *           into NR-pixel panels, boff[k] = k*NR; works for any window;
 *   direct  x is copied once with its padding made real and, for strides
 *           above 1, split into sh x sw phases (the polyphase copy, below);
 *           window row (ci, ky, kx) is then that copy shifted by a constant,
 *           boff[k], and nothing is packed. Pixels are counted in the copy's
 *           width, so its last few columns are garbage; stores skip them with
 *           two masked stores per vector (a vector may wrap into the next
 *           output row).
 *
 * Threads: each call splits its work into items (image, group, pixel range,
 * row range) that write disjoint outputs; nn_parallel_for starts one task per
 * thread, each task takes its slice of the call's buffers and pulls items
 * from a shared counter. Buffers are obtained before any output is written,
 * so when one cannot be had the call falls back to the reference kernel.
 *
 * Memory: temporary buffers come from the workspace s->scratch (nn_internal.h),
 * one slot per kind of buffer (KS_SLOT_* below), so a ctx's calls reuse them;
 * with s->scratch NULL they are allocated and freed per call.
 */
#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "nn_internal.h"

/* The workspace slots. Within one kernel call each backs one buffer at a
 * time; a call that gives a buffer up (Winograd falling back to the GEMM)
 * may take the slot again for the next one. */
enum {
    KS_SLOT_WEIGHTS, /* this call's packed weights: GEMM panels, Winograd U, small-Cin */
    KS_SLOT_INPUT,   /* the input re-laid: the direct GEMM's padded copy, Winograd V */
    KS_SLOT_OUTPUT,  /* Winograd M */
    KS_SLOT_TASKS,   /* per-task blocks: GEMM tiles and packing, Winograd's offsets,
                      * backward weights' blocks and accumulators */
    KS_SLOT_SEGS,    /* per-task pixel run lists (GEMM, backward weights) */
};

#define NR (NRV * VL) /* pixels per micro-tile */
#define KC 256        /* k rows per packed block: an NR panel of KC rows fits L1 */
#define KC_DIRECT 512 /* k rows per block read in place: window rows share cache lines */
#define KS_FEW_K 32   /* GEMMs with at most this many k rows store more than they compute */
#define NC 1024       /* pixels per block at most: a packed KC x NC block fits L2 */
#define C_BLOCK (128 * 1024) /* floats of output kept in L2 between k blocks */
#define PB 1024       /* pixels per block in backward weights */

static inline int ks_min(int a, int b) { return a < b ? a : b; }
static inline int ks_max(int a, int b) { return a > b ? a : b; }
static inline int ks_cdiv(int a, int b) { return (a + b - 1) / b; }

/* ---------------------------------------------------------- im2col source */

/* One "column matrix" source: planes of H x W floats, read through a
 * convolution window. Row k = (c, ky, kx), column p = (oy, ox). */
typedef struct {
    const float *src;
    int h, w;
    int kh, kw, sh, sw, ph, pw, dh, dw;
    int hout, wout;
} KS(geom);

/* A run of pixels inside one output row: lanes [lane, lane+len) are pixels
 * (oy, ox..ox+len). */
typedef struct {
    int lane, len, oy, ox;
} KS(seg);

/* Splits pixels [p0, p0+len) into runs within one output row; returns the
 * count (at most len/wout + 2). */
static int KS(segments)(const KS(geom) *g, int p0, int len, KS(seg) *segs) {
    int n = 0, oy = p0 / g->wout, ox = p0 % g->wout;
    for (int lane = 0; lane < len;) {
        int run = ks_min(len - lane, g->wout - ox);
        segs[n++] = (KS(seg)){lane, run, oy, ox};
        lane += run;
        oy++;
        ox = 0;
    }
    return n;
}

/* dst[l] = row[ix + l*stride] for l < len, zero outside [0, W). */
static inline void KS(copy_run)(float *dst, const float *row, int ix, int len, int stride, int w) {
    int l = 0;
    if (stride == 1 && ix >= 0 && ix + len <= w) { /* the common, interior case */
        for (; l + VL <= len; l += VL) vf_storeu(dst + l, vf_loadu(row + ix + l));
        if (l < len) {
            vmask m = vmask_range(0, len - l);
            vf_mask_storeu(dst + l, m, vf_maskz_loadu(row + ix + l, m));
        }
        return;
    }
    for (; l < len; l += VL) {
        int n = ks_min(VL, len - l);
        vf v;
        if (stride == 1) {
            int lo = ks_max(0, -(ix + l)), hi = ks_min(n, w - (ix + l));
            v = lo < hi ? vf_maskz_loadu(row + ix + l, vmask_range(lo, hi)) : vf_zero();
        } else {
            v = vf_gather_stride(row, ix + l * stride, stride, n, w);
        }
        if (n == VL)
            vf_storeu(dst + l, v);
        else
            vf_mask_storeu(dst + l, vmask_range(0, n), v);
    }
}

/* One col row (c, ky, kx) over pixels [p0, p0+len) into dst[0..len). */
static void KS(col_row)(const KS(geom) *g, int c, int ky, int kx, const KS(seg) *segs, int nseg,
                        float *dst) {
    const float *plane = g->src + (size_t)c * g->h * g->w;
    int dy = ky * g->dh - g->ph, dx = kx * g->dw - g->pw;
    for (int si = 0; si < nseg; si++) {
        const KS(seg) *sg = &segs[si];
        int iy = sg->oy * g->sh + dy;
        if (iy < 0 || iy >= g->h)
            memset(dst + sg->lane, 0, sizeof(float) * sg->len);
        else
            KS(copy_run)(dst + sg->lane, plane + (size_t)iy * g->w, sg->ox * g->sw + dx, sg->len,
                         g->sw, g->w);
    }
}

/* Packs col rows [k0, k0+kc) x pixels [p0, p0+len). With width == 0 the rows
 * are written contiguously, dst[k*ld + i] (zero-filled up to ld). Otherwise
 * into panels of `width` lanes, element (k, i) at dst[(i/width)*kc*width +
 * k*width + i%width], going through rowbuf so that the window arithmetic is
 * done per output row, not per panel. */
static void KS(pack_col)(const KS(geom) *g, int k0, int kc, int p0, int len, int width, int ld,
                         float *dst, float *rowbuf, KS(seg) *segs) {
    int nseg = KS(segments)(g, p0, len, segs);
    int taps = g->kh * g->kw, c = k0 / taps, ky = (k0 % taps) / g->kw, kx = k0 % g->kw;
    int panels = width ? ks_cdiv(len, width) : 1, padded = width ? panels * width : ld;
    for (int k = 0; k < kc; k++) {
        float *row = width ? rowbuf : dst + (size_t)k * ld;
        KS(col_row)(g, c, ky, kx, segs, nseg, row);
        if (padded > len) memset(row + len, 0, sizeof(float) * (padded - len));
        if (width) {
            float *d = dst + (size_t)k * width;
            for (int j = 0; j < panels; j++)
                for (int l = 0; l < width; l += VL)
                    vf_storeu(d + (size_t)j * kc * width + l, vf_loadu(row + j * width + l));
        }
        if (++kx == g->kw) {
            kx = 0;
            if (++ky == g->kh) {
                ky = 0;
                c++;
            }
        }
    }
}

/* dx-plane += tile rows through the window: the inverse of pack_col for one
 * MR x NR tile (rows m0.., pixels p0..). */
static void KS(col2im_add)(const KS(geom) *g, float *dx, const float *tile, int m0, int mr, int p0,
                           int len, KS(seg) *segs) {
    int nseg = KS(segments)(g, p0, len, segs);
    int taps = g->kh * g->kw;
    for (int r = 0; r < mr; r++) {
        int kk = m0 + r, c = kk / taps, t = kk % taps, ky = t / g->kw, kx = t % g->kw;
        float *plane = dx + (size_t)c * g->h * g->w;
        const float *src = tile + (size_t)r * NR;
        for (int s = 0; s < nseg; s++) {
            const KS(seg) *sg = &segs[s];
            int iy = sg->oy * g->sh - g->ph + ky * g->dh;
            if (iy < 0 || iy >= g->h) continue;
            float *row = plane + (size_t)iy * g->w;
            int ix = sg->ox * g->sw - g->pw + kx * g->dw;
            if (g->sw == 1) {
                for (int l = 0; l < sg->len; l += VL) {
                    int n = ks_min(VL, sg->len - l);
                    int lo = ks_max(0, -(ix + l)), hi = ks_min(n, g->w - (ix + l));
                    if (lo >= hi) continue;
                    vmask m = vmask_range(lo, hi);
                    vf v = vf_add(vf_maskz_loadu(row + ix + l, m),
                                  vf_maskz_loadu(src + sg->lane + l, m));
                    vf_mask_storeu(row + ix + l, m, v);
                }
            } else {
                for (int l = 0; l < sg->len; l++) {
                    int x = ix + l * g->sw;
                    if (x >= 0 && x < g->w) row[x] += src[sg->lane + l];
                }
            }
        }
    }
}

/* -------------------------------------------------------------- micro-kernel */

/* Where the vectors of one micro-tile row go: vector j's lanes in mask
 * m[j][0] are stored at row + off[j][0], those in m[j][1] (when two[j]) at
 * row + off[j][1]. Two parts let a vector of pixels wrap from the end of one
 * output row to the start of the next when the pixels are counted in a
 * padded-width space (see the direct GEMM below). */
typedef struct {
    int off[NRV][2];
    vmask m[NRV][2];
    bool two[NRV], any[NRV];
} KS(smap);

/* The MR x (NRV vectors) register tile that the GEMM micro-kernel, the
 * backward-weights outer product and Winograd's weight-gradient GEMM share:
 * clear its first mr rows, and add one rank-1 step acc[r][j] += a[r] * b[j].
 * Always inlined with a constant mr, so acc lives in registers. */
static inline __attribute__((always_inline)) void KS(tile_zero)(vf acc[MR][NRV], const int mr) {
#pragma GCC unroll 16
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 4
        for (int j = 0; j < NRV; j++)
            if (r < mr) acc[r][j] = vf_zero();
}

static inline __attribute__((always_inline)) void KS(tile_fma)(vf acc[MR][NRV], const float *a,
                                                                 const vf b[NRV], const int mr) {
#pragma GCC unroll 16
    for (int r = 0; r < MR; r++) {
        if (r < mr) {
            vf av = vf_set1(a[r]);
#pragma GCC unroll 4
            for (int j = 0; j < NRV; j++) acc[r][j] = vf_fma(av, b[j], acc[r][j]);
        }
    }
}

/* The MR x NR tile c = a-panel x B over kc steps, for the first mr rows:
 *   acc = (load_c ? c : 0) + (bias ? bias[r] : 0) + sum_k a[k][r] * B_k
 *   c = relu ? max(acc, 0) : acc
 * a is [kc][MR]; B_k is the NR floats at b + boff[k] (a packed panel, or a
 * window straight into a padded input). Inlined with a constant mr so each
 * row count gets its own register-resident version. */
static inline __attribute__((always_inline)) void
KS(ukernel_body)(int kc, const float *restrict a, const float *b, const int *restrict boff,
                 float *c, int ldc, const KS(smap) *map, const float *bias, bool load_c,
                 bool relu, const int mr) {
    vf acc[MR][NRV];
    KS(tile_zero)(acc, mr);
    for (int k = 0; k < kc; k++) {
        const float *bk = b + boff[k];
        __builtin_prefetch(a + (size_t)(k + 8) * MR); /* the weight panel streams from L2 */
        vf bv[NRV];
#pragma GCC unroll 4
        for (int j = 0; j < NRV; j++) bv[j] = vf_loadu(bk + j * VL);
        KS(tile_fma)(acc, a + (size_t)k * MR, bv, mr);
    }
#pragma GCC unroll 16
    for (int r = 0; r < MR; r++) {
        if (r >= mr) continue;
        float *cr = c + (size_t)r * ldc;
        vf bb = bias ? vf_set1(bias[r]) : vf_zero();
#pragma GCC unroll 4
        for (int j = 0; j < NRV; j++) {
            if (!map->any[j]) continue;
            vf v = vf_add(acc[r][j], bb);
            if (load_c) {
                v = vf_add(v, vf_maskz_loadu(cr + map->off[j][0], map->m[j][0]));
                if (map->two[j]) v = vf_add(v, vf_maskz_loadu(cr + map->off[j][1], map->m[j][1]));
            }
            if (relu) v = vf_max(v, vf_zero());
            vf_mask_storeu(cr + map->off[j][0], map->m[j][0], v);
            if (map->two[j]) vf_mask_storeu(cr + map->off[j][1], map->m[j][1], v);
        }
    }
}

#define KS_UK(R)                                                                             \
    static void KS(ukernel_##R)(int kc, const float *a, const float *b, const int *boff,     \
                                float *c, int ldc, const KS(smap) *map, const float *bias,   \
                                bool load_c, bool relu) {                                    \
        KS(ukernel_body)(kc, a, b, boff, c, ldc, map, bias, load_c, relu, R);                \
    }
KS_UK(1) KS_UK(2) KS_UK(3) KS_UK(4) KS_UK(5) KS_UK(6)
#if MR > 6
KS_UK(7) KS_UK(8) KS_UK(9) KS_UK(10) KS_UK(11) KS_UK(12) KS_UK(13) KS_UK(14)
#endif

typedef void (*KS(ukernel_fn))(int, const float *, const float *, const int *, float *, int,
                               const KS(smap) *, const float *, bool, bool);
static const KS(ukernel_fn) KS(ukernels)[MR + 1] = {
    NULL, KS(ukernel_1), KS(ukernel_2), KS(ukernel_3), KS(ukernel_4), KS(ukernel_5), KS(ukernel_6),
#if MR > 6
    KS(ukernel_7), KS(ukernel_8), KS(ukernel_9), KS(ukernel_10), KS(ukernel_11), KS(ukernel_12),
    KS(ukernel_13), KS(ukernel_14),
#endif
};

/* A plain map: nr pixels stored contiguously from offset p. */
static void KS(smap_linear)(KS(smap) *map, int p, int nr) {
    for (int j = 0; j < NRV; j++) {
        int n = ks_min(VL, nr - j * VL);
        map->any[j] = n > 0;
        map->two[j] = false;
        map->off[j][0] = p + j * VL;
        map->m[j][0] = vmask_range(0, ks_max(n, 1));
    }
}

/* Pixels counted in padded-width space: q = oy*wp + ox, of which only ox < wo
 * (and oy < ho) are real outputs, stored at oy*wo + ox. Needs wp >= VL so a
 * vector touches at most two rows. */
static void KS(smap_padded)(KS(smap) *map, int q, int wp, int wo, int ho) {
    for (int j = 0; j < NRV; j++) {
        int qv = q + j * VL, oy = qv / wp, ox = qv % wp;
        int first = ks_min(VL, wp - ox); /* lanes [0, first) in row oy */
        int n0 = oy < ho ? ks_min(first, wo - ox) : 0;
        int n1 = first < VL && oy + 1 < ho ? ks_min(VL, first + wo) : 0;
        map->off[j][0] = oy * wo + ox;
        map->m[j][0] = n0 > 0 ? vmask_range(0, n0) : vmask_range(0, 0);
        map->two[j] = n1 > first;
        map->off[j][1] = (oy + 1) * wo - first;
        map->m[j][1] = n1 > first ? vmask_range(first, n1) : vmask_range(0, 0);
        map->any[j] = n0 > 0 || n1 > first;
    }
}

/* ------------------------------------------------------------------- GEMM */

typedef enum { KS_OUT_STORE, KS_OUT_ACCUMULATE, KS_OUT_COL2IM } KS(out_mode);

/* One convolution-as-GEMM over a batch: for image n and group g,
 *   C(n, g)[m][p] (op)= sum_k A(g)[m][k] * B(n, g)[k][p].
 * B is either packed from the window geometry `bgeom` (any stride), or, when
 * `direct`, read in place from `xpad`: one image's input with its padding
 * made real (planes of hp x wp), so that window row k is simply xpad shifted
 * by a constant, and pixels are counted in padded-width space. */
typedef struct {
    int m, k, p;               /* GEMM sizes per (image, group); p in padded space if direct */
    int batch, groups;
    const float *apack;        /* [groups][ceil(m/MR)][k][MR] */
    KS(geom) bgeom;            /* B window; for image 0, group 0 when packed */
    size_t b_image, b_group;   /* floats between images / groups of the B source */
    bool direct;
    const float *xpad;         /* direct: [groups * k/taps planes][hp][wp] + guard */
    int hp, wp;                /* direct: the copy's plane (hq x wq below) */
    float *c;
    size_t c_image, c_group;   /* floats between images / groups of C */
    int ldc;
    const float *bias;         /* per m, advanced by m per group; STORE only */
    bool relu;
    KS(out_mode) mode;
    KS(geom) cgeom;            /* COL2IM: the window C's rows scatter through */
    /* blocking and work split */
    int kc_block, nc_block;
    int p_chunk, p_chunks, m_chunk, m_chunks;
    atomic_int next;
    float *scratch;            /* per task: C tile, row buffer, offsets, packed col block */
    size_t scratch_floats;     /* per task; the direct path packs nothing */
    KS(seg) *segs;             /* per task */
    nn_scratch *ws;            /* where scratch, segs and xpad come from (s->scratch) */
} KS(gemm_job);

#define KS_GEMM_SMALL (MR * NR + NC + NR + KC_DIRECT) /* C tile, row buffer, offsets */
#define KS_GEMM_PACK (KC * (NC + NR))                 /* a packed col block */
#define KS_GEMM_SEGS (NC + 2)

static void KS(gemm_item)(KS(gemm_job) *J, int item, float *bbuf, float *tile, float *rowbuf,
                          int *boff, KS(seg) *segs) {
    int mi = item % J->m_chunks;
    item /= J->m_chunks;
    int pi = item % J->p_chunks;
    item /= J->p_chunks;
    int g = item % J->groups, n = item / J->groups;
    int m0 = mi * J->m_chunk, m1 = ks_min(J->m, m0 + J->m_chunk);
    int q0 = pi * J->p_chunk, q1 = ks_min(J->p, q0 + J->p_chunk);
    if (m0 >= m1 || q0 >= q1) return;

    const KS(geom) *wg = &J->bgeom;
    KS(geom) bg = J->bgeom;
    bg.src += (size_t)n * J->b_image + (size_t)g * J->b_group;
    int taps = wg->kh * wg->kw;
    int phases = wg->sh * wg->sw;
    const float *xpad =
        J->direct ? J->xpad + (size_t)g * (J->k / taps) * phases * J->hp * J->wp : NULL;
    float *c = J->c + (size_t)n * J->c_image + (size_t)g * J->c_group;
    const float *bias = J->bias ? J->bias + (size_t)g * J->m : NULL;
    const float *apack = J->apack + (size_t)g * ks_cdiv(J->m, MR) * MR * J->k;
    KS(smap) map;

    for (int nb = q0; nb < q1; nb += J->nc_block) {
        int nc = ks_min(J->nc_block, q1 - nb), panels = ks_cdiv(nc, NR);
        for (int kb = 0; kb < J->k; kb += J->kc_block) {
            int kc = ks_min(J->kc_block, J->k - kb);
            if (J->direct) {
                int c0 = kb / taps, ky = (kb % taps) / wg->kw, kx = kb % wg->kw;
                bool unit = wg->sh == 1 && wg->sw == 1; /* one phase: no divisions */
                for (int k = 0; k < kc; k++) {
                    int ty = ky * wg->dh, tx = kx * wg->dw; /* tap offset in the input */
                    if (unit) {
                        boff[k] = (c0 * J->hp + ty) * J->wp + tx;
                    } else {
                        int phase = (c0 * wg->sh + ty % wg->sh) * wg->sw + tx % wg->sw;
                        boff[k] = (phase * J->hp + ty / wg->sh) * J->wp + tx / wg->sw;
                    }
                    if (++kx == wg->kw) {
                        kx = 0;
                        if (++ky == wg->kh) ky = 0, c0++;
                    }
                }
            } else {
                for (int k = 0; k < kc; k++) boff[k] = k * NR;
                KS(pack_col)(&bg, kb, kc, nb, nc, NR, 0, bbuf, rowbuf, segs);
            }
            bool first = kb == 0, last = kb + kc == J->k;
            /* Usually each B panel is used by every row block while it is in
             * L1 (panels outer). With few k rows (a first layer: K = 27) the
             * tiles are mostly stores, and that order keeps a store stream
             * open in every output plane at once. With 64 planes (VGG's
             * conv1_1) that made the layer take 3 to 12 ms from run to run,
             * depending on where its buffers landed; row blocks outer keep MR
             * streams (2.9 ms every time). With 32 planes (the small CNN's
             * conv1) panels outer stays faster: 8.5 against 10.1 ms. */
            bool rows_outer = J->mode != KS_OUT_COL2IM && J->k <= KS_FEW_K && m1 - m0 > 32;
            int blocks = ks_cdiv(m1 - m0, MR);
            for (int outer = 0; outer < (rows_outer ? blocks : panels); outer++)
            for (int inner = 0; inner < (rows_outer ? panels : blocks); inner++) {
                int j = rows_outer ? inner : outer, m = m0 + (rows_outer ? outer : inner) * MR;
                int p = nb + j * NR, nr = ks_min(NR, nc - j * NR);
                const float *bp = J->direct ? xpad + p : bbuf + (size_t)j * kc * NR;
                if (rows_outer || inner == 0) { /* the panel's store map */
                    if (J->mode == KS_OUT_COL2IM)
                        KS(smap_linear)(&map, 0, NR);
                    else if (J->direct)
                        KS(smap_padded)(&map, p, J->wp, wg->wout, wg->hout);
                    else
                        KS(smap_linear)(&map, p, nr);
                }
                {
                    int mr = ks_min(MR, m1 - m);
                    const float *ap = apack + ((size_t)(m / MR) * J->k + kb) * MR;
                    KS(ukernel_fn) uk = KS(ukernels)[mr];
                    float *crow = c + (size_t)m * J->ldc;
                    switch (J->mode) {
                    case KS_OUT_STORE:
                        uk(kc, ap, bp, boff, crow, J->ldc, &map, first && bias ? bias + m : NULL,
                           !first, last && J->relu);
                        break;
                    case KS_OUT_ACCUMULATE:
                        uk(kc, ap, bp, boff, crow, J->ldc, &map, NULL, true, false);
                        break;
                    case KS_OUT_COL2IM:
                        uk(kc, ap, bp, boff, tile, NR, &map, NULL, false, false);
                        KS(col2im_add)(&J->cgeom, c, tile, m, mr, p, nr, segs);
                        break;
                    }
                }
            }
        }
    }
}

static void KS(gemm_task)(void *arg, int task) {
    KS(gemm_job) *J = arg;
    float *tile = J->scratch + (size_t)task * J->scratch_floats;
    float *rowbuf = tile + MR * NR;
    int *boff = (int *)(rowbuf + NC + NR);
    float *bbuf = J->direct ? NULL : tile + KS_GEMM_SMALL;
    KS(seg) *segs = J->segs + (size_t)task * KS_GEMM_SEGS;
    int items = J->batch * J->groups * J->p_chunks * J->m_chunks, i;
    while ((i = atomic_fetch_add(&J->next, 1)) < items)
        KS(gemm_item)(J, i, bbuf, tile, rowbuf, boff, segs);
}

/* Splits the work so that there are a few items per thread; pixel splits are
 * preferred (they share the packed weights), row splits keep small planes busy.
 * COL2IM items must own whole input channels (rows of `taps` each), and get all
 * pixels, since neighbouring pixels scatter into the same inputs. */
static void KS(gemm_split)(KS(gemm_job) *J, int threads, int row_align, bool split_pixels) {
    int want = threads > 1 ? 3 * threads : 1;
    int outer = J->batch * J->groups;
    /* The k blocks revisit each output tile; keep the outputs of one pixel
     * block (m x nc floats) small enough to stay in L2 meanwhile. */
    J->kc_block = J->direct ? KC_DIRECT : KC;
    J->nc_block = ks_max(NR, ks_min(NC, C_BLOCK / ks_max(J->m, 1) / NR * NR));
    J->p_chunks = 1;
    J->m_chunks = 1;
    if (split_pixels) {
        J->p_chunks = ks_cdiv(J->p, J->nc_block);
        if (outer * J->p_chunks < want)
            J->p_chunks = ks_min(ks_cdiv(J->p, 2 * NR), ks_cdiv(want, outer));
        J->p_chunks = ks_max(J->p_chunks, 1);
    }
    J->p_chunk = ks_cdiv(ks_cdiv(J->p, J->p_chunks), NR) * NR;
    J->p_chunks = ks_cdiv(J->p, J->p_chunk);
    int align = MR * row_align; /* row chunks hold whole channels and whole panels */
    int max_m = ks_cdiv(J->m, align);
    if (outer * J->p_chunks < want) J->m_chunks = ks_min(max_m, ks_cdiv(want, outer * J->p_chunks));
    J->m_chunk = ks_cdiv(ks_cdiv(J->m, J->m_chunks), align) * align;
    J->m_chunks = ks_cdiv(J->m, J->m_chunk);
}

static bool KS(gemm_alloc)(KS(gemm_job) *J, int *tasks) {
    int items = J->batch * J->groups * J->p_chunks * J->m_chunks;
    *tasks = ks_min(nn_threads_get(), items);
    /* The direct path needs no 1 MB packing block per task: small calls then
     * stay off mmap/munmap, whose TLB shootdowns cost tens of microseconds
     * with a second thread running. */
    J->scratch_floats = KS_GEMM_SMALL + (J->direct ? 0 : KS_GEMM_PACK);
    J->scratch = nn_scratch_get(J->ws, KS_SLOT_TASKS, sizeof(float) * J->scratch_floats * *tasks);
    J->segs = nn_scratch_get(J->ws, KS_SLOT_SEGS, sizeof(KS(seg)) * KS_GEMM_SEGS * *tasks);
    return J->scratch && J->segs;
}

static void KS(gemm_free)(KS(gemm_job) *J) {
    nn_scratch_release(J->ws, J->scratch);
    nn_scratch_release(J->ws, J->segs);
}

static void KS(gemm_run)(KS(gemm_job) *J, int tasks) {
    atomic_store(&J->next, 0);
    nn_parallel_for(tasks, KS(gemm_task), J);
}

/* ------------------------------------------------------------ direct GEMM */

/* Windows can skip packing: the input is copied once with its padding made
 * real, and every window row is that copy shifted. With strides sh x sw the
 * copy is split into phases: plane (c, ry, rx) holds
 *     copy[j][i] = x[c][j*sh + ry - ph][i*sw + rx - pw]   (zero outside x)
 * for j < hq, i < wq, so tap (ky, kx) of output (oy, ox) is found in phase
 * (ky*dh % sh, kx*dw % sw) at row oy + ky*dh/sh, column ox + kx*dw/sw: a
 * constant shift again, for every stride. For stride 1 it is the plain
 * padded input. The price is computing wq - wo garbage pixels per row, so it
 * is used when those are few (and rows are at least a vector wide, so a
 * vector wraps at most once). */
static void KS(direct_dims)(const KS(geom) *g, int *hq, int *wq) {
    *hq = g->hout + (g->kh - 1) * g->dh / g->sh;
    *wq = g->wout + (g->kw - 1) * g->dw / g->sw;
}

static bool KS(direct_ok)(const KS(geom) *g, int planes) {
    int hq, wq;
    KS(direct_dims)(g, &hq, &wq);
    /* the offsets into the copy are ints */
    if ((double)planes * g->sh * g->sw * hq * wq + NR + wq + VL >= (double)INT_MAX) return false;
    return g->wout >= VL && wq >= VL && (wq - g->wout) * 8 <= g->wout;
}

typedef struct {
    const float *src;
    float *dst;
    int h, w, ph, pw, sh, sw, hq, wq;
    int planes, per_task; /* phase planes in all, and per task */
} KS(pad_job);

/* One phase plane of the copy; index = (c * sh + ry) * sw + rx. */
static void KS(pad_plane)(KS(pad_job) *J, int index) {
    int rx = index % J->sw, ry = index / J->sw % J->sh, c = index / J->sw / J->sh;
    const float *src = J->src + (size_t)c * J->h * J->w;
    float *dst = J->dst + (size_t)index * J->hq * J->wq;
    int x0 = rx - J->pw; /* input column of copy column 0 */
    for (int j = 0; j < J->hq; j++) {
        float *d = dst + (size_t)j * J->wq;
        int iy = j * J->sh + ry - J->ph;
        if (iy < 0 || iy >= J->h) {
            memset(d, 0, sizeof(float) * J->wq);
            continue;
        }
        const float *row = src + (size_t)iy * J->w;
        if (J->sw == 1) { /* zeros, the row, zeros */
            int lo = ks_min(ks_max(0, -x0), J->wq), hi = ks_max(lo, ks_min(J->wq, J->w - x0));
            memset(d, 0, sizeof(float) * lo);
            memcpy(d + lo, row + x0 + lo, sizeof(float) * (hi - lo));
            memset(d + hi, 0, sizeof(float) * (J->wq - hi));
            continue;
        }
        for (int i = 0; i < J->wq; i += VL) {
            int n = ks_min(VL, J->wq - i), x = x0 + i * J->sw;
            if (J->sw == 2 && n == VL && x >= 0 && x + 2 * VL <= J->w) /* interior: a shuffle */
                vf_storeu(d + i, vf_load_even(row + x));
            else
                vf_mask_storeu(d + i, vmask_range(0, n), vf_gather_stride(row, x, J->sw, n, J->w));
        }
    }
}

/* A few planes per task: one task per plane made the two threads fight over
 * the task counter on small maps (160 planes of 17x22 for a face_ssd head). */
static void KS(pad_task)(void *arg, int task) {
    KS(pad_job) *J = arg;
    int end = ks_min(J->planes, (task + 1) * J->per_task);
    for (int index = task * J->per_task; index < end; index++) KS(pad_plane)(J, index);
}

/* Runs job J (batch, groups, m, k, apack, c*, mode set; bgeom the window over
 * `planes` planes per image) one image at a time through the copy.
 * Returns false if memory is short (nothing written then). */
static bool KS(gemm_direct)(KS(gemm_job) *J, const float *src, int planes) {
    const KS(geom) *g = &J->bgeom;
    int hq, wq, phases = g->sh * g->sw;
    KS(direct_dims)(g, &hq, &wq);
    size_t plane = (size_t)hq * wq, copies = (size_t)planes * phases;
    size_t guard = NR + (size_t)wq + VL; /* panels read up to a row and a panel past the end */
    float *xpad = nn_scratch_get(J->ws, KS_SLOT_INPUT, sizeof(float) * (plane * copies + guard));
    int batch = J->batch, tasks;
    J->batch = 1;
    J->direct = true;
    J->xpad = xpad;
    J->hp = hq;
    J->wp = wq;
    J->p = g->hout * wq - (wq - g->wout); /* the last row's garbage is not needed */
    KS(gemm_split)(J, nn_threads_get(), 1, true);
    if (!xpad || !KS(gemm_alloc)(J, &tasks)) {
        nn_scratch_release(J->ws, xpad);
        KS(gemm_free)(J);
        return false;
    }
    memset(xpad + plane * copies, 0, sizeof(float) * guard);
    float *c0 = J->c;
    for (int n = 0; n < batch; n++) {
        KS(pad_job) P = {src + (size_t)n * J->b_image, xpad, g->h, g->w, g->ph, g->pw,
                         g->sh, g->sw, hq, wq, (int)copies, 1};
        int tasks_pad = ks_min((int)copies, 4 * nn_threads_get());
        P.per_task = ks_cdiv((int)copies, tasks_pad);
        nn_parallel_for(ks_cdiv((int)copies, P.per_task), KS(pad_task), &P);
        J->c = c0 + (size_t)n * J->c_image;
        KS(gemm_run)(J, tasks);
    }
    J->c = c0;
    nn_scratch_release(J->ws, xpad);
    KS(gemm_free)(J);
    return true;
}

/* The packed path: any window. */
static bool KS(gemm_packed)(KS(gemm_job) *J, int row_align, bool split_pixels) {
    int tasks;
    KS(gemm_split)(J, nn_threads_get(), row_align, split_pixels);
    bool ok = KS(gemm_alloc)(J, &tasks);
    if (ok) KS(gemm_run)(J, tasks);
    KS(gemm_free)(J);
    return ok;
}

/* ---------------------------------------------------------- weight packing */

typedef enum {
    KS_A_ROWS,    /* A[m][k] = w[m][k]                  forward            */
    KS_A_FLIP,    /* A[ci][(co,t)] = w[co][ci][T-1-t]   backward data, s=1 */
    KS_A_COLS,    /* A[k'][co] = w[co][k']              backward data, col2im */
} KS(a_mode);

typedef struct {
    const nn_conv2d_shape *s;
    const float *w;
    float *out;
    KS(a_mode) mode;
    int m, k, panels;
} KS(wpack_job);

/* One MR-row panel [K][MR] of one group (zero rows past m). */
static void KS(pack_panel)(void *arg, int index) {
    KS(wpack_job) *J = arg;
    const nn_conv2d_shape *s = J->s;
    int g = index / J->panels, pnl = index % J->panels, k = J->k, m = J->m;
    int cin_g = s->cin / s->groups, cout_g = s->cout / s->groups, taps = s->kh * s->kw;
    const float *wgp = J->w + (size_t)g * cout_g * cin_g * taps;
    float *dst = J->out + ((size_t)g * J->panels + pnl) * k * MR;
    int m0 = pnl * MR, mr = ks_min(MR, m - m0);
    /* one vector per k: the panel's rows are a strided gather */
    vmask keep = vmask_range(0, MR);
    if (J->mode == KS_A_ROWS) {
        const float *src = wgp + (size_t)m0 * k;
        for (int kk = 0; kk < k; kk++)
            vf_mask_storeu(dst + (size_t)kk * MR, keep,
                           vf_gather_stride(src + kk, 0, k, mr, INT_MAX));
    } else if (J->mode == KS_A_FLIP) {
        /* m = ci, k = (co, t): w[co][ci][taps-1-t] */
        for (int kk = 0; kk < k; kk++) {
            int co = kk / taps, t = kk % taps;
            const float *src = wgp + ((size_t)co * cin_g + m0) * taps + (taps - 1 - t);
            vf_mask_storeu(dst + (size_t)kk * MR, keep,
                           vf_gather_stride(src, 0, taps, mr, INT_MAX));
        }
    } else {
        /* m = (ci, t) index into a weight row, k = co */
        for (int kk = 0; kk < k; kk++)
            vf_mask_storeu(dst + (size_t)kk * MR, keep,
                           vf_maskz_loadu(wgp + (size_t)kk * m + m0, vmask_range(0, mr)));
    }
}

static size_t KS(packed_floats_for)(const nn_conv2d_shape *s, int m, int k) {
    return (size_t)ks_cdiv(m, MR) * MR * k * s->groups;
}

/* Packs every group's weights into MR-row panels [K][MR], in parallel, into
 * out (or the workspace's weights slot when out is NULL). */
static float *KS(pack_weights)(const nn_conv2d_shape *s, const float *w, KS(a_mode) mode, int m,
                               int k, float *out) {
    if (!out) out = nn_scratch_get(s->scratch, KS_SLOT_WEIGHTS, sizeof(float) * KS(packed_floats_for)(s, m, k));
    if (!out) return NULL;
    KS(wpack_job) J = {s, w, out, mode, m, k, ks_cdiv(m, MR)};
    nn_parallel_for(J.panels * s->groups, KS(pack_panel), &J);
    return out;
}

/* ------------------------------------------------------------- depthwise */

/* One input channel per group and one output per group: a direct loop over
 * output rows, one vector of pixels at a time, is faster than a GEMM of K=9. */
typedef struct {
    const nn_conv2d_shape *s;
    const float *x, *w, *b;
    float *y;
} KS(dw_job);

static void KS(depthwise_plane)(void *arg, int plane) {
    KS(dw_job) *J = arg;
    const nn_conv2d_shape *s = J->s;
    int c = plane % s->cout;
    const float *x = J->x + (size_t)plane * s->h * s->w;
    const float *w = J->w + (size_t)c * s->kh * s->kw;
    float *y = J->y + (size_t)plane * s->hout * s->wout;
    float bias = J->b ? J->b[c] : 0.0f;
    for (int oy = 0; oy < s->hout; oy++) {
        for (int ox = 0; ox < s->wout; ox += VL) {
            int n = ks_min(VL, s->wout - ox);
            vf acc = vf_set1(bias);
            for (int ky = 0; ky < s->kh; ky++) {
                int iy = oy * s->stride_h - s->pad_h + ky * s->dil_h;
                if (iy < 0 || iy >= s->h) continue;
                const float *row = x + (size_t)iy * s->w;
                for (int kx = 0; kx < s->kw; kx++) {
                    int ix = ox * s->stride_w - s->pad_w + kx * s->dil_w;
                    vf v;
                    if (s->stride_w == 1) {
                        int lo = ks_max(0, -ix), hi = ks_min(n, s->w - ix);
                        v = lo < hi ? vf_maskz_loadu(row + ix, vmask_range(lo, hi)) : vf_zero();
                    } else {
                        v = vf_gather_stride(row, ix, s->stride_w, n, s->w);
                    }
                    acc = vf_fma(vf_set1(w[ky * s->kw + kx]), v, acc);
                }
            }
            if (s->relu) acc = vf_max(acc, vf_zero());
            float *yr = y + (size_t)oy * s->wout + ox;
            if (n == VL)
                vf_storeu(yr, acc);
            else
                vf_mask_storeu(yr, vmask_range(0, n), acc);
        }
    }
}

/* -------------------------------------------------------- small-Cin direct */

/* Strided first layers (3 input channels, 3x3: K = 27) are poor GEMMs:
 * every micro-tile spends nearly as long storing its outputs as multiplying,
 * and the windows must be copied into phases or packed first. Instead, for each vector of VL
 * output pixels of one row, the K window vectors are read straight from the
 * input (a shuffle of two loads for stride 2, a gather for larger strides or
 * at the borders) into a small buffer, then every block of SC_COB output
 * channels is accumulated from it in registers, one broadcast weight per
 * (channel, k), and stored once. Nothing is copied, and the output rows are
 * independent tasks. Weights are packed as [ceil(Cout/SC_COB)][K][SC_COB]
 * (zero past Cout), the form conv2d_pack_weights keeps for these shapes. */
#define SC_MAX_K 32  /* Cin * Kh * Kw at most (3x3x3 = 27) */
#define SC_COB VL    /* output channels per block: VL accumulators */

/* Only strided: at stride 1 the direct GEMM reads its padded copy without
 * packing, and its 14 x 32 tile beats this one's 16 x 16 (VGG-16 conv1_1 at
 * 300x300, 1 thread: 2.71 ms GEMM, 3.16 ms here). At stride 2 this wins:
 * face_ssd conv1 at 640x480, 1.21 ms GEMM, 0.83 ms here. */
static bool KS(small_cin_ok)(const nn_conv2d_shape *s) {
    return s->groups == 1 && s->cin * s->kh * s->kw <= SC_MAX_K &&
           (s->stride_h > 1 || s->stride_w > 1);
}

static size_t KS(small_cin_packed_floats)(const nn_conv2d_shape *s) {
    return (size_t)ks_cdiv(s->cout, SC_COB) * SC_COB * s->cin * s->kh * s->kw;
}

static void KS(small_cin_pack)(const nn_conv2d_shape *s, const float *w, float *packed) {
    int k_all = s->cin * s->kh * s->kw;
    for (int cb = 0; cb < ks_cdiv(s->cout, SC_COB); cb++)
        for (int k = 0; k < k_all; k++)
            for (int c = 0; c < SC_COB; c++) {
                int co = cb * SC_COB + c;
                packed[((size_t)cb * k_all + k) * SC_COB + c] =
                    co < s->cout ? w[(size_t)co * k_all + k] : 0.0f;
            }
}

typedef struct {
    const nn_conv2d_shape *s;
    const float *x, *wp, *b;
    float *y;
} KS(sc_job);

/* The K window vectors of pixels ox..ox+VL of output row oy into t[K][VL]. */
static void KS(small_cin_taps)(const nn_conv2d_shape *s, const float *x, int oy, int ox,
                               float *t) {
    for (int ci = 0; ci < s->cin; ci++)
        for (int ky = 0; ky < s->kh; ky++) {
            int iy = oy * s->stride_h - s->pad_h + ky * s->dil_h;
            if (iy < 0 || iy >= s->h) { /* a padding row: kw zero vectors */
                for (int kx = 0; kx < s->kw; kx++, t += VL) vf_storeu(t, vf_zero());
                continue;
            }
            const float *row = x + ((size_t)ci * s->h + iy) * s->w;
            for (int kx = 0; kx < s->kw; kx++, t += VL) {
                int ix = ox * s->stride_w - s->pad_w + kx * s->dil_w;
                vf v;
                if (s->stride_w == 1 && ix >= 0 && ix + VL <= s->w) {
                    v = vf_loadu(row + ix);
                } else if (s->stride_w == 1) { /* lanes in the padding read zero */
                    int lo = ks_max(0, -ix), hi = ks_min(VL, s->w - ix);
                    v = lo < hi ? vf_maskz_loadu(row + ix, vmask_range(lo, hi)) : vf_zero();
                } else if (s->stride_w == 2 && ix >= 0 && ix + 2 * VL <= s->w) {
                    v = vf_load_even(row + ix);
                } else {
                    v = vf_gather_stride(row, ix, s->stride_w, VL, s->w);
                }
                vf_storeu(t, v);
            }
        }
}

/* Pixels per chunk of a row: the chunk's window vectors (K x SC_CHUNK
 * floats, 32 KB) stay in L1 while every channel block reads them, and each
 * block writes SC_COB output rows one after the other (writing all Cout
 * planes a vector at a time thrashed the cache on VGG's 64 channels). */
#define SC_CHUNK 256

/* Output row (image, oy) = index. */
static void KS(small_cin_row)(void *arg, int index) {
    KS(sc_job) *J = arg;
    const nn_conv2d_shape *s = J->s;
    int n = index / s->hout, oy = index % s->hout, k_all = s->cin * s->kh * s->kw;
    const float *x = J->x + (size_t)n * s->cin * s->h * s->w;
    float *y = J->y + (size_t)n * s->cout * s->hout * s->wout + (size_t)oy * s->wout;
    size_t plane_out = (size_t)s->hout * s->wout;
    float taps[SC_MAX_K * SC_CHUNK] __attribute__((aligned(64))); /* [vector][K][VL] */
    for (int ox0 = 0; ox0 < s->wout; ox0 += SC_CHUNK) {
        int chunk = ks_min(SC_CHUNK, s->wout - ox0);
        for (int v0 = 0; v0 < chunk; v0 += VL)
            KS(small_cin_taps)(s, x, oy, ox0 + v0, taps + (size_t)v0 * k_all);
        for (int co = 0; co < s->cout; co += SC_COB) {
            const float *wp = J->wp + (size_t)(co / SC_COB) * k_all * SC_COB;
            int cn = ks_min(SC_COB, s->cout - co);
            for (int v0 = 0; v0 < chunk; v0 += VL) {
                const float *t = taps + (size_t)v0 * k_all;
                int len = ks_min(VL, chunk - v0);
                vf acc[SC_COB];
#pragma GCC unroll 16
                for (int c = 0; c < SC_COB; c++)
                    acc[c] = vf_set1(J->b && c < cn ? J->b[co + c] : 0.0f);
                for (int k = 0; k < k_all; k++) {
                    vf v = vf_loadu(t + k * VL);
#pragma GCC unroll 16
                    for (int c = 0; c < SC_COB; c++)
                        acc[c] = vf_fma(vf_set1(wp[k * SC_COB + c]), v, acc[c]);
                }
                float *yr = y + (size_t)co * plane_out + ox0 + v0;
                vmask keep = vmask_range(0, len);
                for (int c = 0; c < cn; c++, yr += plane_out) {
                    vf v = s->relu ? vf_max(acc[c], vf_zero()) : acc[c];
                    if (len == VL)
                        vf_storeu(yr, v);
                    else
                        vf_mask_storeu(yr, keep, v);
                }
            }
        }
    }
}

static void KS(small_cin_forward)(const nn_conv2d_shape *s, const float *x, const float *wp,
                                  const float *b, float *y) {
    KS(sc_job) J = {s, x, wp, b, y};
    nn_parallel_for(s->n * s->hout, KS(small_cin_row), &J);
}

/* ------------------------------------------------------- the three kernels */

static KS(geom) KS(x_geom)(const nn_conv2d_shape *s, const float *x) {
    return (KS(geom)){.src = x, .h = s->h, .w = s->w, .kh = s->kh, .kw = s->kw,
                      .sh = s->stride_h, .sw = s->stride_w, .ph = s->pad_h, .pw = s->pad_w,
                      .dh = s->dil_h, .dw = s->dil_w, .hout = s->hout, .wout = s->wout};
}

#include "winograd_simd.h"

/* The last resort when scratch memory is short and only packed weights are
 * at hand: the reference loop, reading each weight from its panel. */
static void KS(forward_panels_scalar)(const nn_conv2d_shape *s, const float *x,
                                      const float *packed, const float *b, float *y) {
    int cin_g = s->cin / s->groups, cout_g = s->cout / s->groups, taps = s->kh * s->kw;
    int k = cin_g * taps;
    size_t per_group = KS(packed_floats_for)(s, cout_g, k) / s->groups;
    for (int n = 0; n < s->n; n++)
        for (int co = 0; co < s->cout; co++) {
            int g = co / cout_g, m = co % cout_g;
            const float *panel = packed + g * per_group + (size_t)(m / MR) * k * MR + m % MR;
            for (int oy = 0; oy < s->hout; oy++)
                for (int ox = 0; ox < s->wout; ox++) {
                    float acc = b ? b[co] : 0.0f;
                    for (int kk = 0; kk < k; kk++) {
                        int ci = kk / taps, ky = kk % taps / s->kw, kx = kk % s->kw;
                        int iy = oy * s->stride_h - s->pad_h + ky * s->dil_h;
                        int ix = ox * s->stride_w - s->pad_w + kx * s->dil_w;
                        if (iy < 0 || iy >= s->h || ix < 0 || ix >= s->w) continue;
                        acc += panel[(size_t)kk * MR] *
                               x[(((size_t)n * s->cin + g * cin_g + ci) * s->h + iy) * s->w + ix];
                    }
                    if (s->relu && acc < 0.0f) acc = 0.0f;
                    y[(((size_t)n * s->cout + co) * s->hout + oy) * s->wout + ox] = acc;
                }
        }
}

static bool KS(is_depthwise)(const nn_conv2d_shape *s) {
    return s->cin == s->groups && s->cout == s->groups;
}

/* Forward with the weights packed already (packed != NULL) or not. */
static void KS(forward_with)(const nn_conv2d_shape *s, const float *x, const float *w,
                             const float *packed, const float *b, float *y) {
    int cin_g = s->cin / s->groups, cout_g = s->cout / s->groups;
    if (KS(small_cin_ok)(s)) {
        float *own = packed ? NULL
                            : nn_scratch_get(s->scratch, KS_SLOT_WEIGHTS,
                                             sizeof(float) * KS(small_cin_packed_floats)(s));
        if (packed || own) {
            if (own) KS(small_cin_pack)(s, w, own);
            KS(small_cin_forward)(s, x, packed ? packed : own, b, y);
            nn_scratch_release(s->scratch, own);
            return;
        }
        /* no memory for a few KB of weights: the reference kernel below */
        nn_kernels_reference.conv2d_forward(s, x, w, b, y);
        return;
    }
    if (KS(is_depthwise)(s)) { /* packed weights of a depthwise conv are w itself */
        KS(dw_job) J = {s, x, packed ? packed : w, b, y};
        nn_parallel_for(s->n * s->cout, KS(depthwise_plane), &J);
        return;
    }
    /* Packed weights hold Winograd's U when a single image would use it
     * (KS(conv2d_packed_floats)), whatever the batch of this call. */
    int tile = KS(wg_fwd_tile)(s, packed ? 1 : s->n, packed != NULL);
    if (tile) {
        int m, k;
        float *u = packed ? NULL : KS(wg_weights)(s, w, tile, false, &m, &k, NULL);
        if (packed) m = s->cout, k = s->cin;
        bool done = (packed || u) &&
                    KS(wg_run)(tile, x, s->n, s->cin, s->h, s->w, s->pad_h, s->pad_w,
                               packed ? packed : u, m, s->hout, s->wout, y, b, s->relu, false,
                               s->scratch);
        nn_scratch_release(s->scratch, u);
        if (done) return;
        if (packed) { /* no memory for the Winograd buffers */
            KS(forward_wg_scalar)(s, x, packed, tile, b, y);
            return;
        }
    }
    int taps = s->kh * s->kw, p = s->hout * s->wout;
    KS(gemm_job) J = {
        .m = cout_g, .k = cin_g * taps, .p = p, .batch = s->n, .groups = s->groups,
        .bgeom = KS(x_geom)(s, x),
        .b_image = (size_t)s->cin * s->h * s->w, .b_group = (size_t)cin_g * s->h * s->w,
        .c = y, .c_image = (size_t)s->cout * p, .c_group = (size_t)cout_g * p, .ldc = p,
        .bias = b, .relu = s->relu, .mode = KS_OUT_STORE, .ws = s->scratch,
    };
    float *own = packed ? NULL : KS(pack_weights)(s, w, KS_A_ROWS, J.m, J.k, NULL);
    J.apack = packed ? packed : own;
    bool ok = J.apack && (KS(direct_ok)(&J.bgeom, s->cin) ? KS(gemm_direct)(&J, x, s->cin)
                                                  : KS(gemm_packed)(&J, 1, true));
    nn_scratch_release(s->scratch, own);
    if (!ok && packed) /* no scratch memory, and only panels: a scalar loop over them */
        KS(forward_panels_scalar)(s, x, packed, b, y);
    else if (!ok)
        nn_kernels_reference.conv2d_forward(s, x, w, b, y);
}

static void KS(conv2d_forward)(const nn_conv2d_shape *s, const float *x, const float *w,
                               const float *b, float *y) {
    KS(forward_with)(s, x, w, NULL, b, y);
}

/* Packed weights: w itself for depthwise, Winograd's U when one image
 * would use Winograd, GEMM panels otherwise. Valid for any batch size. */
static size_t KS(conv2d_packed_floats)(const nn_conv2d_shape *s) {
    int taps = s->kh * s->kw;
    if (KS(small_cin_ok)(s)) return KS(small_cin_packed_floats)(s);
    if (KS(is_depthwise)(s)) return (size_t)s->cout * taps;
    int tile = KS(wg_fwd_tile)(s, 1, true);
    if (tile) return KS(wg_xis)(tile) * KS(wg_a_xi)(s->cout, s->cin);
    return KS(packed_floats_for)(s, s->cout / s->groups, s->cin / s->groups * taps);
}

static void KS(conv2d_pack_weights)(const nn_conv2d_shape *s, const float *w, float *packed) {
    int taps = s->kh * s->kw;
    if (KS(small_cin_ok)(s)) {
        KS(small_cin_pack)(s, w, packed);
        return;
    }
    if (KS(is_depthwise)(s)) {
        memcpy(packed, w, sizeof(float) * s->cout * taps);
        return;
    }
    int tile = KS(wg_fwd_tile)(s, 1, true);
    if (tile) {
        int m, k;
        KS(wg_weights)(s, w, tile, false, &m, &k, packed);
        return;
    }
    KS(pack_weights)(s, w, KS_A_ROWS, s->cout / s->groups, s->cin / s->groups * taps, packed);
}

static void KS(conv2d_forward_packed)(const nn_conv2d_shape *s, const float *x,
                                      const float *packed, const float *b, float *y) {
    KS(forward_with)(s, x, NULL, packed, b, y);
}

/* Winograd backward data over a batch with a few images per thread: each
 * task runs whole chunks of images (its own V and M; the transforms and
 * GEMMs inside run serially, nested calls being serial). A split run has
 * three barriers per band, which cost more on two threads than they save
 * when there are images enough to share out. */
typedef struct {
    const nn_conv2d_shape *s;
    const float *dy, *w, *u;
    float *dx;
    int tile, m, fph, fpw, chunk, tasks;
} KS(bwd_wg_job);

static void KS(bwd_wg_task)(void *arg, int task) {
    KS(bwd_wg_job) *J = arg;
    const nn_conv2d_shape *s = J->s;
    /* Chunks dealt round-robin, not from a counter: every task then has work
     * at every call, so each child workspace is sized by the first call
     * (with a counter, a task that found none left would allocate later). */
    for (int c = task; c * J->chunk < s->n; c += J->tasks) {
        int n0 = c * J->chunk, count = ks_min(J->chunk, s->n - n0);
        const float *dyc = J->dy + (size_t)n0 * s->cout * s->hout * s->wout;
        float *dxc = J->dx + (size_t)n0 * s->cin * s->h * s->w;
        /* tasks run side by side: each with a workspace of its own */
        if (!KS(wg_run)(J->tile, dyc, count, s->cout, s->hout, s->wout, J->fph, J->fpw, J->u, J->m, s->h,
                        s->w, dxc, NULL, false, true, nn_scratch_child(s->scratch, task))) {
            nn_conv2d_shape part = *s; /* no memory for the buffers: these images the slow way */
            part.n = count;
            nn_kernels_reference.conv2d_backward_data(&part, dyc, J->w, dxc);
        }
    }
}

static void KS(conv2d_backward_data)(const nn_conv2d_shape *s, const float *dy, const float *w,
                                     float *dx) {
    int cin_g = s->cin / s->groups, cout_g = s->cout / s->groups, taps = s->kh * s->kw;
    int po = s->hout * s->wout, pi = s->h * s->w;
    /* Stride 1: dx is a forward convolution of dy with the flipped kernel and
     * padding d*(k-1) - p, which lands exactly on the input size. */
    int fph = s->dil_h * (s->kh - 1) - s->pad_h, fpw = s->dil_w * (s->kw - 1) - s->pad_w;
    if (KS(wg_ok)(s) && fph >= 0 && fpw >= 0) {
        int m, k, tile = KS(wg_bwd_tile)(s);
        float *u = KS(wg_weights)(s, w, tile, true, &m, &k, NULL);
        int threads = nn_threads_get();
        if (u && threads > 1 && s->n >= 2 * threads) {
            KS(bwd_wg_job) B = {.s = s, .dy = dy, .w = w, .u = u, .dx = dx, .tile = tile,
                                .m = m, .fph = fph,
                                .fpw = fpw, .chunk = ks_cdiv(s->n, 4 * threads),
                                .tasks = threads};
            nn_scratch_reserve_children(s->scratch, threads); /* else they allocate per call */
            nn_parallel_for(threads, KS(bwd_wg_task), &B);
            nn_scratch_release(s->scratch, u);
            return;
        }
        bool done = u && KS(wg_run)(tile, dy, s->n, s->cout, s->hout, s->wout, fph, fpw, u, m, s->h,
                                    s->w, dx, NULL, false, true, s->scratch);
        nn_scratch_release(s->scratch, u);
        if (done) return;
    }
    bool as_forward = s->stride_h == 1 && s->stride_w == 1 && fph >= 0 && fpw >= 0 &&
                      s->hout + 2 * fph - s->dil_h * (s->kh - 1) == s->h &&
                      s->wout + 2 * fpw - s->dil_w * (s->kw - 1) == s->w;
    KS(gemm_job) J = {.batch = s->n, .groups = s->groups, .c = dx,
                      .c_image = (size_t)s->cin * pi, .c_group = (size_t)cin_g * pi,
                      .b_image = (size_t)s->cout * po, .b_group = (size_t)cout_g * po,
                      .ws = s->scratch};
    float *apack;
    bool ok;
    if (as_forward) {
        J.m = cin_g;
        J.k = cout_g * taps;
        J.p = pi;
        J.ldc = pi;
        J.mode = KS_OUT_ACCUMULATE;
        J.bgeom = (KS(geom)){.src = dy, .h = s->hout, .w = s->wout, .kh = s->kh, .kw = s->kw,
                             .sh = 1, .sw = 1, .ph = fph, .pw = fpw, .dh = s->dil_h,
                             .dw = s->dil_w, .hout = s->h, .wout = s->w};
        apack = KS(pack_weights)(s, w, KS_A_FLIP, J.m, J.k, NULL);
        J.apack = apack;
        ok = apack && (KS(direct_ok)(&J.bgeom, s->cout) ? KS(gemm_direct)(&J, dy, s->cout)
                                               : KS(gemm_packed)(&J, 1, true));
    } else {
        J.m = cin_g * taps;
        J.k = cout_g;
        J.p = po;
        J.mode = KS_OUT_COL2IM;
        /* dy rows read as a 1x1 "window" over one long row of pixels */
        J.bgeom = (KS(geom)){.src = dy, .h = 1, .w = po, .kh = 1, .kw = 1, .sh = 1, .sw = 1,
                             .dh = 1, .dw = 1, .hout = 1, .wout = po};
        J.cgeom = KS(x_geom)(s, NULL);
        apack = KS(pack_weights)(s, w, KS_A_COLS, J.m, J.k, NULL);
        J.apack = apack;
        /* row chunks of whole channels: a multiple of taps and of MR rows */
        ok = apack && KS(gemm_packed)(&J, taps, false);
    }
    if (!ok) nn_kernels_reference.conv2d_backward_data(s, dy, w, dx);
    nn_scratch_release(s->scratch, apack);
}

/* dW tile: acc[i][j] = sum over pixels of dy row i * col row j. */
typedef struct {
    const nn_conv2d_shape *s;
    const float *x, *dy;
    float *dw, *db;
    int k, k_chunk, k_chunks;
    atomic_int next;
    float *scratch; /* per task: a packed block of col rows */
    KS(seg) *segs;  /* per task */
} KS(bw_job);

static inline __attribute__((always_inline)) void
KS(dot_tile)(const float *const *arows, const float *const *brows, int len, float *out, int ldo,
             const int mm, const int nn) {
    vf acc[DOT_M][DOT_N];
#pragma GCC unroll 8
    for (int i = 0; i < DOT_M; i++)
#pragma GCC unroll 8
        for (int j = 0; j < DOT_N; j++) acc[i][j] = vf_zero();
    int l = 0;
    for (; l + VL <= len; l += VL) {
        vf av[DOT_M];
#pragma GCC unroll 8
        for (int i = 0; i < DOT_M; i++) av[i] = i < mm ? vf_loadu(arows[i] + l) : vf_zero();
#pragma GCC unroll 8
        for (int j = 0; j < DOT_N; j++) {
            if (j >= nn) continue;
            vf bv = vf_load(brows[j] + l);
#pragma GCC unroll 8
            for (int i = 0; i < DOT_M; i++)
                if (i < mm) acc[i][j] = vf_fma(av[i], bv, acc[i][j]);
        }
    }
    if (l < len) {
        vmask m = vmask_range(0, len - l);
        vf av[DOT_M];
#pragma GCC unroll 8
        for (int i = 0; i < DOT_M; i++) av[i] = i < mm ? vf_maskz_loadu(arows[i] + l, m) : vf_zero();
#pragma GCC unroll 8
        for (int j = 0; j < DOT_N; j++) {
            if (j >= nn) continue;
            vf bv = vf_load(brows[j] + l); /* zero-padded */
#pragma GCC unroll 8
            for (int i = 0; i < DOT_M; i++)
                if (i < mm) acc[i][j] = vf_fma(av[i], bv, acc[i][j]);
        }
    }
#pragma GCC unroll 8
    for (int i = 0; i < DOT_M; i++)
#pragma GCC unroll 8
        for (int j = 0; j < DOT_N; j++)
            if (i < mm && j < nn) out[(size_t)i * ldo + j] += vf_hsum(acc[i][j]);
}

static void KS(dot_full)(const float *const *a, const float *const *b, int len, float *out,
                         int ldo) {
    KS(dot_tile)(a, b, len, out, ldo, DOT_M, DOT_N);
}
static void KS(dot_edge)(const float *const *a, const float *const *b, int len, float *out,
                         int ldo, int mm, int nn) {
    KS(dot_tile)(a, b, len, out, ldo, mm, nn);
}

static void KS(bw_item)(KS(bw_job) *J, int item, float *cbuf, KS(seg) *segs) {
    const nn_conv2d_shape *s = J->s;
    int cin_g = s->cin / s->groups, cout_g = s->cout / s->groups;
    int kci = item % J->k_chunks, g = item / J->k_chunks;
    int k0 = kci * J->k_chunk, k1 = ks_min(J->k, k0 + J->k_chunk), kn = k1 - k0;
    if (kn <= 0) return;
    int p = s->hout * s->wout;
    float *dw = J->dw + (size_t)g * cout_g * J->k;
    for (int n = 0; n < s->n; n++) {
        KS(geom) xg = KS(x_geom)(s, J->x + ((size_t)n * s->cin + (size_t)g * cin_g) * s->h * s->w);
        const float *dyg = J->dy + ((size_t)n * s->cout + (size_t)g * cout_g) * p;
        if (kci == 0 && J->db) {
            for (int co = 0; co < cout_g; co++) {
                const float *r = dyg + (size_t)co * p;
                vf acc = vf_zero();
                int l = 0;
                for (; l + VL <= p; l += VL) acc = vf_add(acc, vf_loadu(r + l));
                if (l < p) acc = vf_add(acc, vf_maskz_loadu(r + l, vmask_range(0, p - l)));
                J->db[g * cout_g + co] += vf_hsum(acc);
            }
        }
        for (int pb = 0; pb < p; pb += PB) {
            int len = ks_min(PB, p - pb), ld = ks_cdiv(len, VL) * VL;
            KS(pack_col)(&xg, k0, kn, pb, len, 0, ld, cbuf, NULL, segs);
            for (int co = 0; co < cout_g; co += DOT_M) {
                int mm = ks_min(DOT_M, cout_g - co);
                const float *arows[DOT_M];
                for (int i = 0; i < DOT_M; i++)
                    arows[i] = dyg + (size_t)(co + ks_min(i, mm - 1)) * p + pb;
                for (int kk = 0; kk < kn; kk += DOT_N) {
                    int nn = ks_min(DOT_N, kn - kk);
                    const float *brows[DOT_N];
                    for (int j = 0; j < DOT_N; j++)
                        brows[j] = cbuf + (size_t)(kk + ks_min(j, nn - 1)) * ld;
                    float *out = dw + (size_t)co * J->k + k0 + kk;
                    if (mm == DOT_M && nn == DOT_N)
                        KS(dot_full)(arows, brows, len, out, J->k);
                    else
                        KS(dot_edge)(arows, brows, len, out, J->k, mm, nn);
                }
            }
        }
    }
}

#define KS_BW_SEGS (PB + 2)

static void KS(bw_task)(void *arg, int task) {
    KS(bw_job) *J = arg;
    float *cbuf = J->scratch + (size_t)task * J->k_chunk * (PB + VL);
    KS(seg) *segs = J->segs + (size_t)task * KS_BW_SEGS;
    int items = J->s->groups * J->k_chunks, i;
    while ((i = atomic_fetch_add(&J->next, 1)) < items) KS(bw_item)(J, i, cbuf, segs);
}

/* ------------------------------------ backward weights: the outer product */

/* dW as a GEMM whose reduction runs over pixels, blocked like the forward:
 *
 *   dWt[k][co] += sum_p col(x)[k][p] * dY[co][p]
 *
 * The micro-kernel keeps an MR (k rows) x NR (output channels) tile in
 * registers: per pixel it loads NR channels of dY (transposed beforehand to
 * [pixel][NR] panels) and broadcasts MR values of col(x). Those MR values
 * are consecutive floats when x is copied to an HWC block (a few input rows,
 * padding made real, a slice of cs channels innermost): for one kernel row
 * ky the taps (kx, c) sit side by side (when the column dilation is 1), so
 * one pointer serves all MR broadcasts. A "panel" is MR such consecutive
 * elements u = kx*cs + c of kernel row ky (one kx per span when dw > 1).
 *
 * Work: pixel blocks of a few output rows. Per block, x rows go to the HWC
 * copy and dY to the transposed panels (summing db on the way); then every
 * (co panel, k panel) runs the micro-kernel over the block's pixels and
 * adds its tile to a dWt accumulator ([G][K][cout_pad], summed into dW with
 * a transpose at the end). Each block adds into all of its accumulator, so
 * that must stay in L2:
 *   small accumulator  items are (image, group, pixel block) and each task
 *                      owns an accumulator; they are summed at the end.
 *                      Items are dealt to tasks round-robin, not from a
 *                      counter: which items a sum holds then never depends
 *                      on timing, so dW is the same bit for bit in every
 *                      run with the same thread count;
 *   large one          items are (group, channel slice), each looping over
 *                      all images and pixels into the task's accumulator
 *                      for that slice's rows, added to dW when the item
 *                      ends (dY is transposed again per slice: cheap next
 *                      to the slice's arithmetic). */

typedef struct {
    const nn_conv2d_shape *s;
    const float *x, *dy;
    float *dw, *db;
    int cin_g, cout_g, k, taps;
    int cout_pad, co_panels;  /* output channels rounded up to NR, NR per panel */
    int rows_per_block, blocks; /* output rows per pixel block, blocks per image */
    int rows_in, wp;          /* HWC block: input rows, padded width */
    bool sliced;              /* items are channel slices (see above) */
    int slice_c, slices;      /* channels per slice, slices per group */
    int items, tasks;
    atomic_int next;          /* the next item (sliced: each item writes its own rows of dW) */
    size_t acc_floats;        /* a task's accumulator: G*K or slice_c*taps rows of cout_pad */
    size_t task_floats;       /* per task: HWC block, dY panels, db sums, accumulator */
    size_t bt_off, db_off, acc_off; /* where those start in a task's scratch */
    float *scratch;
} KS(bwo_job);

/* One tile: out rows orow[r] (r < mr), NR channels each, += sum over the
 * block's pixels of xb[r] (shifted per pixel) * the dY panel row. */
static inline __attribute__((always_inline)) void
KS(bwo_body)(const float *xb, int rows, int row_step, int wout, int col_step,
             const float *restrict bt, float *out, const int *orow, const int mr) {
    vf acc[MR][NRV];
    KS(tile_zero)(acc, mr);
    for (int oy = 0; oy < rows; oy++) {
        const float *xp = xb + (size_t)oy * row_step;
        for (int ox = 0; ox < wout; ox++, xp += col_step, bt += NR) {
            vf bv[NRV];
#pragma GCC unroll 4
            for (int j = 0; j < NRV; j++) bv[j] = vf_load(bt + j * VL);
            KS(tile_fma)(acc, xp, bv, mr);
        }
    }
#pragma GCC unroll 16
    for (int r = 0; r < MR; r++) {
        if (r >= mr) continue;
        float *o = out + orow[r];
#pragma GCC unroll 4
        for (int j = 0; j < NRV; j++) vf_storeu(o + j * VL, vf_add(vf_loadu(o + j * VL), acc[r][j]));
    }
}

#define KS_BWO(R)                                                                              \
    static void KS(bwo_uk_##R)(const float *xb, int rows, int row_step, int wout, int col_step, \
                               const float *bt, float *out, const int *orow) {                 \
        KS(bwo_body)(xb, rows, row_step, wout, col_step, bt, out, orow, R);                   \
    }
KS_BWO(1) KS_BWO(2) KS_BWO(3) KS_BWO(4) KS_BWO(5) KS_BWO(6)
#if MR > 6
KS_BWO(7) KS_BWO(8) KS_BWO(9) KS_BWO(10) KS_BWO(11) KS_BWO(12) KS_BWO(13) KS_BWO(14)
#endif

typedef void (*KS(bwo_fn))(const float *, int, int, int, int, const float *, float *, const int *);
static const KS(bwo_fn) KS(bwo_uks)[MR + 1] = {
    NULL, KS(bwo_uk_1), KS(bwo_uk_2), KS(bwo_uk_3), KS(bwo_uk_4), KS(bwo_uk_5), KS(bwo_uk_6),
#if MR > 6
    KS(bwo_uk_7), KS(bwo_uk_8), KS(bwo_uk_9), KS(bwo_uk_10), KS(bwo_uk_11), KS(bwo_uk_12),
    KS(bwo_uk_13), KS(bwo_uk_14),
#endif
};

/* r[i][c] -> r[c][i] for a VL x VL tile held in VL vectors (the one
 * ISA-specific piece here: shuffles have no place in the vocabulary). */
static inline void KS(transpose_tile)(vf r[VL]) {
    vf t[VL];
    for (int i = 0; i < VL; i += 2) {
#if VL == 16
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
#else
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
#endif
    }
    /* u[4g+q], 128-bit lane L: column 4L+q of rows 4g..4g+3 */
    vf u[VL];
    for (int g = 0; g < VL / 4; g++) {
#if VL == 16
        u[4 * g + 0] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0x44);
        u[4 * g + 1] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0xEE);
        u[4 * g + 2] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);
        u[4 * g + 3] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xEE);
#else
        u[4 * g + 0] = _mm256_shuffle_ps(t[4 * g], t[4 * g + 2], 0x44);
        u[4 * g + 1] = _mm256_shuffle_ps(t[4 * g], t[4 * g + 2], 0xEE);
        u[4 * g + 2] = _mm256_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);
        u[4 * g + 3] = _mm256_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xEE);
#endif
    }
    /* column 4L+q gathers lane L of u[q], u[4+q], ... */
    for (int q = 0; q < 4; q++) {
#if VL == 16
        vf v1 = _mm512_shuffle_f32x4(u[q], u[4 + q], 0x88), v2 = _mm512_shuffle_f32x4(u[q], u[4 + q], 0xDD);
        vf w1 = _mm512_shuffle_f32x4(u[8 + q], u[12 + q], 0x88);
        vf w2 = _mm512_shuffle_f32x4(u[8 + q], u[12 + q], 0xDD);
        r[q] = _mm512_shuffle_f32x4(v1, w1, 0x88);
        r[8 + q] = _mm512_shuffle_f32x4(v1, w1, 0xDD);
        r[4 + q] = _mm512_shuffle_f32x4(v2, w2, 0x88);
        r[12 + q] = _mm512_shuffle_f32x4(v2, w2, 0xDD);
#else
        r[q] = _mm256_permute2f128_ps(u[q], u[4 + q], 0x20);
        r[4 + q] = _mm256_permute2f128_ps(u[q], u[4 + q], 0x31);
#endif
    }
}

/* dst[c*ld + i] = src[i*stride + c] for i < ni rows and c < nc columns
 * (ni, nc <= VL): a tile of rows read with masked loads, transposed. Rows
 * past ni read as zero; dst gets nc vectors of VL (all lanes written). */
static inline __attribute__((always_inline)) void KS(transpose_copy)(float *dst, size_t ld, const float *src, size_t stride,
                                      int ni, int nc) {
    vf r[VL];
    vmask m = vmask_range(0, nc);
    for (int i = 0; i < VL; i++) {
        /* the rows are planes apart: too many streams for the hardware
         * prefetcher, so ask for the tile after next */
        if (i < ni) __builtin_prefetch(src + i * stride + 2 * VL);
        r[i] = i < ni ? (nc == VL ? vf_loadu(src + i * stride) : vf_maskz_loadu(src + i * stride, m))
                      : vf_zero();
    }
    KS(transpose_tile)(r);
    for (int c = 0; c < nc; c++) vf_storeu(dst + c * ld, r[c]);
}

/* Row iy of a channels-last copy with its padding made real: wp columns of
 * cs floats at d. Zeroes the padding columns (or the whole row when iy is a
 * padding row, returning NULL) and returns where input column 0 goes. */
static float *KS(padded_row_cl)(float *d, int iy, const nn_conv2d_shape *s, int wp, int cs) {
    if (iy < 0 || iy >= s->h) {
        memset(d, 0, sizeof(float) * wp * cs);
        return NULL;
    }
    memset(d, 0, sizeof(float) * s->pad_w * cs);
    memset(d + (size_t)(s->pad_w + s->w) * cs, 0, sizeof(float) * (wp - s->pad_w - s->w) * cs);
    return d + (size_t)s->pad_w * cs;
}

/* Input rows of output rows [oy0, oy0+rows) of image n, channels [c0, c0+cs)
 * of group g, as HWC: xb[(iy*wp + ix)*cs + c], zero in the padding. */
static void KS(bwo_pack_x)(const KS(bwo_job) *J, int n, int g, int c0, int cs, int oy0, int rows,
                           float *xb) {
    const nn_conv2d_shape *s = J->s;
    int rows_in = (rows - 1) * s->stride_h + (s->kh - 1) * s->dil_h + 1, plane = s->h * s->w;
    const float *xg = J->x + ((size_t)n * s->cin + (size_t)g * J->cin_g + c0) * plane;
    for (int r = 0; r < rows_in; r++) {
        int iy = oy0 * s->stride_h - s->pad_h + r;
        float *dp = KS(padded_row_cl)(xb + (size_t)r * J->wp * cs, iy, s, J->wp, cs);
        if (!dp) continue;
        const float *src = xg + (size_t)iy * s->w;
        int c = 0;
        /* whole vectors of channels: VL x VL tiles (channels x pixels) */
        for (; c + VL <= cs; c += VL)
            for (int ix = 0; ix < s->w; ix += VL)
                KS(transpose_copy)(dp + (size_t)ix * cs + c, cs, src + (size_t)c * plane + ix,
                                   plane, VL, ks_min(VL, s->w - ix));
        for (; c < cs; c++) /* the rest one channel at a time */
            for (int ix = 0; ix < s->w; ix++) dp[(size_t)ix * cs + c] = src[(size_t)c * plane + ix];
    }
}

/* dY of pixels [p0, p0+np) of image n, group g, as panels bt[cp][p][NR]
 * (zero past cout_g); adds each channel's sum to dbsum[co] when asked. */
static void KS(bwo_pack_dy)(const KS(bwo_job) *J, int n, int g, int p0, int np, float *bt,
                            float *dbsum) {
    const nn_conv2d_shape *s = J->s;
    int plane = s->hout * s->wout;
    const float *dyg = J->dy + ((size_t)n * s->cout + (size_t)g * J->cout_g) * plane + p0;
    for (int cp = 0; cp < J->co_panels; cp++) {
        float *d = bt + (size_t)cp * np * NR;
        for (int j = 0; j < NRV; j++) {
            int co = cp * NR + j * VL, lanes = ks_max(0, ks_min(VL, J->cout_g - co));
            for (int p = 0; p < np; p += VL)
                KS(transpose_copy)(d + (size_t)p * NR + j * VL, NR, dyg + (size_t)co * plane + p,
                                   plane, lanes, ks_min(VL, np - p));
            if (dbsum && lanes) {
                vf sum = vf_zero();
                for (int p = 0; p < np; p++) sum = vf_add(sum, vf_load(d + (size_t)p * NR + j * VL));
                vf_storeu(dbsum + co, vf_add(vf_loadu(dbsum + co), sum));
            }
        }
    }
}

/* Every k panel of channels [c0, c0+cs) over one packed block, into acc:
 * accumulator rows from k = k_base of the group. */
static void KS(bwo_block)(const KS(bwo_job) *J, int c0, int cs, int rows, const float *xb,
                          const float *bt, float *acc, int k_base) {
    const nn_conv2d_shape *s = J->s;
    int np = rows * s->wout, row_step = s->stride_h * J->wp * cs, col_step = s->stride_w * cs;
    /* spans: one per kernel row (dw == 1: its taps side by side), else per tap */
    int spans_per_ky = s->dil_w == 1 ? 1 : s->kw, u_len = s->dil_w == 1 ? s->kw * cs : cs;
    for (int cp = 0; cp < J->co_panels; cp++) {
        const float *btp = bt + (size_t)cp * np * NR;
        for (int span = 0; span < s->kh * spans_per_ky; span++) {
            int ky = span / spans_per_ky, kx0 = span % spans_per_ky;
            const float *xs = xb + (size_t)ky * s->dil_h * J->wp * cs + kx0 * s->dil_w * cs;
            for (int u0 = 0; u0 < u_len; u0 += MR) {
                int mr = ks_min(MR, u_len - u0), orow[MR];
                for (int r = 0; r < mr; r++) {
                    int u = u0 + r, kx = kx0 + u / cs, c = c0 + u % cs;
                    orow[r] = (c * J->taps + ky * s->kw + kx - k_base) * J->cout_pad + cp * NR;
                }
                KS(bwo_uks)[mr](xs + u0, rows, row_step, s->wout, col_step, btp, acc, orow);
            }
        }
    }
}

/* dW[g][co][k0 + i] += acc[i][co] for i < nk: a transpose through 16 x 16
 * tiles, so that both sides are read and written in rows. */
static void KS(bwo_add_transposed)(const KS(bwo_job) *J, int g, int k0, int nk, const float *acc) {
    float tile[16][16]; /* [k][co] */
    for (int co0 = 0; co0 < J->cout_g; co0 += 16) {
        int nco = ks_min(16, J->cout_g - co0);
        for (int i0 = 0; i0 < nk; i0 += 16) {
            int ni = ks_min(16, nk - i0);
            for (int i = 0; i < ni; i++)
                for (int h = 0; h < nco; h += VL)
                    vf_storeu(&tile[i][h], vf_loadu(acc + (size_t)(i0 + i) * J->cout_pad + co0 + h));
            for (int c = 0; c < nco; c++) {
                float *d = J->dw + ((size_t)g * J->cout_g + co0 + c) * J->k + k0 + i0;
                for (int i = 0; i < ni; i++) d[i] += tile[i][c];
            }
        }
    }
}

static void KS(bwo_task)(void *arg, int task) {
    KS(bwo_job) *J = arg;
    const nn_conv2d_shape *s = J->s;
    float *xb = J->scratch + (size_t)task * J->task_floats;
    float *bt = xb + J->bt_off, *dbsum = xb + J->db_off, *acc = xb + J->acc_off;
    /* sliced: from the counter; else round-robin (see the comment above bwo_job) */
    int item = J->sliced ? atomic_fetch_add(&J->next, 1) : task;
    for (; item < J->items; item = J->sliced ? atomic_fetch_add(&J->next, 1) : item + J->tasks) {
        if (J->sliced) { /* item = (group, channel slice), all images and pixels */
            int g = item / J->slices, sl = item % J->slices;
            int c0 = sl * J->slice_c, cs = ks_min(J->slice_c, J->cin_g - c0);
            memset(acc, 0, sizeof(float) * (size_t)cs * J->taps * J->cout_pad);
            for (int n = 0; n < s->n; n++)
                for (int b = 0; b < J->blocks; b++) {
                    int oy0 = b * J->rows_per_block, rows = ks_min(J->rows_per_block, s->hout - oy0);
                    KS(bwo_pack_x)(J, n, g, c0, cs, oy0, rows, xb);
                    KS(bwo_pack_dy)(J, n, g, oy0 * s->wout, rows * s->wout, bt,
                                    sl == 0 ? dbsum + (size_t)g * J->cout_pad : NULL);
                    KS(bwo_block)(J, c0, cs, rows, xb, bt, acc, c0 * J->taps);
                }
            KS(bwo_add_transposed)(J, g, c0 * J->taps, cs * J->taps, acc);
        } else { /* item = (image, group, pixel block) */
            int b = item % J->blocks, g = item / J->blocks % s->groups;
            int n = item / J->blocks / s->groups;
            int oy0 = b * J->rows_per_block, rows = ks_min(J->rows_per_block, s->hout - oy0);
            KS(bwo_pack_x)(J, n, g, 0, J->cin_g, oy0, rows, xb);
            KS(bwo_pack_dy)(J, n, g, oy0 * s->wout, rows * s->wout, bt,
                            dbsum + (size_t)g * J->cout_pad);
            KS(bwo_block)(J, 0, J->cin_g, rows, xb, bt, acc + (size_t)g * J->k * J->cout_pad, 0);
        }
    }
}

typedef struct {
    KS(bwo_job) *J;
    int tasks;
} KS(bwo_sum_job);

/* Per-task accumulators: dW[g][co][k] += sum over tasks of dWt[g][k][co],
 * for 16 channels of one group, through 16 x 16 tiles as above. */
static void KS(bwo_sum)(void *arg, int index) {
    KS(bwo_sum_job) *S = arg;
    KS(bwo_job) *J = S->J;
    int blocks = ks_cdiv(J->cout_g, 16), g = index / blocks, co0 = index % blocks * 16;
    int nco = ks_min(16, J->cout_g - co0);
    int accs = S->tasks;
    float tile[16][16]; /* [k][co] */
    for (int k0 = 0; k0 < J->k; k0 += 16) {
        int nk = ks_min(16, J->k - k0);
        memset(tile, 0, sizeof tile);
        for (int t = 0; t < accs; t++) {
            const float *acc = J->scratch + (size_t)t * J->task_floats + J->acc_off;
            const float *a = acc + ((size_t)g * J->k + k0) * J->cout_pad + co0;
            for (int h = 0; h < 16; h += VL) /* one or two vectors of channels */
                for (int i = 0; i < nk && h < nco; i++)
                    vf_storeu(&tile[i][h],
                              vf_add(vf_loadu(&tile[i][h]),
                                     vf_maskz_loadu(a + (size_t)i * J->cout_pad + h,
                                                    vmask_range(0, ks_min(VL, nco - h)))));
        }
        for (int c = 0; c < nco; c++) {
            float *d = J->dw + ((size_t)g * J->cout_g + co0 + c) * J->k + k0;
            for (int i = 0; i < nk; i++) d[i] += tile[i][c];
        }
    }
}

/* Returns false (nothing written) when the shape does not suit this path or
 * memory is short. */
static bool KS(backward_weights_outer)(const nn_conv2d_shape *s, const float *x, const float *dy,
                                       float *dw, float *db) {
    int cin_g = s->cin / s->groups, cout_g = s->cout / s->groups, taps = s->kh * s->kw;
    /* Worth it when the NR lanes of a panel are at least half used; the
     * gathers index whole planes with ints. */
    if (cout_g * 2 < NR) return false;
    if ((double)s->cout * s->hout * s->wout >= INT_MAX || (double)s->cin * s->h * s->w >= INT_MAX)
        return false;
    KS(bwo_job) J = {.s = s, .x = x, .dy = dy, .dw = dw, .db = db, .cin_g = cin_g,
                     .cout_g = cout_g, .k = cin_g * taps, .taps = taps};
    J.co_panels = ks_cdiv(cout_g, NR);
    J.cout_pad = J.co_panels * NR;
    /* A block of about 512 pixels, its dY panels within 512 KB (L2). */
    int rows = ks_max(1, ks_min(s->hout, ks_cdiv(512, s->wout)));
    while (rows > 1 && (size_t)J.cout_pad * rows * s->wout * sizeof(float) > 512 * 1024) rows--;
    J.rows_per_block = rows;
    J.blocks = ks_cdiv(s->hout, rows);
    J.rows_in = (rows - 1) * s->stride_h + (s->kh - 1) * s->dil_h + 1;
    J.wp = ks_max(s->w + 2 * s->pad_w, (s->wout - 1) * s->stride_w + (s->kw - 1) * s->dil_w + 1);
    /* offsets into a block and an accumulator are ints */
    if ((double)J.rows_in * J.wp * cin_g * s->stride_h >= INT_MAX ||
        (double)J.k * J.cout_pad >= INT_MAX)
        return false;
    int threads = nn_threads_get();
    size_t whole = (size_t)s->groups * J.k * J.cout_pad;
    /* accumulators up to 1 MB (half of L2) per task */
    size_t slice_floats = 256 * 1024;
    J.sliced = whole > slice_floats;
    J.slice_c = cin_g;
    J.slices = 1;
    J.acc_floats = whole;
    if (J.sliced) {
        int by_size = (int)((whole + slice_floats - 1) / slice_floats);
        int want = ks_max(by_size, ks_cdiv(threads > 1 ? 3 * threads : 1, s->groups));
        J.slice_c = ks_cdiv(cin_g, ks_min(cin_g, want));
        J.slices = ks_cdiv(cin_g, J.slice_c);
        J.items = s->groups * J.slices;
        J.acc_floats = (size_t)J.slice_c * taps * J.cout_pad;
    } else {
        J.items = s->n * s->groups * J.blocks;
    }
    /* per task: HWC block | dY panels | db sums | accumulator */
    J.bt_off = ((size_t)J.rows_in * J.wp * J.slice_c + 15) / 16 * 16;
    J.db_off = J.bt_off + (size_t)J.co_panels * rows * s->wout * NR;
    J.acc_off = J.db_off + (size_t)s->groups * J.cout_pad;
    J.task_floats = (J.acc_off + J.acc_floats + 15) / 16 * 16;
    int tasks = ks_min(threads, J.items);
    J.tasks = tasks;
    J.scratch = nn_scratch_get(s->scratch, KS_SLOT_TASKS, sizeof(float) * J.task_floats * tasks);
    if (!J.scratch) return false;
    for (int t = 0; t < tasks; t++) /* db sums and accumulators start at zero */
        memset(J.scratch + (size_t)t * J.task_floats + J.db_off, 0,
               sizeof(float) * (J.task_floats - J.db_off));
    atomic_store(&J.next, 0);
    nn_parallel_for(tasks, KS(bwo_task), &J);

    if (!J.sliced) {
        KS(bwo_sum_job) S = {&J, tasks};
        nn_parallel_for(s->groups * ks_cdiv(cout_g, 16), KS(bwo_sum), &S);
    }
    if (db)
        for (int t = 0; t < tasks; t++) {
            const float *dbsum = J.scratch + (size_t)t * J.task_floats + J.db_off;
            for (int g = 0; g < s->groups; g++)
                for (int co = 0; co < cout_g; co++)
                    db[g * cout_g + co] += dbsum[(size_t)g * J.cout_pad + co];
        }
    nn_scratch_release(s->scratch, J.scratch);
    return true;
}

#include "winograd_bw_simd.h"

static void KS(conv2d_backward_weights)(const nn_conv2d_shape *s, const float *x,
                                        const float *dy, float *dw, float *db) {
    /* Winograd where it applies and pays (winograd_tile 4 forces it, direct_only
     * rules it out: tests and benchmarks) */
    if (KS(wgb_applies)(s) && !s->direct_only && (s->winograd_tile == 4 || KS(wgb_pays)(s)) &&
        KS(backward_weights_winograd)(s, x, dy, dw, db))
        return;
    if (KS(backward_weights_outer)(s, x, dy, dw, db)) return;
    int cin_g = s->cin / s->groups, taps = s->kh * s->kw;
    KS(bw_job) J = {.s = s, .x = x, .dy = dy, .dw = dw, .db = db, .k = cin_g * taps};
    /* k chunks: a few per thread, at most 64 rows so a packed block stays in L2 */
    int threads = nn_threads_get();
    int want = threads > 1 ? 3 * threads : 1;
    int chunks = ks_max(ks_cdiv(J.k, 64), ks_cdiv(want, s->groups));
    J.k_chunk = ks_cdiv(ks_cdiv(J.k, chunks), DOT_N) * DOT_N;
    J.k_chunks = ks_cdiv(J.k, J.k_chunk);
    atomic_store(&J.next, 0);
    int items = s->groups * J.k_chunks;
    int tasks = ks_min(threads, items);
    J.scratch = nn_scratch_get(s->scratch, KS_SLOT_TASKS,
                               sizeof(float) * (size_t)J.k_chunk * (PB + VL) * tasks);
    J.segs = nn_scratch_get(s->scratch, KS_SLOT_SEGS, sizeof(KS(seg)) * KS_BW_SEGS * tasks);
    if (J.scratch && J.segs)
        nn_parallel_for(tasks, KS(bw_task), &J);
    else
        nn_kernels_reference.conv2d_backward_weights(s, x, dy, dw, db);
    nn_scratch_release(s->scratch, J.scratch);
    nn_scratch_release(s->scratch, J.segs);
}
