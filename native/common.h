// Shared helpers for heed's native kernels: argument unpacking and the thread count.
#pragma once
#include <napi.h>
#include <cstdint>
#include <vector>
#include <omp.h>

namespace heed {

inline float* F32(const Napi::Value& v) { return v.As<Napi::Float32Array>().Data(); }
inline float* F32OrNull(const Napi::Value& v) { return v.IsNull() || v.IsUndefined() ? nullptr : v.As<Napi::Float32Array>().Data(); }
inline int32_t* I32(const Napi::Value& v) { return v.As<Napi::Int32Array>().Data(); }
inline uint8_t* U8OrNull(const Napi::Value& v) { return v.IsNull() || v.IsUndefined() ? nullptr : v.As<Napi::Uint8Array>().Data(); }
inline int32_t* I32OrNull(const Napi::Value& v) { return v.IsNull() || v.IsUndefined() ? nullptr : v.As<Napi::Int32Array>().Data(); }
// The bytes of any typed array's view, wherever it sits in its buffer (nullptr for null/undefined);
// `bytes`, when given, receives the view's length.
inline uint8_t* ViewBytes(const Napi::Value& v, size_t* bytes = nullptr) {
  if (v.IsNull() || v.IsUndefined()) { if (bytes) *bytes = 0; return nullptr; }
  Napi::TypedArray t = v.As<Napi::TypedArray>();
  if (bytes) *bytes = t.ByteLength();
  return static_cast<uint8_t*>(t.ArrayBuffer().Data()) + t.ByteOffset();
}
inline int64_t Int(const Napi::Value& v) { return v.As<Napi::Number>().Int64Value(); }
inline double Num(const Napi::Value& v) { return v.As<Napi::Number>().DoubleValue(); }
inline bool Bool(const Napi::Value& v) { return v.As<Napi::Boolean>().Value(); }

// Row-major C (M×N, leading dim ldc) = beta·C + op(A)·op(B). op(A) is M×K (A stored K×M when tA),
// op(B) is K×N (B stored N×K when tB). beta is 0 or 1. parallel=false runs on the calling thread
// (for use inside other kernels' OpenMP loops). Implemented in gemm.cc.
void sgemm(bool tA, bool tB, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
           const float* B, int64_t ldb, float* C, int64_t ldc, float beta, bool parallel);

// out_i (rows×O_i) = x (rows×I)·W_iᵀ for weights stored alike (kind 0 f32, 1 f16, 2 bf16, 3 q8_0;
// W_i the stored bytes, O_i rows each), one pass of the threads over all of them. Implemented in gemv.cc.
void gemvMulti(int kind, const float* x, int64_t rows, int64_t I, const std::vector<const uint8_t*>& W,
               const std::vector<int64_t>& O, const std::vector<float*>& out);

// Each kernel file registers its functions on the addon's exports.
void RegisterGemm(Napi::Env env, Napi::Object exports);
void RegisterOps(Napi::Env env, Napi::Object exports);
void RegisterGemv(Napi::Env env, Napi::Object exports);

}  // namespace heed
