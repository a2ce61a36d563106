/*
 * kernels_avx2.c - convolution kernels for AVX2 + FMA (8 floats a vector),
 * compiled with -mavx2 -mfma (see AVX2_FLAGS in the Makefile).
 *
 * The algorithms live in kernels_simd.h; this file supplies the vector
 * vocabulary and the tile sizes for 16 ymm registers:
 *   GEMM micro-tile  6 output channels x 16 pixels = 12 ymm accumulators,
 *                    2 pixel loads + 1 broadcast per row per k
 *   backward weights 3 dy rows x 3 col rows = 9 ymm accumulators.
 * AVX2 has no mask registers: masks are integer vectors (all-ones lanes) used
 * by vmaskmovps, which also does not touch memory in masked-off lanes.
 */
#include <immintrin.h>

#define VL 8
#define MR 6
#define NRV 2
#define DOT_M 3
#define DOT_N 3
#define WG_FWD_MIN_CHANNELS 32 /* forward Winograd F(2x2) from 32 channels (winograd_simd.h) */
#define WG4_FWD_MIN_CHANNELS 16 /* forward Winograd F(4x4) from 16 channels */
#define KS(name) avx2_##name

typedef __m256 vf;
typedef __m256i vmask;

static inline vf vf_zero(void) { return _mm256_setzero_ps(); }
static inline vf vf_set1(float x) { return _mm256_set1_ps(x); }
static inline vf vf_load(const float *p) { return _mm256_load_ps(p); }
static inline vf vf_loadu(const float *p) { return _mm256_loadu_ps(p); }
static inline void vf_storeu(float *p, vf v) { _mm256_storeu_ps(p, v); }
static inline vf vf_add(vf a, vf b) { return _mm256_add_ps(a, b); }
static inline vf vf_sub(vf a, vf b) { return _mm256_sub_ps(a, b); }
static inline vf vf_max(vf a, vf b) { return _mm256_max_ps(a, b); }
static inline vf vf_fma(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
static inline float vf_hsum(vf v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* lanes lo <= l < hi as all-ones int lanes */
static inline vmask vmask_range(int lo, int hi) {
    __m256i lane = _mm256_set_epi32(7, 6, 5, 4, 3, 2, 1, 0);
    __m256i ge = _mm256_cmpgt_epi32(lane, _mm256_set1_epi32(lo - 1));
    __m256i lt = _mm256_cmpgt_epi32(_mm256_set1_epi32(hi), lane);
    return _mm256_and_si256(ge, lt);
}
static inline vf vf_maskz_loadu(const float *p, vmask m) { return _mm256_maskload_ps(p, m); }
static inline void vf_mask_storeu(float *p, vmask m, vf v) { _mm256_maskstore_ps(p, m, v); }

static inline vf vf_gather_stride(const float *row, int ix, int stride, int n, int w) {
    __m256i lane = _mm256_set_epi32(7, 6, 5, 4, 3, 2, 1, 0);
    __m256i idx = _mm256_add_epi32(_mm256_set1_epi32(ix),
                                   _mm256_mullo_epi32(lane, _mm256_set1_epi32(stride)));
    __m256i ok = _mm256_and_si256(_mm256_cmpgt_epi32(idx, _mm256_set1_epi32(-1)),
                                  _mm256_cmpgt_epi32(_mm256_set1_epi32(w), idx));
    ok = _mm256_and_si256(ok, vmask_range(0, n));
    return _mm256_mask_i32gather_ps(_mm256_setzero_ps(), row, idx, _mm256_castsi256_ps(ok), 4);
}

/* p[0], p[2], ..., p[14]: every other float of 16 (reads all 16) */
static inline vf vf_load_even(const float *p) {
    __m256 a = _mm256_loadu_ps(p), b = _mm256_loadu_ps(p + 8);
    __m256 e = _mm256_shuffle_ps(a, b, 0x88); /* a0 a2 b0 b2 | a4 a6 b4 b6 */
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), 0xD8));
}

/* p[4l + j] = (a, b, c, d)[j][l] for l < 8: four vectors interleaved into
 * 32 floats (Winograd F(4x4)'s output rows). Unpacks give per 128-bit lane
 * the 4 values of one l; the lane permutes put those lanes in order. */
static inline void vf_store_interleave4(float *p, vf a, vf b, vf c, vf d) {
    vf ab_lo = _mm256_unpacklo_ps(a, b), ab_hi = _mm256_unpackhi_ps(a, b);
    vf cd_lo = _mm256_unpacklo_ps(c, d), cd_hi = _mm256_unpackhi_ps(c, d);
    vf u0 = _mm256_shuffle_ps(ab_lo, cd_lo, 0x44), u1 = _mm256_shuffle_ps(ab_lo, cd_lo, 0xEE);
    vf u2 = _mm256_shuffle_ps(ab_hi, cd_hi, 0x44), u3 = _mm256_shuffle_ps(ab_hi, cd_hi, 0xEE);
    /* 128-bit lane k of u_j is l = 4k + j */
    _mm256_storeu_ps(p, _mm256_permute2f128_ps(u0, u1, 0x20));
    _mm256_storeu_ps(p + 8, _mm256_permute2f128_ps(u2, u3, 0x20));
    _mm256_storeu_ps(p + 16, _mm256_permute2f128_ps(u0, u1, 0x31));
    _mm256_storeu_ps(p + 24, _mm256_permute2f128_ps(u2, u3, 0x31));
}

/* out[j][l] = p[4l + j] for l < 8: 32 floats split into four vectors
 * (Winograd F(4x4)'s input patches, 4 apart): l and l + 4 are paired in
 * the 128-bit lanes, then each lane's 4x4 is transposed. */
static inline void vf_load_deinterleave4(const float *p, vf out[4]) {
    vf v0 = _mm256_loadu_ps(p), v1 = _mm256_loadu_ps(p + 8);
    vf v2 = _mm256_loadu_ps(p + 16), v3 = _mm256_loadu_ps(p + 24);
    vf a = _mm256_permute2f128_ps(v0, v2, 0x20), b = _mm256_permute2f128_ps(v0, v2, 0x31);
    vf c = _mm256_permute2f128_ps(v1, v3, 0x20), d = _mm256_permute2f128_ps(v1, v3, 0x31);
    vf ab_lo = _mm256_unpacklo_ps(a, b), ab_hi = _mm256_unpackhi_ps(a, b);
    vf cd_lo = _mm256_unpacklo_ps(c, d), cd_hi = _mm256_unpackhi_ps(c, d);
    out[0] = _mm256_shuffle_ps(ab_lo, cd_lo, 0x44);
    out[1] = _mm256_shuffle_ps(ab_lo, cd_lo, 0xEE);
    out[2] = _mm256_shuffle_ps(ab_hi, cd_hi, 0x44);
    out[3] = _mm256_shuffle_ps(ab_hi, cd_hi, 0xEE);
}

#include "kernels_simd.h"

const nn_kernels nn_kernels_avx2 = {
    .name = "avx2",
    .conv2d_forward = avx2_conv2d_forward,
    .conv2d_backward_data = avx2_conv2d_backward_data,
    .conv2d_backward_weights = avx2_conv2d_backward_weights,
    .conv2d_packed_floats = avx2_conv2d_packed_floats,
    .conv2d_pack_weights = avx2_conv2d_pack_weights,
    .conv2d_forward_packed = avx2_conv2d_forward_packed,
};
