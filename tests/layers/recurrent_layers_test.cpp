// svdf (issue 6) in the reference executors. TFLM keeps an SVDF's memory as one flat buffer that
// shifts left by one value per invoke; these tests check it against the plain definition (each
// filter remembers its last M projections, oldest first), that state carries from row to row
// and restarts with each run, and that the int8 kernel (int16 and int8 state) tracks the float
// one within its quantization error. The LSTM is checked against TFLM's own outputs in
// tests/e2e/tflite_rnn_cli_test.cpp and tests/firmware/firmware_rnn_test.cpp.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

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
    REQUIRE(q.is_quantized());
    const std::vector<float> got = run_model(q, x.data(), rows);
    REQUIRE(got.size() == want.size());
    // Quantization of x, the weights and the state: a few output steps at most.
    for (size_t i = 0; i < got.size(); ++i) CHECK(got[i] == Approx(want[i]).margin(3 * ys));
  }
}
