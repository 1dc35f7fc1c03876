// .tflite import (issue 6) against TFLite Micro: each supported model of ../shared/data/tflite
// run on its inputs reproduces the outputs TFLM computed (int8 byte for byte, float within
// 1e-5 relative); unsupported and custom ops are refused naming them; malformed files are
// Error(kBadInput), never a crash.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

#include "tinyc/error.h"
#include "tinyc/executor.h"
#include "tinyc/model_file.h"
#include "tinyc/rng.h"
#include "tinyc/tflite.h"

using namespace tinyc;

namespace {

const std::string kDir = TINYC_SHARED_DIR "/data/tflite/";

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

bool have(const std::string& name) {
  if (std::ifstream(kDir + name + ".tflite").good()) return true;
  WARN("../shared/data/tflite/" + name + ".tflite not found; skipping");
  return false;
}

// Imports `name`, runs its golden inputs through the reference executor and compares.
void check_golden(const std::string& name) {
  if (!have(name)) return;
  const Model m = load_model(kDir + name + ".tflite");
  const std::string in = slurp(kDir + name + ".inputs.bin");
  const std::string want = slurp(kDir + name + ".outputs.bin");
  REQUIRE(!in.empty());
  // Raw bytes in the model's own I/O dtypes, several tensors back to back per case.
  const int64_t case_bytes = io_case_bytes(m, true);
  const int64_t rows = static_cast<int64_t>(in.size()) / case_bytes;
  REQUIRE(rows * case_bytes == static_cast<int64_t>(in.size()));
  std::vector<int8_t> got_bytes;
  if (m.is_quantized()) {
    got_bytes = run_model_int8(m, reinterpret_cast<const int8_t*>(in.data()), rows);
  } else {
    std::vector<float> x(in.size() / 4);
    std::memcpy(x.data(), in.data(), x.size() * 4);
    const std::vector<float> y = run_model(m, x.data(), rows);
    got_bytes.resize(y.size() * 4);
    std::memcpy(got_bytes.data(), y.data(), got_bytes.size());
  }
  REQUIRE(got_bytes.size() == want.size());
  if (m.output().dtype != DType::kFloat32) {
    int64_t mismatches = 0;
    for (size_t i = 0; i < want.size(); ++i) mismatches += got_bytes[i] != static_cast<int8_t>(want[i]);
    CHECK(mismatches == 0);
    return;
  }
  std::vector<float> got(want.size() / 4), y(want.size() / 4);
  std::memcpy(got.data(), got_bytes.data(), want.size());
  std::memcpy(y.data(), want.data(), want.size());
  int64_t bad = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    bad += std::fabs(got[i] - y[i]) > 1e-5f * std::max(1.0f, std::fabs(y[i]));
  }
  CHECK(bad == 0);
}

// import_tflite on `bytes`: the error code, or kOk.
ExitCode import_code(const std::string& bytes) {
  try {
    import_tflite(bytes, "corrupt.tflite");
  } catch (const Error& e) {
    return e.code();
  }
  return ExitCode::kOk;
}

}  // namespace

TEST_CASE("imported TFLM models reproduce the TFLM outputs", "[tflite][tflm]") {
  for (const char* name : {"hello_world_int8", "hello_world_float", "micro_speech_quantized",
                           "network_tester_model", "person_detect", "simple_add_model",
                           "test_conv_model"}) {
    SECTION(name) { check_golden(name); }
  }
}

TEST_CASE("import maps hello_world_int8 to three int8 dense layers", "[tflite]") {
  if (!have("hello_world_int8")) return;
  const Model m = load_model(kDir + "hello_world_int8.tflite");
  REQUIRE(m.ops.size() == 3);
  CHECK(m.name == "hello_world_int8");
  CHECK(m.ops[0].type == OpType::kDense);
  CHECK(m.ops[0].get_str("activation", "") == "relu");
  CHECK(m.ops[2].get_str("activation", "") == "none");
  CHECK(m.is_quantized());
  CHECK(m.input().dtype == DType::kInt8);
  CHECK(m.input().quant.zero_point == std::vector<int64_t>{-128});
  // Survives the .tinyc round trip unchanged.
  CHECK(deserialize_model(serialize_model(m), "round trip") == m);
}

TEST_CASE("unsupported and custom ops are refused naming them", "[tflite]") {
  struct Case {
    const char* model;
    const char* names;
  };
  for (const Case c : {Case{"audio_preprocessor_int8", "CUSTOM:SignalRfft"},
                       Case{"audio_preprocessor_float", "CUSTOM:SignalWindow"}}) {
    if (!have(c.model)) continue;
    INFO(c.model);
    try {
      load_model(kDir + c.model + ".tflite");
      FAIL("imported");
    } catch (const Error& e) {
      CHECK(e.code() == ExitCode::kUnsupported);
      CHECK_THAT(e.what(), Catch::Contains(c.names));
      CHECK_THAT(e.what(), Catch::Contains("model ops: ["));
    }
  }
}

TEST_CASE("malformed .tflite files are bad input, never a crash", "[tflite][corrupt]") {
  if (!have("micro_speech_quantized")) return;
  const std::string good = slurp(kDir + "micro_speech_quantized.tflite");
  REQUIRE(import_code(good) == ExitCode::kOk);
  CHECK(import_code("") == ExitCode::kBadInput);
  CHECK(import_code(good.substr(0, 7)) == ExitCode::kBadInput);
  for (size_t cut : {good.size() / 2, good.size() - 1, size_t{64}, size_t{12}}) {
    INFO("truncated to " << cut);
    CHECK(import_code(good.substr(0, cut)) == ExitCode::kBadInput);
  }
  std::string wrong_id = good;
  wrong_id[4] = 'X';
  CHECK(import_code(wrong_id) == ExitCode::kBadInput);
  std::string bad_root = good;
  bad_root[0] = '\xf0', bad_root[1] = '\xff', bad_root[2] = '\xff', bad_root[3] = '\x7f';
  CHECK(import_code(bad_root) == ExitCode::kBadInput);
  // Random byte flips: each import either succeeds (a flipped weight is still a model) or
  // fails with a tinyc::Error; ASan/UBSan builds catch any out-of-bounds access.
  Rng rng(7);
  int errors = 0;
  for (int trial = 0; trial < 400; ++trial) {
    std::string bytes = good;
    const int flips = 1 + static_cast<int>(rng.next_u64() % 4);
    for (int f = 0; f < flips; ++f) {
      // Most of the file is weights: aim half the flips at the first 2 KiB (tables, vtables).
      const uint64_t span = trial % 2 == 0 ? 2048 : bytes.size();
      bytes[rng.next_u64() % span] ^= static_cast<char>(1 + rng.next_u64() % 255);
    }
    const ExitCode code = import_code(bytes);
    CHECK((code == ExitCode::kOk || code == ExitCode::kBadInput ||
           code == ExitCode::kUnsupported));
    errors += code != ExitCode::kOk;
  }
  CHECK(errors > 0);
}
