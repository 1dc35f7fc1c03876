// Spec JSON for the NHWC layers: keys, the int-or-[h, w] pairs, errors naming the JSON path,
// and the built graph of models/fashion_cnn.json (shapes, parameters, MACs, file round trip).
#include <catch2/catch.hpp>

#include <cmath>
#include <string>

#include "test_util.h"
#include "tinyc/error.h"
#include "tinyc/model_file.h"
#include "tinyc/spec.h"

using namespace tinyc;

namespace {

// A classification spec over `input` with the given layers (a JSON array body).
std::string spec_with(const std::string& input, const std::string& layers) {
  return R"({"name": "t", "input": )" + input + R"(, "task": "classification", "layers": [)" +
         layers + "]}";
}

std::string error_of(const std::string& text) {
  try {
    build_model(parse_spec(text, "t.json"), 1);
  } catch (const Error& e) {
    CHECK(e.code() == ExitCode::kBadInput);
    return e.what();
  }
  FAIL("expected an error");
  return "";
}

const Tensor& output_of(const Model& m, size_t op) { return m.tensor(m.ops.at(op).outputs[0]); }

}  // namespace

TEST_CASE("fashion_cnn.json builds the issue's network", "[io][spec]") {
  const Model m = build_model(load_spec(TINYC_SOURCE_DIR "/models/fashion_cnn.json"), 3);
  REQUIRE(m.ops.size() == 7);  // + implied softmax
  CHECK(output_of(m, 0).shape == Shape{1, 26, 26, 8});
  CHECK(output_of(m, 1).shape == Shape{1, 13, 13, 8});
  CHECK(output_of(m, 2).shape == Shape{1, 11, 11, 16});
  CHECK(output_of(m, 3).shape == Shape{1, 5, 5, 16});
  CHECK(output_of(m, 4).shape == Shape{1, 400});
  CHECK(output_of(m, 5).shape == Shape{1, 10});
  CHECK(m.ops[6].type == OpType::kSoftmax);
  const ModelStats s = model_stats(m);
  CHECK(s.params == 5258);  // the PyTorch peer's count
  CHECK(s.macs == 26 * 26 * 8 * 9 + 11 * 11 * 16 * 72 + 400 * 10);
  CHECK(m.tensor(m.ops[0].inputs[1]).shape == Shape{8, 3, 3, 1});
  // Glorot: U(-a, a), a = sqrt(6 / (9 * 1 + 9 * 8)).
  const float a = std::sqrt(6.0f / 81.0f);
  for (float v : m.tensor(m.ops[0].inputs[1]).f32) CHECK(std::fabs(v) <= a);
  tinyc_test::TempDir dir;
  save_model(m, dir.file("m.tinyc"));
  CHECK(load_model(dir.file("m.tinyc")) == m);
}

TEST_CASE("spec keys of the NHWC layers", "[io][spec]") {
  const Model m = build_model(parse_spec(spec_with("[9, 8, 2]", R"(
      {"type": "conv2d", "filters": 4, "kernel": [3, 2], "stride": [2, 1], "padding": "same", "init": "he"},
      {"type": "batch_norm", "momentum": 0.9, "epsilon": 0.001, "activation": "relu6"},
      {"type": "depthwise_conv2d", "kernel": 3, "depth_multiplier": 2, "activation": "relu"},
      {"type": "avg_pool2d", "pool": [2, 3], "stride": 1, "padding": "same"},
      {"type": "max_pool2d", "pool": 2, "padding": "same"},
      {"type": "reshape", "shape": [2, -1, 8]},
      {"type": "global_avg_pool2d"},
      {"type": "dense", "units": 3}
  )"), "t.json"), 1);
  CHECK(output_of(m, 0).shape == Shape{1, 5, 8, 4});
  CHECK(output_of(m, 1).shape == Shape{1, 5, 8, 4});
  CHECK(output_of(m, 2).shape == Shape{1, 3, 6, 8});
  CHECK(output_of(m, 3).shape == Shape{1, 3, 6, 8});
  CHECK(output_of(m, 4).shape == Shape{1, 2, 3, 8});
  CHECK(output_of(m, 5).shape == Shape{1, 2, 3, 8});
  CHECK(output_of(m, 6).shape == Shape{1, 8});
  const Op& bn = m.ops[1];
  CHECK(bn.get_str("activation", "") == "relu6");
  CHECK(m.tensor(bn.inputs[3]).role == TensorRole::kState);
  CHECK(m.tensor(bn.inputs[4]).role == TensorRole::kState);
  CHECK(m.tensor(bn.inputs[4]).f32 == FloatBuffer(4, 1.0f));
  CHECK(m.tensor(bn.inputs[1]).f32 == FloatBuffer(4, 1.0f));
  // Moving statistics are state, not parameters: conv 4*3*2*2+4, gamma/beta 8, depthwise
  // 3*3*8+8, dense 8*3+3.
  CHECK(model_stats(m).params == 52 + 8 + 80 + 27);
  // State tensors and [h, w] attributes survive the model file.
  tinyc_test::TempDir dir;
  save_model(m, dir.file("m.tinyc"));
  CHECK(load_model(dir.file("m.tinyc")) == m);
}

TEST_CASE("NHWC spec errors name the JSON path", "[io][spec]") {
  CHECK_THAT(error_of(spec_with("[28, 28]", R"({"type": "conv2d", "filters": 4, "kernel": 3}, {"type": "flatten"}, {"type": "dense", "units": 2})")),
             Catch::Contains("$.layers[0]") && Catch::Contains("[H, W, 1]"));
  CHECK_THAT(error_of(spec_with("[8, 8, 1]", R"({"type": "conv2d", "filters": 4})")),
             Catch::Contains("$.layers[0]") && Catch::Contains("kernel"));
  CHECK_THAT(error_of(spec_with("[8, 8, 1]", R"({"type": "conv2d", "filters": 4, "kernel": [3]})")),
             Catch::Contains("$.layers[0].kernel"));
  CHECK_THAT(error_of(spec_with("[8, 8, 1]", R"({"type": "conv2d", "filters": 4, "kernel": 3, "units": 2})")),
             Catch::Contains("$.layers[0].units") && Catch::Contains("unknown key"));
  CHECK_THAT(error_of(spec_with("[8, 8, 1]", R"({"type": "conv2d", "filters": 4, "kernel": 3, "padding": "full"})")),
             Catch::Contains("$.layers[0].padding"));
  CHECK_THAT(error_of(spec_with("[8, 8, 1]", R"({"type": "conv2d", "filters": 4, "kernel": 9}, {"type": "flatten"}, {"type": "dense", "units": 2})")),
             Catch::Contains("$.layers[0]") && Catch::Contains("larger than"));
  CHECK_THAT(error_of(spec_with("[8, 8, 1]", R"({"type": "max_pool2d"})")),
             Catch::Contains("$.layers[0]") && Catch::Contains("pool"));
  CHECK_THAT(error_of(spec_with("[8, 8, 1]", R"({"type": "max_pool2d", "pool": 0})")),
             Catch::Contains("$.layers[0].pool"));
  CHECK_THAT(error_of(spec_with("[16]", R"({"type": "global_avg_pool2d"})")),
             Catch::Contains("$.layers[0]") && Catch::Contains("reshape"));
  CHECK_THAT(error_of(spec_with("[12]", R"({"type": "reshape", "shape": [5, -1]})")),
             Catch::Contains("$.layers[0]") && Catch::Contains("reshape"));
  CHECK_THAT(error_of(spec_with("[12]", R"({"type": "reshape", "shape": [-1, -1]})")),
             Catch::Contains("$.layers[0].shape[1]"));
  CHECK_THAT(error_of(spec_with("[12]", R"({"type": "batch_norm", "momentum": 1.5}, {"type": "dense", "units": 2})")),
             Catch::Contains("$.layers[0].momentum"));
  CHECK_THAT(error_of(spec_with("[8, 8, 2]", R"({"type": "depthwise_conv2d", "kernel": 3, "filters": 4})")),
             Catch::Contains("$.layers[0].filters"));
}
