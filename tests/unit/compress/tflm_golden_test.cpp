// The int8 reference executor against TFLite Micro itself: hello_world_int8 (three int8
// FULLY_CONNECTED layers, per-tensor weights) from ../shared/data/tflite, its 1000 inputs and
// the outputs TFLM computed for them, which must match byte for byte; and test_conv_model
// (per-channel CONV_2D, MAX_POOL_2D, RESHAPE, FULLY_CONNECTED) and person_detect
// (DEPTHWISE_CONV_2D, CONV_2D, AVERAGE_POOL_2D, SOFTMAX) on their 16 cases.
//
// The models come through tinyc's own importer (import_tflite), so these tests pin the int8
// kernels and the importer's mapping together against TFLM.
#include <catch2/catch.hpp>


#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "tinyc/executor.h"
#include "tinyc/model.h"
#include "tinyc/tflite.h"

using namespace tinyc;

namespace {

const std::string kTflite = TINYC_SHARED_DIR "/data/tflite/";

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

}  // namespace

TEST_CASE("int8 dense matches TFLite Micro on hello_world_int8 byte for byte", "[quantize][tflm]") {
  const std::string tflite = slurp(kTflite + "hello_world_int8.tflite");
  const std::string inputs = slurp(kTflite + "hello_world_int8.inputs.bin");
  const std::string outputs = slurp(kTflite + "hello_world_int8.outputs.bin");
  if (tflite.empty() || inputs.empty()) {
    WARN("../shared/data/tflite/hello_world_int8.* not found; skipping");
    return;
  }
  const Model m = import_tflite(tflite, "hello_world_int8.tflite");
  REQUIRE(m.ops.size() == 3);
  CHECK(m.ops[1].get_str("activation", "") == "relu");
  REQUIRE(m.is_quantized());

  const auto rows = static_cast<int64_t>(inputs.size());
  const std::vector<int8_t> got =
      run_model_int8(m, reinterpret_cast<const int8_t*>(inputs.data()), rows);
  REQUIRE(got.size() == outputs.size());
  int64_t mismatches = 0;
  for (size_t i = 0; i < got.size(); ++i) mismatches += got[i] != static_cast<int8_t>(outputs[i]);
  CHECK(mismatches == 0);
  // A sine sweep: the comparison covers many distinct outputs, not one saturated value.
  CHECK(std::set<int8_t>(got.begin(), got.end()).size() > 100);
}

TEST_CASE("int8 conv2d, max_pool2d, reshape match TFLite Micro on test_conv_model",
          "[quantize][tflm][cnn]") {
  // QUANTIZE, CONV_2D 3x3 valid relu (16 filters, per channel), CONV_2D 3x3 valid relu (32),
  // MAX_POOL_2D 2x2, RESHAPE, FULLY_CONNECTED (per tensor), DEQUANTIZE; float input/output.
  const std::string tflite = slurp(kTflite + "test_conv_model.tflite");
  const std::string inputs = slurp(kTflite + "test_conv_model.inputs.bin");
  const std::string outputs = slurp(kTflite + "test_conv_model.outputs.bin");
  if (tflite.empty() || inputs.empty()) {
    WARN("../shared/data/tflite/test_conv_model.* not found; skipping");
    return;
  }
  const Model m = import_tflite(tflite, "test_conv_model.tflite");
  REQUIRE(m.is_quantized());
  REQUIRE(m.ops.size() == 7);
  CHECK(m.ops[0].type == OpType::kQuantize);
  CHECK(m.ops[1].get_str("padding", "") == "valid");
  CHECK(m.ops[6].type == OpType::kDequantize);

  const int64_t rows = 16;
  REQUIRE(inputs.size() == static_cast<size_t>(rows * 256 * 4));
  REQUIRE(outputs.size() == static_cast<size_t>(rows * 10 * 4));
  std::vector<float> x(static_cast<size_t>(rows * 256)), want(static_cast<size_t>(rows * 10));
  std::memcpy(x.data(), inputs.data(), inputs.size());
  std::memcpy(want.data(), outputs.data(), outputs.size());
  const std::vector<float> got = run_model(m, x.data(), rows);  // QUANTIZE .. DEQUANTIZE
  REQUIRE(got.size() == want.size());
  int64_t mismatches = 0;
  for (size_t i = 0; i < got.size(); ++i) mismatches += got[i] != want[i];
  CHECK(mismatches == 0);
  CHECK(std::set<float>(got.begin(), got.end()).size() > 20);
}

TEST_CASE("int8 depthwise_conv2d, conv2d, avg_pool2d match TFLite Micro on person_detect",
          "[quantize][tflm][cnn]") {
  // MobileNet v1 0.25 on 96x96x1: depthwise (multiplier 8 on the first), 1x1 conv, SAME
  // padding with strides 1 and 2, fused relu6, AVERAGE_POOL_2D 3x3, RESHAPE, SOFTMAX.
  const std::string tflite = slurp(kTflite + "person_detect.tflite");
  const std::string inputs = slurp(kTflite + "person_detect.inputs.bin");
  const std::string outputs = slurp(kTflite + "person_detect.outputs.bin");
  if (tflite.empty() || inputs.empty()) {
    WARN("../shared/data/tflite/person_detect.* not found; skipping");
    return;
  }
  const Model m = import_tflite(tflite, "person_detect.tflite");
  REQUIRE(m.ops.size() == 31);
  CHECK(m.ops[0].get_int("depth_multiplier", 0) == 8);
  CHECK(m.ops[0].get_str("padding", "") == "same");
  const int64_t rows = 16;
  REQUIRE(inputs.size() == static_cast<size_t>(rows * 96 * 96));
  REQUIRE(outputs.size() == static_cast<size_t>(rows * 2));
  const std::vector<int8_t> got =
      run_model_int8(m, reinterpret_cast<const int8_t*>(inputs.data()), rows);
  REQUIRE(got.size() == outputs.size());
  int64_t mismatches = 0;
  for (size_t i = 0; i < got.size(); ++i) mismatches += got[i] != static_cast<int8_t>(outputs[i]);
  CHECK(mismatches == 0);
  // Every intermediate layer is checked through the output: compare the logits as well.
  CHECK(std::set<int8_t>(got.begin(), got.end()).size() > 3);
}
