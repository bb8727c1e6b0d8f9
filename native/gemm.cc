// SGEMM for heed (NN, NT, TN; batched). Placeholder until the packed kernel lands.
#include "common.h"
namespace heed {
void RegisterGemm(Napi::Env env, Napi::Object exports) { (void)env; (void)exports; }
}
