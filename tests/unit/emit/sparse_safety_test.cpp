// Sparse int8 dense weights (chosen when smaller, bit-exact) and the emit-time accumulator
// bound that makes int32 overflow impossible in emitted int8 kernels (issue 7 item 5).
#include <catch2/catch.hpp>

#include <algorithm>
#include <climits>
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "emit_harness.h"
#include "tinyc/emit.h"
#include "tinyc/error.h"
#include "tinyc/model_file.h"
#include "tinyc/quantize.h"
#include "tinyc/rng.h"
#include "tinyc/spec.h"

using tinyc_test::TempDir;

namespace {

// 300 -> 20 (relu) -> 7 (softmax), quantized; `prune(o, i)` says which float weights of the
// first dense layer become zero before quantization.
// `regression`: no softmax at the end (a constant output cannot be quantized for softmax).
template <typename Prune>
tinyc::Model pruned_int8(Prune prune, std::vector<float>* calib, bool regression = false) {
  tinyc::Model f = tinyc::build_model(tinyc::parse_spec(regression ? R"({"name": "sparse",
    "input": [300], "task": "regression",
    "layers": [{"type": "dense", "units": 20, "activation": "relu"}, {"type": "dense", "units": 7}],
    "train": {"loss": "mse"}})" : R"({"name": "sparse", "input": [300],
    "task": "classification",
    "layers": [{"type": "dense", "units": 20, "activation": "relu"},
               {"type": "dense", "units": 7, "activation": "softmax"}],
    "train": {"loss": "cross_entropy"}})", "test spec"), 11);
  const auto dense = std::find_if(f.ops.begin(), f.ops.end(),
                                  [](const tinyc::Op& op) { return op.type == tinyc::OpType::kDense; });
  tinyc::Tensor& w = f.tensor(dense->inputs[1]);
  for (int64_t o = 0; o < 20; ++o) {
    for (int64_t i = 0; i < 300; ++i) {
      if (prune(o, i)) w.f32[static_cast<size_t>(o * 300 + i)] = 0.0f;
    }
  }
  const int64_t rows = 100;
  calib->resize(static_cast<size_t>(rows * 300));
  tinyc::Rng rng(3);
  for (float& v : *calib) v = rng.uniform(-2.0f, 2.0f);
  tinyc::QuantizeReport qr;
  return tinyc::quantize_model(f, calib->data(), nullptr, rows, {}, &qr);
}

const tinyc::EmitLayerReport& layer(const tinyc::EmitReport& r, const std::string& name) {
  const auto it = std::find_if(r.layers.begin(), r.layers.end(),
                               [&](const tinyc::EmitLayerReport& l) { return l.name == name; });
  REQUIRE(it != r.layers.end());
  return *it;
}

}  // namespace

TEST_CASE("emit: sparse int8 dense weights are chosen when smaller and bit-exact",
          "[emit][host][int8][sparse]") {
  // 85% zeros, plus rows that need filler entries (a 299-column gap) and an all-zero row.
  std::vector<float> calib;
  const tinyc::Model q = pruned_int8([](int64_t o, int64_t i) {
    if (o == 3) return i != 299;            // one weight, after a gap of 299 columns
    if (o == 4) return true;                // nothing
    if (o == 5) return i != 0 && i != 280;  // a gap of 280
    return (o * 31 + i * 17) % 20 >= 3;     // 85% zeros
  }, &calib);
  const tinyc::Tensor& w = q.tensor(q.ops[0].inputs[1]);
  const int64_t nonzero = std::count_if(w.ints.begin(), w.ints.end(), [](int64_t v) { return v != 0; });
  const int64_t cases = 24;
  std::vector<float> x(calib.begin(), calib.begin() + cases * 300);
  for (int64_t i = 0; i < 300; ++i) x[static_cast<size_t>(i)] = i % 2 ? 50.0f : -50.0f;  // saturated
  const tinyc_test::Int8Expected ref = tinyc_test::int8_reference(q, x, cases);
  for (const char* target : {"host", "cortex-m4"}) {
    DYNAMIC_SECTION(target) {
      TempDir dir;
      tinyc::EmitOptions o;
      o.target = target;
      o.out_dir = dir.path();
      o.name = "net";
      const tinyc::EmitReport r = tinyc::emit_model(q, o);
      const tinyc::EmitLayerReport& l = layer(r, q.ops[0].name);
      CHECK(l.weights_layout == "sparse");
      CHECK(l.dense_weights_bytes == 20 * 300);
      // values + deltas (nonzeros and one filler per 255-column gap: rows 3 and 5), uint16 row ends
      CHECK(l.sparse_weights_bytes == (nonzero + 2) * 2 + 20 * 2);
      CHECK(l.layout_reason.find("sparse") != std::string::npos);
      // The second layer (7 x 20, not pruned) stays dense.
      const auto second = std::find_if(r.layers.begin() + 1, r.layers.end(), [](const auto& e) {
        return !e.weights_layout.empty();
      });
      REQUIRE(second != r.layers.end());
      CHECK(second->weights_layout == "dense");
      CHECK(l.weights_bytes < 20 * 300);
      if (std::string(target) != "host") continue;
      std::vector<std::vector<int>> actual_int8;
      const auto actual = tinyc_test::run_on_host(dir.path(), "net", x, 300, true, &actual_int8);
      tinyc_test::check_exact(actual, ref.outputs, actual_int8, ref.outputs_int8);
    }
  }
}

TEST_CASE("emit: an all-zero dense layer emits as sparse and runs", "[emit][host][int8][sparse]") {
  std::vector<float> calib;
  const tinyc::Model q = pruned_int8([](int64_t, int64_t) { return true; }, &calib, true);
  TempDir dir;
  tinyc::EmitOptions o;
  o.out_dir = dir.path();
  o.name = "net";
  const tinyc::EmitReport r = tinyc::emit_model(q, o);
  const tinyc::EmitLayerReport& l = layer(r, q.ops[0].name);
  CHECK(l.weights_layout == "sparse");
  CHECK(l.sparse_weights_bytes == 2 + 20 * 2);  // one unused entry, the row ends
  const std::vector<float> x(calib.begin(), calib.begin() + 4 * 300);
  const tinyc_test::Int8Expected ref = tinyc_test::int8_reference(q, x, 4);
  std::vector<std::vector<int>> actual_int8;
  const auto actual = tinyc_test::run_on_host(dir.path(), "net", x, 300, true, &actual_int8);
  tinyc_test::check_exact(actual, ref.outputs, actual_int8, ref.outputs_int8);
}

TEST_CASE("emit: a lightly pruned layer keeps the dense layout", "[emit][int8][sparse]") {
  std::vector<float> calib;
  const tinyc::Model q = pruned_int8([](int64_t o, int64_t i) { return (o + i) % 2 == 0; }, &calib);
  tinyc::EmitOptions o;
  tinyc::EmitReport r;
  tinyc::emit_code(q, o, &r);
  const tinyc::EmitLayerReport& l = layer(r, q.ops[0].name);
  CHECK(l.weights_layout == "dense");
  CHECK(l.sparse_weights_bytes >= l.dense_weights_bytes);
  CHECK(l.layout_reason.find("% zeros: sparse ") != std::string::npos);
  CHECK(l.layout_reason.find(">= dense 6000 B") != std::string::npos);
}

// The bound from the weights, independently: max over both accumulation forms of
// |bias| + 255 S and |bias - zx sum(w)| + 128 S, S = sum |w| (accumulator_bound.h).
TEST_CASE("emit: int8 accumulators cannot overflow: the bound is exact and enforced",
          "[emit][host][int8][safety]") {
  std::vector<float> calib;
  tinyc::Model q = pruned_int8([](int64_t, int64_t) { return false; }, &calib);
  const tinyc::Op& dense = q.ops[0];
  const tinyc::Tensor& w = q.tensor(dense.inputs[1]);
  const int64_t zx = q.tensor(dense.inputs[0]).quant.zero_point[0];
  const int64_t channel = 6;
  int64_t s = 0, signed_sum = 0;
  for (int64_t i = 0; i < 300; ++i) {
    s += std::llabs(w.ints[static_cast<size_t>(channel * 300 + i)]);
    signed_sum += w.ints[static_cast<size_t>(channel * 300 + i)];
  }
  // The largest bias this channel may have: its bound is then exactly INT32_MAX.
  const int64_t largest = std::min(int64_t{INT32_MAX} - 255 * s,
                                   int64_t{INT32_MAX} - 128 * s + zx * signed_sum);
  auto& bias = q.tensor(dense.inputs[2]).ints;
  bias[static_cast<size_t>(channel)] = static_cast<int32_t>(largest);
  tinyc::EmitOptions o;
  o.name = "net";
  tinyc::EmitReport r;
  SECTION("at the limit: accepted, documented, and clean under UBSan on the worst input") {
    TempDir dir;
    o.out_dir = dir.path();
    r = tinyc::emit_model(q, o);
    CHECK(layer(r, dense.name).accumulator_bound == INT32_MAX);
    const std::string source = tinyc_test::read_text(dir.file("net.cpp"));
    CHECK(source.find(": accumulator bound (checked at emit time from the weights): |acc| <= 2147483647") !=
          std::string::npos);
    // Inputs that drive every product of the channel to its largest value (saturated to
    // 127 where w > 0, -128 where w < 0), and the opposite.
    std::vector<float> x(600);
    for (int64_t i = 0; i < 300; ++i) {
      const int64_t v = w.ints[static_cast<size_t>(channel * 300 + i)];
      x[static_cast<size_t>(i)] = v >= 0 ? 1e6f : -1e6f;
      x[static_cast<size_t>(300 + i)] = -x[static_cast<size_t>(i)];
    }
    const tinyc_test::Int8Expected ref = tinyc_test::int8_reference(q, x, 2);
    std::vector<std::vector<int>> actual_int8;
    const auto actual = tinyc_test::run_on_host(dir.path(), "net", x, 300, true, &actual_int8);
    tinyc_test::check_exact(actual, ref.outputs, actual_int8, ref.outputs_int8);
  }
  SECTION("one more: refused with exit 4, naming the layer, the channel and the bound") {
    bias[static_cast<size_t>(channel)] = static_cast<int32_t>(largest + 1);
    try {
      tinyc::emit_code(q, o, &r);
      FAIL("emit accepted an accumulator that can overflow");
    } catch (const tinyc::Error& e) {
      const std::string what = e.what();
      CHECK(e.code() == tinyc::ExitCode::kUnsupported);
      CHECK(what.find("'" + dense.name + "'") != std::string::npos);
      CHECK(what.find("channel 6 reaches |acc| = 2147483648") != std::string::npos);
      CHECK(what.find("host") != std::string::npos);
    }
  }
}

// A near-dead channel (tiny weights, large bias) used to quantize to a bias of INT32_MIN, and
// its accumulator wrapped; the quantizer now saturates the bias within the bound, so emit
// accepts the model and the emitted code agrees with the reference on every input.
TEST_CASE("quantize: a large bias saturates where the accumulator stays safe",
          "[emit][host][int8][safety]") {
  tinyc::Model f = tinyc::build_model(tinyc::parse_spec(R"({"name": "dead", "input": [40],
    "task": "regression", "layers": [{"type": "dense", "units": 4, "activation": "relu"},
                                     {"type": "dense", "units": 2}],
    "train": {"loss": "mse"}})", "test spec"), 5);
  const tinyc::Op& dense = f.ops[0];
  for (int64_t i = 0; i < 40; ++i) f.tensor(dense.inputs[1]).f32[static_cast<size_t>(40 + i)] = 1e-7f;
  f.tensor(dense.inputs[2]).f32[1] = -1000.0f;  // channel 1: bias / (in_scale * 1e-7 / 127) >> 2^31
  std::vector<float> x(400);
  tinyc::Rng rng(9);
  for (float& v : x) v = rng.uniform(-1.0f, 1.0f);
  tinyc::QuantizeReport qr;
  const tinyc::Model q = tinyc::quantize_model(f, x.data(), nullptr, 10, {}, &qr);
  const int64_t bias = q.tensor(q.ops[0].inputs[2]).ints[1];
  CHECK(bias == -(int64_t{INT32_MAX} - 256 * 40 * 127));
  TempDir dir;
  tinyc::EmitOptions o;
  o.out_dir = dir.path();
  o.name = "net";
  tinyc::emit_model(q, o);
  const tinyc_test::Int8Expected ref = tinyc_test::int8_reference(q, x, 10);
  std::vector<std::vector<int>> actual_int8;
  const auto actual = tinyc_test::run_on_host(dir.path(), "net", x, 40, true, &actual_int8);
  tinyc_test::check_exact(actual, ref.outputs, actual_int8, ref.outputs_int8);
}
