/*
 * kernels_avx512.c - convolution kernels for AVX-512F (16 floats a vector),
 * compiled with -mavx512f (see AVX512_FLAGS in the Makefile).
 *
 * The algorithms live in kernels_simd.h; this file supplies the vector
 * vocabulary and the tile sizes:
 *   GEMM micro-tile  14 output channels x 32 pixels = 28 zmm accumulators,
 *                    2 pixel loads and 14 weight broadcasts per k (32 zmm total)
 *   backward weights 6 dy rows x 4 col rows = 24 zmm accumulators.
 * Lane masks make every edge (padding, the last pixels of a row) a masked
 * load or store instead of a scalar loop.
 */
#include <immintrin.h>

#define VL 16
#define MR 14
#define NRV 2
#define DOT_M 6
#define DOT_N 4
#define WG_FWD_MIN_CHANNELS 64 /* forward Winograd F(2x2) from 64 channels (winograd_simd.h) */
#define WG4_FWD_MIN_CHANNELS 16 /* forward Winograd F(4x4) from 16 channels */
#define KS(name) avx512_##name

typedef __m512 vf;
typedef __mmask16 vmask;

static inline vf vf_zero(void) { return _mm512_setzero_ps(); }
static inline vf vf_set1(float x) { return _mm512_set1_ps(x); }
static inline vf vf_load(const float *p) { return _mm512_load_ps(p); }
static inline vf vf_loadu(const float *p) { return _mm512_loadu_ps(p); }
static inline void vf_storeu(float *p, vf v) { _mm512_storeu_ps(p, v); }
static inline vf vf_add(vf a, vf b) { return _mm512_add_ps(a, b); }
static inline vf vf_sub(vf a, vf b) { return _mm512_sub_ps(a, b); }
static inline vf vf_max(vf a, vf b) { return _mm512_max_ps(a, b); }
static inline vf vf_fma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
static inline float vf_hsum(vf v) { return _mm512_reduce_add_ps(v); }

/* lanes lo <= l < hi (0 <= lo < hi <= 16) */
static inline vmask vmask_range(int lo, int hi) {
    return (vmask)((0xFFFFu >> (16 - hi)) & (0xFFFFu << lo));
}
/* Masked-off lanes are not read, so p may point before or past the data. */
static inline vf vf_maskz_loadu(const float *p, vmask m) { return _mm512_maskz_loadu_ps(m, p); }
static inline void vf_mask_storeu(float *p, vmask m, vf v) { _mm512_mask_storeu_ps(p, m, v); }

static inline vf vf_gather_stride(const float *row, int ix, int stride, int n, int w) {
    __m512i lane = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    __m512i idx = _mm512_add_epi32(_mm512_set1_epi32(ix),
                                   _mm512_mullo_epi32(lane, _mm512_set1_epi32(stride)));
    vmask m = _mm512_cmpge_epi32_mask(idx, _mm512_setzero_si512()) &
              _mm512_cmplt_epi32_mask(idx, _mm512_set1_epi32(w)) & vmask_range(0, n);
    return _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, idx, row, 4);
}

/* p[0], p[2], ..., p[30]: every other float of 32 (reads all 32) */
static inline vf vf_load_even(const float *p) {
    __m512i idx = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    return _mm512_permutex2var_ps(_mm512_loadu_ps(p), idx, _mm512_loadu_ps(p + 16));
}

/* p[4l + j] = (a, b, c, d)[j][l] for l < 16: four vectors interleaved into
 * 64 floats (Winograd F(4x4)'s output rows). Unpacks give per 128-bit lane
 * the 4 values of one l; the lane shuffles put those lanes in order. */
static inline void vf_store_interleave4(float *p, vf a, vf b, vf c, vf d) {
    vf ab_lo = _mm512_unpacklo_ps(a, b), ab_hi = _mm512_unpackhi_ps(a, b);
    vf cd_lo = _mm512_unpacklo_ps(c, d), cd_hi = _mm512_unpackhi_ps(c, d);
    vf u0 = _mm512_shuffle_ps(ab_lo, cd_lo, 0x44), u1 = _mm512_shuffle_ps(ab_lo, cd_lo, 0xEE);
    vf u2 = _mm512_shuffle_ps(ab_hi, cd_hi, 0x44), u3 = _mm512_shuffle_ps(ab_hi, cd_hi, 0xEE);
    /* 128-bit lane k of u_j is l = 4k + j: transpose the 4x4 lanes */
    vf lo01 = _mm512_shuffle_f32x4(u0, u1, 0x44), lo23 = _mm512_shuffle_f32x4(u2, u3, 0x44);
    vf hi01 = _mm512_shuffle_f32x4(u0, u1, 0xEE), hi23 = _mm512_shuffle_f32x4(u2, u3, 0xEE);
    _mm512_storeu_ps(p, _mm512_shuffle_f32x4(lo01, lo23, 0x88));
    _mm512_storeu_ps(p + 16, _mm512_shuffle_f32x4(lo01, lo23, 0xDD));
    _mm512_storeu_ps(p + 32, _mm512_shuffle_f32x4(hi01, hi23, 0x88));
    _mm512_storeu_ps(p + 48, _mm512_shuffle_f32x4(hi01, hi23, 0xDD));
}

/* out[j][l] = p[4l + j] for l < 16: 64 floats split into four vectors
 * (Winograd F(4x4)'s input patches, 4 apart). The inverse of the above:
 * the 128-bit lanes are transposed first, then each lane's 4x4. */
static inline void vf_load_deinterleave4(const float *p, vf out[4]) {
    vf v0 = _mm512_loadu_ps(p), v1 = _mm512_loadu_ps(p + 16);
    vf v2 = _mm512_loadu_ps(p + 32), v3 = _mm512_loadu_ps(p + 48);
    vf lo01 = _mm512_shuffle_f32x4(v0, v1, 0x44), lo23 = _mm512_shuffle_f32x4(v2, v3, 0x44);
    vf hi01 = _mm512_shuffle_f32x4(v0, v1, 0xEE), hi23 = _mm512_shuffle_f32x4(v2, v3, 0xEE);
    /* lane k of a, b, c, d: l = 4k, 4k + 1, 4k + 2, 4k + 3 */
    vf a = _mm512_shuffle_f32x4(lo01, lo23, 0x88), b = _mm512_shuffle_f32x4(lo01, lo23, 0xDD);
    vf c = _mm512_shuffle_f32x4(hi01, hi23, 0x88), d = _mm512_shuffle_f32x4(hi01, hi23, 0xDD);
    vf ab_lo = _mm512_unpacklo_ps(a, b), ab_hi = _mm512_unpackhi_ps(a, b);
    vf cd_lo = _mm512_unpacklo_ps(c, d), cd_hi = _mm512_unpackhi_ps(c, d);
    out[0] = _mm512_shuffle_ps(ab_lo, cd_lo, 0x44);
    out[1] = _mm512_shuffle_ps(ab_lo, cd_lo, 0xEE);
    out[2] = _mm512_shuffle_ps(ab_hi, cd_hi, 0x44);
    out[3] = _mm512_shuffle_ps(ab_hi, cd_hi, 0xEE);
}

#include "kernels_simd.h"

const nn_kernels nn_kernels_avx512 = {
    .name = "avx512",
    .conv2d_forward = avx512_conv2d_forward,
    .conv2d_backward_data = avx512_conv2d_backward_data,
    .conv2d_backward_weights = avx512_conv2d_backward_weights,
    .conv2d_packed_floats = avx512_conv2d_packed_floats,
    .conv2d_pack_weights = avx512_conv2d_pack_weights,
    .conv2d_forward_packed = avx512_conv2d_forward_packed,
};
