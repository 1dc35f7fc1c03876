// .tinyc model files. The CRC would stop nearly every mutation at the first check, so the target
// appends the correct CRC to the input: it fuzzes what a crafted (not a damaged) file reaches —
// the FlatBuffers verifier, decoding and validation — and then runs the model once, since a
// model that loads must be safe to use. Corpus files are model files without their last 4 bytes.
#include <vector>

#include "fuzz/fuzz_common.h"
#include "tinyc/error.h"
#include "tinyc/executor.h"
#include "tinyc/fileio.h"
#include "tinyc/limits.h"
#include "tinyc/model_file.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  tinyc_fuzz::init_limits();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string bytes = tinyc_fuzz::bytes_of(data, size);
  const uint32_t crc = tinyc::crc32_of(bytes.data(), bytes.size());
  for (int i = 0; i < 4; ++i) bytes.push_back(static_cast<char>((crc >> (8 * i)) & 0xff));
  try {
    const tinyc::Model model = tinyc::deserialize_model(bytes, "fuzz.tinyc");
    // Big (valid) models are slow to run, not wrong: run only what fits a fuzzing budget.
    // One case holds every graph input back to back (the executors' layout).
    int64_t width = 0;
    for (int t : model.inputs) width += model.tensor(t).sample_size();
    if (width > tinyc_fuzz::kMaxRunElements) return 0;
    const std::vector<float> input(static_cast<size_t>(width), 0.5f);
    (void)tinyc::run_model(model, input.data(), 1);
  } catch (const tinyc::Error&) {
  }
  return 0;
}
