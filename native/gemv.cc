// Decoding's linear layers on weights stored compact: out (rows×O) = x (rows×I) · Wᵀ for a few rows
// (one per sequence being decoded), W read once as stored (f16, bf16, or q8_0 blocks of 32 int8
// codes with an f16 scale) and widened in registers, never into a buffer: at batch 1 a decode step
// is bound by the bytes of weights read, so half the bytes is twice the speed.
#include <algorithm>
#include <cstring>
#include "common.h"
#if defined(__AVX512F__)
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
inline float bf16ToFloat(uint16_t h) { uint32_t bits = uint32_t(h) << 16; float f; std::memcpy(&f, &bits, 4); return f; }

#if defined(__AVX512F__)
// 16 weights widened to f32: f16 by the hardware conversion, bf16 by a shift into the high half.
template <bool BF16>
inline __m512 load16(const uint16_t* w) {
  __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w));
  if constexpr (BF16) return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  else return _mm512_cvtph_ps(h);
}
template <bool BF16>
inline __m512 load16Masked(const uint16_t* w, __mmask16 m) {
  __m256i h = _mm256_maskz_loadu_epi16(m, w);
  if constexpr (BF16) return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  else return _mm512_cvtph_ps(h);
}
#endif

// out[r·O + o] = Σ_i x[r·I + i]·W[o·I + i] for o in [o0, o1), R rows of x.
template <bool BF16, int R>
void halfRows(const float* x, const uint16_t* W, float* out, int64_t o0, int64_t o1, int64_t O, int64_t I) {
  for (int64_t o = o0; o < o1; o++) {
    const uint16_t* w = W + o * I;
#if defined(__AVX512F__)
    __m512 a0[R], a1[R];
    for (int r = 0; r < R; r++) a0[r] = _mm512_setzero_ps(), a1[r] = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= I; i += 32) {
      __m512 w0 = load16<BF16>(w + i), w1 = load16<BF16>(w + i + 16);
      for (int r = 0; r < R; r++) {
        a0[r] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(x + r * I + i), a0[r]);
        a1[r] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(x + r * I + i + 16), a1[r]);
      }
    }
    for (; i < I; i += 16) {
      __mmask16 m = I - i >= 16 ? __mmask16(0xffff) : __mmask16((1u << (I - i)) - 1);
      __m512 w0 = load16Masked<BF16>(w + i, m);
      for (int r = 0; r < R; r++) a0[r] = _mm512_fmadd_ps(w0, _mm512_maskz_loadu_ps(m, x + r * I + i), a0[r]);
    }
    for (int r = 0; r < R; r++) out[r * O + o] = _mm512_reduce_add_ps(_mm512_add_ps(a0[r], a1[r]));
#else
    float acc[R] = {};
    for (int64_t i = 0; i < I; i++) {
      float wv = BF16 ? bf16ToFloat(w[i]) : halfToFloat(w[i]);
      for (int r = 0; r < R; r++) acc[r] += wv * x[r * I + i];
    }
    for (int r = 0; r < R; r++) out[r * O + o] = acc[r];
#endif
  }
}

// q8_0 rows: I/32 blocks of {f16 d, int8 q[32]}; Σ_b d_b·Σ_j q_j·x_j.
template <int R>
void q8Rows(const float* x, const uint8_t* W, float* out, int64_t o0, int64_t o1, int64_t O, int64_t I) {
  const int64_t nb = I / kQ8Block, rowBytes = nb * kQ8Bytes;
  for (int64_t o = o0; o < o1; o++) {
    const uint8_t* w = W + o * rowBytes;
#if defined(__AVX512F__)
    __m512 acc[R];
    for (int r = 0; r < R; r++) acc[r] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
      const uint8_t* blk = w + b * kQ8Bytes;
      uint16_t dh; std::memcpy(&dh, blk, 2);
      const __m512 d = _mm512_set1_ps(halfToFloat(dh));
      const __m512 q0 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 2))));
      const __m512 q1 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 18))));
      const float* xb = x + b * kQ8Block;
      for (int r = 0; r < R; r++) {
        __m512 s = _mm512_mul_ps(q0, _mm512_loadu_ps(xb + r * I));
        s = _mm512_fmadd_ps(q1, _mm512_loadu_ps(xb + r * I + 16), s);
        acc[r] = _mm512_fmadd_ps(d, s, acc[r]);
      }
    }
    for (int r = 0; r < R; r++) out[r * O + o] = _mm512_reduce_add_ps(acc[r]);
#else
    float acc[R] = {};
    for (int64_t b = 0; b < nb; b++) {
      const uint8_t* blk = w + b * kQ8Bytes;
      uint16_t dh; std::memcpy(&dh, blk, 2);
      const float d = halfToFloat(dh);
      const int8_t* q = reinterpret_cast<const int8_t*>(blk + 2);
      for (int r = 0; r < R; r++) {
        float s = 0;
        for (int j = 0; j < kQ8Block; j++) s += float(q[j]) * x[r * I + b * kQ8Block + j];
        acc[r] += d * s;
      }
    }
    for (int r = 0; r < R; r++) out[r * O + o] = acc[r];
#endif
  }
}


template <typename F>
void parallelRows(int64_t rows, int64_t O, int64_t I, F&& run) {
  // Split W's rows between threads in 64-row chunks; each thread streams its own part of W.
  const int64_t chunk = 64, chunks = (O + chunk - 1) / chunk;
  const int nt = O * I >= (1 << 15) ? (int)std::min<int64_t>(omp_get_max_threads(), chunks) : 1;
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
  for (int64_t c = 0; c < chunks; c++) {
    const int64_t o0 = c * chunk, o1 = std::min(O, o0 + chunk);
    for (int64_t r0 = 0; r0 < rows; r0 += kMaxRows) run(r0, std::min(kMaxRows, rows - r0), o0, o1);
  }
}

// linearHalf(x, w, bf16, out, rows, O, I): out = x·Wᵀ, W (O×I) f16 or bf16 bit patterns.
Napi::Value LinearHalf(const Napi::CallbackInfo& info) {
  const float* x = F32(info[0]);
  const uint16_t* W = info[1].As<Napi::Uint16Array>().Data();
  const bool bf16 = Bool(info[2]);
  float* out = F32(info[3]);
  const int64_t rows = Int(info[4]), O = Int(info[5]), I = Int(info[6]);
  parallelRows(rows, O, I, [&](int64_t r0, int64_t R, int64_t o0, int64_t o1) {
    const float* xr = x + r0 * I; float* orow = out + r0 * O;
    switch ((bf16 ? 8 : 0) + (int)R) {
      case 1: halfRows<false, 1>(xr, W, orow, o0, o1, O, I); break;
      case 2: halfRows<false, 2>(xr, W, orow, o0, o1, O, I); break;
      case 3: halfRows<false, 3>(xr, W, orow, o0, o1, O, I); break;
      case 4: halfRows<false, 4>(xr, W, orow, o0, o1, O, I); break;
      case 9: halfRows<true, 1>(xr, W, orow, o0, o1, O, I); break;
      case 10: halfRows<true, 2>(xr, W, orow, o0, o1, O, I); break;
      case 11: halfRows<true, 3>(xr, W, orow, o0, o1, O, I); break;
      default: halfRows<true, 4>(xr, W, orow, o0, o1, O, I); break;
    }
  });
  return info.Env().Undefined();
}

// linearQ8(x, blocks, out, rows, O, I): out = x·Wᵀ, W (O×I) as q8_0 blocks, I a multiple of 32.
Napi::Value LinearQ8(const Napi::CallbackInfo& info) {
  const float* x = F32(info[0]);
  const uint8_t* W = info[1].As<Napi::Uint8Array>().Data();
  float* out = F32(info[2]);
  const int64_t rows = Int(info[3]), O = Int(info[4]), I = Int(info[5]);
  parallelRows(rows, O, I, [&](int64_t r0, int64_t R, int64_t o0, int64_t o1) {
    const float* xr = x + r0 * I; float* orow = out + r0 * O;
    switch (R) {
      case 1: q8Rows<1>(xr, W, orow, o0, o1, O, I); break;
      case 2: q8Rows<2>(xr, W, orow, o0, o1, O, I); break;
      case 3: q8Rows<3>(xr, W, orow, o0, o1, O, I); break;
      default: q8Rows<4>(xr, W, orow, o0, o1, O, I); break;
    }
  });
  return info.Env().Undefined();
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

}  // namespace

void RegisterGemv(Napi::Env env, Napi::Object exports) {
  exports.Set("linearHalf", Napi::Function::New(env, LinearHalf));
  exports.Set("linearQ8", Napi::Function::New(env, LinearQ8));
  exports.Set("dequantQ8", Napi::Function::New(env, DequantQ8));
}

}  // namespace heed
