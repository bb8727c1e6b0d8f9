// SGEMM for heed: C = beta·C + op(A)·op(B), row-major, any transposes, batched. Large M runs a
// BLIS-style pack-and-loop with an 8×32 (AVX-512) or 6×16 (AVX2+FMA) register tile; small M (decode)
// streams B unpacked.
#include "common.h"
#include <algorithm>
#include <cstdlib>
#include <cstring>
#if defined(__AVX512F__)
#include <immintrin.h>
#define HEED_AVX512 1
#define HEED_AVX2 0
#elif defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define HEED_AVX512 0
#define HEED_AVX2 1
#else
#define HEED_AVX512 0
#define HEED_AVX2 0
#endif

namespace heed {
namespace {

#if HEED_AVX2
// 6×16 = 12 ymm accumulators + 2 for B + 1 broadcast: fits the 16 ymm registers with no spills.
constexpr int VL = 8;  // floats per vector
constexpr int MR = 6, NR = 16;
// KC·NR·4 = 16 KiB: one B micro-panel takes half of Zen 3's 32 KiB L1, the A micro-panel (6 KiB)
// streams beside it; MC·KC·4 = 144 KiB of A sits in the 512 KiB L2 with room for the B panel.
constexpr int64_t KC = 256, MC = 144, NC = 4080;
constexpr int64_t SMALL_M = 17;
#else
constexpr int VL = 16;
// 8×32 = 16 zmm accumulators + 2 for B + 1 broadcast: fits the 32 zmm registers with no spills.
constexpr int MR = 8, NR = 32;
// KC·NR·4 = 48 KiB: one B micro-panel fills L1; MC·KC·4 = 144 KiB of A sits in the 1 MiB L2 with
// room for the B panel (KC·N·4 for N ≤ 768). Measured on Zen 5: MC from 72 to 144 is flat, KC 256
// and 512 lose 5–10%.
constexpr int64_t KC = 384, MC = 96, NC = 3072;
// Up to this M (exclusive), packing B costs more than the multiply saves (decode, small batches);
// at M = 16 the streaming kernels are still ahead, at 32 the packed path is.
constexpr int64_t SMALL_M = 17;
#endif

// Per-thread scratch that grows once and is reused: no allocation in the hot loops, and safe when
// sgemm runs inside another kernel's OpenMP loop.
struct Scratch {
  float* p = nullptr;
  size_t n = 0;
  ~Scratch() { std::free(p); }
  float* get(size_t need) {
    if (need > n) {
      std::free(p);
      size_t bytes = (need * sizeof(float) + 63) & ~size_t(63);
      p = static_cast<float*>(std::aligned_alloc(64, bytes));
      n = need;
    }
    return p;
  }
};
thread_local Scratch tlA, tlB;

inline int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
// Splits `units` into `parts` near-equal contiguous ranges; returns [lo, hi) of part `idx`.
inline void split(int64_t units, int parts, int idx, int64_t& lo, int64_t& hi) {
  int64_t q = units / parts, r = units % parts;
  lo = idx * q + std::min<int64_t>(idx, r);
  hi = lo + q + (idx < r ? 1 : 0);
}

#if HEED_AVX512 || HEED_AVX2
// dst[j·ld + i] = src[i·ls + j] for an 8×8 block.
inline void tr8x8(const float* src, int64_t ls, float* dst, int64_t ld) {
  __m256 r0 = _mm256_loadu_ps(src), r1 = _mm256_loadu_ps(src + ls), r2 = _mm256_loadu_ps(src + 2 * ls),
         r3 = _mm256_loadu_ps(src + 3 * ls), r4 = _mm256_loadu_ps(src + 4 * ls), r5 = _mm256_loadu_ps(src + 5 * ls),
         r6 = _mm256_loadu_ps(src + 6 * ls), r7 = _mm256_loadu_ps(src + 7 * ls);
  __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1), t2 = _mm256_unpacklo_ps(r2, r3),
         t3 = _mm256_unpackhi_ps(r2, r3), t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5),
         t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
  __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE),
         u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE),
         u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE),
         u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  _mm256_storeu_ps(dst, _mm256_permute2f128_ps(u0, u4, 0x20));
  _mm256_storeu_ps(dst + ld, _mm256_permute2f128_ps(u1, u5, 0x20));
  _mm256_storeu_ps(dst + 2 * ld, _mm256_permute2f128_ps(u2, u6, 0x20));
  _mm256_storeu_ps(dst + 3 * ld, _mm256_permute2f128_ps(u3, u7, 0x20));
  _mm256_storeu_ps(dst + 4 * ld, _mm256_permute2f128_ps(u0, u4, 0x31));
  _mm256_storeu_ps(dst + 5 * ld, _mm256_permute2f128_ps(u1, u5, 0x31));
  _mm256_storeu_ps(dst + 6 * ld, _mm256_permute2f128_ps(u2, u6, 0x31));
  _mm256_storeu_ps(dst + 7 * ld, _mm256_permute2f128_ps(u3, u7, 0x31));
}
#endif
#if HEED_AVX512
inline __mmask16 tailMask(int64_t n) { return n >= 16 ? __mmask16(0xFFFF) : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1); }
#endif
#if HEED_AVX2
// Lanes [0, n) on: a window into eight ones then eight zeros (AVX2 masks are int32 vectors).
alignas(64) constexpr int32_t kTailBits[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
inline __m256i tailMask(int64_t n) {
  n = n < 0 ? 0 : n > 8 ? 8 : n;
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kTailBits + 8 - n));
}
// The 6-row sliver of an 8×8 transpose: rows 6 and 7 are zero and never stored.
inline void tr6x8(const float* src, int64_t ls, float* dst) {
  __m256 z = _mm256_setzero_ps();
  __m256 r0 = _mm256_loadu_ps(src), r1 = _mm256_loadu_ps(src + ls), r2 = _mm256_loadu_ps(src + 2 * ls),
         r3 = _mm256_loadu_ps(src + 3 * ls), r4 = _mm256_loadu_ps(src + 4 * ls), r5 = _mm256_loadu_ps(src + 5 * ls);
  __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1), t2 = _mm256_unpacklo_ps(r2, r3),
         t3 = _mm256_unpackhi_ps(r2, r3), t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5),
         t6 = _mm256_unpacklo_ps(z, z), t7 = t6;
  __m256 u[8] = {_mm256_shuffle_ps(t0, t2, 0x44), _mm256_shuffle_ps(t0, t2, 0xEE),
                 _mm256_shuffle_ps(t1, t3, 0x44), _mm256_shuffle_ps(t1, t3, 0xEE),
                 _mm256_shuffle_ps(t4, t6, 0x44), _mm256_shuffle_ps(t4, t6, 0xEE),
                 _mm256_shuffle_ps(t5, t7, 0x44), _mm256_shuffle_ps(t5, t7, 0xEE)};
  // Output column j of the transpose is k = j: rows 0–3 from u[j mod 4]'s lane half, rows 4–5 from
  // u[4 + j mod 4]'s low two lanes of the same half.
  for (int j = 0; j < 8; j++) {
    __m256 lo = u[j & 3], hi = u[4 + (j & 3)];
    __m128 a = j < 4 ? _mm256_castps256_ps128(lo) : _mm256_extractf128_ps(lo, 1);
    __m128 b = j < 4 ? _mm256_castps256_ps128(hi) : _mm256_extractf128_ps(hi, 1);
    _mm_storeu_ps(dst + j * 6, a);
    _mm_storel_pi(reinterpret_cast<__m64*>(dst + j * 6 + 4), b);
  }
}
#endif

// Packs rows [i0, i0+m) (m ≤ W) of op(A), k in [p0, p0+kc), as out[p·W + r]; rows past m are zero
// so the microkernel never branches on the edge.
template <int W>
void packA(bool tA, const float* A, int64_t lda, int64_t i0, int m, int64_t p0, int64_t kc, float* out) {
  if (tA) {  // A stored K×M: each k holds the W rows contiguously.
    const float* src = A + p0 * lda + i0;
    for (int64_t p = 0; p < kc; p++, src += lda, out += W) {
      if (m == W) std::memcpy(out, src, W * sizeof(float));
      else { for (int r = 0; r < m; r++) out[r] = src[r]; for (int r = m; r < W; r++) out[r] = 0.f; }
    }
    return;
  }
  const float* src = A + i0 * lda + p0;
  int64_t p = 0;
#if HEED_AVX512
  if (W == 8 && m == 8)
    for (; p + 8 <= kc; p += 8) tr8x8(src + p, lda, out + p * W, W);
#elif HEED_AVX2
  if (W == 6 && m == 6)
    for (; p + 8 <= kc; p += 8) tr6x8(src + p, lda, out + p * W);
#endif
  for (; p < kc; p++) {
    for (int r = 0; r < m; r++) out[p * W + r] = src[r * lda + p];
    for (int r = m; r < W; r++) out[p * W + r] = 0.f;
  }
}

// Packs columns [j0, j0+n) (n ≤ NR) of op(B) with B stored N×K, k in [p0, p0+kc), as
// out[p·NR + c], zero-padded.
void packBT(const float* B, int64_t ldb, int64_t j0, int n, int64_t p0, int64_t kc, float* out) {
  const float* src = B + j0 * ldb + p0;
  int64_t p = 0;
#if HEED_AVX512 || HEED_AVX2
  if (n == NR)
    for (; p + 8 <= kc; p += 8)
      for (int g = 0; g < NR / 8; g++) tr8x8(src + g * 8 * ldb + p, ldb, out + p * NR + g * 8, NR);
#endif
  for (; p < kc; p++) {
    for (int c = 0; c < n; c++) out[p * NR + c] = src[c * ldb + p];
    for (int c = n; c < NR; c++) out[p * NR + c] = 0.f;
  }
}

// Packs the mc×kc block of op(A) at (i0, p0) as MR-row slivers (sliver s at out + s·MR·kc).
void packAPanel(bool tA, const float* A, int64_t lda, int64_t i0, int64_t mc, int64_t p0, int64_t kc, float* out) {
  for (int64_t i = 0; i < mc; i += MR) packA<MR>(tA, A, lda, i0 + i, (int)std::min<int64_t>(MR, mc - i), p0, kc, out + i * kc);
}

// Packs the kc×nc block of op(B) at (p0, j0) as NR-column slivers (sliver s at out + s·NR·kc).
void packBPanel(bool tB, const float* B, int64_t ldb, int64_t j0, int64_t nc, int64_t p0, int64_t kc, float* out) {
  if (tB) {
    for (int64_t j = 0; j < nc; j += NR) packBT(B, ldb, j0 + j, (int)std::min<int64_t>(NR, nc - j), p0, kc, out + j * kc);
    return;
  }
  // B stored K×N: eight k rows at a time across all slivers, so reads stay sequential along N.
  for (int64_t pb = 0; pb < kc; pb += 8) {
    int64_t pe = std::min(pb + 8, kc);
    for (int64_t j = 0; j < nc; j += NR) {
      int n = (int)std::min<int64_t>(NR, nc - j);
      for (int64_t p = pb; p < pe; p++) {
        const float* src = B + (p0 + p) * ldb + j0 + j;
        float* o = out + j * kc + p * NR;
#if HEED_AVX512
        _mm512_store_ps(o, _mm512_maskz_loadu_ps(tailMask(n), src));
        _mm512_store_ps(o + 16, _mm512_maskz_loadu_ps(tailMask(n - 16), src + 16));
#elif HEED_AVX2
        if (n == NR) {
          _mm256_store_ps(o, _mm256_loadu_ps(src));
          _mm256_store_ps(o + 8, _mm256_loadu_ps(src + 8));
        } else {
          _mm256_store_ps(o, _mm256_maskload_ps(src, tailMask(n)));
          _mm256_store_ps(o + 8, _mm256_maskload_ps(src + 8, tailMask(n - 8)));
        }
#else
        for (int c = 0; c < n; c++) o[c] = src[c];
        for (int c = n; c < NR; c++) o[c] = 0.f;
#endif
      }
    }
  }
}

// The register tile: C[0:mv, 0:nv] (+)= a·b over kc steps. a is packed (MT floats per k); b holds
// NV·VL floats per k at stride ldbk (a packed panel, or B itself when streaming). MASKB loads B
// under a mask, for a streamed edge narrower than the tile.
template <int MT, int NV, bool MASKB>
inline void tile(int64_t kc, const float* __restrict a, const float* __restrict b, int64_t ldbk,
                 float* __restrict c, int64_t ldc, bool accum, int mv, int nv) {
#if HEED_AVX512
  __m512 acc[MT][NV];
  __mmask16 mk[NV];
#pragma GCC unroll 16
  for (int v = 0; v < NV; v++) mk[v] = tailMask(nv - 16 * v);
  // C is touched once per tile, long after it left cache; fetch it while the FMAs run.
#pragma GCC unroll 16
  for (int r = 0; r < MT; r++) {
    if (r >= mv) break;
#pragma GCC unroll 16
    for (int v = 0; v < NV; v++) _mm_prefetch((const char*)(c + r * ldc + 16 * v), _MM_HINT_T0);
    _mm_prefetch((const char*)(c + r * ldc + 16 * NV - 1), _MM_HINT_T0);
  }
#pragma GCC unroll 16
  for (int r = 0; r < MT; r++)
#pragma GCC unroll 16
    for (int v = 0; v < NV; v++) acc[r][v] = _mm512_setzero_ps();
#pragma GCC unroll 4
  for (int64_t p = 0; p < kc; p++) {
    __m512 bv[NV];
#pragma GCC unroll 16
    for (int v = 0; v < NV; v++) bv[v] = MASKB ? _mm512_maskz_loadu_ps(mk[v], b + 16 * v) : _mm512_loadu_ps(b + 16 * v);
#pragma GCC unroll 16
    for (int r = 0; r < MT; r++) {
      __m512 av = _mm512_set1_ps(a[r]);
#pragma GCC unroll 16
      for (int v = 0; v < NV; v++) acc[r][v] = _mm512_fmadd_ps(av, bv[v], acc[r][v]);
    }
    a += MT;
    b += ldbk;
  }
#pragma GCC unroll 16
  for (int r = 0; r < MT; r++) {
    if (r >= mv) break;
    float* cr = c + r * ldc;
#pragma GCC unroll 16
    for (int v = 0; v < NV; v++) {
      __m512 x = acc[r][v];
      if (accum) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(mk[v], cr + 16 * v));
      _mm512_mask_storeu_ps(cr + 16 * v, mk[v], x);
    }
  }
#elif HEED_AVX2
  __m256 acc[MT][NV];
  __m256i mk[NV];
#pragma GCC unroll 16
  for (int v = 0; v < NV; v++) mk[v] = tailMask(nv - 8 * v);
  // C is touched once per tile, long after it left cache; fetch it while the FMAs run.
#pragma GCC unroll 16
  for (int r = 0; r < MT; r++) {
    if (r >= mv) break;
#pragma GCC unroll 16
    for (int v = 0; v < NV; v += 2) _mm_prefetch((const char*)(c + r * ldc + 8 * v), _MM_HINT_T0);
    _mm_prefetch((const char*)(c + r * ldc + 8 * NV - 1), _MM_HINT_T0);
  }
#pragma GCC unroll 16
  for (int r = 0; r < MT; r++)
#pragma GCC unroll 16
    for (int v = 0; v < NV; v++) acc[r][v] = _mm256_setzero_ps();
#pragma GCC unroll 4
  for (int64_t p = 0; p < kc; p++) {
    __m256 bv[NV];
#pragma GCC unroll 16
    for (int v = 0; v < NV; v++) bv[v] = MASKB ? _mm256_maskload_ps(b + 8 * v, mk[v]) : _mm256_loadu_ps(b + 8 * v);
#pragma GCC unroll 16
    for (int r = 0; r < MT; r++) {
      __m256 av = _mm256_broadcast_ss(a + r);
#pragma GCC unroll 16
      for (int v = 0; v < NV; v++) acc[r][v] = _mm256_fmadd_ps(av, bv[v], acc[r][v]);
    }
    a += MT;
    b += ldbk;
  }
#pragma GCC unroll 16
  for (int r = 0; r < MT; r++) {
    if (r >= mv) break;
    float* cr = c + r * ldc;
#pragma GCC unroll 16
    for (int v = 0; v < NV; v++) {
      __m256 x = acc[r][v];
      if (nv >= 8 * (v + 1)) {
        if (accum) x = _mm256_add_ps(x, _mm256_loadu_ps(cr + 8 * v));
        _mm256_storeu_ps(cr + 8 * v, x);
      } else {
        if (accum) x = _mm256_add_ps(x, _mm256_maskload_ps(cr + 8 * v, mk[v]));
        _mm256_maskstore_ps(cr + 8 * v, mk[v], x);
      }
    }
  }
#else
  constexpr int NW = NV * VL;
  float acc[MT][NW] = {};
  for (int64_t p = 0; p < kc; p++) {
    for (int r = 0; r < MT; r++)
      for (int j = 0; j < NW; j++) acc[r][j] += a[r] * (MASKB && j >= nv ? 0.f : b[j]);
    a += MT;
    b += ldbk;
  }
  for (int r = 0; r < mv; r++)
    for (int j = 0; j < nv; j++) c[r * ldc + j] = accum ? c[r * ldc + j] + acc[r][j] : acc[r][j];
#endif
}

// One thread's share of the large-M path: the classic five loops around the MR×NR tile.
void gemmPacked(bool tA, bool tB, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
                const float* B, int64_t ldb, float* C, int64_t ldc, bool accum) {
  float* Ap = tlA.get(MC * KC);
  float* Bp = tlB.get(KC * NC);
  for (int64_t jc = 0; jc < N; jc += NC) {
    int64_t nc = std::min(NC, N - jc);
    for (int64_t pc = 0; pc < K; pc += KC) {
      int64_t kc = std::min(KC, K - pc);
      packBPanel(tB, B, ldb, jc, nc, pc, kc, Bp);
      bool acc = accum || pc > 0;
      for (int64_t ic = 0; ic < M; ic += MC) {
        int64_t mc = std::min(MC, M - ic);
        packAPanel(tA, A, lda, ic, mc, pc, kc, Ap);
        for (int64_t jr = 0; jr < nc; jr += NR) {
          int nv = (int)std::min<int64_t>(NR, nc - jr);
          for (int64_t ir = 0; ir < mc; ir += MR)
            tile<MR, NR / VL, false>(kc, Ap + ir * kc, Bp + jr * kc, NR, C + (ic + ir) * ldc + jc + jr, ldc, acc,
                                     (int)std::min<int64_t>(MR, mc - ir), nv);
        }
      }
    }
  }
}

// Small M, B stored K×N (NN, TN): A is packed whole (it is tiny) and B rows are streamed straight
// from memory, so a decode step reads each weight once and packs nothing. Columns [j0, j1).
template <int MT, int NV>
void gemmSmallStream(bool tA, int64_t M, int64_t j0, int64_t j1, int64_t K, const float* A, int64_t lda,
                     const float* B, int64_t ldb, float* C, int64_t ldc, int64_t /*cs: always 1*/, bool accum) {
  constexpr int64_t W = NV * VL;
  int64_t slivers = cdiv(M, MT);
  float* Ap = tlA.get(slivers * MT * K);
  for (int64_t s = 0; s < slivers; s++) packA<MT>(tA, A, lda, s * MT, (int)std::min<int64_t>(MT, M - s * MT), 0, K, Ap + s * MT * K);
#if HEED_AVX2
  // K blocks outside the strips, so every strip revisits a block's 256 B rows while their pages are
  // still in the TLB and their lines in cache (a row of a few KiB is a page of its own, and hardware
  // prefetchers stop at pages). Measured on Zen 3: 1.1–1.5× at M ≤ 16 with K or N = 3072.
  constexpr int64_t kb = 256;
  for (int64_t pc = 0; pc < K; pc += kb) {
    int64_t kc = std::min(kb, K - pc);
    bool acc = accum || pc > 0;
    for (int64_t j = j0; j < j1; j += W) {
      int nv = (int)std::min<int64_t>(W, j1 - j);
#else
  // With one sliver nothing reuses a B strip, so there is no point blocking K.
  int64_t kb = slivers == 1 ? K : 256;
  for (int64_t j = j0; j < j1; j += W) {
    int nv = (int)std::min<int64_t>(W, j1 - j);
    for (int64_t pc = 0; pc < K; pc += kb) {
      int64_t kc = std::min(kb, K - pc);
      bool acc = accum || pc > 0;
#endif
      for (int64_t s = 0; s < slivers; s++) {
        const float* a = Ap + s * MT * K + pc * MT;
        const float* b = B + pc * ldb + j;
        float* c = C + s * MT * ldc + j;
        int mv = (int)std::min<int64_t>(MT, M - s * MT);
        if (nv == W) tile<MT, NV, false>(kc, a, b, ldb, c, ldc, acc, mv, nv);
        else tile<MT, NV, true>(kc, a, b, ldb, c, ldc, acc, mv, nv);
      }
    }
  }
}

// RA rows of A against RB rows of B (both contiguous along K): RA·RB dot products at once, so each
// loaded vector feeds several FMAs. Rows past ra/rb repeat the last valid one and are not stored.
template <int RA, int RB>
inline void dotBlock(int64_t K, const float* A, int64_t lda, int ra, const float* B, int64_t ldb, int rb,
                     float* c, int64_t rs, int64_t cs, bool accum) {
  const float* ap[RA];
  const float* bp[RB];
  for (int r = 0; r < RA; r++) ap[r] = A + std::min(r, ra - 1) * lda;
  for (int q = 0; q < RB; q++) bp[q] = B + std::min(q, rb - 1) * ldb;
#if HEED_AVX512
  __m512 acc[RA][RB];
#pragma GCC unroll 16
  for (int r = 0; r < RA; r++)
#pragma GCC unroll 16
    for (int q = 0; q < RB; q++) acc[r][q] = _mm512_setzero_ps();
  // Written out twice (body, masked tail) rather than as a lambda: capturing acc by reference
  // made GCC store all accumulators to the stack every iteration.
  int64_t k = 0;
#pragma GCC unroll 2
  for (; k + 16 <= K; k += 16) {
    __m512 bv[RB];
#pragma GCC unroll 16
    for (int q = 0; q < RB; q++) bv[q] = _mm512_loadu_ps(bp[q] + k);
#pragma GCC unroll 16
    for (int r = 0; r < RA; r++) {
      __m512 av = _mm512_loadu_ps(ap[r] + k);
#pragma GCC unroll 16
      for (int q = 0; q < RB; q++) acc[r][q] = _mm512_fmadd_ps(av, bv[q], acc[r][q]);
    }
  }
  if (k < K) {
    __mmask16 m = tailMask(K - k);
    __m512 bv[RB];
#pragma GCC unroll 16
    for (int q = 0; q < RB; q++) bv[q] = _mm512_maskz_loadu_ps(m, bp[q] + k);
#pragma GCC unroll 16
    for (int r = 0; r < RA; r++) {
      __m512 av = _mm512_maskz_loadu_ps(m, ap[r] + k);
#pragma GCC unroll 16
      for (int q = 0; q < RB; q++) acc[r][q] = _mm512_fmadd_ps(av, bv[q], acc[r][q]);
    }
  }
  for (int r = 0; r < ra; r++)
    for (int q = 0; q < rb; q++) {
      float s = _mm512_reduce_add_ps(acc[r][q]);
      c[r * rs + q * cs] = accum ? c[r * rs + q * cs] + s : s;
    }
#elif HEED_AVX2
  __m256 acc[RA][RB];
#pragma GCC unroll 16
  for (int r = 0; r < RA; r++)
#pragma GCC unroll 16
    for (int q = 0; q < RB; q++) acc[r][q] = _mm256_setzero_ps();
  int64_t k = 0;
#pragma GCC unroll 2
  for (; k + 8 <= K; k += 8) {
    __m256 bv[RB];
#pragma GCC unroll 16
    for (int q = 0; q < RB; q++) bv[q] = _mm256_loadu_ps(bp[q] + k);
#pragma GCC unroll 16
    for (int r = 0; r < RA; r++) {
      __m256 av = _mm256_loadu_ps(ap[r] + k);
#pragma GCC unroll 16
      for (int q = 0; q < RB; q++) acc[r][q] = _mm256_fmadd_ps(av, bv[q], acc[r][q]);
    }
  }
  if (k < K) {
    __m256i m = tailMask(K - k);
    __m256 bv[RB];
#pragma GCC unroll 16
    for (int q = 0; q < RB; q++) bv[q] = _mm256_maskload_ps(bp[q] + k, m);
#pragma GCC unroll 16
    for (int r = 0; r < RA; r++) {
      __m256 av = _mm256_maskload_ps(ap[r] + k, m);
#pragma GCC unroll 16
      for (int q = 0; q < RB; q++) acc[r][q] = _mm256_fmadd_ps(av, bv[q], acc[r][q]);
    }
  }
  for (int r = 0; r < ra; r++)
    for (int q = 0; q < rb; q++) {
      __m128 h = _mm_add_ps(_mm256_castps256_ps128(acc[r][q]), _mm256_extractf128_ps(acc[r][q], 1));
      h = _mm_add_ps(h, _mm_movehl_ps(h, h));
      float s = _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)));
      c[r * rs + q * cs] = accum ? c[r * rs + q * cs] + s : s;
    }
#else
  float acc[RA][RB] = {};
  for (int64_t k = 0; k < K; k++)
    for (int r = 0; r < RA; r++)
      for (int q = 0; q < RB; q++) acc[r][q] += ap[r][k] * bp[q][k];
  for (int r = 0; r < ra; r++)
    for (int q = 0; q < rb; q++) c[r * rs + q * cs] = accum ? c[r * rs + q * cs] + acc[r][q] : acc[r][q];
#endif
}

// Small M, B stored N×K (NT, TT): every C entry is a dot product of two contiguous rows, so B is
// streamed as is. B rows [j0, j1). C(i, j) is at C[i·ldc + j·cs] (cs ≠ 1 for a transposed C).
template <int RA, int RB>
void gemmSmallDot(bool tA, int64_t M, int64_t j0, int64_t j1, int64_t K, const float* A, int64_t lda,
                  const float* B, int64_t ldb, float* C, int64_t ldc, int64_t cs, bool accum) {
  if (tA) {  // rows of op(A) must be contiguous along K
    float* At = tlA.get(M * K);
    for (int64_t p = 0; p < K; p++)
      for (int64_t i = 0; i < M; i++) At[i * K + p] = A[p * lda + i];
    A = At;
    lda = K;
  }
  for (int64_t j = j0; j < j1; j += RB) {
    int rb = (int)std::min<int64_t>(RB, j1 - j);
    for (int64_t i = 0; i < M; i += RA)
      dotBlock<RA, RB>(K, A + i * lda, lda, (int)std::min<int64_t>(RA, M - i), B + j * ldb, ldb, rb,
                       C + i * ldc + j * cs, ldc, cs, accum);
  }
}

using SmallFn = void (*)(bool, int64_t, int64_t, int64_t, int64_t, const float*, int64_t, const float*, int64_t,
                         float*, int64_t, int64_t, bool);

void scaleC(int64_t M, int64_t N, float* C, int64_t ldc, float beta) {
  for (int64_t i = 0; i < M; i++)
    for (int64_t j = 0; j < N; j++) C[i * ldc + j] = beta == 0.f ? 0.f : beta * C[i * ldc + j];
}

}  // namespace

void sgemm(bool tA, bool tB, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
           const float* B, int64_t ldb, float* C, int64_t ldc, float beta, bool parallel) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) { scaleC(M, N, C, ldc, beta); return; }
  if (beta != 0.f && beta != 1.f) { scaleC(M, N, C, ldc, beta); beta = 1.f; }
  bool accum = beta != 0.f;
  // Below ~100k multiply-adds the fork/join costs more than a second core saves.
  int nt = parallel && !omp_in_parallel() && M * N * K >= (1 << 17) ? omp_get_max_threads() : 1;

  // Small N with A stored M×K (LoRA's x·Aᵀ, N = rank) is small M in disguise: Cᵀ = op(B)ᵀ·Aᵀ,
  // whose B side is A's rows, so the dot kernels run it with C written transposed.
  bool swap = M >= SMALL_M && N < SMALL_M && !tA;
  if (M < SMALL_M || swap) {
    int64_t m = swap ? N : M, n = swap ? M : N, rs = swap ? 1 : ldc, cs = swap ? ldc : 1;
    bool ta = swap ? !tB : tA, dot = swap || tB;
    const float* a = swap ? B : A;
    const float* b = swap ? A : B;
    int64_t la = swap ? ldb : lda, lb = swap ? lda : ldb;
    SmallFn fn;
    int64_t unit;  // columns per work unit, so each thread's range is whole tiles
#if HEED_AVX2
    // Register budgets for 16 ymm: RA·RB accumulators plus RB B vectors and one A vector; MT·NV
    // accumulators plus NV B vectors and one broadcast.
    if (dot) {
      if (m == 1) fn = gemmSmallDot<1, 8>, unit = 8;
      else if (m == 2) fn = gemmSmallDot<2, 4>, unit = 4;
      else if (m == 3) fn = gemmSmallDot<3, 3>, unit = 3;
      else fn = gemmSmallDot<4, 3>, unit = 3;
    } else {
      if (m == 1) fn = gemmSmallStream<1, 8>, unit = 64;
      else if (m == 2) fn = gemmSmallStream<2, 4>, unit = 32;
      else if (m <= 4) fn = gemmSmallStream<4, 3>, unit = 24;
      else if (cdiv(m, 6) * 6 <= cdiv(m, 4) * 4) fn = gemmSmallStream<6, 2>, unit = 16;
      else fn = gemmSmallStream<4, 3>, unit = 24;
    }
#else
    if (dot) {
      if (m == 1) fn = gemmSmallDot<1, 8>, unit = 8;
      else if (m == 2) fn = gemmSmallDot<2, 6>, unit = 6;
      else if (m == 3) fn = gemmSmallDot<3, 4>, unit = 4;
      else fn = gemmSmallDot<4, 4>, unit = 4;
    } else {
      if (m == 1) fn = gemmSmallStream<1, 8>, unit = 128;
      else if (m == 2) fn = gemmSmallStream<2, 4>, unit = 64;
      else if (m <= 4) fn = gemmSmallStream<4, 4>, unit = 64;
      else fn = gemmSmallStream<8, 2>, unit = 32;
    }
#endif
    int64_t units = cdiv(n, unit);
    nt = (int)std::min<int64_t>(nt, units);
    auto run = [&](int t) {
      int64_t lo, hi;
      split(units, nt, t, lo, hi);
      if (lo < hi) fn(ta, m, lo * unit, std::min(hi * unit, n), K, a, la, b, lb, C, rs, cs, accum);
    };
    if (nt <= 1) run(0);
    else {
#pragma omp parallel num_threads(nt)
      run(omp_get_thread_num());
    }
    return;
  }

  // Large M: a tm×tn grid of threads, each running the packed loops on its own block of C. Pick the
  // grid with the least per-thread work, counting packing (each thread packs its own panels).
  int tm = 1, tn = 1;
  if (nt > 1) {
    double best = 1e300;
    for (int a = 1; a <= nt; a++) {
      if (nt % a) continue;
      int b = nt / a;
      double mt = (double)cdiv(cdiv(M, MR), a) * MR, ntl = (double)cdiv(cdiv(N, NR), b) * NR;
      double cost = mt * ntl * K + 8.0 * (mt * K * (double)cdiv((int64_t)ntl, NC) + K * ntl);
      if (cost < best) best = cost, tm = a, tn = b;
    }
  }
  auto run = [&](int t) {
    int64_t mlo, mhi, nlo, nhi;
    split(cdiv(M, MR), tm, t / tn, mlo, mhi);
    split(cdiv(N, NR), tn, t % tn, nlo, nhi);
    mlo *= MR, mhi = std::min(mhi * MR, M), nlo *= NR, nhi = std::min(nhi * NR, N);
    if (mlo >= mhi || nlo >= nhi) return;
    const float* a = tA ? A + mlo : A + mlo * lda;
    const float* b = tB ? B + nlo * ldb : B + nlo;
    gemmPacked(tA, tB, mhi - mlo, nhi - nlo, K, a, lda, b, ldb, C + mlo * ldc + nlo, ldc, accum);
  };
  if (tm * tn <= 1) run(0);
  else {
#pragma omp parallel num_threads(tm * tn)
    run(omp_get_thread_num());
  }
}

// gemm(transA, transB, M, N, K, A, aOff, B, bOff, C, cOff, beta, batch, strideA, strideB, strideC):
// the Kernels.gemm contract (src/core/kernels.ts), offsets and strides in elements.
static Napi::Value Gemm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 16) {
    Napi::TypeError::New(env, "gemm: expected 16 arguments").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  bool tA = info[0].ToBoolean(), tB = info[1].ToBoolean();
  int64_t M = Int(info[2]), N = Int(info[3]), K = Int(info[4]);
  auto Ta = info[5].As<Napi::Float32Array>(), Tb = info[7].As<Napi::Float32Array>(), Tc = info[9].As<Napi::Float32Array>();
  int64_t aOff = Int(info[6]), bOff = Int(info[8]), cOff = Int(info[10]);
  float beta = (float)Num(info[11]);
  int64_t batch = Int(info[12]), sA = Int(info[13]), sB = Int(info[14]), sC = Int(info[15]);
  if (M <= 0 || N <= 0 || batch <= 0) return env.Undefined();
  // A bad offset would write outside the array; catch it here rather than corrupt the heap.
  auto fits = [&](int64_t off, int64_t stride, int64_t size, size_t len) {
    return off >= 0 && stride >= 0 && off + (batch - 1) * stride + size <= (int64_t)len;
  };
  if (!fits(aOff, sA, M * K, Ta.ElementLength()) || !fits(bOff, sB, K * N, Tb.ElementLength()) ||
      !fits(cOff, sC, M * N, Tc.ElementLength())) {
    Napi::RangeError::New(env, "gemm: offsets, strides or sizes exceed an array").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const float* A = Ta.Data() + aOff;
  const float* B = Tb.Data() + bOff;
  float* C = Tc.Data() + cOff;
  int64_t lda = tA ? M : K, ldb = tB ? K : N;
  // Many small products (attention heads): one per thread beats splitting each one.
  if (batch > 1 && M * N * K < (1 << 21)) {
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t b = 0; b < batch; b++)
      sgemm(tA, tB, M, N, K, A + b * sA, lda, B + b * sB, ldb, C + b * sC, N, beta, false);
  } else {
    for (int64_t b = 0; b < batch; b++)
      sgemm(tA, tB, M, N, K, A + b * sA, lda, B + b * sB, ldb, C + b * sC, N, beta, true);
  }
  return env.Undefined();
}

// simd(): the vector instruction set this build's kernels were compiled for, so benchmarks can say
// which machine class their figures belong to.
static Napi::Value Simd(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), HEED_AVX512 ? "avx512" : HEED_AVX2 ? "avx2" : "scalar");
}

void RegisterGemm(Napi::Env env, Napi::Object exports) {
  exports.Set("gemm", Napi::Function::New(env, Gemm));
  exports.Set("simd", Napi::Function::New(env, Simd));
}

}  // namespace heed
