// CSV loader: header detection, label choice, number parsing, split column.
#include "fuzz/fuzz_common.h"
#include "tinyc/data.h"
#include "tinyc/error.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  tinyc_fuzz::init_limits();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const tinyc::Dataset d = tinyc::parse_csv(tinyc_fuzz::bytes_of(data, size), "fuzz.csv");
    // What every loaded data set goes through next.
    (void)d.fingerprint();
    tinyc::SplitSpec spec;
    spec.stratify = false;
    (void)tinyc::make_split(d, spec);
  } catch (const tinyc::Error&) {
  }
  return 0;
}
