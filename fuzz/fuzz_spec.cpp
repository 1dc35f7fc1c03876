// Spec JSON: parsing, validation with JSON paths, then building the model (shape inference,
// weight allocation under the memory limit).
#include "fuzz/fuzz_common.h"
#include "tinyc/error.h"
#include "tinyc/spec.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  tinyc_fuzz::init_limits();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const tinyc::ModelSpec spec = tinyc::parse_spec(tinyc_fuzz::bytes_of(data, size), "fuzz.json");
    (void)tinyc::build_model(spec, 1);
  } catch (const tinyc::Error&) {
  }
  return 0;
}
