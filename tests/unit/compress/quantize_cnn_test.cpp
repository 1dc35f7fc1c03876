// int8 CNN layers: hand-computed conv2d (padding taps, zero-point offset, double rounding) and
// pooling (TFLite's rounded average) cases, float-vs-int8 agreement per layer (conv stride 2
// same padding, depthwise multiplier 2, pools with odd sizes), the weight axes of the
// representation, and batch_norm folding before quantization.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "tinyc/executor.h"
#include "tinyc/quantize.h"
#include "tinyc/rng.h"
#include "tinyc/spec.h"

using namespace tinyc;

namespace {

// A regression model on an image input from a spec's "layers" JSON.
Model image_model(const std::string& input, const std::string& layers) {
  const std::string spec = R"({"name": "c", "input": )" + input +
                           R"(, "task": "regression", "layers": [)" + layers +
                           R"(], "train": {"loss": "mse"}})";
  return build_model(parse_spec(spec, "test.json"), 5);
}

std::vector<float> random_inputs(int64_t rows, int64_t width, uint64_t seed, float spread) {
  Rng rng(seed);
  std::vector<float> x(static_cast<size_t>(rows * width));
  for (float& v : x) v = (rng.uniform() * 2.0f - 1.0f) * spread;
  return x;
}

Model quantize_minmax(const Model& f, const std::vector<float>& x, int64_t rows) {
  QuantizeOptions o;
  o.method = CalibrationMethod::kMinMax;
  return quantize_model(f, x.data(), nullptr, rows, o, nullptr);
}

// Float vs int8 outputs on the calibration inputs: within `steps` output quantization steps.
void check_agreement(const Model& f, float steps) {
  const int64_t rows = 200, width = f.input().sample_size();
  const std::vector<float> x = random_inputs(rows, width, 11, 2.0f);
  const Model q = quantize_minmax(f, x, rows);
  REQUIRE(q.is_quantized());
  const std::vector<float> yf = run_model(f, x.data(), rows);
  const std::vector<float> yq = run_model(q, x.data(), rows);
  REQUIRE(yf.size() == yq.size());
  const float out_scale = q.output().quant.scale[0];
  float worst = 0.0f;
  for (size_t i = 0; i < yf.size(); ++i) worst = std::max(worst, std::fabs(yf[i] - yq[i]));
  INFO("max |float - int8| = " << worst << ", output scale " << out_scale);
  CHECK(worst <= steps * out_scale);
}

// Makes every activation tensor of `m` int8 with the given parameters (pools share them).
void set_all_activations(Model& m, float scale, int64_t zp) {
  for (Tensor& t : m.tensors) {
    if (t.is_constant()) continue;
    t.dtype = DType::kInt8;
    t.quant = Quantization{{scale}, {zp}, -1};
  }
}

std::vector<int> as_ints(const std::vector<int8_t>& v) { return {v.begin(), v.end()}; }

}  // namespace

TEST_CASE("conv2d int8: hand-computed padding, offsets and rounding", "[quantize][cnn]") {
  // x: 3x3x1, scale 0.5 zp 3; one 2x2 filter [[1, 2], [3, 4]] scale 0.25; bias 10 at 0.125;
  // stride 2, same padding: out 2x2, one padding row/column after (bottom, right).
  // y: scale 1 zp -5, M = 0.5 * 0.25 / 1 = 0.125 (multiplier 2^30, shift -2).
  Model m = image_model("[3, 3, 1]",
                        R"({"type": "conv2d", "filters": 1, "kernel": 2, "stride": 2,
                            "padding": "same"})");
  Tensor& w = m.tensor(m.ops[0].inputs[1]);
  Tensor& b = m.tensor(m.ops[0].inputs[2]);
  w.dtype = DType::kInt8;
  w.f32.clear();
  w.ints = {1, 2, 3, 4};
  w.quant = Quantization{{0.25f}, {0}, 0};
  b.dtype = DType::kInt32;
  b.f32.clear();
  b.ints = {10};
  b.quant = Quantization{{0.125f}, {0}, 0};
  set_all_activations(m, 0.5f, 3);
  m.tensor(m.outputs[0]).quant = Quantization{{1.0f}, {-5}, -1};
  validate_model(m);
  // x - zp = [2 -2 4; 0 -4 1; 8 -3 0]. Padding taps are skipped (they add nothing; reading
  // them as q = 0 would add -3 * w).
  //   (0,0): 2 - 4 + 0 - 16 + 10 = -8 -> -1 -> -6
  //   (0,1): 4 + 3 + 10 = 17 -> high mul 8.5 -> 9, / 4 -> 2 -> -3
  //   (1,0): 8 - 6 + 10 = 12 -> 6, / 4 = 1.5 -> 2 (away from zero) -> -3
  //   (1,1): 0 + 10 = 10 -> 5, / 4 = 1.25 -> 1 -> -4
  const std::vector<int8_t> x = {5, 1, 7, 3, -1, 4, 11, 0, 3};
  CHECK(as_ints(run_model_int8(m, x.data(), 1)) == std::vector<int>{-6, -3, -3, -4});
  m.ops[0].set_str("activation", "relu");  // clamp at the zero point -5
  CHECK(as_ints(run_model_int8(m, x.data(), 1)) == std::vector<int>{-5, -3, -3, -4});
}

TEST_CASE("pool int8: TFLite's rounded average, max, global average", "[quantize][cnn]") {
  // 3x3x1 input, pool 2 stride 2 same padding: windows of 4, 2, 2 and 1 in-image values.
  const std::vector<int8_t> x = {1, 2, -1, 1, 2, -2, 7, -2, 5};
  Model avg = image_model("[3, 3, 1]", R"({"type": "avg_pool2d", "pool": 2, "padding": "same"})");
  set_all_activations(avg, 0.1f, -7);
  validate_model(avg);
  // 6 / 4 = 1.5 -> 2; -3 / 2 = -1.5 -> -2; 5 / 2 = 2.5 -> 3; 5 / 1 = 5 (ties away from zero;
  // the raw int8 values are averaged, the zero point plays no part)
  CHECK(as_ints(run_model_int8(avg, x.data(), 1)) == std::vector<int>{2, -2, 3, 5});
  Model max = image_model("[3, 3, 1]", R"({"type": "max_pool2d", "pool": 2, "padding": "same"})");
  set_all_activations(max, 0.1f, -7);
  validate_model(max);
  CHECK(as_ints(run_model_int8(max, x.data(), 1)) == std::vector<int>{2, -1, 7, 5});
  Model gap = image_model("[3, 3, 1]", R"({"type": "global_avg_pool2d"})");
  set_all_activations(gap, 0.1f, -7);
  validate_model(gap);
  const std::vector<int8_t> x2 = {1, 2, -1, 1, 2, -2, 7, -2, -4};  // sum 4 -> 4 / 9 -> 0
  const std::vector<int8_t> x3 = {-1, -1, -1, -1, -1, -1, -1, -1, -1};  // -9 / 9 = -1
  const std::vector<int8_t> x4 = {-1, -1, -1, -1, -1, 0, 0, 0, 0};      // -5 / 9 -> -1
  std::vector<int8_t> all(x2);
  all.insert(all.end(), x3.begin(), x3.end());
  all.insert(all.end(), x4.begin(), x4.end());
  CHECK(as_ints(run_model_int8(gap, all.data(), 3)) == std::vector<int>{0, -1, -1});
  // Mismatched in/out parameters are refused, naming the layer.
  avg.tensor(avg.outputs[0]).quant.scale = {0.2f};
  CHECK_THROWS_WITH(run_model_int8(avg, x.data(), 1), Catch::Contains("share its input"));
}

TEST_CASE("CNN layers: float vs int8 agreement", "[quantize][cnn]") {
  SECTION("conv2d stride 2, same padding, relu") {
    check_agreement(image_model("[7, 9, 2]", R"({"type": "conv2d", "filters": 4, "kernel": 3,
        "stride": 2, "padding": "same", "activation": "relu"})"), 2.0f);
  }
  SECTION("conv2d valid, 1x1") {
    check_agreement(image_model("[5, 6, 3]", R"({"type": "conv2d", "filters": 5, "kernel": 1})"),
                    2.0f);
  }
  SECTION("depthwise_conv2d multiplier 2, same padding, stride 2") {
    check_agreement(image_model("[7, 9, 3]", R"({"type": "depthwise_conv2d", "kernel": 3,
        "depth_multiplier": 2, "stride": 2, "padding": "same", "activation": "relu6"})"), 2.0f);
  }
  SECTION("max_pool2d 3x3 stride 2 same on 7x9") {
    check_agreement(image_model("[7, 9, 2]", R"({"type": "max_pool2d", "pool": 3, "stride": 2,
        "padding": "same"})"), 0.5f);
  }
  SECTION("avg_pool2d 2x3 same on 7x9, and valid 3x3") {
    check_agreement(image_model("[7, 9, 2]", R"({"type": "avg_pool2d", "pool": [2, 3],
        "padding": "same"})"), 1.0f);
    check_agreement(image_model("[7, 9, 2]", R"({"type": "avg_pool2d", "pool": 3})"), 1.0f);
  }
  SECTION("global_avg_pool2d on 5x7") {
    check_agreement(image_model("[5, 7, 3]", R"({"type": "global_avg_pool2d"})"), 1.0f);
  }
  SECTION("a whole CNN: conv, depthwise, pools, reshape, dense") {
    check_agreement(
        image_model("[9, 7, 1]", R"({"type": "conv2d", "filters": 4, "kernel": [3, 2],
            "stride": 2, "padding": "same", "activation": "relu"},
          {"type": "depthwise_conv2d", "kernel": 3, "depth_multiplier": 2, "padding": "same",
            "activation": "relu"},
          {"type": "max_pool2d", "pool": 2, "padding": "same"},
          {"type": "avg_pool2d", "pool": [1, 2], "padding": "same"},
          {"type": "reshape", "shape": [-1]},
          {"type": "dense", "units": 3})"),
        4.0f);
  }
}

TEST_CASE("CNN quantized representation: weight axes, shared pool parameters",
          "[quantize][cnn]") {
  const Model f = image_model("[8, 8, 2]", R"({"type": "conv2d", "filters": 3, "kernel": 3,
        "activation": "relu"},
      {"type": "depthwise_conv2d", "kernel": 3, "depth_multiplier": 2, "padding": "same"},
      {"type": "max_pool2d", "pool": 2},
      {"type": "global_avg_pool2d"},
      {"type": "dense", "units": 2})");
  const std::vector<float> x = random_inputs(50, 128, 3, 1.0f);
  const Model q = quantize_minmax(f, x, 50);
  const Tensor& cw = q.tensor(q.ops[0].inputs[1]);
  CHECK(cw.dtype == DType::kInt8);
  CHECK(cw.quant.axis == 0);
  CHECK(cw.quant.scale.size() == 3);
  const Tensor& dw = q.tensor(q.ops[1].inputs[1]);
  const Tensor& dwf = f.tensor(f.ops[1].inputs[1]);
  CHECK(dw.quant.axis == 3);
  REQUIRE(dw.quant.scale.size() == 6);
  // Each output channel's largest magnitude maps to 127; channel o is element i % 6.
  for (size_t o = 0; o < 6; ++o) {
    float m = 0.0f;
    int32_t qm = 0;
    for (size_t i = o; i < dwf.f32.size(); i += 6) {
      m = std::max(m, std::fabs(dwf.f32[i]));
      qm = std::max(qm, std::abs(dw.ints[i]));
    }
    CHECK(dw.quant.scale[o] == Approx(m / 127.0f));
    CHECK(qm == 127);
  }
  const Tensor& db = q.tensor(q.ops[1].inputs[2]);
  CHECK(db.dtype == DType::kInt32);
  CHECK(db.ints.size() == 6);
  for (size_t i = 2; i <= 3; ++i) {
    const Tensor& in = q.tensor(q.ops[i].inputs[0]);
    const Tensor& out = q.tensor(q.ops[i].outputs[0]);
    CHECK(in.quant == out.quant);
  }
}

TEST_CASE("quantize folds batch_norm first", "[quantize][cnn]") {
  Model f = image_model("[6, 6, 2]", R"({"type": "conv2d", "filters": 4, "kernel": 3},
      {"type": "batch_norm", "activation": "relu"},
      {"type": "flatten"},
      {"type": "dense", "units": 2})");
  // Non-trivial statistics and affine parameters (all positive: valid for any of them).
  Rng rng(9);
  for (int t : f.ops[1].inputs) {
    Tensor& p = f.tensor(t);
    if (!p.is_constant()) continue;
    for (float& v : p.f32) v = 0.5f + rng.uniform();
  }
  const std::vector<float> x = random_inputs(200, 72, 4, 2.0f);
  const Model q = quantize_minmax(f, x, 200);
  for (const Op& op : q.ops) CHECK(op.type != OpType::kBatchNorm);
  CHECK(q.ops.size() == 3);
  CHECK(q.ops[0].get_str("activation", "none") == "relu");
  const std::vector<float> yf = run_model(f, x.data(), 200);
  const std::vector<float> yq = run_model(q, x.data(), 200);
  const float step = q.output().quant.scale[0];
  float worst = 0.0f;
  for (size_t i = 0; i < yf.size(); ++i) worst = std::max(worst, std::fabs(yf[i] - yq[i]));
  INFO("max |float - int8| = " << worst << ", output scale " << step);
  CHECK(worst <= 3.0f * step);
}
