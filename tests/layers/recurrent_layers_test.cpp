// svdf (issue 6) in the reference executors. TFLM keeps an SVDF's memory as one flat buffer that
// shifts left by one value per invoke; these tests check it against the plain definition (each
// filter remembers its last M projections, oldest first), that state carries from row to row
// and restarts with each run, and that the int8 kernel (int16 and int8 state) tracks the float
// one within its quantization error. The LSTM is checked against TFLM's own outputs in
// tests/e2e/tflite_rnn_cli_test.cpp and tests/firmware/firmware_rnn_test.cpp.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include <fmt/format.h>

#include "emit_harness.h"
#include "tinyc/emit.h"
#include "tinyc/executor.h"
#include "tinyc/model.h"
#include "tinyc/rng.h"

using namespace tinyc;

namespace {

constexpr int kIn = 5, kFilters = 6, kMemory = 4, kRank = 2, kUnits = kFilters / kRank;

Tensor weight(const std::string& name, Shape shape, Rng& rng) {
  Tensor t;
  t.name = name;
  t.shape = std::move(shape);
  t.role = TensorRole::kWeight;
  for (int64_t i = 0; i < t.size(); ++i) t.f32.push_back(rng.uniform(-1.0f, 1.0f));
  return t;
}

// x (1, 5) -> svdf (rank 2, 3 units, memory 4) -> y (1, 3), float.
Model svdf_model() {
  Rng rng(11);
  Model m;
  m.name = "svdf_test";
  Tensor x;
  x.name = "x";
  x.shape = {1, kIn};
  x.role = TensorRole::kInput;
  const int xi = m.add_tensor(x);
  const int wf = m.add_tensor(weight("wf", {kFilters, kIn}, rng));
  const int wt = m.add_tensor(weight("wt", {kFilters, kMemory}, rng));
  const int b = m.add_tensor(weight("b", {kUnits}, rng));
  Tensor s;
  s.name = "state";
  s.shape = {1, kFilters * kMemory};
  s.role = TensorRole::kState;
  s.f32.assign(static_cast<size_t>(kFilters * kMemory), 0.0f);
  const int si = m.add_tensor(s);
  Tensor y;
  y.name = "y";
  y.shape = {1, kUnits};
  y.role = TensorRole::kOutput;
  const int yi = m.add_tensor(y);
  Op op;
  op.type = OpType::kSvdf;
  op.name = "svdf_1";
  op.inputs = {xi, wf, wt, b, si};
  op.outputs = {yi};
  op.set_int("rank", kRank);
  m.ops.push_back(op);
  m.inputs = {xi};
  m.outputs = {yi};
  validate_model(m);
  return m;
}

// The definition: y_t[u] = b[u] + sum over u's filters f, m < M of wt[f][m] * p_{t-M+1+m}[f],
// with p_t = wf x_t and p = 0 before the first row.
std::vector<float> svdf_by_definition(const Model& m, const std::vector<float>& x, int rows) {
  const Tensor& wf = m.tensor(1);
  const Tensor& wt = m.tensor(2);
  const Tensor& b = m.tensor(3);
  std::vector<std::vector<double>> p;  // per row, per filter
  std::vector<float> y;
  for (int r = 0; r < rows; ++r) {
    std::vector<double> pr(kFilters, 0.0);
    for (int f = 0; f < kFilters; ++f) {
      for (int k = 0; k < kIn; ++k) pr[f] += double{wf.f32[f * kIn + k]} * x[r * kIn + k];
    }
    p.push_back(pr);
    for (int u = 0; u < kUnits; ++u) {
      double v = b.f32[u];
      for (int f = u * kRank; f < (u + 1) * kRank; ++f) {
        for (int mm = 0; mm < kMemory; ++mm) {
          const int t = r - (kMemory - 1) + mm;
          if (t >= 0) v += double{wt.f32[f * kMemory + mm]} * p[t][f];
        }
      }
      y.push_back(static_cast<float>(v));
    }
  }
  return y;
}

// The float model quantized by hand: int8 x and y, int8 feature weights, int16 (or int8) time
// weights and state, int32 bias.
Model svdf_int8_model(const Model& f, DType state_type) {
  Model q = f;
  auto per_tensor = [](Tensor& t, float scale, int64_t zp) {
    t.quant.scale = {scale};
    t.quant.zero_point = {zp};
  };
  const float xs = 2.0f / 255.0f, wfs = 1.0f / 127.0f;
  const bool wide = state_type == DType::kInt16;
  const float ss = wide ? 4.0f / 32767.0f : 4.0f / 127.0f;  // projections lie in [-4, 4]
  const float wts = wide ? 1.0f / 32767.0f : 1.0f / 127.0f, ys = 16.0f / 255.0f;
  Tensor& xt = q.tensor(0);
  xt.dtype = DType::kInt8;
  per_tensor(xt, xs, -1);
  auto quantize_weights = [](Tensor& t, DType type, float scale, int32_t limit) {
    t.dtype = type;
    t.quant.scale = {scale};
    t.quant.zero_point = {0};
    for (float v : t.f32) {
      t.ints.push_back(std::max(-limit, std::min(limit, static_cast<int32_t>(std::lround(v / scale)))));
    }
    t.f32.clear();
  };
  quantize_weights(q.tensor(1), DType::kInt8, wfs, 127);
  quantize_weights(q.tensor(2), state_type, wts, wide ? 32767 : 127);
  quantize_weights(q.tensor(3), DType::kInt32, ss * wts, 1 << 30);
  Tensor& st = q.tensor(4);
  st.dtype = state_type;
  per_tensor(st, ss, wide ? 0 : 3);
  st.ints.assign(st.f32.size(), wide ? 0 : 3);
  st.f32.clear();
  Tensor& yt = q.tensor(5);
  yt.dtype = DType::kInt8;
  per_tensor(yt, ys, 0);
  validate_model(q);
  return q;
}

}  // namespace

TEST_CASE("svdf: rows are successive invokes of TFLM's shifting memory", "[layers][svdf]") {
  const Model m = svdf_model();
  Rng rng(3);
  const int rows = 9;  // more than the memory: old projections must leave it
  std::vector<float> x(rows * kIn);
  for (float& v : x) v = rng.uniform(-1.0f, 1.0f);
  const std::vector<float> want = svdf_by_definition(m, x, rows);
  const std::vector<float> got = run_model(m, x.data(), rows);
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) CHECK(got[i] == Approx(want[i]).margin(1e-5));
  // Each run starts from the initial state: the first rows alone give the same outputs.
  const std::vector<float> again = run_model(m, x.data(), 2);
  for (size_t i = 0; i < again.size(); ++i) CHECK(again[i] == got[i]);
  // And state matters: the last row alone differs from the last row after the others.
  const std::vector<float> last = run_model(m, x.data() + (rows - 1) * kIn, 1);
  CHECK(std::fabs(last[0] - got[(rows - 1) * kUnits]) > 1e-4f);
}

TEST_CASE("svdf: the int8 kernel with int16 or int8 state tracks the float one",
          "[layers][svdf][int8]") {
  const Model f = svdf_model();
  Rng rng(5);
  const int rows = 12;
  std::vector<float> x(rows * kIn);
  for (float& v : x) v = rng.uniform(-1.0f, 1.0f);
  const std::vector<float> want = run_model(f, x.data(), rows);
  for (const DType state_type : {DType::kInt16, DType::kInt8}) {
    INFO(dtype_name(state_type));
    const Model q = svdf_int8_model(f, state_type);
    REQUIRE(q.is_quantized());
    const float ys = q.output().quant.scale[0];
    const std::vector<float> got = run_model(q, x.data(), rows);
    REQUIRE(got.size() == want.size());
    // Quantization of x, the weights and the state: a few output steps at most.
    for (size_t i = 0; i < got.size(); ++i) CHECK(got[i] == Approx(want[i]).margin(3 * ys));
  }
}

namespace {

// A host main for the emitted svdf: the cases of `x` through net_invoke(_int8), net_reset(),
// and the same cases again; every output value printed as a number, one case per line.
std::string svdf_main(const std::string& values, bool int8) {
  return fmt::format(R"(#include <stdio.h>
#include "net.h"
static const {0} kX[] = {{{1}}};
static {0} out[NET_OUTPUT_SIZE];
static int run(void) {{
  for (unsigned c = 0; c < sizeof kX / sizeof kX[0] / NET_INPUT_SIZE; ++c) {{
    if ({2}(kX + c * NET_INPUT_SIZE, out) != 0) return 1;
    for (int i = 0; i < NET_OUTPUT_SIZE; ++i) printf("%.9g ", (double)out[i]);
    printf("\n");
  }}
  return 0;
}}
int main(void) {{
  if (run() != 0) return 1;
  net_reset();
  return run();
}}
)", int8 ? "int8_t" : "float", values, int8 ? "net_invoke_int8" : "net_invoke");
}

}  // namespace

TEST_CASE("svdf: emitted code keeps state in the arena, matches the executors and resets",
          "[layers][svdf][emit]") {
  if (!tinyc_test::have_program("g++")) {
    WARN("g++ not found; skipping");
    return;
  }
  const Model f = svdf_model();
  Rng rng(9);
  const int rows = 7;
  std::vector<float> x(rows * kIn);
  for (float& v : x) v = rng.uniform(-1.0f, 1.0f);
  for (const int variant : {0, 1, 2}) {  // float, int8 with int16 state, int8 with int8 state
    INFO("variant " << variant);
    const Model m = variant == 0 ? f : svdf_int8_model(f, variant == 1 ? DType::kInt16 : DType::kInt8);
    std::string values, want;
    if (variant == 0) {
      for (float v : x) values += fmt::format("{}f, ", v);
      const std::vector<float> y = run_model(m, x.data(), rows);
      for (int r = 0; r < rows; ++r) {
        for (int u = 0; u < kUnits; ++u) want += fmt::format("{:.9g} ", double{y[r * kUnits + u]});
        want += "\n";
      }
    } else {
      const std::vector<int8_t> q = quantize_inputs(m, x.data(), rows);
      for (int8_t v : q) values += fmt::format("{}, ", v);
      const std::vector<int8_t> y = run_model_int8(m, q.data(), rows);
      for (int r = 0; r < rows; ++r) {
        for (int u = 0; u < kUnits; ++u) want += fmt::format("{} ", y[static_cast<size_t>(r * kUnits + u)]);
        want += "\n";
      }
    }
    tinyc_test::TempDir dir;
    EmitOptions o;
    o.target = "host";
    o.out_dir = dir.path();
    o.name = "net";
    emit_model(m, o);
    tinyc_test::write_text(dir.file("main.c"), svdf_main(values, variant != 0));
    const std::string san = "-fsanitize=address,undefined -fno-sanitize-recover=all";
    tinyc_test::require_command(fmt::format(
        "cd {} && g++ -std=c++11 -O2 {} {} -fno-exceptions -fno-rtti -c net.cpp -o net.o && "
        "gcc -std=c11 -O2 -Wall -Wextra -Werror {} -c main.c -o main.o && "
        "gcc {} main.o net.o -lm -o run", dir.path(), tinyc_test::kStrictWarnings, san, san, san));
    const std::string out = tinyc_test::require_command(dir.file("run"));
    if (variant == 0) {
      // Float: within 1e-5 relative of the executor, and the same again after net_reset.
      std::istringstream a(out), b(want + want);
      double va = 0, vb = 0;
      int n = 0;
      while (b >> vb) {
        REQUIRE(a >> va);
        CHECK(std::fabs(va - vb) <= 1e-5 * std::max(1.0, std::fabs(vb)));
        ++n;
      }
      CHECK(n == 2 * rows * kUnits);
    } else {
      CHECK(out == want + want);
    }
  }
}
