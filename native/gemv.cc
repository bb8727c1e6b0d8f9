// Decoding's linear layers on weights stored compact: out (rows×O) = x (rows×I) · Wᵀ for a few rows
// (one per sequence being decoded), W read once as stored (f16, bf16, or q8_0 blocks of 32 int8
// codes with an f16 scale; the input rows then quantized the same way, as llama.cpp does, so a block
// is an integer dot product), never widened into a buffer: at batch 1 a decode step is bound by the
// bytes of weights read, so half the bytes is twice the speed.
#include <algorithm>
#include <cmath>
#include <memory>
#include <cstring>
#include <string>
#include <vector>
#include "common.h"
#if defined(__AVX512F__) || defined(__AVX2__) || defined(__F16C__)
#include <immintrin.h>
#endif

namespace heed {
namespace {

constexpr int64_t kMaxRows = 4;   // x rows sharing one pass over W (more: the caller widens W and runs GEMM)
constexpr int64_t kQ8Block = 32, kQ8Bytes = 34;

inline float halfToFloat(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff, bits;
  if (e == 31) bits = sign | 0x7f800000 | (m << 13);
  else if (e) bits = sign | ((e + 112) << 23) | (m << 13);
  else if (!m) bits = sign;
  else { int ee = 113; while (!(m & 0x400)) { m <<= 1; ee--; } bits = sign | (uint32_t(ee) << 23) | ((m & 0x3ff) << 13); }
  float f; std::memcpy(&f, &bits, 4); return f;
}
// A q8_0 block's f16 scale: one hardware conversion where the build has F16C.
inline float scaleOf(uint16_t h) {
#if defined(__F16C__)
  return _cvtsh_ss(h);
#else
  return halfToFloat(h);
#endif
}
inline uint16_t floatToHalf(float f) {
#if defined(__F16C__)
  return _cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT);
#else
  uint32_t x; std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000, e = (x >> 23) & 0xff, m = x & 0x7fffff;
  if (e == 255) return uint16_t(sign | 0x7c00 | (m ? 0x200 | (m >> 13) : 0));   // NaN stays a quiet NaN, its payload's top bits kept
  const int ee = int(e) - 127 + 15;
  if (ee >= 31) return uint16_t(sign | 0x7c00);
  if (ee <= 0) {   // a subnormal half (or zero): shift the whole mantissa, round half to even
    if (ee < -10) return uint16_t(sign);
    const uint32_t mm = m | 0x800000, shift = uint32_t(14 - ee), half = mm >> shift, rem = mm & ((1u << shift) - 1), mid = 1u << (shift - 1);
    return uint16_t(sign | (half + (rem > mid || (rem == mid && (half & 1)))));
  }
  uint32_t h = (uint32_t(ee) << 10) | (m >> 13);
  const uint32_t rem = m & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++;   // a carry into the exponent is still right
  return uint16_t(sign | h);
#endif
}
inline float bf16ToFloat(uint16_t h) { uint32_t bits = uint32_t(h) << 16; float f; std::memcpy(&f, &bits, 4); return f; }
// f32 → bf16, rounding to nearest even; NaN stays a quiet NaN (dtype.ts's bf16FromBits)
inline uint16_t floatToBf16(float f) {
  uint32_t x; std::memcpy(&x, &f, 4);
  return (x & 0x7fffffffu) > 0x7f800000u ? uint16_t(((x >> 16) | 0x40) & 0xffff) : uint16_t((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

// A float vector of the widest kind the build targets (AVX-512: 16 lanes, AVX2 + FMA + F16C: 8),
// loads that widen f16 and bf16 into it, and a horizontal sum.
#if defined(__AVX512F__)
#define HEED_SIMD 1
constexpr int kW = 16;
using vf = __m512;
inline vf vzero() { return _mm512_setzero_ps(); }
inline vf vload(const float* p) { return _mm512_loadu_ps(p); }
inline vf vset(float v) { return _mm512_set1_ps(v); }
inline vf vmul(vf a, vf b) { return _mm512_mul_ps(a, b); }
inline vf vfma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
inline float vsum(vf a) { return _mm512_reduce_add_ps(a); }
template <bool BF16>
inline vf vloadHalf(const uint16_t* w) {
  __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w));
  if constexpr (BF16) return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  else return _mm512_cvtph_ps(h);
}
#elif defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#define HEED_SIMD 1
constexpr int kW = 8;
using vf = __m256;
inline vf vzero() { return _mm256_setzero_ps(); }
inline vf vload(const float* p) { return _mm256_loadu_ps(p); }
inline vf vset(float v) { return _mm256_set1_ps(v); }
inline vf vmul(vf a, vf b) { return _mm256_mul_ps(a, b); }
inline vf vfma(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
inline float vsum(vf a) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
template <bool BF16>
inline vf vloadHalf(const uint16_t* w) {
  __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w));
  if constexpr (BF16) return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  else return _mm256_cvtph_ps(h);
}
#endif

// Rows of W at least this long take eight adjacent rows at once in a one-row product.
constexpr int64_t kLongRowBytes = 4096;

// Weights stored as f32, f16 or bf16 (T = float or uint16_t bit patterns), widened in registers.
enum Dense { kDenseF32, kDenseF16, kDenseBF16 };
template <int S>
inline float widen(const void* w, int64_t i) {
  if constexpr (S == kDenseF32) return static_cast<const float*>(w)[i];
  else if constexpr (S == kDenseBF16) return bf16ToFloat(static_cast<const uint16_t*>(w)[i]);
  else return halfToFloat(static_cast<const uint16_t*>(w)[i]);
}
#if defined(HEED_SIMD)
template <int S>
inline vf vwiden(const void* w, int64_t i) {
  if constexpr (S == kDenseF32) return vload(static_cast<const float*>(w) + i);
  else return vloadHalf<S == kDenseBF16>(static_cast<const uint16_t*>(w) + i);
}
#endif

#if defined(HEED_SIMD)
// out[first + n·step] = x·W[first + n·step] for n < N: N rows of W against one row of x at once.
template <int S, int N>
inline void rowsAtOnce(const float* x, const void* W, float* out, int64_t first, int64_t step, int64_t I) {
  const int64_t elem = S == kDenseF32 ? 4 : 2;
  const uint8_t* w[N];
  for (int n = 0; n < N; n++) w[n] = static_cast<const uint8_t*>(W) + (first + n * step) * I * elem;
  vf a[N];
  for (int n = 0; n < N; n++) a[n] = vzero();
  int64_t i = 0;
  for (; i + kW <= I; i += kW) {
    const vf xv = vload(x + i);
    for (int n = 0; n < N; n++) a[n] = vfma(vwiden<S>(w[n], i), xv, a[n]);
  }
  for (int n = 0; n < N; n++) {
    float acc = vsum(a[n]);
    for (int64_t j = i; j < I; j++) acc += widen<S>(w[n], j) * x[j];
    out[first + n * step] = acc;
  }
}
#endif

// out[r·O + o] = Σ_i x[r·I + i]·W[o·I + i] for o in [o0, o1), R rows of x. U independent
// accumulators per row (4 for one or two rows), so the FMAs of a row do not wait on each other.
template <int S, int R>
void denseRows(const float* x, const void* W, float* out, int64_t o0, int64_t o1, int64_t O, int64_t I) {
  const int64_t elem = S == kDenseF32 ? 4 : 2;
  int64_t o = o0;
#if defined(HEED_SIMD)
  // One row of x: several rows of W at once, one accumulator each, so that several streams of
  // memory are in flight. Long rows (≥ 4 KB: the MLP's down projection) go eight adjacent rows at
  // a time; shorter ones four rows a quarter of the chunk apart (adjacent short rows are one stream
  // already). Measured against one row at a time: +15–32% on long rows, +6–18% on f32 short rows.
  if (R == 1) {
    if (I * elem >= kLongRowBytes) {
      for (; o + 8 <= o1; o += 8) rowsAtOnce<S, 8>(x, W, out, o, 1, I);
    } else if (o1 - o >= 4) {
      const int64_t h = (o1 - o) / 4;
      for (int64_t k = 0; k < h; k++) rowsAtOnce<S, 4>(x, W, out, o + k, h, I);
      o += 4 * h;
    }
  }
#endif
  for (; o < o1; o++) {
    const void* w = static_cast<const uint8_t*>(W) + o * I * elem;
    float acc[R] = {};
    int64_t i = 0;
#if defined(HEED_SIMD)
    constexpr int U = R <= 2 ? 4 : 2;
    vf a[U][R];
    for (int u = 0; u < U; u++) for (int r = 0; r < R; r++) a[u][r] = vzero();
    for (; i + U * kW <= I; i += U * kW) {
      for (int u = 0; u < U; u++) {
        const vf wv = vwiden<S>(w, i + u * kW);
        for (int r = 0; r < R; r++) a[u][r] = vfma(wv, vload(x + r * I + i + u * kW), a[u][r]);
      }
    }
    for (; i + kW <= I; i += kW) {
      const vf wv = vwiden<S>(w, i);
      for (int r = 0; r < R; r++) a[0][r] = vfma(wv, vload(x + r * I + i), a[0][r]);
    }
    for (int r = 0; r < R; r++) {
      vf t = a[0][r];
      for (int u = 1; u < U; u++) t = t + a[u][r];
      acc[r] = vsum(t);
    }
#endif
    for (; i < I; i++) {
      const float wv = widen<S>(w, i);
      for (int r = 0; r < R; r++) acc[r] += wv * x[r * I + i];
    }
    for (int r = 0; r < R; r++) out[r * O + o] = acc[r];
  }
}

// The input rows of a q8_0 product, quantized the way llama.cpp quantizes its activations for a
// q8_0 weight (quantize_row_q8_0): per block of 32, d = max|x|/127 (kept as f16), q = round(x/d) with
// ties to even. Σ_j qw_j·qx_j is then an exact integer sum, scaled once per block by dw·dx.
struct Q8Input {
  std::vector<int8_t> q;
  std::vector<float> d;
  Q8Input(const float* x, int64_t rows, int64_t I) : q(rows * I), d(rows * (I / kQ8Block)) {
    for (int64_t b = 0; b < rows * (I / kQ8Block); b++) {
      const float* xb = x + b * kQ8Block;
      float amax = 0;
      for (int j = 0; j < kQ8Block; j++) amax = std::max(amax, std::fabs(xb[j]));
      const float id = amax > 0 ? 127.f / amax : 0.f;
      for (int j = 0; j < kQ8Block; j++) q[b * kQ8Block + j] = (int8_t)std::nearbyint(xb[j] * id);
      d[b] = halfToFloat(floatToHalf(amax / 127.f));
    }
  }
};

#if defined(__AVX2__)
// Σ of 32 int8 products in 8 int32 lanes, as floats: |w|·sign(x, w) pairs through maddubs (u8·s8 → s16;
// |w| ≤ 128 and |x| ≤ 127 cannot saturate), then pairs of s16 through madd (or VNNI's one dpbusd).
inline __m256 dot32(__m256i w, __m256i x) {
  const __m256i aw = _mm256_sign_epi8(w, w), sx = _mm256_sign_epi8(x, w);
#if defined(__AVXVNNI__) || (defined(__AVX512VNNI__) && defined(__AVX512VL__))
  return _mm256_cvtepi32_ps(_mm256_dpbusd_epi32(_mm256_setzero_si256(), aw, sx));
#else
  return _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_maddubs_epi16(aw, sx), _mm256_set1_epi16(1)));
#endif
}
inline float hsum8(__m256 a) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
#endif

// q8_0 rows: I/32 blocks of {f16 dw, int8 q[32]}; out = Σ_b dw_b·dx_b·Σ_j qw_j·qx_j for R rows of x.
template <int R>
void q8Rows(const Q8Input& in, int64_t r0, const uint8_t* W, float* out, int64_t o0, int64_t o1, int64_t O, int64_t I) {
  const int64_t nb = I / kQ8Block, rowBytes = nb * kQ8Bytes;
  const int8_t* xq = in.q.data() + r0 * I;
  const float* xd = in.d.data() + r0 * nb;
  int64_t o = o0;
#if defined(__AVX2__)
  // one row of x against rows of W of 2 KB or more: four rows a quarter of the chunk apart at once
  // (four streams in flight, as denseRows does), each x block loaded once for the four; shorter
  // q8_0 rows (a 576-wide row is 612 bytes) go faster one at a time
  if (R == 1 && rowBytes >= 2048 && o1 - o >= 4) {
    const int64_t h = (o1 - o) / 4;
    for (int64_t k = 0; k < h; k++) {
      const uint8_t* w[4];
      __m256 acc[4];
      for (int n = 0; n < 4; n++) { w[n] = W + (o + k + n * h) * rowBytes; acc[n] = _mm256_setzero_ps(); }
      for (int64_t b = 0; b < nb; b++) {
        const __m256i qx = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq + b * kQ8Block));
        for (int n = 0; n < 4; n++) {
          const uint8_t* blk = w[n] + b * kQ8Bytes;
          uint16_t dh; std::memcpy(&dh, blk, 2);
          const __m256i qw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 2));
          acc[n] = _mm256_fmadd_ps(_mm256_set1_ps(scaleOf(dh) * xd[b]), dot32(qw, qx), acc[n]);
        }
      }
      for (int n = 0; n < 4; n++) out[o + k + n * h] = hsum8(acc[n]);
    }
    o += 4 * h;
  }
#endif
  for (; o < o1; o++) {
    const uint8_t* w = W + o * rowBytes;
#if defined(__AVX2__)
    // two accumulators per row (even and odd blocks), so consecutive blocks do not wait on one FMA chain
    __m256 a0[R], a1[R];
    for (int r = 0; r < R; r++) a0[r] = a1[r] = _mm256_setzero_ps();
    auto block = [&](int64_t b, __m256* acc) {
      const uint8_t* blk = w + b * kQ8Bytes;
      uint16_t dh; std::memcpy(&dh, blk, 2);
      const float dw = scaleOf(dh);
      const __m256i qw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 2));
      for (int r = 0; r < R; r++) {
        const __m256i qx = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq + r * I + b * kQ8Block));
        acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(dw * xd[r * nb + b]), dot32(qw, qx), acc[r]);
      }
    };
    int64_t b = 0;
    for (; b + 1 < nb; b += 2) { block(b, a0); block(b + 1, a1); }
    if (b < nb) block(b, a0);
    for (int r = 0; r < R; r++) out[r * O + o] = hsum8(_mm256_add_ps(a0[r], a1[r]));
#else
    float acc[R] = {};
    for (int64_t b = 0; b < nb; b++) {
      const uint8_t* blk = w + b * kQ8Bytes;
      uint16_t dh; std::memcpy(&dh, blk, 2);
      const float dw = halfToFloat(dh);
      const int8_t* q = reinterpret_cast<const int8_t*>(blk + 2);
      for (int r = 0; r < R; r++) {
        int32_t s = 0;
        for (int j = 0; j < kQ8Block; j++) s += int32_t(q[j]) * xq[r * I + b * kQ8Block + j];
        acc[r] += dw * xd[r * nb + b] * float(s);
      }
    }
    for (int r = 0; r < R; r++) out[r * O + o] = acc[r];
#endif
  }
}

enum Kind { kF32 = 0, kF16 = 1, kBF16 = 2, kQ8 = 3 };
inline int64_t rowBytesOf(int kind, int64_t I) { return kind == kF32 ? I * 4 : kind == kQ8 ? (I / kQ8Block) * kQ8Bytes : I * 2; }

// Rows [o0, o1) of one weight against R rows of x (kind as gemvMulti's; Dense's values are its first three).
template <int R>
void rowsOf(int kind, const float* x, const Q8Input* xq, int64_t r0, const uint8_t* W, float* out, int64_t o0, int64_t o1, int64_t O, int64_t I) {
  switch (kind) {
    case kF32: denseRows<kDenseF32, R>(x, W, out, o0, o1, O, I); break;
    case kF16: denseRows<kDenseF16, R>(x, W, out, o0, o1, O, I); break;
    case kBF16: denseRows<kDenseBF16, R>(x, W, out, o0, o1, O, I); break;
    default: q8Rows<R>(*xq, r0, W, out, o0, o1, O, I); break;
  }
}

// Rows [o0, o1) of one weight against every row of x, kMaxRows rows of x per pass over W.
void weightRows(int kind, const float* x, const Q8Input* xq, int64_t rows, const uint8_t* W, float* out, int64_t o0, int64_t o1, int64_t O, int64_t I) {
  for (int64_t r0 = 0; r0 < rows; r0 += kMaxRows) {
    const float* xr = x + r0 * I;
    float* orow = out + r0 * O;
    switch (std::min(kMaxRows, rows - r0)) {
      case 1: rowsOf<1>(kind, xr, xq, r0, W, orow, o0, o1, O, I); break;
      case 2: rowsOf<2>(kind, xr, xq, r0, W, orow, o0, o1, O, I); break;
      case 3: rowsOf<3>(kind, xr, xq, r0, W, orow, o0, o1, O, I); break;
      default: rowsOf<4>(kind, xr, xq, r0, W, orow, o0, o1, O, I); break;
    }
  }
}

// linearHalf(x, w, bf16, out, rows, O, I): out = x·Wᵀ, W (O×I) f16 or bf16 bit patterns.
Napi::Value LinearHalf(const Napi::CallbackInfo& info) {
  const float* x = F32(info[0]);
  const uint8_t* W = reinterpret_cast<const uint8_t*>(info[1].As<Napi::Uint16Array>().Data());
  const int kind = Bool(info[2]) ? kBF16 : kF16;
  float* out = F32(info[3]);
  const int64_t rows = Int(info[4]), O = Int(info[5]), I = Int(info[6]);
  gemvMulti(kind, x, rows, I, {W}, {O}, {out});
  return info.Env().Undefined();
}

// linearQ8(x, blocks, out, rows, O, I): out = x·Wᵀ, W (O×I) as q8_0 blocks, I a multiple of 32.
Napi::Value LinearQ8(const Napi::CallbackInfo& info) {
  const float* x = F32(info[0]);
  const uint8_t* W = info[1].As<Napi::Uint8Array>().Data();
  float* out = F32(info[2]);
  const int64_t rows = Int(info[3]), O = Int(info[4]), I = Int(info[5]);
  gemvMulti(kQ8, x, rows, I, {W}, {O}, {out});
  return info.Env().Undefined();
}

// linearMulti(x, ws, kind, outs, rows, I): outs[i] (rows×O_i) = x·W_iᵀ for several weights that read
// the same x (q/k/v, gate/up) in one call. kind: 0 f32, 1 f16, 2 bf16, 3 q8_0; rows at most 16.
Napi::Value LinearMulti(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const float* x = F32(info[0]);
  Napi::Array ws = info[1].As<Napi::Array>(), outs = info[3].As<Napi::Array>();
  const int kind = (int)Int(info[2]);
  const int64_t rows = Int(info[4]), I = Int(info[5]);
  const uint32_t n = ws.Length();
  if (n != outs.Length() || kind < 0 || kind > 3 || rows < 1 || rows > 16 || I < 1 || (kind == kQ8 && I % kQ8Block)) {
    Napi::RangeError::New(env, "linearMulti: bad arguments").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::vector<const uint8_t*> W(n);
  std::vector<float*> out(n);
  std::vector<int64_t> O(n);
  const size_t rowBytes = rowBytesOf(kind, I);
  for (uint32_t i = 0; i < n; i++) {
    size_t wb, ob;
    W[i] = ViewBytes(ws.Get(i), &wb);
    out[i] = reinterpret_cast<float*>(ViewBytes(outs.Get(i), &ob));
    O[i] = (int64_t)(wb / rowBytes);
    if (wb % rowBytes || ob != (size_t)(rows * O[i] * 4)) {
      Napi::RangeError::New(env, "linearMulti: weight " + std::to_string(i) + " or its output does not match rows and I").ThrowAsJavaScriptException();
      return env.Undefined();
    }
  }
  gemvMulti(kind, x, rows, I, W, O, out);
  return env.Undefined();
}

// dequantQ8(blocks, out, n): out = the q8_0 values (prefill and other many-row products widen W once).
Napi::Value DequantQ8(const Napi::CallbackInfo& info) {
  const uint8_t* W = info[0].As<Napi::Uint8Array>().Data();
  float* out = F32(info[1]);
  const int64_t nb = Int(info[2]) / kQ8Block;
#pragma omp parallel for schedule(static) if (nb > 4096)
  for (int64_t b = 0; b < nb; b++) {
    uint16_t dh; std::memcpy(&dh, W + b * kQ8Bytes, 2);
    const float d = halfToFloat(dh);
    const int8_t* q = reinterpret_cast<const int8_t*>(W + b * kQ8Bytes + 2);
    for (int j = 0; j < kQ8Block; j++) out[b * kQ8Block + j] = d * float(q[j]);
  }
  return info.Env().Undefined();
}

// quantizeQ8(src, out, n): n values as q8_0 blocks, as ggml's quantize_row_q8_0_ref writes them (and
// heed's reference in kernels.ts): d = max|x|/127 stored as f16, codes roundf(x·(1/d)), ties away
// from zero. Loading a model for decoding with --weights q8_0, and the GGUF writer, go through here.
Napi::Value QuantizeQ8(const Napi::CallbackInfo& info) {
  const float* src = F32(info[0]);
  uint8_t* W = info[1].As<Napi::Uint8Array>().Data();
  const int64_t nb = Int(info[2]) / kQ8Block;
#pragma omp parallel for schedule(static) if (nb > 4096)
  for (int64_t b = 0; b < nb; b++) {
    const float* x = src + b * kQ8Block;
    float amax = 0;
    for (int j = 0; j < kQ8Block; j++) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.f, id = d != 0.f ? 1.f / d : 0.f;
    const uint16_t dh = floatToHalf(d);
    std::memcpy(W + b * kQ8Bytes, &dh, 2);
    int8_t* q = reinterpret_cast<int8_t*>(W + b * kQ8Bytes + 2);
    for (int j = 0; j < kQ8Block; j++) q[j] = (int8_t)std::roundf(x[j] * id);
  }
  return info.Env().Undefined();
}

// body(lo, hi) over [0, n) in runs of 4,096 elements, on every thread once there are more than 16
// runs: the element-wise conversions below.
template <typename Body>
void inChunks(int64_t n, Body body) {
  const int64_t chunks = (n + 4095) / 4096;
#pragma omp parallel for schedule(static) if (chunks > 16)
  for (int64_t c = 0; c < chunks; c++) body(c * 4096, std::min(n, c * 4096 + 4096));
}

// toHalf(src, out, n, bf16): f32 → f16 (IEEE binary16) or bf16 bit patterns, rounding to nearest
// even; NaN stays a quiet NaN. Bit for bit the conversions of dtype.ts.
Napi::Value ToHalf(const Napi::CallbackInfo& info) {
  const float* src = F32(info[0]);
  uint16_t* out = info[1].As<Napi::Uint16Array>().Data();
  const bool bf16 = info[3].As<Napi::Boolean>().Value();
  inChunks(Int(info[2]), [&](int64_t i, int64_t hi) {
    if (bf16) { for (; i < hi; i++) out[i] = floatToBf16(src[i]); return; }
#if defined(__F16C__)
    for (; i + 8 <= hi; i += 8) _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
#endif
    for (; i < hi; i++) out[i] = floatToHalf(src[i]);
  });
  return info.Env().Undefined();
}

// fromHalf(src, out, n, bf16): f16 or bf16 bit patterns → f32 (exact), as dtype.ts widens them:
// checkpoints stored in half precision when they load, and half weights for a prefill's GEMM.
Napi::Value FromHalf(const Napi::CallbackInfo& info) {
  const uint16_t* src = info[0].As<Napi::Uint16Array>().Data();
  float* out = F32(info[1]);
  const bool bf16 = info[3].As<Napi::Boolean>().Value();
  inChunks(Int(info[2]), [&](int64_t i, int64_t hi) {
    if (bf16) { for (; i < hi; i++) out[i] = bf16ToFloat(src[i]); return; }
#if defined(__F16C__)
    // the hardware quiets a signalling NaN; a group holding Inf or NaN takes the exact scalar path
    const __m128i expMask = _mm_set1_epi16(0x7c00);
    for (; i + 8 <= hi; i += 8) {
      const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
      if (_mm_movemask_epi8(_mm_cmpeq_epi16(_mm_and_si128(h, expMask), expMask))) { for (int j = 0; j < 8; j++) out[i + j] = halfToFloat(src[i + j]); continue; }
      _mm256_storeu_ps(out + i, _mm256_cvtph_ps(h));
    }
#endif
    for (; i < hi; i++) out[i] = halfToFloat(src[i]);
  });
  return info.Env().Undefined();
}

}  // namespace

// out_i (rows×O_i) = x·W_iᵀ for weights that read the same x, in one pass of the threads over all of
// them: their rows form one list cut into chunks of `chunk` rows. Each call's fork and join is paid
// once, and small matrices (k/v with few KV heads) still use every core. Chunks go out guided: a
// thread first takes a long contiguous run (it streams its own part of W), then shorter ones, so a
// core slowed by the JavaScript engine's own threads or a neighbour on a shared machine does not
// hold the other at the join. (Measured against a static split: +2% gpt2 f32, +4–10% smollm; a
// shared counter with small chunks was slower, its cache line moving between cores every chunk.)
// f16/bf16 chunks are 64 rows, the others 16: a one-row product reads four rows a quarter of the
// chunk apart, and for half-precision rows (a 576-wide row is 1.1 KB) streams 16 rows apart gained
// 11-19% per token on smollm-135m f16 over 4 apart (per-process A/B, alternating); f32 and q8_0
// showed no clear change.
void gemvMulti(int kind, const float* x, int64_t rows, int64_t I, const std::vector<const uint8_t*>& W, const std::vector<int64_t>& O, const std::vector<float*>& out) {
  const int64_t chunk = kind == kF16 || kind == kBF16 ? 64 : 16;
  const size_t n = W.size();
  std::vector<int64_t> start(n + 1, 0);
  for (size_t i = 0; i < n; i++) start[i + 1] = start[i] + O[i];
  const int64_t total = start[n], chunks = (total + chunk - 1) / chunk;
  std::unique_ptr<Q8Input> xq(kind == kQ8 ? new Q8Input(x, rows, I) : nullptr);
  auto run = [&](int64_t c) {
    const int64_t lo = c * chunk, hi = std::min(total, lo + chunk);
    for (size_t i = 0; i < n; i++) {
      const int64_t o0 = std::max(lo, start[i]) - start[i], o1 = std::min(hi, start[i + 1]) - start[i];
      if (o0 < o1) weightRows(kind, x, xq.get(), rows, W[i], out[i], o0, o1, O[i], I);
    }
  };
  const int nt = total * I >= (1 << 15) ? (int)std::min<int64_t>(omp_get_max_threads(), chunks) : 1;
  if (nt <= 1) { for (int64_t c = 0; c < chunks; c++) run(c); return; }
#pragma omp parallel for schedule(guided) num_threads(nt)
  for (int64_t c = 0; c < chunks; c++) run(c);
}

void RegisterGemv(Napi::Env env, Napi::Object exports) {
  exports.Set("linearHalf", Napi::Function::New(env, LinearHalf));
  exports.Set("linearQ8", Napi::Function::New(env, LinearQ8));
  exports.Set("dequantQ8", Napi::Function::New(env, DequantQ8));
  exports.Set("quantizeQ8", Napi::Function::New(env, QuantizeQ8));
  exports.Set("toHalf", Napi::Function::New(env, ToHalf));
  exports.Set("fromHalf", Napi::Function::New(env, FromHalf));
  exports.Set("linearMulti", Napi::Function::New(env, LinearMulti));
}

}  // namespace heed
