// SGEMM for heed (NN, NT, TN; batched). Naive placeholder until the packed kernel lands.
#include "common.h"
namespace heed {

void sgemm(bool tA, bool tB, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
           const float* B, int64_t ldb, float* C, int64_t ldc, float beta, bool parallel) {
  #pragma omp parallel for if(parallel) schedule(static)
  for (int64_t i = 0; i < M; i++)
    for (int64_t j = 0; j < N; j++) {
      float s = 0;
      for (int64_t p = 0; p < K; p++) s += (tA ? A[p * lda + i] : A[i * lda + p]) * (tB ? B[j * ldb + p] : B[p * ldb + j]);
      C[i * ldc + j] = beta == 0.f ? s : C[i * ldc + j] + s;
    }
}

void RegisterGemm(Napi::Env env, Napi::Object exports) { (void)env; (void)exports; }
}  // namespace heed
