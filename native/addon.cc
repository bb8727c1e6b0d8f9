// The heed native addon: CPU kernels for the engine (see src/core/kernels.ts for the contract).
#include <cstdlib>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include "common.h"

static Napi::Value Threads(const Napi::CallbackInfo& info) {
  if (info.Length() > 0 && info[0].IsNumber()) omp_set_num_threads((int)heed::Int(info[0]));
  return Napi::Number::New(info.Env(), omp_get_max_threads());
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
#if defined(__GLIBC__)
  // Tensors are large typed arrays allocated and freed every step. By default glibc serves them
  // with fresh mmaps and unmaps them on free, so every step pays page faults on hundreds of MB
  // (~20% of a small model's training step). Keeping freed memory in the heap avoids that; the
  // process's peak memory is unchanged.
  if (!std::getenv("HEED_DEFAULT_MALLOC")) {
    mallopt(M_MMAP_THRESHOLD, 1 << 30);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    mallopt(M_TOP_PAD, 256 << 20);
  }
#endif
  if (const char* t = std::getenv("HEED_THREADS")) { int n = std::atoi(t); if (n > 0) omp_set_num_threads(n); }
  exports.Set("threads", Napi::Function::New(env, Threads));
  heed::RegisterGemm(env, exports);
  heed::RegisterOps(env, exports);
  heed::RegisterGemv(env, exports);
  return exports;
}

NODE_API_MODULE(heed_native, Init)
