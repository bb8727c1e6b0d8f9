// The heed native addon: CPU kernels for the engine (see src/core/kernels.ts for the contract).
#include <cstdlib>
#include "common.h"

static Napi::Value Threads(const Napi::CallbackInfo& info) {
  if (info.Length() > 0 && info[0].IsNumber()) omp_set_num_threads((int)heed::Int(info[0]));
  return Napi::Number::New(info.Env(), omp_get_max_threads());
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  if (const char* t = std::getenv("HEED_THREADS")) { int n = std::atoi(t); if (n > 0) omp_set_num_threads(n); }
  exports.Set("threads", Napi::Function::New(env, Threads));
  heed::RegisterGemm(env, exports);
  heed::RegisterOps(env, exports);
  return exports;
}

NODE_API_MODULE(heed_native, Init)
