// .tflite import: identifier, FlatBuffers verifier, indices, buffer sizes, quantization, op
// mapping; then one inference, since an imported model must be safe to run.
#include <vector>

#include "fuzz/fuzz_common.h"
#include "tinyc/error.h"
#include "tinyc/executor.h"
#include "tinyc/tflite.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  tinyc_fuzz::init_limits();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const tinyc::Model model = tinyc::import_tflite(tinyc_fuzz::bytes_of(data, size), "fuzz.tflite");
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
