// Placeholder: the tap and bus I/O addon is being written (see issue 5).
#include <napi.h>

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("version", Napi::Number::New(env, 0));
  return exports;
}

NODE_API_MODULE(tapbridge, Init)
