// Fused CPU kernels for heed: norms, activations, RoPE, attention, cross-entropy, embedding, AdamW,
// and a decode step's whole transformer block.
// Each implements the function of the same name in src/core/kernels.ts (the contract and reference).
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>
#include "common.h"
#include "ops_simd.h"

namespace heed {
using namespace simd;

namespace {

// Elementwise kernels only fork threads when the work outweighs the fork (~a few µs).
constexpr int64_t kParElems = 1 << 15;

inline int64_t roundup(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

// ---------------------------------------------------------------------------------------------
// Small unpacked GEMM for attention blocks:
//   C[M×N] (ldc) = (acc ? C : 0) + Σ_{p<K} A(m, p) · B[p·ldb + n],   A(m, p) = A[m·sam + p·sak].
// A is read through arbitrary strides so Pᵀ·dO and dSᵀ·Q need no transpose; B rows are contiguous
// (a V/K/Q row, or a transposed-packed K/V block). Register tile: 6 rows × up to 4 vectors.
// ---------------------------------------------------------------------------------------------
constexpr int MR = 6;

#ifdef HEED_AVX512
// Accumulators are named variables, not an array: GCC keeps a 6×4 array of zmm in memory and
// stores it back every iteration, which halves the FMA rate.
#define HEED_ROW(m) __m512 c##m##0 = z, c##m##1 = z, c##m##2 = z, c##m##3 = z;
#define HEED_FMA(m)                                                   \
  if constexpr (m < R) {                                              \
    __m512 a = _mm512_set1_ps(ap[m * sam]);                           \
    c##m##0 = _mm512_fmadd_ps(a, b0, c##m##0);                        \
    if constexpr (NV > 1) c##m##1 = _mm512_fmadd_ps(a, b1, c##m##1);  \
    if constexpr (NV > 2) c##m##2 = _mm512_fmadd_ps(a, b2, c##m##2);  \
    if constexpr (NV > 3) c##m##3 = _mm512_fmadd_ps(a, b3, c##m##3);  \
  }
#define HEED_PUT(m)                                                   \
  if constexpr (m < R) {                                              \
    put(C + m * ldc, c##m##0, NV == 1 ? last : full);                 \
    if constexpr (NV > 1) put(C + m * ldc + 16, c##m##1, NV == 2 ? last : full); \
    if constexpr (NV > 2) put(C + m * ldc + 32, c##m##2, NV == 3 ? last : full); \
    if constexpr (NV > 3) put(C + m * ldc + 48, c##m##3, last);       \
  }

template <int R, int NV>
void tile(int64_t K, const float* A, int64_t sam, int64_t sak, const float* B, int64_t ldb,
          float* C, int64_t ldc, bool acc, __mmask16 last) {
  const __m512 z = _mm512_setzero_ps();
  const __mmask16 full = 0xFFFF;
  HEED_ROW(0) HEED_ROW(1) HEED_ROW(2) HEED_ROW(3) HEED_ROW(4) HEED_ROW(5)
  for (int64_t p = 0; p < K; p++) {
    const float* bp = B + p * ldb;
    __m512 b0 = _mm512_maskz_loadu_ps(NV == 1 ? last : full, bp), b1 = z, b2 = z, b3 = z;
    if constexpr (NV > 1) b1 = _mm512_maskz_loadu_ps(NV == 2 ? last : full, bp + 16);
    if constexpr (NV > 2) b2 = _mm512_maskz_loadu_ps(NV == 3 ? last : full, bp + 32);
    if constexpr (NV > 3) b3 = _mm512_maskz_loadu_ps(last, bp + 48);
    const float* ap = A + p * sak;
    HEED_FMA(0) HEED_FMA(1) HEED_FMA(2) HEED_FMA(3) HEED_FMA(4) HEED_FMA(5)
  }
  auto put = [acc](float* cp, __m512 r, __mmask16 k) {
    if (acc) r = _mm512_add_ps(r, _mm512_maskz_loadu_ps(k, cp));
    _mm512_mask_storeu_ps(cp, k, r);
  };
  HEED_PUT(0) HEED_PUT(1) HEED_PUT(2) HEED_PUT(3) HEED_PUT(4) HEED_PUT(5)
}
#undef HEED_ROW
#undef HEED_FMA
#undef HEED_PUT

using TileFn = void (*)(int64_t, const float*, int64_t, int64_t, const float*, int64_t, float*, int64_t,
                        bool, __mmask16);
template <int R>
constexpr TileFn tiles_for(int nv) {
  return nv == 1 ? tile<R, 1> : nv == 2 ? tile<R, 2> : nv == 3 ? tile<R, 3> : tile<R, 4>;
}
constexpr TileFn kTiles[MR][4] = {
  {tiles_for<1>(1), tiles_for<1>(2), tiles_for<1>(3), tiles_for<1>(4)},
  {tiles_for<2>(1), tiles_for<2>(2), tiles_for<2>(3), tiles_for<2>(4)},
  {tiles_for<3>(1), tiles_for<3>(2), tiles_for<3>(3), tiles_for<3>(4)},
  {tiles_for<4>(1), tiles_for<4>(2), tiles_for<4>(3), tiles_for<4>(4)},
  {tiles_for<5>(1), tiles_for<5>(2), tiles_for<5>(3), tiles_for<5>(4)},
  {tiles_for<6>(1), tiles_for<6>(2), tiles_for<6>(3), tiles_for<6>(4)},
};

void mm(int64_t M, int64_t N, int64_t K, const float* A, int64_t sam, int64_t sak, const float* B,
        int64_t ldb, float* C, int64_t ldc, bool acc) {
  for (int64_t n0 = 0; n0 < N; n0 += 64) {
    int64_t nr = std::min<int64_t>(64, N - n0), nv = (nr + 15) / 16;
    __mmask16 last = tail(nr - 16 * (nv - 1));
    for (int64_t m0 = 0; m0 < M; m0 += MR) {
      int64_t r = std::min<int64_t>(MR, M - m0);
      kTiles[r - 1][nv - 1](K, A + m0 * sam, sam, sak, B + n0, ldb, C + m0 * ldc + n0, ldc, acc, last);
    }
  }
}
#elif defined(HEED_AVX2)
// The same tile in ymm: 6 rows × 2 vectors = 12 accumulators + 2 B + 1 broadcast of the 16
// registers. PART masks the last B vector (a column block narrower than 16).
#define HEED_ROW(m) __m256 c##m##0 = z, c##m##1 = z;
#define HEED_FMA(m)                                                   \
  if constexpr (m < R) {                                              \
    __m256 a = _mm256_broadcast_ss(ap + m * sam);                     \
    c##m##0 = _mm256_fmadd_ps(a, b0, c##m##0);                        \
    if constexpr (NV > 1) c##m##1 = _mm256_fmadd_ps(a, b1, c##m##1);  \
  }
#define HEED_PUT(m)                                                   \
  if constexpr (m < R) {                                              \
    put(C + m * ldc, c##m##0, NV == 1 && PART);                       \
    if constexpr (NV > 1) put(C + m * ldc + 8, c##m##1, PART);        \
  }

template <int R, int NV, bool PART>
void tile(int64_t K, const float* A, int64_t sam, int64_t sak, const float* B, int64_t ldb,
          float* C, int64_t ldc, bool acc, __m256i last) {
  const __m256 z = _mm256_setzero_ps();
  HEED_ROW(0) HEED_ROW(1) HEED_ROW(2) HEED_ROW(3) HEED_ROW(4) HEED_ROW(5)
  auto load = [last](const float* p, bool part) { return part ? _mm256_maskload_ps(p, last) : _mm256_loadu_ps(p); };
  for (int64_t p = 0; p < K; p++) {
    const float* bp = B + p * ldb;
    __m256 b0 = load(bp, NV == 1 && PART), b1 = z;
    if constexpr (NV > 1) b1 = load(bp + 8, PART);
    const float* ap = A + p * sak;
    HEED_FMA(0) HEED_FMA(1) HEED_FMA(2) HEED_FMA(3) HEED_FMA(4) HEED_FMA(5)
  }
  auto put = [acc, last, load](float* cp, __m256 r, bool part) {
    if (acc) r = _mm256_add_ps(r, load(cp, part));
    if (part) _mm256_maskstore_ps(cp, last, r); else _mm256_storeu_ps(cp, r);
  };
  HEED_PUT(0) HEED_PUT(1) HEED_PUT(2) HEED_PUT(3) HEED_PUT(4) HEED_PUT(5)
}
#undef HEED_ROW
#undef HEED_FMA
#undef HEED_PUT

using TileFn = void (*)(int64_t, const float*, int64_t, int64_t, const float*, int64_t, float*, int64_t,
                        bool, __m256i);
// [rows − 1][vectors − 1][last vector partial]
template <int R>
constexpr TileFn tiles_for(int nv, bool part) {
  return nv == 1 ? (part ? tile<R, 1, true> : tile<R, 1, false>) : (part ? tile<R, 2, true> : tile<R, 2, false>);
}
#define HEED_TILES(R) {{tiles_for<R>(1, false), tiles_for<R>(1, true)}, {tiles_for<R>(2, false), tiles_for<R>(2, true)}}
constexpr TileFn kTiles[MR][2][2] = {HEED_TILES(1), HEED_TILES(2), HEED_TILES(3), HEED_TILES(4), HEED_TILES(5), HEED_TILES(6)};
#undef HEED_TILES

void mm(int64_t M, int64_t N, int64_t K, const float* A, int64_t sam, int64_t sak, const float* B,
        int64_t ldb, float* C, int64_t ldc, bool acc) {
  for (int64_t n0 = 0; n0 < N; n0 += 16) {
    int64_t nr = std::min<int64_t>(16, N - n0), nv = (nr + 7) / 8, rem = nr - 8 * (nv - 1);
    __m256i last = tail(rem);
    for (int64_t m0 = 0; m0 < M; m0 += MR) {
      int64_t r = std::min<int64_t>(MR, M - m0);
      kTiles[r - 1][nv - 1][rem < 8](K, A + m0 * sam, sam, sak, B + n0, ldb, C + m0 * ldc + n0, ldc, acc, last);
    }
  }
}
#else
void mm(int64_t M, int64_t N, int64_t K, const float* A, int64_t sam, int64_t sak, const float* B,
        int64_t ldb, float* C, int64_t ldc, bool acc) {
  for (int64_t m = 0; m < M; m++) {
    float* cp = C + m * ldc;
    if (!acc) std::fill(cp, cp + N, 0.f);
    for (int64_t p = 0; p < K; p++) {
      float a = A[m * sam + p * sak];
      const float* bp = B + p * ldb;
      for (int64_t n = 0; n < N; n++) cp[n] += a * bp[n];
    }
  }
}
#endif

inline float dot(const float* a, const float* b, int64_t n) {
  vf s = zero();
  for (int64_t i = 0; i < n; i += W) s = fma(ld(a + i, n - i), ld(b + i, n - i), s);
  return hsum(s);
}

#ifdef HEED_AVX512
// 16×16 in-register transpose (dst[i][j] = src[j][i]): 64 shuffles instead of 256 strided stores.
inline void transpose16(const float* src, int64_t lds, float* dst, int64_t ldd) {
  __m512 r[16], t[16];
  for (int i = 0; i < 16; i++) r[i] = _mm512_loadu_ps(src + i * lds);
  for (int i = 0; i < 8; i++) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; i++) {
    r[4 * i + 0] = _mm512_shuffle_ps(t[4 * i + 0], t[4 * i + 2], 0x44);
    r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i + 0], t[4 * i + 2], 0xEE);
    r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
    r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
  }
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 4; j++) {
      t[8 * i + j] = _mm512_shuffle_f32x4(r[8 * i + j], r[8 * i + j + 4], 0x88);
      t[8 * i + j + 4] = _mm512_shuffle_f32x4(r[8 * i + j], r[8 * i + j + 4], 0xDD);
    }
  for (int j = 0; j < 8; j++) {
    r[j] = _mm512_shuffle_f32x4(t[j], t[j + 8], 0x88);
    r[j + 8] = _mm512_shuffle_f32x4(t[j], t[j + 8], 0xDD);
  }
  for (int i = 0; i < 16; i++) _mm512_storeu_ps(dst + i * ldd, r[i]);
}
#elif defined(HEED_AVX2)
// 8×8 in-register transpose (dst[i][j] = src[j][i]).
inline void transpose8(const float* src, int64_t lds, float* dst, int64_t ldd) {
  __m256 r[8], t[8];
  for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(src + i * lds);
  for (int i = 0; i < 4; i++) {
    t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 2; i++) {
    r[4 * i + 0] = _mm256_shuffle_ps(t[4 * i + 0], t[4 * i + 2], 0x44);
    r[4 * i + 1] = _mm256_shuffle_ps(t[4 * i + 0], t[4 * i + 2], 0xEE);
    r[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
    r[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
  }
  for (int j = 0; j < 4; j++) {
    _mm256_storeu_ps(dst + j * ldd, _mm256_permute2f128_ps(r[j], r[j + 4], 0x20));
    _mm256_storeu_ps(dst + (j + 4) * ldd, _mm256_permute2f128_ps(r[j], r[j + 4], 0x31));
  }
}
#endif

// Row block (n rows of stride ld) copied transposed into dst (D × n, row stride ldt).
void pack_t(const float* src, int64_t ld_src, int64_t n, int64_t D, float* dst, int64_t ldt) {
  int64_t j0 = 0;
#ifdef HEED_AVX512
  j0 = n / 16 * 16;
  const int64_t d0 = D / 16 * 16;
  for (int64_t j = 0; j < j0; j += 16)
    for (int64_t d = 0; d < d0; d += 16) transpose16(src + j * ld_src + d, ld_src, dst + d * ldt + j, ldt);
  for (int64_t j = 0; j < j0; j++)
    for (int64_t d = d0; d < D; d++) dst[d * ldt + j] = src[j * ld_src + d];
#elif defined(HEED_AVX2)
  j0 = n / 8 * 8;
  const int64_t d0 = D / 8 * 8;
  for (int64_t j = 0; j < j0; j += 8)
    for (int64_t d = 0; d < d0; d += 8) transpose8(src + j * ld_src + d, ld_src, dst + d * ldt + j, ldt);
  for (int64_t j = 0; j < j0; j++)
    for (int64_t d = d0; d < D; d++) dst[d * ldt + j] = src[j * ld_src + d];
#endif
  for (int64_t j = j0; j < n; j++)
    for (int64_t d = 0; d < D; d++) dst[d * ldt + j] = src[j * ld_src + d];
}

// Row block copied contiguous (n × D). Head rows sit H·D floats apart, often a multiple of 1 KiB,
// which maps a block's rows onto a quarter of L1's sets; packed rows use all of them.
void pack_rows(const float* src, int64_t ld_src, int64_t n, int64_t D, float* dst) {
  for (int64_t j = 0; j < n; j++) std::memcpy(dst + j * D, src + j * ld_src, D * sizeof(float));
}

// Row stride for a packed block of n columns: a multiple of 16, nudged off multiples of 512 B.
int64_t padded(int64_t n) {
  int64_t l = roundup(std::max<int64_t>(n, 1), 16);
  return l % 128 == 0 ? l + 16 : l;
}

// ---------------------------------------------------------------------------------------------
// Norms. x, y, dx, dy: (rows, C); w, b, dw, db: (C); mean, rstd: (rows).
// ---------------------------------------------------------------------------------------------
void layernorm_fwd(const float* x, const float* w, const float* b, float* y, float* mean, float* rstd,
                   int64_t rows, int64_t C, float eps) {
  #pragma omp parallel for schedule(static) if (rows * C > kParElems)
  for (int64_t r = 0; r < rows; r++) {
    const float* xr = x + r * C;
    float* yr = y + r * C;
    vf s = zero();
    for (int64_t i = 0; i < C; i += W) s = s + ld(xr + i, C - i);
    float m = hsum(s) / C;
    // Two passes over a cached row: exact centring rather than E[x²]−m², which cancels badly.
    vf v = zero(), vm = bc(m);
    for (int64_t i = 0; i < C; i += W) {
      vf d = ld(xr + i, C - i, m) - vm;  // tail lanes read as the mean, contributing 0
      v = fma(d, d, v);
    }
    float rs = 1.f / std::sqrt(hsum(v) / C + eps);
    mean[r] = m; rstd[r] = rs;
    vf vr = bc(rs);
    for (int64_t i = 0; i < C; i += W) {
      vf o = (ld(xr + i, C - i) - vm) * vr * ld(w + i, C - i);
      if (b) o = o + ld(b + i, C - i);
      st(yr + i, o, C - i);
    }
  }
}

// dw/db are sums over rows: each thread sums its own rows into a private slice, then the slices
// are added column-parallel, so no atomics and no races.
void layernorm_bwd(const float* dy, const float* x, const float* w, const float* mean, const float* rstd,
                   float* dx, float* dw, float* db, int64_t rows, int64_t C) {
  int nt = rows * C > kParElems ? omp_get_max_threads() : 1;
  std::vector<float> part((size_t)nt * 2 * C, 0.f);
  #pragma omp parallel num_threads(nt)
  {
    int tid = omp_get_thread_num(), n = omp_get_num_threads();
    float* pw = part.data() + (size_t)tid * 2 * C;
    float* pb = pw + C;
    int64_t r0 = rows * tid / n, r1 = rows * (tid + 1) / n;
    for (int64_t r = r0; r < r1; r++) {
      const float* xr = x + r * C;
      const float* dyr = dy + r * C;
      float* dxr = dx + r * C;
      vf vm = bc(mean[r]), vs = bc(rstd[r]), a1 = zero(), a2 = zero();
      for (int64_t i = 0; i < C; i += W) {
        int64_t k = C - i;
        vf xh = (ld(xr + i, k) - vm) * vs, g = ld(dyr + i, k), dn = g * ld(w + i, k);
        a1 = a1 + dn;
        a2 = fma(dn, xh, a2);
        st(pw + i, fma(g, xh, ld(pw + i, k)), k);
        st(pb + i, ld(pb + i, k) + g, k);
      }
      vf m1 = bc(hsum(a1) / C), m2 = bc(hsum(a2) / C);
      for (int64_t i = 0; i < C; i += W) {
        int64_t k = C - i;
        vf xh = (ld(xr + i, k) - vm) * vs, dn = ld(dyr + i, k) * ld(w + i, k);
        st(dxr + i, (dn - m1 - xh * m2) * vs, k);
      }
    }
    #pragma omp barrier
    #pragma omp for schedule(static)
    for (int64_t c = 0; c < C; c++) {
      float sw = 0, sb = 0;
      for (int t = 0; t < n; t++) { sw += part[(size_t)t * 2 * C + c]; sb += part[(size_t)t * 2 * C + C + c]; }
      dw[c] += sw;
      if (db) db[c] += sb;
    }
  }
}

void rmsnorm_fwd(const float* x, const float* w, float* y, float* rstd, int64_t rows, int64_t C, float eps) {
  #pragma omp parallel for schedule(static) if (rows * C > kParElems)
  for (int64_t r = 0; r < rows; r++) {
    const float* xr = x + r * C;
    float* yr = y + r * C;
    vf s = zero();
    for (int64_t i = 0; i < C; i += W) { vf v = ld(xr + i, C - i); s = fma(v, v, s); }
    float rs = 1.f / std::sqrt(hsum(s) / C + eps);
    rstd[r] = rs;
    vf vr = bc(rs);
    for (int64_t i = 0; i < C; i += W) st(yr + i, ld(xr + i, C - i) * vr * ld(w + i, C - i), C - i);
  }
}

void rmsnorm_bwd(const float* dy, const float* x, const float* w, const float* rstd, float* dx, float* dw,
                 int64_t rows, int64_t C) {
  int nt = rows * C > kParElems ? omp_get_max_threads() : 1;
  std::vector<float> part((size_t)nt * C, 0.f);
  #pragma omp parallel num_threads(nt)
  {
    int tid = omp_get_thread_num(), n = omp_get_num_threads();
    float* pw = part.data() + (size_t)tid * C;
    int64_t r0 = rows * tid / n, r1 = rows * (tid + 1) / n;
    for (int64_t r = r0; r < r1; r++) {
      const float* xr = x + r * C;
      const float* dyr = dy + r * C;
      float* dxr = dx + r * C;
      float s = rstd[r];
      vf vs = bc(s), a = zero();
      for (int64_t i = 0; i < C; i += W) {
        int64_t k = C - i;
        vf xv = ld(xr + i, k), g = ld(dyr + i, k);
        a = fma(g * ld(w + i, k), xv, a);
        st(pw + i, fma(g * xv, vs, ld(pw + i, k)), k);
      }
      vf c = bc(hsum(a) * s * s * s / C);
      for (int64_t i = 0; i < C; i += W) {
        int64_t k = C - i;
        st(dxr + i, ld(dyr + i, k) * ld(w + i, k) * vs - ld(xr + i, k) * c, k);
      }
    }
    #pragma omp barrier
    #pragma omp for schedule(static)
    for (int64_t c = 0; c < C; c++) {
      float sw = 0;
      for (int t = 0; t < n; t++) sw += part[(size_t)t * C + c];
      dw[c] += sw;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Activations, all (n) elementwise. GELU uses 0.5·(1 + tanh u) = sigmoid(2u), which has no
// cancellation near u = 0 and needs one exp.
// ---------------------------------------------------------------------------------------------
constexpr float kGeluC = 0.7978845608028654f;  // sqrt(2/π)
constexpr float kGeluA = 0.044715f;

void gelu_fwd(const float* x, float* y, int64_t n) {
  #pragma omp parallel for schedule(static) if (n > kParElems)
  for (int64_t i = 0; i < n; i += W) {
    vf v = ld(x + i, n - i), u = bc(kGeluC) * fma(bc(kGeluA) * v, v * v, v);
    st(y + i, v * sigmoid(u + u), n - i);
  }
}

// gelu' = s + x·s·(1−s)·2·du with s = sigmoid(2u), since 1 − tanh² = 4s(1−s).
void gelu_bwd(const float* x, const float* dy, float* dx, int64_t n) {
  #pragma omp parallel for schedule(static) if (n > kParElems)
  for (int64_t i = 0; i < n; i += W) {
    vf v = ld(x + i, n - i), v2 = v * v, u = bc(kGeluC) * fma(bc(kGeluA) * v, v2, v);
    vf s = sigmoid(u + u), du = bc(kGeluC) * fma(bc(3 * kGeluA), v2, bc(1.f));
    vf d = s + bc(2.f) * v * s * (bc(1.f) - s) * du;
    st(dx + i, ld(dy + i, n - i) * d, n - i);
  }
}

void swiglu_fwd(const float* gate, const float* up, float* y, int64_t n) {
  #pragma omp parallel for schedule(static) if (n > kParElems)
  for (int64_t i = 0; i < n; i += W) {
    vf g = ld(gate + i, n - i);
    st(y + i, g * sigmoid(g) * ld(up + i, n - i), n - i);
  }
}

void swiglu_bwd(const float* gate, const float* up, const float* dy, float* dgate, float* dup, int64_t n) {
  #pragma omp parallel for schedule(static) if (n > kParElems)
  for (int64_t i = 0; i < n; i += W) {
    int64_t k = n - i;
    vf g = ld(gate + i, k), s = sigmoid(g), d = ld(dy + i, k);
    st(dup + i, d * g * s, k);
    st(dgate + i, d * ld(up + i, k) * s * fma(g, bc(1.f) - s, bc(1.f)), k);
  }
}

// ---------------------------------------------------------------------------------------------
// RoPE, rotate-half. x, y: (rows, H, D); positions: (rows); cos, sin: (maxPos, D/2).
// Each element pair is read before either half is written, so y may alias x.
// ---------------------------------------------------------------------------------------------
void rope(const float* x, float* y, int64_t rows, int64_t H, int64_t D, const int32_t* pos,
          const float* cs, const float* sn, bool inverse) {
  int64_t half = D / 2;
  vf sg = bc(inverse ? -1.f : 1.f);
  #pragma omp parallel for schedule(static) if (rows * H * D > kParElems)
  for (int64_t r = 0; r < rows; r++) {
    const float* c = cs + (int64_t)pos[r] * half;
    const float* s = sn + (int64_t)pos[r] * half;
    for (int64_t h = 0; h < H; h++) {
      const float* xr = x + (r * H + h) * D;
      float* yr = y + (r * H + h) * D;
      for (int64_t i = 0; i < half; i += W) {
        int64_t k = half - i;
        vf cv = ld(c + i, k), sv = ld(s + i, k) * sg, x1 = ld(xr + i, k), x2 = ld(xr + half + i, k);
        st(yr + i, x1 * cv - x2 * sv, k);
        st(yr + half + i, fma(x1, sv, x2 * cv), k);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Attention. q, out, dq, dout: (B, T, H, D); k, v, dk, dv: (B, Tk, Hkv, D); lse: (B, H, T);
// keyMask: (B, Tk). Query t (absolute position qOffset + t) sees keys j ≤ qOffset + t.
// Work is split into blocks of BQ queries of one head; within a block, rows go in groups of MR
// and each group only computes the key columns its last row can see, so the causal upper triangle
// costs almost nothing.
// ---------------------------------------------------------------------------------------------
constexpr int64_t BQ = 64;

struct Attn {
  const float *q, *k, *v, *out, *dout;
  float *o, *lse, *dq, *dk, *dv;
  int64_t B, T, Tk, H, Hkv, D, qOff;
  float scale;
  const uint8_t* mask;
  // (B, T) first key each query may see (packed sequences: the start of its own sequence), or null
  const int32_t* kstart;
  int64_t ldq() const { return H * D; }
  int64_t ldk() const { return Hkv * D; }
  // Keys visible to query row t: [0, visible(t)).
  int64_t visible(int64_t t) const { return std::max<int64_t>(0, std::min(Tk, qOff + t + 1)); }
};

// Scaled, masked scores of row i (n visible columns, stored in row) → probabilities in place,
// zero up to `upto`; columns before `lo` are masked too. Returns the row's log-sum-exp (−inf when
// nothing is visible).
float softmax_row(float* row, int64_t n, int64_t upto, float scale, const uint8_t* km, int64_t lo) {
  vf mx = bc(kNegInf), sc = bc(scale);
  for (int64_t j = 0; j < n; j += W) {
    vf x = ld(row + j, n - j) * sc;
    if (km) x = keymask(x, km + j, n - j, kNegInf);
    st(row + j, x, n - j);
    mx = vmax(mx, ld(row + j, n - j, kNegInf));
  }
  if (lo > 0) {  // packed sequences: columns before the query's own sequence are masked out
    std::fill(row, row + std::min(lo, n), kNegInf);
    mx = bc(kNegInf);
    for (int64_t j = lo; j < n; j += W) mx = vmax(mx, ld(row + j, n - j, kNegInf));
  }
  float m = hmax(mx);
  if (m == kNegInf) { std::fill(row, row + upto, 0.f); return kNegInf; }
  vf vm = bc(m), s = zero();
  for (int64_t j = 0; j < n; j += W) {
    vf e = vexp(ld(row + j, n - j) - vm);
    st(row + j, e, n - j);
    s = s + ld(row + j, n - j);
  }
  float sum = hsum(s);
  vf inv = bc(1.f / sum);
  for (int64_t j = 0; j < n; j += W) st(row + j, ld(row + j, n - j) * inv, n - j);
  std::fill(row + n, row + upto, 0.f);
  return m + std::log(sum);
}

void attention_fwd(const Attn& a) {
  const int64_t grp = a.H / a.Hkv, nqb = (a.T + BQ - 1) / BQ, ldq = a.ldq(), ldk = a.ldk(), D = a.D;
  const int64_t lds = padded(a.Tk), ntask = a.B * a.H, nkAll = a.visible(a.T - 1);
  const bool packed = a.T >= 4;  // decode-sized calls: transposing K would cost as much as the scores
  #pragma omp parallel if (ntask > 1 && a.T * a.Tk * D * a.B * a.H > kParElems)
  {
    std::vector<float> kt(packed ? (size_t)D * lds : 0), vc(packed ? (size_t)nkAll * D : 0), S((size_t)BQ * lds);
    #pragma omp for schedule(dynamic)
    for (int64_t task = 0; task < ntask; task++) {
      const int64_t b = task / a.H, h = task % a.H, kh = h / grp;
      const float* kp = a.k + b * a.Tk * ldk + kh * D;
      const float* vp = a.v + b * a.Tk * ldk + kh * D;
      const uint8_t* km = a.mask ? a.mask + b * a.Tk : nullptr;
      const int32_t* ks = a.kstart ? a.kstart + b * a.T : nullptr;
      if (packed) {
        pack_t(kp, ldk, nkAll, D, kt.data(), lds);
        pack_rows(vp, ldk, nkAll, D, vc.data());
      }
      const float* vb = packed ? vc.data() : vp;
      const int64_t ldv = packed ? D : ldk;
      for (int64_t qb = 0; qb < nqb; qb++) {
        const int64_t t0 = qb * BQ, M = std::min(BQ, a.T - t0), nk = a.visible(t0 + M - 1);
        const float* qp = a.q + (b * a.T + t0) * ldq + h * D;
        float* op = a.o + (b * a.T + t0) * ldq + h * D;
        float* lp = a.lse + (b * a.H + h) * a.T + t0;
        if (packed) {
          for (int64_t i0 = 0; i0 < M; i0 += MR) {
            int64_t r = std::min<int64_t>(MR, M - i0), n = a.visible(t0 + i0 + r - 1);
            mm(r, n, D, qp + i0 * ldq, ldq, 1, kt.data(), lds, S.data() + i0 * lds, lds, false);
          }
        } else {
          for (int64_t i = 0; i < M; i++) {
            int64_t n = a.visible(t0 + i);
            for (int64_t j = 0; j < n; j++) S[i * lds + j] = dot(qp + i * ldq, kp + j * ldk, D);
          }
        }
        for (int64_t i = 0; i < M; i++)
          lp[i] = softmax_row(S.data() + i * lds, a.visible(t0 + i), nk, a.scale, km, ks ? ks[t0 + i] : 0);
        for (int64_t i0 = 0; i0 < M; i0 += MR) {
          int64_t r = std::min<int64_t>(MR, M - i0), n = a.visible(t0 + i0 + r - 1);
          mm(r, D, n, S.data() + i0 * lds, lds, 1, vb, ldv, op + i0 * ldq, ldq, false);
        }
      }
    }
  }
}

// Flash-style backward: P is recomputed from lse. Tasks are (batch, kv head) so every query head
// of a group accumulates into dk/dv on one thread — no races, no per-thread copies of dk/dv.
void attention_bwd(const Attn& a) {
  const int64_t grp = a.H / a.Hkv, nqb = (a.T + BQ - 1) / BQ, ldq = a.ldq(), ldk = a.ldk(), D = a.D;
  const int64_t lds = padded(a.Tk), ntask = a.B * a.Hkv, nkAll = a.visible(a.T - 1);
  #pragma omp parallel if (ntask > 1 && a.T * a.Tk * D * a.B * a.H > kParElems)
  {
    std::vector<float> kt((size_t)D * lds), vt((size_t)D * lds), kc((size_t)nkAll * D);
    std::vector<float> dkc((size_t)nkAll * D), dvc((size_t)nkAll * D), qc((size_t)BQ * D), doc((size_t)BQ * D);
    std::vector<float> P((size_t)BQ * lds), dS((size_t)BQ * lds);
    #pragma omp for schedule(dynamic)
    for (int64_t task = 0; task < ntask; task++) {
      const int64_t b = task / a.Hkv, kh = task % a.Hkv;
      const float* kp = a.k + b * a.Tk * ldk + kh * D;
      const float* vp = a.v + b * a.Tk * ldk + kh * D;
      const uint8_t* km = a.mask ? a.mask + b * a.Tk : nullptr;
      const int32_t* ks = a.kstart ? a.kstart + b * a.T : nullptr;
      pack_t(kp, ldk, nkAll, D, kt.data(), lds);
      pack_t(vp, ldk, nkAll, D, vt.data(), lds);
      pack_rows(kp, ldk, nkAll, D, kc.data());
      std::fill(dkc.begin(), dkc.end(), 0.f);
      std::fill(dvc.begin(), dvc.end(), 0.f);
      for (int64_t h = kh * grp; h < (kh + 1) * grp; h++) {
        for (int64_t qb = 0; qb < nqb; qb++) {
          const int64_t t0 = qb * BQ, M = std::min(BQ, a.T - t0), nk = a.visible(t0 + M - 1);
          const int64_t off = (b * a.T + t0) * ldq + h * D;
          const float* op = a.out + off;
          float* dqp = a.dq + off;
          const float* lp = a.lse + (b * a.H + h) * a.T + t0;
          pack_rows(a.q + off, ldq, M, D, qc.data());
          pack_rows(a.dout + off, ldq, M, D, doc.data());
          for (int64_t i0 = 0; i0 < M; i0 += MR) {
            int64_t r = std::min<int64_t>(MR, M - i0), n = a.visible(t0 + i0 + r - 1);
            mm(r, n, D, qc.data() + i0 * D, D, 1, kt.data(), lds, P.data() + i0 * lds, lds, false);
            mm(r, n, D, doc.data() + i0 * D, D, 1, vt.data(), lds, dS.data() + i0 * lds, lds, false);
          }
          // P = exp(s·scale − lse); dS = P ∘ (dP − Σ_d dO∘O) · scale (scale folded in once here).
          for (int64_t i = 0; i < M; i++) {
            float* pr = P.data() + i * lds;
            float* dr = dS.data() + i * lds;
            const int64_t n = a.visible(t0 + i);
            const float L = lp[i];
            if (L == kNegInf) {
              std::fill(pr, pr + nk, 0.f);
              std::fill(dr, dr + nk, 0.f);
              continue;
            }
            vf di = bc(dot(doc.data() + i * D, op + i * ldq, D)), sc = bc(a.scale), vl = bc(L);
            for (int64_t j = 0; j < n; j += W) {
              vf s = fma(ld(pr + j, n - j), sc, bc(0.f) - vl);
              if (km) s = keymask(s, km + j, n - j, kNegInf);
              vf p = vexp(s);
              st(pr + j, p, n - j);
              st(dr + j, p * (ld(dr + j, n - j) - di) * sc, n - j);
            }
            if (ks && ks[t0 + i] > 0) {
              const int64_t lo = std::min<int64_t>(ks[t0 + i], n);
              std::fill(pr, pr + lo, 0.f);
              std::fill(dr, dr + lo, 0.f);
            }
            std::fill(pr + n, pr + nk, 0.f);
            std::fill(dr + n, dr + nk, 0.f);
          }
          for (int64_t i0 = 0; i0 < M; i0 += MR) {
            int64_t r = std::min<int64_t>(MR, M - i0), n = a.visible(t0 + i0 + r - 1);
            mm(r, D, n, dS.data() + i0 * lds, lds, 1, kc.data(), D, dqp + i0 * ldq, ldq, false);
          }
          // dV += Pᵀ dO, dK += dSᵀ Q; key group j0.. is first seen by row j0 − qOffset − t0.
          for (int64_t j0 = 0; j0 < nk; j0 += MR) {
            int64_t r = std::min<int64_t>(MR, nk - j0), i0 = std::max<int64_t>(0, j0 - a.qOff - t0);
            if (i0 >= M) continue;
            mm(r, D, M - i0, P.data() + i0 * lds + j0, 1, lds, doc.data() + i0 * D, D, dvc.data() + j0 * D, D, true);
            mm(r, D, M - i0, dS.data() + i0 * lds + j0, 1, lds, qc.data() + i0 * D, D, dkc.data() + j0 * D, D, true);
          }
        }
      }
      float* dkp = a.dk + b * a.Tk * ldk + kh * D;
      float* dvp = a.dv + b * a.Tk * ldk + kh * D;
      for (int64_t j = 0; j < a.Tk; j++) {
        if (j < nkAll) {
          std::memcpy(dkp + j * ldk, dkc.data() + j * D, D * sizeof(float));
          std::memcpy(dvp + j * ldk, dvc.data() + j * D, D * sizeof(float));
        } else {
          std::fill(dkp + j * ldk, dkp + j * ldk + D, 0.f);
          std::fill(dvp + j * ldk, dvp + j * ldk + D, 0.f);
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Row softmax / log-softmax / cross-entropy. x, y, logits, dlogits: (rows, C or V).
// ---------------------------------------------------------------------------------------------
float row_max(const float* x, int64_t n) {
  vf m = bc(kNegInf);
  for (int64_t i = 0; i < n; i += W) m = vmax(m, ld(x + i, n - i, kNegInf));
  return hmax(m);
}

float row_sumexp(const float* x, int64_t n, float m) {
  vf s = zero(), vm = bc(m);
  for (int64_t i = 0; i < n; i += W) s = s + vexp(ld(x + i, n - i, kNegInf) - vm);
  return hsum(s);
}

// log Σ exp over a row in one sweep of memory: each chunk's max is taken while it sits in L1, the
// running sum is rescaled once per chunk, so wide vocabularies are read once, not twice. The next
// chunk is prefetched during the exp pass so DRAM reads overlap the arithmetic.
float row_lse(const float* x, int64_t n) {
  constexpr int64_t CH = 1024;
  float m = kNegInf, s = 0.f;
  for (int64_t c = 0; c < n; c += CH) {
    int64_t k = std::min(CH, n - c);
#if defined(HEED_AVX512) || defined(HEED_AVX2)
    for (int64_t i = c + CH; i < std::min(n, c + 2 * CH); i += 16) _mm_prefetch((const char*)(x + i), _MM_HINT_T0);
#endif
    float cm = row_max(x + c, k);
    if (cm > m) { s *= std::exp(m - cm); m = cm; }
    if (m == kNegInf) continue;
    s += row_sumexp(x + c, k, m);
  }
  return m + std::log(s);
}

void softmax(const float* x, float* y, int64_t rows, int64_t C) {
  #pragma omp parallel for schedule(static) if (rows * C > kParElems)
  for (int64_t r = 0; r < rows; r++) {
    const float* xr = x + r * C;
    float* yr = y + r * C;
    vf vm = bc(row_max(xr, C)), s = zero();
    for (int64_t i = 0; i < C; i += W) {
      st(yr + i, vexp(ld(xr + i, C - i) - vm), C - i);
      s = s + ld(yr + i, C - i);
    }
    vf inv = bc(1.f / hsum(s));
    for (int64_t i = 0; i < C; i += W) st(yr + i, ld(yr + i, C - i) * inv, C - i);
  }
}

void log_softmax(const float* x, float* y, int64_t rows, int64_t C) {
  #pragma omp parallel for schedule(static) if (rows * C > kParElems)
  for (int64_t r = 0; r < rows; r++) {
    const float* xr = x + r * C;
    float* yr = y + r * C;
    vf l = bc(row_lse(xr, C));
    for (int64_t i = 0; i < C; i += W) st(yr + i, ld(xr + i, C - i) - l, C - i);
  }
}

int64_t cross_entropy_fwd(const float* logits, const int32_t* targets, float* loss, float* lse,
                          int64_t rows, int64_t V) {
  int64_t count = 0;
  #pragma omp parallel for schedule(static) reduction(+ : count) if (rows * V > kParElems)
  for (int64_t r = 0; r < rows; r++) {
    const float* x = logits + r * V;
    float l = row_lse(x, V);
    lse[r] = l;
    int32_t t = targets[r];
    if (t < 0) { loss[r] = 0.f; continue; }
    loss[r] = l - x[t];
    count++;
  }
  return count;
}

// Outputs larger than the last-level cache are written with streaming stores: the row would be
// evicted before anyone reads it, and a plain store first reads every line it writes.
void cross_entropy_bwd(const float* logits, const int32_t* targets, const float* lse, const float* g,
                       float* dlogits, int64_t rows, int64_t V) {
  [[maybe_unused]] const bool stream = rows * V > (int64_t)16 << 20;
  #pragma omp parallel for schedule(static) if (rows * V > kParElems)
  for (int64_t r = 0; r < rows; r++) {
    const float* x = logits + r * V;
    float* d = dlogits + r * V;
    int32_t t = targets[r];
    const vf vl = bc(lse[r]), vg = bc(t < 0 ? 0.f : g[r]);
    auto val = [&](int64_t i, int64_t k) { return t < 0 ? zero() : vg * vexp(ld(x + i, k) - vl); };
    int64_t i = 0;
#ifdef HEED_AVX512
    if (stream) {
      int64_t head = std::min<int64_t>(V, (64 - ((uintptr_t)d & 63)) / 4 % 16);
      if (head) st(d, val(0, head), head);
      for (i = head; i + 16 <= V; i += 16) _mm512_stream_ps(d + i, val(i, 16));
    }
#elif defined(HEED_AVX2)
    if (stream) {
      int64_t head = std::min<int64_t>(V, (32 - ((uintptr_t)d & 31)) / 4 % 8);
      if (head) st(d, val(0, head), head);
      for (i = head; i + 8 <= V; i += 8) _mm256_stream_ps(d + i, val(i, 8));
    }
#endif
    for (; i < V; i += W) st(d + i, val(i, V - i), V - i);
    if (t >= 0) d[t] -= g[r];
  }
#if defined(HEED_AVX512) || defined(HEED_AVX2)
  if (stream) _mm_sfence();
#endif
}

// ---------------------------------------------------------------------------------------------
// Embedding. table, dtable: (vocab, C); ids: (n); out, dout: (n, C).
// ---------------------------------------------------------------------------------------------
void embedding_fwd(const float* table, const int32_t* ids, float* out, int64_t n, int64_t C) {
  #pragma omp parallel for schedule(static) if (n * C > kParElems)
  for (int64_t i = 0; i < n; i++) std::memcpy(out + i * C, table + (int64_t)ids[i] * C, C * sizeof(float));
}

// Repeated ids would race if rows were split across threads, so threads split the columns:
// each walks every id in order over its own column range.
void embedding_bwd(const float* dout, const int32_t* ids, float* dtable, int64_t n, int64_t C) {
  int nt = n * C > kParElems ? omp_get_max_threads() : 1;
  #pragma omp parallel num_threads(nt)
  {
    int tid = omp_get_thread_num(), cnt = omp_get_num_threads();
    int64_t c0 = roundup(C * tid / cnt, 16), c1 = tid == cnt - 1 ? C : roundup(C * (tid + 1) / cnt, 16);
    c0 = std::min(c0, C); c1 = std::min(c1, C);
    for (int64_t i = 0; i < n; i++) {
      const float* s = dout + i * C;
      float* d = dtable + (int64_t)ids[i] * C;
      for (int64_t c = c0; c < c1; c += W) st(d + c, ld(d + c, c1 - c) + ld(s + c, c1 - c), c1 - c);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Optimizer and reductions, all (n) elementwise.
// ---------------------------------------------------------------------------------------------
void adamw(float* p, const float* g, float* m, float* v, int64_t n, double lr, double b1, double b2,
           double eps, double wd, double step) {
  const float ib1 = (float)(1.0 / (1.0 - std::pow(b1, step))), ib2 = (float)(1.0 / (1.0 - std::pow(b2, step)));
  const vf decay = bc((float)(1.0 - lr * wd)), vlr = bc((float)lr), veps = bc((float)eps);
  const vf vb1 = bc((float)b1), vb2 = bc((float)b2), cb1 = bc((float)(1.0 - b1)), cb2 = bc((float)(1.0 - b2));
  #pragma omp parallel for schedule(static) if (n > kParElems)
  for (int64_t i = 0; i < n; i += W) {
    int64_t k = n - i;
    vf gi = ld(g + i, k);
    vf mi = fma(vb1, ld(m + i, k), cb1 * gi), vi = fma(vb2, ld(v + i, k), cb2 * gi * gi);
    st(m + i, mi, k);
    st(v + i, vi, k);
    vf upd = mi * bc(ib1) / (vsqrt(vi * bc(ib2)) + veps);
    st(p + i, ld(p + i, k) * decay - vlr * upd, k);
  }
}

double sum_squares(const float* x, int64_t n) {
  double total = 0;
  #pragma omp parallel for schedule(static) reduction(+ : total) if (n > kParElems)
  for (int64_t c = 0; c < n; c += 4096) {
    int64_t e = std::min<int64_t>(n, c + 4096);
#ifdef HEED_AVX512
    __m512d a0 = _mm512_setzero_pd(), a1 = _mm512_setzero_pd();
    for (int64_t i = c; i < e; i += 16) sumsq_pd(ld(x + i, e - i), a0, a1);
    total += _mm512_reduce_add_pd(_mm512_add_pd(a0, a1));
#elif defined(HEED_AVX2)
    __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd();
    for (int64_t i = c; i < e; i += 8) sumsq_pd(ld(x + i, e - i), a0, a1);
    total += hsum_pd(_mm256_add_pd(a0, a1));
#else
    double s = 0;
    for (int64_t i = c; i < e; i++) s += (double)x[i] * x[i];
    total += s;
#endif
  }
  return total;
}

void axpy(float alpha, const float* x, float* y, int64_t n) {
  vf va = bc(alpha);
  #pragma omp parallel for schedule(static) if (n > kParElems)
  for (int64_t i = 0; i < n; i += W) st(y + i, fma(va, ld(x + i, n - i), ld(y + i, n - i)), n - i);
}


// y (rows, C) += b (C) on every row: the bias of a linear layer.
void addBias(float* y, const float* b, int64_t rows, int64_t C) {
  #pragma omp parallel for schedule(static) if (rows * C > kParElems)
  for (int64_t r = 0; r < rows; r++) {
    float* yr = y + r * C;
    for (int64_t j = 0; j < C; j += W) st(yr + j, ld(yr + j, C - j) + ld(b + j, C - j), C - j);
  }
}

// out (C) += Σ_r g (rows, C): the bias gradient. Threads own blocks of 64 columns, so there is no
// reduction across threads and the summation order never changes (bit-exact resumes).
void sumRows(const float* g, float* out, int64_t rows, int64_t C) {
  constexpr int64_t kBlk = 64;
  #pragma omp parallel for schedule(static) if (rows * C > kParElems)
  for (int64_t c0 = 0; c0 < C; c0 += kBlk) {
    const int64_t cn = std::min(kBlk, C - c0);
    for (int64_t j = 0; j < cn; j += W) {
      vf acc = zero();
      for (int64_t r = 0; r < rows; r++) acc = acc + ld(g + r * C + c0 + j, cn - j);
      st(out + c0 + j, ld(out + c0 + j, cn - j) + acc, cn - j);
    }
  }
}

// out = a + b elementwise (the residual add); out may alias a or b.
void vadd(const float* a, const float* b, float* out, int64_t n) {
  #pragma omp parallel for schedule(static) if (n > kParElems)
  for (int64_t i = 0; i < n; i += W) st(out + i, ld(a + i, n - i) + ld(b + i, n - i), n - i);
}


// out (n) = levels[code]·absmax[block] for NF4 codes packed two per byte (element 2j in the high
// nibble of byte j, as bitsandbytes packs them); runs
// on every forward and backward of a QLoRA layer, so it is parallel and table-driven.
void nf4Dequant(const uint8_t* codes, const float* absmax, const float* levels, int64_t bs, float* out, int64_t n) {
  #pragma omp parallel for schedule(static) if (n > kParElems)
  for (int64_t b0 = 0; b0 < n; b0 += bs) {
    const float a = absmax[b0 / bs];
    const int64_t e = std::min(n, b0 + bs);
    for (int64_t i = b0; i < e; i++) out[i] = levels[(i & 1) ? codes[i >> 1] & 15 : codes[i >> 1] >> 4] * a;
  }
}

// ---------------------------------------------------------------------------------------------
// N-API wrappers: positional arguments exactly as in the Kernels interface.
// ---------------------------------------------------------------------------------------------
using CI = Napi::CallbackInfo;
Napi::Value Undef(const CI& i) { return i.Env().Undefined(); }

Napi::Value LayernormFwd(const CI& i) {
  layernorm_fwd(F32(i[0]), F32(i[1]), F32OrNull(i[2]), F32(i[3]), F32(i[4]), F32(i[5]), Int(i[6]), Int(i[7]),
                (float)Num(i[8]));
  return Undef(i);
}
Napi::Value LayernormBwd(const CI& i) {
  layernorm_bwd(F32(i[0]), F32(i[1]), F32(i[2]), F32(i[3]), F32(i[4]), F32(i[5]), F32(i[6]), F32OrNull(i[7]),
                Int(i[8]), Int(i[9]));
  return Undef(i);
}
Napi::Value RmsnormFwd(const CI& i) {
  rmsnorm_fwd(F32(i[0]), F32(i[1]), F32(i[2]), F32(i[3]), Int(i[4]), Int(i[5]), (float)Num(i[6]));
  return Undef(i);
}
Napi::Value RmsnormBwd(const CI& i) {
  rmsnorm_bwd(F32(i[0]), F32(i[1]), F32(i[2]), F32(i[3]), F32(i[4]), F32(i[5]), Int(i[6]), Int(i[7]));
  return Undef(i);
}
Napi::Value GeluFwd(const CI& i) { gelu_fwd(F32(i[0]), F32(i[1]), Int(i[2])); return Undef(i); }
Napi::Value GeluBwd(const CI& i) { gelu_bwd(F32(i[0]), F32(i[1]), F32(i[2]), Int(i[3])); return Undef(i); }
Napi::Value SwigluFwd(const CI& i) { swiglu_fwd(F32(i[0]), F32(i[1]), F32(i[2]), Int(i[3])); return Undef(i); }
Napi::Value SwigluBwd(const CI& i) {
  swiglu_bwd(F32(i[0]), F32(i[1]), F32(i[2]), F32(i[3]), F32(i[4]), Int(i[5]));
  return Undef(i);
}
Napi::Value Rope(const CI& i) {
  rope(F32(i[0]), F32(i[1]), Int(i[2]), Int(i[3]), Int(i[4]), I32(i[5]), F32(i[6]), F32(i[7]),
       i[8].ToBoolean().Value());
  return Undef(i);
}
Attn attn_args(const CI& i, bool bwd) {
  Attn a{};
  a.q = F32(i[0]); a.k = F32(i[1]); a.v = F32(i[2]);
  int n = 5;
  if (bwd) {
    a.out = F32(i[3]); a.lse = F32(i[4]); a.dout = F32(i[5]); a.dq = F32(i[6]); a.dk = F32(i[7]); a.dv = F32(i[8]);
    n = 9;
  } else {
    a.o = F32(i[3]); a.lse = F32(i[4]);
  }
  a.B = Int(i[n]); a.T = Int(i[n + 1]); a.Tk = Int(i[n + 2]); a.H = Int(i[n + 3]); a.Hkv = Int(i[n + 4]);
  a.D = Int(i[n + 5]); a.qOff = Int(i[n + 6]); a.scale = (float)Num(i[n + 7]); a.mask = U8OrNull(i[n + 8]);
  a.kstart = I32OrNull(i[n + 9]);  // an argument past the end reads as undefined
  return a;
}
Napi::Value AttentionFwd(const CI& i) { attention_fwd(attn_args(i, false)); return Undef(i); }
Napi::Value AttentionBwd(const CI& i) { attention_bwd(attn_args(i, true)); return Undef(i); }
Napi::Value Softmax(const CI& i) { softmax(F32(i[0]), F32(i[1]), Int(i[2]), Int(i[3])); return Undef(i); }
Napi::Value LogSoftmax(const CI& i) { log_softmax(F32(i[0]), F32(i[1]), Int(i[2]), Int(i[3])); return Undef(i); }
Napi::Value CrossEntropyFwd(const CI& i) {
  int64_t n = cross_entropy_fwd(F32(i[0]), I32(i[1]), F32(i[2]), F32(i[3]), Int(i[4]), Int(i[5]));
  return Napi::Number::New(i.Env(), (double)n);
}
Napi::Value CrossEntropyBwd(const CI& i) {
  cross_entropy_bwd(F32(i[0]), I32(i[1]), F32(i[2]), F32(i[3]), F32(i[4]), Int(i[5]), Int(i[6]));
  return Undef(i);
}
Napi::Value EmbeddingFwd(const CI& i) {
  embedding_fwd(F32(i[0]), I32(i[1]), F32(i[2]), Int(i[3]), Int(i[4]));
  return Undef(i);
}
Napi::Value EmbeddingBwd(const CI& i) {
  embedding_bwd(F32(i[0]), I32(i[1]), F32(i[2]), Int(i[3]), Int(i[4]));
  return Undef(i);
}
Napi::Value Adamw(const CI& i) {
  adamw(F32(i[0]), F32(i[1]), F32(i[2]), F32(i[3]), Int(i[4]), Num(i[5]), Num(i[6]), Num(i[7]), Num(i[8]),
        Num(i[9]), Num(i[10]));
  return Undef(i);
}
Napi::Value SumSquares(const CI& i) { return Napi::Number::New(i.Env(), sum_squares(F32(i[0]), Int(i[1]))); }
Napi::Value Axpy(const CI& i) { axpy((float)Num(i[0]), F32(i[1]), F32(i[2]), Int(i[3])); return Undef(i); }
Napi::Value AddBias(const CI& i) { addBias(F32(i[0]), F32(i[1]), Int(i[2]), Int(i[3])); return Undef(i); }
Napi::Value SumRows(const CI& i) { sumRows(F32(i[0]), F32(i[1]), Int(i[2]), Int(i[3])); return Undef(i); }
Napi::Value Nf4Dequant(const CI& i) { nf4Dequant(i[0].As<Napi::Uint8Array>().Data(), F32(i[1]), F32(i[2]), Int(i[3]), F32(i[4]), Int(i[5])); return Undef(i); }
Napi::Value Vadd(const CI& i) { vadd(F32(i[0]), F32(i[1]), F32(i[2]), Int(i[3])); return Undef(i); }
// nonFinite(bits, mask): [count, first index] of the elements whose exponent bits (mask) are all
// ones, i.e. NaN or ±Inf; bits are f32 (Uint32Array) or f16/bf16 (Uint16Array) patterns. Every model
// load checks its weights with it.
template <typename T>
std::pair<int64_t, int64_t> countAllOnes(const T* b, int64_t n, T mask) {
  int64_t count = 0, first = n;
#pragma omp parallel for schedule(static) reduction(+ : count) reduction(min : first) if (n > (1 << 20))
  for (int64_t i = 0; i < n; i++) {
    if ((b[i] & mask) == mask) { count++; first = std::min(first, i); }
  }
  return {count, count ? first : -1};
}
Napi::Value NonFinite(const CI& i) {
  const auto a = i[0].As<Napi::TypedArray>();
  const int64_t n = a.ElementLength();
  const uint32_t mask = (uint32_t)Int(i[1]);
  std::pair<int64_t, int64_t> r;
  if (a.TypedArrayType() == napi_uint32_array) r = countAllOnes(i[0].As<Napi::Uint32Array>().Data(), n, mask);
  else r = countAllOnes(i[0].As<Napi::Uint16Array>().Data(), n, (uint16_t)mask);
  Napi::Array out = Napi::Array::New(i.Env(), 2);
  out.Set(uint32_t(0), Napi::Number::New(i.Env(), (double)r.first));
  out.Set(uint32_t(1), Napi::Number::New(i.Env(), (double)r.second));
  return out;
}

// ---------------------------------------------------------------------------------------------
// One transformer block of a decode step (one new token per row, B ≤ 16 rows, each at its own
// cache length), in one call: norm → q/k/v → RoPE → this step's k, v into each row's cache slot →
// attention over the slot → o → residual → norm → MLP → residual, x updated in place. The same
// kernels as the op-by-op path; what it saves is the ~20 calls, typed-array allocations and
// autograd checks per block that a small model's decode step otherwise spends most of its time on.
// dims: B, d, H, Hkv, D, ffn, norm (0 rms, 1 layer), mlp (0 swiglu, 1 gelu). weights: n1.w, n1.b,
// q, k, v, q.b, k.b, v.b, o, o.b, n2.w, n2.b, gate, up, down, gate.b, up.b, down.b (null where the
// model has none). kinds: how q, k, v, o, gate, up, down are stored (as gemvMulti's; −1: none).
// ---------------------------------------------------------------------------------------------
Napi::Value DecodeLayer(const CI& i) {
  Napi::Env env = i.Env();
  float* x = F32(i[0]);
  const int32_t* dm = I32(i[1]);
  const int64_t B = dm[0], d = dm[1], H = dm[2], Hkv = dm[3], D = dm[4], F = dm[5];
  const bool rms = dm[6] == 0, swiglu = dm[7] == 0;
  const float eps = (float)Num(i[2]);
  const int32_t* pos = I32(i[3]);
  const float *cs = F32OrNull(i[4]), *sn = F32OrNull(i[5]);
  Napi::Array wa = i[6].As<Napi::Array>();
  const int32_t* kind = I32(i[7]);
  Napi::Array kc = i[8].As<Napi::Array>(), vc = i[9].As<Napi::Array>();
  const int32_t* lens = I32(i[10]);
  const float scale = (float)Num(i[11]);
  const uint8_t* w[18];
  for (uint32_t j = 0; j < 18; j++) w[j] = ViewBytes(wa.Get(j));
  auto f = [&](int j) { return reinterpret_cast<const float*>(w[j]); };
  const int64_t qd = H * D, kvd = Hkv * D;
  std::vector<float*> kcache(B), vcache(B);
  for (int64_t b = 0; b < B; b++) {
    Napi::Float32Array kb = kc.Get((uint32_t)b).As<Napi::Float32Array>(), vb = vc.Get((uint32_t)b).As<Napi::Float32Array>();
    if ((int64_t)kb.ElementLength() < (lens[b] + 1) * kvd || (int64_t)vb.ElementLength() < (lens[b] + 1) * kvd) {
      Napi::RangeError::New(env, "decodeLayer: cache slot of row " + std::to_string(b) + " has no room for position " + std::to_string(lens[b])).ThrowAsJavaScriptException();
      return env.Undefined();
    }
    kcache[b] = kb.Data(); vcache[b] = vb.Data();
  }
  std::vector<float> h(B * d), mean(B), rstd(B), q(B * qd), k(B * kvd), v(B * kvd), att(B * qd), lse(H), o(B * d);
  auto norm = [&](int wj, int bj) {
    if (rms) rmsnorm_fwd(x, f(wj), h.data(), rstd.data(), B, d, eps);
    else layernorm_fwd(x, f(wj), f(bj), h.data(), mean.data(), rstd.data(), B, d, eps);
  };
  auto bias = [&](float* y, int bj, int64_t C) { if (w[bj]) addBias(y, f(bj), B, C); };
  // attention
  norm(0, 1);
  if (kind[0] == kind[1] && kind[1] == kind[2]) gemvMulti(kind[0], h.data(), B, d, {w[2], w[3], w[4]}, {qd, kvd, kvd}, {q.data(), k.data(), v.data()});
  else {
    gemvMulti(kind[0], h.data(), B, d, {w[2]}, {qd}, {q.data()});
    gemvMulti(kind[1], h.data(), B, d, {w[3]}, {kvd}, {k.data()});
    gemvMulti(kind[2], h.data(), B, d, {w[4]}, {kvd}, {v.data()});
  }
  bias(q.data(), 5, qd); bias(k.data(), 6, kvd); bias(v.data(), 7, kvd);
  if (cs) { rope(q.data(), q.data(), B, H, D, pos, cs, sn, false); rope(k.data(), k.data(), B, Hkv, D, pos, cs, sn, false); }
  for (int64_t b = 0; b < B; b++) {
    std::memcpy(kcache[b] + lens[b] * kvd, k.data() + b * kvd, kvd * sizeof(float));
    std::memcpy(vcache[b] + lens[b] * kvd, v.data() + b * kvd, kvd * sizeof(float));
    Attn a{};
    a.q = q.data() + b * qd; a.k = kcache[b]; a.v = vcache[b]; a.o = att.data() + b * qd; a.lse = lse.data();
    a.B = 1; a.T = 1; a.Tk = lens[b] + 1; a.H = H; a.Hkv = Hkv; a.D = D; a.qOff = lens[b]; a.scale = scale;
    attention_fwd(a);
  }
  gemvMulti(kind[3], att.data(), B, qd, {w[8]}, {d}, {o.data()});
  bias(o.data(), 9, d);
  vadd(x, o.data(), x, B * d);
  // MLP
  norm(10, 11);
  std::vector<float> u(B * F), m(B * F);
  if (swiglu) {
    std::vector<float> g(B * F);
    if (kind[4] == kind[5]) gemvMulti(kind[4], h.data(), B, d, {w[12], w[13]}, {F, F}, {g.data(), u.data()});
    else {
      gemvMulti(kind[4], h.data(), B, d, {w[12]}, {F}, {g.data()});
      gemvMulti(kind[5], h.data(), B, d, {w[13]}, {F}, {u.data()});
    }
    bias(g.data(), 15, F); bias(u.data(), 16, F);
    swiglu_fwd(g.data(), u.data(), m.data(), B * F);
  } else {
    gemvMulti(kind[5], h.data(), B, d, {w[13]}, {F}, {u.data()});
    bias(u.data(), 16, F);
    gelu_fwd(u.data(), m.data(), B * F);
  }
  gemvMulti(kind[6], m.data(), B, F, {w[14]}, {d}, {o.data()});
  bias(o.data(), 17, d);
  vadd(x, o.data(), x, B * d);
  return Undef(i);
}

}  // namespace

void RegisterOps(Napi::Env env, Napi::Object exports) {
  const std::pair<const char*, Napi::Value (*)(const CI&)> fns[] = {
    {"layernormFwd", LayernormFwd}, {"layernormBwd", LayernormBwd},
    {"rmsnormFwd", RmsnormFwd}, {"rmsnormBwd", RmsnormBwd},
    {"geluFwd", GeluFwd}, {"geluBwd", GeluBwd}, {"swigluFwd", SwigluFwd}, {"swigluBwd", SwigluBwd},
    {"rope", Rope}, {"attentionFwd", AttentionFwd}, {"attentionBwd", AttentionBwd},
    {"softmax", Softmax}, {"logSoftmax", LogSoftmax},
    {"crossEntropyFwd", CrossEntropyFwd}, {"crossEntropyBwd", CrossEntropyBwd},
    {"embeddingFwd", EmbeddingFwd}, {"embeddingBwd", EmbeddingBwd},
    {"adamw", Adamw}, {"sumSquares", SumSquares}, {"axpy", Axpy},
    {"addBias", AddBias}, {"sumRows", SumRows}, {"vadd", Vadd}, {"nf4Dequant", Nf4Dequant}, {"nonFinite", NonFinite},
    {"decodeLayer", DecodeLayer},
  };
  for (const auto& [name, fn] : fns) exports.Set(name, Napi::Function::New(env, fn, name));
}

}  // namespace heed
