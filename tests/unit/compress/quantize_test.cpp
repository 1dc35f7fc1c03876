// Post-training int8 quantization and the int8 reference executor: the representation, a
// hand-computed dense case, float-vs-int8 agreement per layer, the model file round trip,
// refusals, and digits_mlp accuracy.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "tinyc/error.h"
#include "tinyc/executor.h"
#include "tinyc/model_file.h"
#include "tinyc/quant_math.h"
#include "tinyc/quantize.h"
#include "tinyc/rng.h"
#include "tinyc/spec.h"
#include "tinyc/train.h"

using namespace tinyc;

namespace {

const std::string kModels = TINYC_SOURCE_DIR "/models/";
const std::string kTasks = TINYC_SHARED_DIR "/data/tasks/";

// A one-hidden-layer model from a spec: dense(6, activation) on 8 inputs, then `tail` layers.
Model small_model(const std::string& activation, const std::string& task = "regression",
                  const std::string& tail = "") {
  const std::string loss = task == "classification" ? "cross_entropy" : "mse";
  const std::string spec = R"({"name": "q", "input": [8], "task": ")" + task + R"(",
    "layers": [{"type": "dense", "units": 6, "activation": ")" +
                           activation + "\"}" + tail + R"(], "train": {"loss": ")" + loss +
                           R"("}})";
  return build_model(parse_spec(spec, "test.json"), 7);
}

std::vector<float> random_inputs(int64_t rows, int64_t width, uint64_t seed, float spread) {
  Rng rng(seed);
  std::vector<float> x(static_cast<size_t>(rows * width));
  for (float& v : x) v = (rng.uniform() * 2.0f - 1.0f) * spread;
  return x;
}

// Float vs int8 on the calibration inputs (min/max ranges: nothing clipped): every output
// within `steps` output quantization steps plus `slack` (input and weight rounding propagate
// through the layer).
void check_agreement(const Model& f, float steps, float slack) {
  const int64_t width = f.input().sample_size();
  const std::vector<float> x = random_inputs(400, width, 11, 2.0f);
  QuantizeOptions o;
  o.method = CalibrationMethod::kMinMax;
  const Model q = quantize_model(f, x.data(), nullptr, 400, o, nullptr);
  REQUIRE(q.is_quantized());
  const std::vector<float> yf = run_model(f, x.data(), 400);
  const std::vector<float> yq = run_model(q, x.data(), 400);
  REQUIRE(yf.size() == yq.size());
  const float out_scale = q.output().quant.scale[0];
  float worst = 0.0f;
  for (size_t i = 0; i < yf.size(); ++i) worst = std::max(worst, std::fabs(yf[i] - yq[i]));
  INFO("max |float - int8| = " << worst << ", output scale " << out_scale);
  CHECK(worst <= steps * out_scale + slack);
}

std::vector<int> as_ints(const std::vector<int8_t>& v) {
  return std::vector<int>(v.begin(), v.end());
}

}  // namespace

TEST_CASE("dense int8 kernel: hand-computed requantization, fused relu and relu6", "[quantize]") {
  // x: (1, 2) scale 0.25 zp 1; w: (1, 2) int8 [2, -3] scale 0.5; b = 5 at scale 0.125;
  // y: scale 0.5 zp -2. Multiplier 0.25 * 0.5 / 0.5 = 0.25.
  Model m = small_model("none");
  m.ops.resize(1);
  Tensor& w = m.tensor(m.ops[0].inputs[1]);
  Tensor& b = m.tensor(m.ops[0].inputs[2]);
  Tensor& x = m.tensor(m.ops[0].inputs[0]);
  Tensor& y = m.tensor(m.ops[0].outputs[0]);
  x.shape = {1, 2};
  w.shape = {1, 2};
  w.dtype = DType::kInt8;
  w.f32.clear();
  w.ints = {2, -3};
  w.quant = Quantization{{0.5f}, {0}, 0};
  b.shape = {1};
  b.dtype = DType::kInt32;
  b.f32.clear();
  b.ints = {5};
  b.quant = Quantization{{0.125f}, {0}, 0};
  y.shape = {1, 1};
  m.ops[0].set_int("units", 1);
  x.dtype = y.dtype = DType::kInt8;
  x.quant = Quantization{{0.25f}, {1}, -1};
  y.quant = Quantization{{0.5f}, {-2}, -1};
  m.outputs = {m.ops[0].outputs[0]};
  validate_model(m);
  // [5, -3] -> (4, -4) -> 8 + 12 + 5 = 25 -> 6.25, rounded twice (TFLM's double rounding):
  //   high multiply 12.5 -> 13, shift 6.5 -> 7; 7 - 2 = 5
  // [-7, 9] -> (-8, 8) -> -16 - 24 + 5 = -35 -> high multiply -17.5 -> -17 (ties up), shift
  //   -8.5 -> -9 (ties away from zero); -9 - 2 = -11
  // [127, -128] -> (126, -129) -> 252 + 387 + 5 = 644 -> 161 - 2 = 159 -> 127
  const std::vector<int8_t> in = {5, -3, -7, 9, 127, -128};
  CHECK(as_ints(run_model_int8(m, in.data(), 3)) == std::vector<int>{5, -11, 127});
  m.ops[0].set_str("activation", "relu");
  CHECK(as_ints(run_model_int8(m, in.data(), 3)) == std::vector<int>{5, -2, 127});
  m.ops[0].set_str("activation", "relu6");  // max -2 + round(6 / 0.5) = 10
  CHECK(as_ints(run_model_int8(m, in.data(), 3)) == std::vector<int>{5, -2, 10});
}

TEST_CASE("quantized representation follows tinyc/quantize.h", "[quantize]") {
  const Model f = small_model("relu", "classification");
  const std::vector<float> calib = random_inputs(100, 8, 3, 1.0f);
  QuantizeOptions o;
  const Model q = quantize_model(f, calib.data(), nullptr, 100, o, nullptr);
  REQUIRE(q.ops.size() == f.ops.size());
  REQUIRE(q.tensors.size() == f.tensors.size());
  CHECK(q.preprocess.kind == f.preprocess.kind);
  for (size_t i = 0; i < q.ops.size(); ++i) CHECK(q.ops[i] == f.ops[i]);
  for (const Tensor& t : q.tensors) {
    INFO(t.name);
    if (!t.is_constant()) {
      CHECK(t.dtype == DType::kInt8);
      CHECK(t.quant.axis == -1);
      REQUIRE(t.quant.scale.size() == 1);
      CHECK(t.quant.scale[0] > 0.0f);
    } else if (t.shape.size() == 2) {
      CHECK(t.dtype == DType::kInt8);
      CHECK(t.quant.axis == 0);
      CHECK(t.quant.scale.size() == static_cast<size_t>(t.shape[0]));
      for (int32_t v : t.ints) CHECK((v >= -127 && v <= 127));
      for (int64_t zp : t.quant.zero_point) CHECK(zp == 0);
      CHECK(t.f32.empty());
    } else {
      CHECK(t.dtype == DType::kInt32);
      CHECK(t.quant.axis == 0);
    }
  }
  // Each weight row's largest magnitude maps to 127.
  const Tensor& w = q.tensor(q.ops[0].inputs[1]);
  for (int c = 0; c < w.shape[0]; ++c) {
    int32_t m = 0;
    for (int i = 0; i < w.shape[1]; ++i)
      m = std::max(m, std::abs(w.ints[static_cast<size_t>(c * w.shape[1] + i)]));
    CHECK(m == 127);
  }
  // Softmax output has the fixed parameters.
  CHECK(q.output().quant.scale[0] == 1.0f / 256.0f);
  CHECK(q.output().quant.zero_point[0] == -128);
}

TEST_CASE("float and int8 agree per layer", "[quantize]") {
  SECTION("dense, no activation") { check_agreement(small_model("none"), 1.5f, 0.06f); }
  SECTION("dense relu") { check_agreement(small_model("relu"), 1.5f, 0.06f); }
  SECTION("dense relu6") { check_agreement(small_model("relu6"), 1.5f, 0.06f); }
  SECTION("sigmoid") { check_agreement(small_model("sigmoid"), 2.0f, 0.02f); }
  SECTION("tanh") { check_agreement(small_model("tanh"), 2.0f, 0.04f); }
  SECTION("softmax") { check_agreement(small_model("relu", "classification"), 2.0f, 0.03f); }
  SECTION("standalone relu, relu6 and dropout") {
    check_agreement(small_model("none", "regression",
                                R"(, {"type": "activation", "activation": "relu"},
                                     {"type": "dropout", "rate": 0.3},
                                     {"type": "activation", "activation": "relu6"})"),
                    1.5f, 0.06f);
  }
  SECTION("flatten") {
    const std::string spec = R"({"name": "f", "input": [2, 4], "task": "regression",
      "layers": [{"type": "flatten"}, {"type": "dense", "units": 3}], "train": {"loss": "mse"}})";
    check_agreement(build_model(parse_spec(spec, "flatten.json"), 5), 1.5f, 0.06f);
  }
}

TEST_CASE("choose_quant_params covers the range and zero", "[quantize]") {
  const QuantParams p = choose_quant_params(-1.0f, 3.0f);
  CHECK(p.scale == Approx(4.0f / 255.0f));
  CHECK(p.zero_point == -64);                               // round(-128 + 63.75)
  const QuantParams pos = choose_quant_params(2.0f, 5.0f);  // widened to [0, 5]
  CHECK(pos.zero_point == -128);
  const QuantParams neg = choose_quant_params(-4.0f, -1.0f);  // widened to [-4, 0]
  CHECK(neg.zero_point == 127);
  const QuantParams zero = choose_quant_params(0.0f, 0.0f);
  CHECK(zero.scale > 0.0f);
}

TEST_CASE("mse calibration clips a long tail", "[quantize]") {
  // 160k Laplace-distributed inputs: their maximum (about 12 b) lies beyond the 8-bit
  // MSE-optimal clipping point (about 9.9 b, Banner et al. 2019), so mse picks a narrower range
  // than min/max, with a smaller quantization error.
  Model f = small_model("none");
  const int64_t rows = 20000;
  std::vector<float> calib = random_inputs(rows, 8, 5, 1.0f);
  for (float& v : calib) {
    const float u = std::max(std::fabs(v), 1e-7f);
    v = std::copysign(-std::log(u), v);
  }
  QuantizeOptions minmax, mse;
  minmax.method = CalibrationMethod::kMinMax;
  mse.method = CalibrationMethod::kMse;
  const Model a = quantize_model(f, calib.data(), nullptr, rows, minmax, nullptr);
  const Model b = quantize_model(f, calib.data(), nullptr, rows, mse, nullptr);
  const Quantization& qa = a.input().quant;
  const Quantization& qb = b.input().quant;
  CHECK(qb.scale[0] < qa.scale[0] * 0.95f);
  auto error = [&](const Quantization& q) {
    double e = 0.0;
    const auto zp = static_cast<int32_t>(q.zero_point[0]);
    for (float v : calib) {
      const float d = dequantize_int8(quantize_int8(v, q.scale[0], zp), q.scale[0], zp) - v;
      e += static_cast<double>(d) * d;
    }
    return e;
  };
  CHECK(error(qb) < error(qa));
}

TEST_CASE("a quantized model survives the model file byte for byte", "[quantize]") {
  const Model f = small_model("tanh", "classification");
  const std::vector<float> calib = random_inputs(64, 8, 9, 1.0f);
  const Model q = quantize_model(f, calib.data(), nullptr, 64, QuantizeOptions{}, nullptr);
  const std::string bytes = serialize_model(q);
  const Model back = deserialize_model(bytes, "memory");
  CHECK(back == q);
  CHECK(serialize_model(back) == bytes);
  CHECK(run_model(back, calib.data(), 64) == run_model(q, calib.data(), 64));
}

TEST_CASE("quantizing twice or unsupported ops are refused with exit 4", "[quantize]") {
  const Model f = small_model("relu");
  const std::vector<float> calib = random_inputs(16, 8, 1, 1.0f);
  const Model q = quantize_model(f, calib.data(), nullptr, 16, QuantizeOptions{}, nullptr);
  try {
    quantize_model(q, calib.data(), nullptr, 16, QuantizeOptions{}, nullptr);
    FAIL("quantizing twice must throw");
  } catch (const Error& e) {
    CHECK(e.code() == ExitCode::kUnsupported);
    CHECK(std::string(e.what()).find("already int8") != std::string::npos);
  }
}

TEST_CASE("digits_mlp int8 stays within 1.5 points of float", "[quantize]") {
  const Dataset data = load_data(kTasks + "digits.csv");
  TrainOptions o;
  o.progress = ProgressMode::kQuiet;
  const TrainJob job = train_from_spec(load_spec(kModels + "digits_mlp.json"), data, o);
  SplitSpec s;
  s.val = job.model.split.val;
  s.test = job.model.split.test;
  s.seed = job.model.split.seed;
  s.stratify = job.model.split.stratify;
  const SplitIndices split = make_split(data, s);
  std::vector<float> cx, cy, tx, ty;
  gather_rows(data, split.train, &cx, &cy);
  gather_rows(data, split.test, &tx, &ty);
  QuantizeReport report;
  const Model q =
      quantize_model(job.model, cx.data(), cy.data(), static_cast<int64_t>(split.train.size()),
                     QuantizeOptions{}, &report);
  const auto n = static_cast<int64_t>(split.test.size());
  const Metrics mf = evaluate(job.model, tx.data(), ty.data(), n);
  const Metrics mq = evaluate(q, tx.data(), ty.data(), n);
  INFO("float " << mf.metric << " int8 " << mq.metric << " ("
                << calibration_method_name(report.method_used) << ")");
  CHECK(mf.metric == Approx(job.result.test.metric));
  CHECK(mq.metric >= mf.metric - 0.015);
  const ModelStats sf = model_stats(job.model), sq = model_stats(q);
  CHECK(sq.params == sf.params);
  CHECK(sq.weights_bytes < sf.weights_bytes * 0.3);
  // Deterministic: the same calibration gives the same bytes.
  const Model again =
      quantize_model(job.model, cx.data(), cy.data(), static_cast<int64_t>(split.train.size()),
                     QuantizeOptions{}, nullptr);
  CHECK(serialize_model(again) == serialize_model(q));

  // The quantization debugger: a healthy model has no culprit ...
  const auto cn = static_cast<int64_t>(split.train.size());
  const QuantExplanation ok = explain_quantization(job.model, q, cx.data(), cy.data(), cn);
  REQUIRE(ok.layers.size() == q.ops.size() + 1);
  CHECK(ok.layers[0].name == "input");
  for (const LayerQuantError& l : ok.layers) CHECK(l.sqnr_db > 25.0);
  CHECK(ok.culprit.empty());
  // ... and names the layer whose range is forced far too wide on purpose (the logits: their
  // only consumer, softmax, reads the scale at run time, so the model stays consistent).
  Model broken = q;
  Tensor& logits = broken.tensor(broken.ops[1].outputs[0]);
  logits.quant.scale[0] *= 60.0f;
  const QuantExplanation bad = explain_quantization(job.model, broken, cx.data(), cy.data(), cn);
  INFO("int8 accuracy " << bad.int8_metrics.metric << ", suggestion: " << bad.suggestion);
  CHECK(bad.int8_metrics.metric < ok.int8_metrics.metric - 0.05);
  CHECK(bad.culprit == broken.ops[1].name);
  CHECK(bad.layers[2].sqnr_db < ok.layers[2].sqnr_db - 10.0);
}
