// A thin float-vector layer for heed's fused kernels: AVX-512 or AVX2+FMA when the build has it, scalar
// otherwise, so every kernel in ops.cc is written once. Loads/stores take a count so row tails need no scalar loop.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>
#endif

namespace heed::simd {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__AVX512DQ__)
#define HEED_AVX512 1
using vf = __m512;
constexpr int64_t W = 16;

inline __mmask16 tail(int64_t n) { return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1); }
inline vf bc(float x) { return _mm512_set1_ps(x); }
inline vf zero() { return _mm512_setzero_ps(); }
// Lanes past n read as `fill`, so reductions over a tail need no special case.
inline vf ld(const float* p, int64_t n, float fill = 0.f) {
  return n >= 16 ? _mm512_loadu_ps(p) : _mm512_mask_loadu_ps(_mm512_set1_ps(fill), tail(n), p);
}
inline void st(float* p, vf v, int64_t n) {
  if (n >= 16) _mm512_storeu_ps(p, v); else _mm512_mask_storeu_ps(p, tail(n), v);
}
inline vf fma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
inline vf vmax(vf a, vf b) { return _mm512_max_ps(a, b); }
inline vf vsqrt(vf a) { return _mm512_sqrt_ps(a); }
inline float hsum(vf v) { return _mm512_reduce_add_ps(v); }
inline float hmax(vf v) { return _mm512_reduce_max_ps(v); }
// Lanes whose key-mask byte is 0 (or past n) become `fill`.
inline vf keymask(vf x, const uint8_t* m, int64_t n, float fill) {
  __m128i b = _mm_maskz_loadu_epi8(tail(n), m);
  return _mm512_mask_blend_ps(_mm_test_epi8_mask(b, b), _mm512_set1_ps(fill), x);
}

// exp with ~1e-7 relative error: 2^n · p(r), r = x − n·ln2 in [−ln2/2, ln2/2], degree-6 Taylor.
// The constant goes first in min/max so a NaN input stays NaN; the low clamp keeps −inf from
// turning r into NaN (scalef then underflows it to 0).
inline vf vexp(vf x) {
  x = _mm512_max_ps(_mm512_set1_ps(-110.f), _mm512_min_ps(_mm512_set1_ps(88.72283f), x));
  vf n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                              _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  vf r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.428606765330187e-06f), r);
  vf p = _mm512_set1_ps(1.f / 720);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 120));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 24));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 6));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f));
  return _mm512_scalef_ps(p, n);
}

// Σ x² of 16 lanes in double, added to two double accumulators.
inline void sumsq_pd(vf x, __m512d& a0, __m512d& a1) {
  __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(x));
  __m512d hi = _mm512_cvtps_pd(_mm512_extractf32x8_ps(x, 1));
  a0 = _mm512_fmadd_pd(lo, lo, a0);
  a1 = _mm512_fmadd_pd(hi, hi, a1);
}

#elif defined(__AVX2__) && defined(__FMA__)
#define HEED_AVX2 1
using vf = __m256;
constexpr int64_t W = 8;

// AVX2 masks are vectors: lane i is on when its int32 is negative. The mask for n is a window into
// eight ones followed by eight zeros.
alignas(64) inline constexpr int32_t kTailBits[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
inline __m256i tail(int64_t n) {
  n = n < 0 ? 0 : n > 8 ? 8 : n;
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kTailBits + 8 - n));
}
inline vf bc(float x) { return _mm256_set1_ps(x); }
inline vf zero() { return _mm256_setzero_ps(); }
// Lanes past n read as `fill`; maskload never touches memory past the row.
inline vf ld(const float* p, int64_t n, float fill = 0.f) {
  if (n >= 8) return _mm256_loadu_ps(p);
  __m256i m = tail(n);
  return _mm256_blendv_ps(_mm256_set1_ps(fill), _mm256_maskload_ps(p, m), _mm256_castsi256_ps(m));
}
inline void st(float* p, vf v, int64_t n) {
  if (n >= 8) _mm256_storeu_ps(p, v); else _mm256_maskstore_ps(p, tail(n), v);
}
inline vf fma(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
inline vf vmax(vf a, vf b) { return _mm256_max_ps(a, b); }
inline vf vsqrt(vf a) { return _mm256_sqrt_ps(a); }
inline float hsum(vf v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}
inline float hmax(vf v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_max_ss(s, _mm_movehdup_ps(s)));
}
// Lanes whose key-mask byte is 0 (or past n) become `fill`. Bytes past n are never read.
inline vf keymask(vf x, const uint8_t* m, int64_t n, float fill) {
  uint64_t bytes = 0;
  std::memcpy(&bytes, m, n >= 8 ? 8 : (size_t)(n < 0 ? 0 : n));
  __m256i k = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)bytes));
  __m256 off = _mm256_castsi256_ps(_mm256_cmpeq_epi32(k, _mm256_setzero_si256()));
  return _mm256_blendv_ps(x, _mm256_set1_ps(fill), off);
}

// exp as the AVX-512 one computes it: 2^n · p(r), same clamps, reduction and polynomial. AVX2 has
// no scalef, so 2^n is built from exponent bits in two halves (n ranges over [−159, 128], past what
// one float exponent holds); p·2^a is exact and ·2^b rounds once, so the result matches scalef's.
inline vf vexp(vf x) {
  x = _mm256_max_ps(_mm256_set1_ps(-110.f), _mm256_min_ps(_mm256_set1_ps(88.72283f), x));
  vf n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                         _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  vf r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693145751953125f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.428606765330187e-06f), r);
  vf p = _mm256_set1_ps(1.f / 720);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f / 120));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f / 24));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f / 6));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f));
  __m256i ni = _mm256_cvtps_epi32(n), a = _mm256_srai_epi32(ni, 1), b = _mm256_sub_epi32(ni, a);
  const __m256i bias = _mm256_set1_epi32(127);
  vf pa = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(a, bias), 23));
  vf pb = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(b, bias), 23));
  return _mm256_mul_ps(_mm256_mul_ps(p, pa), pb);
}

// Σ x² of 8 lanes in double, added to two double accumulators.
inline void sumsq_pd(vf x, __m256d& a0, __m256d& a1) {
  __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(x));
  __m256d hi = _mm256_cvtps_pd(_mm256_extractf128_ps(x, 1));
  a0 = _mm256_fmadd_pd(lo, lo, a0);
  a1 = _mm256_fmadd_pd(hi, hi, a1);
}
inline double hsum_pd(__m256d v) {
  __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
  return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

#else
using vf = float;
constexpr int64_t W = 1;
inline vf bc(float x) { return x; }
inline vf zero() { return 0.f; }
inline vf ld(const float* p, int64_t, float = 0.f) { return *p; }
inline void st(float* p, vf v, int64_t) { *p = v; }
inline vf fma(vf a, vf b, vf c) { return a * b + c; }
inline vf vmax(vf a, vf b) { return a > b ? a : b; }
inline vf vsqrt(vf a) { return std::sqrt(a); }
inline float hsum(vf v) { return v; }
inline float hmax(vf v) { return v; }
inline vf keymask(vf x, const uint8_t* m, int64_t, float fill) { return *m ? x : fill; }
inline vf vexp(vf x) { return std::exp(x); }
#endif

inline vf sigmoid(vf x) { return bc(1.f) / (bc(1.f) + vexp(bc(0.f) - x)); }

}  // namespace heed::simd
