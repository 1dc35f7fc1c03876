// NAME_invoke_raw (DESIGN.md §5): a graph with int16 input and int32 output, converted at its
// edges like keyword_scrambled (int16 -> QUANTIZE -> int8 -> SOFTMAX -> int16 -> QUANTIZE ->
// int32, with a relu between), emitted for the host and run under ASan/UBSan, gives the reference executor's bytes
// on inputs whose probabilities vary (the keyword_scrambled goldens saturate).
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <sstream>
#include <vector>

#include <fmt/format.h>

#include "emit_harness.h"
#include "tinyc/emit.h"
#include "tinyc/executor.h"
#include "tinyc/rng.h"

using tinyc_test::read_text;
using tinyc_test::require_command;
using tinyc_test::TempDir;
using namespace tinyc;

namespace {

Tensor io_tensor(const char* name, DType dtype, float scale, int zp, TensorRole role) {
  Tensor t;
  t.name = name;
  t.shape = {1, 5};
  t.dtype = dtype;
  t.role = role;
  t.quant = Quantization{{scale}, {zp}, -1};
  return t;
}

Model raw_io_model() {
  Model m;
  m.name = "rawio";
  const int x = m.add_tensor(io_tensor("x", DType::kInt16, 1.0f / 1024, 0, TensorRole::kInput));
  const int q = m.add_tensor(io_tensor("q", DType::kInt8, 0.05f, -3, TensorRole::kIntermediate));
  const int s = m.add_tensor(io_tensor("s", DType::kInt16, 1.0f / 65536, -32768,
                                       TensorRole::kIntermediate));
  const int y = m.add_tensor(io_tensor("y", DType::kInt32, 2.0f / 65536, 0, TensorRole::kOutput));
  const int r = m.add_tensor(io_tensor("r", DType::kInt8, 0.04f, -20, TensorRole::kIntermediate));
  Op a, act, b, c;
  a.type = OpType::kQuantize, a.name = "quantize_1", a.inputs = {x}, a.outputs = {q};
  // One int8 op between the conversions: the emitted int8 graph.
  act.type = OpType::kActivation, act.name = "relu_1", act.inputs = {q}, act.outputs = {r};
  act.set_str("activation", "relu");
  b.type = OpType::kSoftmax, b.name = "softmax_1", b.inputs = {r}, b.outputs = {s};
  c.type = OpType::kQuantize, c.name = "quantize_2", c.inputs = {s}, c.outputs = {y};
  m.ops = {a, act, b, c};
  m.inputs = {x};
  m.outputs = {y};
  validate_model(m);
  return m;
}

}  // namespace

TEST_CASE("emit: NAME_invoke_raw converts int16 in and int32 out like the executor",
          "[emit][raw]") {
  if (!tinyc_test::have_program("g++")) {
    WARN("g++ not found; skipping");
    return;
  }
  const Model m = raw_io_model();
  const int cases = 12;
  Rng rng(11);
  std::vector<int16_t> in(static_cast<size_t>(cases * 5));
  for (int16_t& v : in) v = static_cast<int16_t>(rng.uniform(-3000.0f, 9000.0f));
  in[0] = 32767, in[1] = -32768;  // the input QUANTIZE saturates
  std::vector<int8_t> bytes(in.size() * 2);
  std::memcpy(bytes.data(), in.data(), bytes.size());
  const std::vector<int8_t> want = run_model_int8(m, bytes.data(), cases);
  REQUIRE(want.size() == static_cast<size_t>(cases * 5 * 4));

  TempDir dir;
  EmitOptions o;
  o.out_dir = dir.path();
  o.name = "net";
  emit_model(m, o);
  const std::string header = read_text(dir.file("net.h"));
  CHECK_THAT(header, Catch::Contains("int net_invoke_raw(const void* input, void* output);"));
  std::string values;
  for (int16_t v : in) values += fmt::format("{},", v);
  tinyc_test::write_text(dir.file("main.cpp"), fmt::format(R"(#include <stdio.h>
#include "net.h"
static const int16_t kIn[] = {{{0}}};
int main() {{
  int32_t out[NET_OUTPUT_SIZE];
  if (net_invoke_raw(nullptr, out) != -1) return 2;
  for (int c = 0; c < {1}; ++c) {{
    if (net_invoke_raw(kIn + c * NET_INPUT_SIZE, out) != 0) return 3;
    for (int i = 0; i < NET_OUTPUT_SIZE; ++i) printf("%ld\n", static_cast<long>(out[i]));
  }}
  return 0;
}}
)", values, cases));
  require_command(fmt::format(
      "cd {} && g++ -std=c++11 -O1 -Wall -Wextra -Werror -fno-exceptions -fno-rtti "
      "-fsanitize=address,undefined -fno-sanitize-recover=all main.cpp net.cpp -o run",
      dir.path()));
  const auto run = tinyc_test::run_command(dir.file("run"));
  REQUIRE(run.exit_code == 0);
  std::vector<int32_t> expected(static_cast<size_t>(cases * 5));
  std::memcpy(expected.data(), want.data(), want.size());
  std::vector<int32_t> got;
  std::istringstream lines(run.out);
  long v = 0;
  while (lines >> v) got.push_back(static_cast<int32_t>(v));
  CHECK(got == expected);
  // The probabilities really vary: not the saturated 0 / 32767 of keyword_scrambled.
  int distinct = 0;
  for (size_t i = 1; i < expected.size(); ++i) distinct += expected[i] != expected[0];
  CHECK(distinct > 10);
}
