// `tinyc emit` on the host: emitted code built under ASan/UBSan agrees with the reference
// executor (DESIGN.md §7), and the CLI contract (JSON keys, exit codes, determinism).
#include <catch2/catch.hpp>

#include <algorithm>

#include <nlohmann/json.hpp>

#include "emit_harness.h"
#include "tinyc/emit.h"
#include "tinyc/error.h"
#include "tinyc/executor.h"
#include "tinyc/fileio.h"
#include "tinyc/model_file.h"
#include "tinyc/quantize.h"
#include "tinyc/rng.h"
#include "tinyc/spec.h"

using nlohmann::json;
using tinyc_test::read_text;
using tinyc_test::run_tinyc;
using tinyc_test::TempDir;

namespace {

tinyc::Model model_from_spec(const std::string& spec_json, uint64_t seed = 7) {
  return tinyc::build_model(tinyc::parse_spec(spec_json, "test spec"), seed);
}

// Emits `m` for the host, builds it with the harness and compares with run_model.
void check_host_agreement(const tinyc::Model& m, int64_t cases, uint64_t seed) {
  TempDir dir;
  tinyc::EmitOptions o;
  o.out_dir = dir.path();
  o.name = "net";
  const tinyc::EmitReport r = tinyc::emit_model(m, o);
  const int64_t in = m.input().sample_size(), out = m.output().sample_size();
  std::vector<float> x(static_cast<size_t>(cases * in));
  tinyc::Rng rng(seed);
  for (float& v : x) v = rng.uniform(-2.0f, 2.0f);
  const std::vector<float> y = tinyc::run_model(m, x.data(), cases);
  std::vector<std::vector<float>> expected;
  for (int64_t c = 0; c < cases; ++c) expected.emplace_back(y.begin() + c * out, y.begin() + (c + 1) * out);
  tinyc_test::check_float_agreement(tinyc_test::run_on_host(dir.path(), "net", x, in), expected);
  CHECK(r.arena_bytes >= r.arena_lower_bound);
}

}  // namespace

TEST_CASE("emit: reference models on the host agree with tinyc predict", "[emit][host]") {
  for (const auto& m : tinyc_test::reference_models()) {
    DYNAMIC_SECTION(m.name << (m.int8 ? " int8" : " float32")) {
      TempDir dir;
      const auto inputs = tinyc_test::csv_inputs(m.data, 16);
      std::vector<std::vector<float>> expected;
      std::vector<std::vector<int>> expected_int8;
      if (m.int8) {
        tinyc_test::predict_int8(m.path, m.data, 16, &expected, &expected_int8);
      } else {
        expected = tinyc_test::predict_outputs(m.path, inputs, dir.path());
      }
      const auto r = run_tinyc("emit " + m.path + " --target host -o " + dir.path() + " --json");
      INFO(r.err);
      REQUIRE(r.exit_code == 0);
      const json j = json::parse(r.out);
      for (const char* key : {"files", "weights_bytes", "arena_bytes", "macs", "target"}) {
        CHECK(j.contains(key));
      }
      CHECK(j["target"] == "host");
      CHECK(j["quantization"] == (m.int8 ? "int8" : "float32"));
      CHECK(j["files"].size() == 2);
      CHECK(j["arena_bytes"].get<int64_t>() >= j["arena_lower_bound"].get<int64_t>());
      const std::string header = read_text(dir.file(m.name + ".h"));
      CHECK(header.find("int " + m.name + "_invoke(const float* input, float* output);") != std::string::npos);
      CHECK(header.find("extern \"C\"") != std::string::npos);
      const int64_t input_size = static_cast<int64_t>(inputs.size()) / static_cast<int64_t>(expected.size());
      std::vector<std::vector<int>> actual_int8;
      const auto actual = tinyc_test::run_on_host(dir.path(), m.name, inputs, input_size, m.int8,
                                                  &actual_int8);
      if (m.int8) {
        CHECK(header.find("_INPUT_ZERO_POINT") != std::string::npos);
        tinyc_test::check_exact(actual, expected, actual_int8, expected_int8);
      } else {
        tinyc_test::check_float_agreement(actual, expected);
      }
    }
  }
}

TEST_CASE("emit: every float layer, in-place and view ops, per-feature preprocessing",
          "[emit][host]") {
  // dropout and flatten are views, activation and softmax run in place, relu6 is fused.
  tinyc::Model m = model_from_spec(R"({"name": "ops", "input": [2, 3], "task": "classification",
    "layers": [{"type": "flatten"}, {"type": "dense", "units": 12, "activation": "relu6"},
               {"type": "dropout", "rate": 0.25},
               {"type": "dense", "units": 8, "activation": "sigmoid"},
               {"type": "dense", "units": 8, "activation": "tanh"},
               {"type": "activation", "activation": "relu"},
               {"type": "dense", "units": 4, "activation": "softmax"}],
    "train": {"loss": "cross_entropy"}})");
  m.preprocess.kind = tinyc::NormKind::kStandard;
  m.preprocess.offset = {0.5f, -1.0f, 0.0f, 2.0f, 0.25f, -0.5f};
  m.preprocess.scale = {2.0f, 0.5f, 1.0f, 0.125f, 4.0f, 1.5f};
  check_host_agreement(m, 20, 11);
  SECTION("a view as the graph output is copied out; no preprocessing reads the caller's input") {
    tinyc::Model v = model_from_spec(R"({"name": "tail", "input": [5], "task": "regression",
      "layers": [{"type": "dense", "units": 3}, {"type": "activation", "activation": "sigmoid"},
                 {"type": "dropout", "rate": 0.5}], "train": {"loss": "mse"}})");
    check_host_agreement(v, 10, 12);
  }
  SECTION("one dense layer needs no arena") {
    tinyc::Model one = model_from_spec(R"({"name": "one", "input": [3], "task": "regression",
      "layers": [{"type": "dense", "units": 2}], "train": {"loss": "mse"}})");
    tinyc::EmitReport r;
    tinyc::EmitOptions o;
    const auto code = tinyc::emit_code(one, o, &r);
    CHECK(r.arena_bytes == 0);
    CHECK(code.header.find("#define ONE_ARENA_BYTES 0") != std::string::npos);
    check_host_agreement(one, 4, 13);
  }
}

TEST_CASE("emit: int8 layers are bit-exact with the int8 reference executor", "[emit][host][int8]") {
  // Fused relu6 and relu, sigmoid / tanh / relu as lookup tables, views, softmax, per-feature
  // preprocessing inside NAME_quantize_input.
  tinyc::Model f = model_from_spec(R"({"name": "ops8", "input": [2, 3], "task": "classification",
    "layers": [{"type": "flatten"}, {"type": "dense", "units": 12, "activation": "relu6"},
               {"type": "dropout", "rate": 0.25},
               {"type": "dense", "units": 8, "activation": "sigmoid"},
               {"type": "dense", "units": 8, "activation": "tanh"},
               {"type": "dense", "units": 8},
               {"type": "activation", "activation": "relu"},
               {"type": "dense", "units": 5, "activation": "relu"},
               {"type": "dense", "units": 4, "activation": "softmax"}],
    "train": {"loss": "cross_entropy"}})");
  f.preprocess.kind = tinyc::NormKind::kStandard;
  f.preprocess.offset = {0.5f, -1.0f, 0.0f, 2.0f, 0.25f, -0.5f};
  f.preprocess.scale = {2.0f, 0.5f, 1.0f, 0.125f, 4.0f, 1.5f};
  const int64_t rows = 200, cases = 40;
  std::vector<float> calib(static_cast<size_t>(rows * 6));
  tinyc::Rng rng(21);
  for (float& v : calib) v = rng.uniform(-3.0f, 3.0f);
  tinyc::QuantizeReport qr;
  const tinyc::Model q = tinyc::quantize_model(f, calib.data(), nullptr, rows, {}, &qr);
  REQUIRE(q.is_quantized());
  // Test cases beyond the calibration range too (saturation).
  std::vector<float> x(static_cast<size_t>(cases * 6));
  for (float& v : x) v = rng.uniform(-6.0f, 6.0f);
  const tinyc_test::Int8Expected ref = tinyc_test::int8_reference(q, x, cases);
  const auto& expected = ref.outputs;
  const auto& expected_int8 = ref.outputs_int8;
  TempDir dir;
  tinyc::EmitOptions o;
  o.out_dir = dir.path();
  o.name = "net";
  const tinyc::EmitReport r = tinyc::emit_model(q, o);
  CHECK(r.quantization == "int8");
  CHECK(r.arena_bytes == r.arena_lower_bound);
  std::vector<std::vector<int>> actual_int8;
  const auto actual = tinyc_test::run_on_host(dir.path(), "net", x, 6, true, &actual_int8);
  tinyc_test::check_exact(actual, expected, actual_int8, expected_int8);
}

TEST_CASE("emit: fashion_mlp (flatten view, labels, 100k weights) on the host", "[emit][host]") {
  tinyc::Model m = tinyc::build_model(tinyc::load_spec(TINYC_SOURCE_DIR "/models/fashion_mlp.json"), 3);
  m.preprocess.scale = {1.0f / 255.0f};
  tinyc::EmitReport r;
  tinyc::EmitOptions o;
  o.target = "cortex-m4";
  const auto code = tinyc::emit_code(m, o, &r);
  CHECK(r.weights_bytes == (784 * 128 + 128 + 128 * 10 + 10) * 4);
  // The flatten is free: the preprocessed input (784 floats) and dense_1 (128) are the peak.
  CHECK(r.arena_lower_bound == (784 + 128) * 4);
  CHECK(r.arena_bytes == r.arena_lower_bound);
  CHECK(code.source.find("\"T-shirt/top\"") != std::string::npos);
  check_host_agreement(m, 3, 5);
}

TEST_CASE("emit: float CNN layers: padding, strides, depth multiplier, pools, batch_norm",
          "[emit][host][cnn]") {
  // SAME padding on every side (odd sizes, stride 2), a depth multiplier, pools with and
  // without padding (in place when none), a batch_norm that folds into its conv2d and one
  // after a pool that does not, a reshape view.
  tinyc::Model m = model_from_spec(R"({"name": "cnn", "input": [11, 9, 3], "task": "classification",
    "layers": [{"type": "conv2d", "filters": 6, "kernel": [3, 4], "stride": 2, "padding": "same"},
               {"type": "batch_norm", "activation": "relu"},
               {"type": "depthwise_conv2d", "kernel": 3, "depth_multiplier": 2, "padding": "same",
                "activation": "relu6"},
               {"type": "max_pool2d", "pool": 3, "stride": 1, "padding": "same"},
               {"type": "avg_pool2d", "pool": 2, "stride": 1},
               {"type": "batch_norm", "activation": "relu"},
               {"type": "conv2d", "filters": 5, "kernel": 1},
               {"type": "avg_pool2d", "pool": [2, 3], "stride": [1, 2], "padding": "same"},
               {"type": "max_pool2d", "pool": 2},
               {"type": "reshape", "shape": [1, -1, 5]},
               {"type": "conv2d", "filters": 4, "kernel": [1, 2], "activation": "relu"},
               {"type": "global_avg_pool2d"},
               {"type": "dense", "units": 3, "activation": "softmax"}],
    "train": {"loss": "cross_entropy"}})");
  // Moving statistics and scales away from the identity, so that both folds matter.
  tinyc::Rng rng(3);
  for (tinyc::Op& op : m.ops) {
    if (op.type != tinyc::OpType::kBatchNorm) continue;
    for (size_t k = 1; k < 5; ++k) {
      for (float& v : m.tensor(op.inputs[k]).f32) v = k == 4 ? rng.uniform(0.2f, 2.0f) : rng.uniform(-1.0f, 1.0f);
    }
  }
  tinyc::EmitReport r;
  tinyc::EmitOptions o;
  const auto code = tinyc::emit_code(m, o, &r);
  // The first batch_norm folds into conv2d_1; the second stays, in place after the pool.
  CHECK(code.source.find("_batch_norm_1(const float* x") == std::string::npos);
  CHECK(code.source.find("_batch_norm_2(const float* x") != std::string::npos);
  CHECK(code.source.find("_reshape_1(const float* x") == std::string::npos);
  CHECK(std::find(r.notes.begin(), r.notes.end(),
                  "batch_norm 'batch_norm_1' folded into the layer before it") != r.notes.end());
  CHECK(r.arena_bytes <= r.arena_lower_bound * 11 / 10);
  check_host_agreement(m, 12, 9);
}

TEST_CASE("emit: int8 CNN layers are bit-exact: padding, strides, depth multiplier, pools",
          "[emit][host][int8][cnn]") {
  // Zero points folded into the bias (valid windows) and subtracted per tap (padded ones).
  const tinyc::Model f = model_from_spec(R"({"name": "cnn8", "input": [11, 9, 3], "task": "classification",
    "layers": [{"type": "conv2d", "filters": 6, "kernel": [3, 4], "stride": 2, "padding": "same"},
               {"type": "batch_norm", "activation": "relu"},
               {"type": "depthwise_conv2d", "kernel": 3, "depth_multiplier": 2, "padding": "same",
                "activation": "relu6"},
               {"type": "max_pool2d", "pool": 3, "stride": 1, "padding": "same"},
               {"type": "avg_pool2d", "pool": 2, "stride": 1},
               {"type": "conv2d", "filters": 5, "kernel": 1},
               {"type": "depthwise_conv2d", "kernel": 2},
               {"type": "avg_pool2d", "pool": [2, 3], "stride": [1, 2], "padding": "same"},
               {"type": "reshape", "shape": [1, -1, 5]},
               {"type": "conv2d", "filters": 4, "kernel": [1, 2], "activation": "relu"},
               {"type": "global_avg_pool2d"},
               {"type": "dense", "units": 3, "activation": "softmax"}],
    "train": {"loss": "cross_entropy"}})");
  const int64_t rows = 64, cases = 16, width = 11 * 9 * 3;
  std::vector<float> calib(static_cast<size_t>(rows * width));
  tinyc::Rng rng(17);
  for (float& v : calib) v = rng.uniform(-2.0f, 2.0f);
  tinyc::QuantizeReport qr;
  const tinyc::Model q = tinyc::quantize_model(f, calib.data(), nullptr, rows, {}, &qr);
  REQUIRE(q.is_quantized());
  std::vector<float> x(static_cast<size_t>(cases * width));
  for (float& v : x) v = rng.uniform(-3.0f, 3.0f);
  const tinyc_test::Int8Expected ref = tinyc_test::int8_reference(q, x, cases);
  const auto& expected = ref.outputs;
  const auto& expected_int8 = ref.outputs_int8;
  TempDir dir;
  tinyc::EmitOptions o;
  o.out_dir = dir.path();
  o.name = "net";
  const tinyc::EmitReport r = tinyc::emit_model(q, o);
  CHECK(r.arena_bytes <= r.arena_lower_bound * 11 / 10);
  std::vector<std::vector<int>> actual_int8;
  const auto actual = tinyc_test::run_on_host(dir.path(), "net", x, width, true, &actual_int8);
  tinyc_test::check_exact(actual, expected, actual_int8, expected_int8);
}

TEST_CASE("emit: same model, same bytes", "[emit]") {
  const auto& m = tinyc_test::reference_models().at(1);
  TempDir dir;
  const std::string args = "emit " + m.path + " --target cortex-m4 -o " + dir.path();
  REQUIRE(run_tinyc(args).exit_code == 0);
  const std::string h1 = read_text(dir.file("digits_mlp.h")), s1 = read_text(dir.file("digits_mlp.cpp"));
  REQUIRE(run_tinyc(args).exit_code == 0);
  CHECK(read_text(dir.file("digits_mlp.h")) == h1);
  CHECK(read_text(dir.file("digits_mlp.cpp")) == s1);
  CHECK(s1.find("fnv1a64") != std::string::npos);
  CHECK(s1.find("tinyc 0.1.0") != std::string::npos);
  CHECK(s1.find("Command: tinyc emit") != std::string::npos);
}

TEST_CASE("emit: errors and exit codes", "[emit]") {
  const auto& m = tinyc_test::reference_models().at(0);
  TempDir dir;
  SECTION("unknown target: 4, naming it") {
    const auto r = run_tinyc("emit " + m.path + " --target cortex-a53 -o " + dir.path());
    CHECK(r.exit_code == 4);
    CHECK(r.err.find("cortex-a53") != std::string::npos);
    CHECK(tinyc_test::count_entries(dir.path()) == 0);
  }
  SECTION("a name that is not a C identifier: 1") {
    const auto r = run_tinyc("emit " + m.path + " --target host -o " + dir.path() + " --name 2fast");
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("2fast") != std::string::npos);
  }
  SECTION("a model too large for the target: 4, with the numbers") {
    const tinyc::Model big =
        tinyc::build_model(tinyc::load_spec(TINYC_SOURCE_DIR "/models/fashion_mlp.json"), 1);
    tinyc::save_model(big, dir.file("fashion.tinyc"));
    const auto r = run_tinyc("emit " + dir.file("fashion.tinyc") + " --target cortex-m0plus -o " +
                             dir.file("out"));
    CHECK(r.exit_code == 4);
    CHECK(r.err.find("does not fit cortex-m0plus") != std::string::npos);
    CHECK(r.err.find("407080 B weights") != std::string::npos);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK(run_tinyc("emit " + dir.file("fashion.tinyc") + " --target cortex-m4 -o " +
                    dir.file("out")).exit_code == 0);
  }
  SECTION("a layer emit cannot write yet: 4, naming the layer and the target") {
    // An int8 model with a batch_norm that no conv2d, depthwise_conv2d or dense absorbs (the
    // quantizer folds the others; the int8 executors have no batch_norm kernel either).
    tinyc::Model q = tinyc::build_model(tinyc::parse_spec(R"({"name": "bn8", "input": [4],
      "task": "regression", "layers": [{"type": "dense", "units": 3}], "train": {"loss": "mse"}})",
      "test spec"), 1);
    std::vector<float> calib(40);
    tinyc::Rng rng(2);
    for (float& v : calib) v = rng.uniform(-1.0f, 1.0f);
    tinyc::QuantizeReport qr;
    q = tinyc::quantize_model(q, calib.data(), nullptr, 10, {}, &qr);
    // dense -> batch_norm, the batch_norm's output int8 as the dense output's.
    tinyc::Op bn;
    bn.type = tinyc::OpType::kBatchNorm;
    bn.name = "batch_norm_1";
    bn.inputs = {q.outputs[0]};
    for (const char* stat : {"gamma", "beta", "moving_mean", "moving_var"}) {
      tinyc::Tensor t;
      t.name = std::string("batch_norm_1_") + stat;
      t.shape = {3};
      t.role = std::string(stat).rfind("moving", 0) == 0 ? tinyc::TensorRole::kState
                                                          : tinyc::TensorRole::kWeight;
      t.f32.assign(3, 1.0f);
      q.tensors.push_back(t);
      bn.inputs.push_back(static_cast<int>(q.tensors.size()) - 1);
    }
    tinyc::Tensor y = q.output();
    y.name = "batch_norm_1";
    q.tensor(q.outputs[0]).role = tinyc::TensorRole::kIntermediate;
    q.tensors.push_back(y);
    bn.outputs = {static_cast<int>(q.tensors.size()) - 1};
    q.outputs = bn.outputs;
    q.ops.push_back(bn);
    tinyc::EmitOptions o;
    o.target = "cortex-m4";
    try {
      tinyc::emit_code(q, o, nullptr);
      FAIL("emit_code accepted an int8 batch_norm");
    } catch (const tinyc::Error& e) {
      CHECK(e.code() == tinyc::ExitCode::kUnsupported);
      CHECK(std::string(e.what()).find("batch_norm") != std::string::npos);
      CHECK(std::string(e.what()).find("cortex-m4") != std::string::npos);
    }
  }
  SECTION("a CNN too large for the M0's 16 KiB of RAM: 4, with the numbers") {
    const auto& models = tinyc_test::reference_models();
    const auto kws = std::find_if(models.begin(), models.end(),
                                  [](const auto& r) { return r.name == "fashion_cnn" && !r.int8; });
    REQUIRE(kws != models.end());  // float fashion_cnn: ~25 KB arena even with overlapping
    const auto r = run_tinyc("emit " + kws->path + " --target cortex-m0plus -o " + dir.file("out"));
    CHECK(r.exit_code == 4);
    CHECK(r.err.find("does not fit cortex-m0plus") != std::string::npos);
    CHECK(r.err.find("B arena") != std::string::npos);
    CHECK(!tinyc::file_exists(dir.file("out")));
  }
  SECTION("targets --json lists the table") {
    const auto r = run_tinyc("targets --json");
    REQUIRE(r.exit_code == 0);
    const json j = json::parse(r.out);
    std::vector<std::string> names;
    for (const auto& t : j["targets"]) names.push_back(t["name"]);
    CHECK(names == std::vector<std::string>{"host", "cortex-m0plus", "cortex-m3", "cortex-m4",
                                            "cortex-m7", "cortex-m33", "riscv32"});
    CHECK(j["targets"][3]["qemu_machine"] == "mps2-an386");
    CHECK(j["targets"][3]["dsp"] == true);
  }
}
