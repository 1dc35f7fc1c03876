// The stateless TFLite ops of issue 6 (add, mul, quantize, dequantize): gradients against
// finite differences, float forward of a two-input graph with broadcasting, and int8 against
// the real-valued result (TFLite's integer arithmetic is within one step of it) and against
// hand-computed values of the reference kernels.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <vector>

#include "tinyc/error.h"
#include "tinyc/executor.h"
#include "tinyc/layer.h"
#include "tinyc/quant_math.h"
#include "tinyc/rng.h"
#include "layers/layer_harness.h"

using namespace tinyc;
using namespace tinyc_test;

TEST_CASE("add, mul, quantize, dequantize gradients match finite differences", "[layers][tfops]") {
  const auto w = TensorRole::kWeight;
  const std::vector<Case> cases = {
      {"add_broadcast_channels_relu", OpType::kAdd, {1, 2, 4, 3}, {{{3}, w}},
       {{"activation", str_attr("relu")}}},
      {"add_same_shape", OpType::kAdd, {1, 5}, {{{1, 5}, w}}, {}},
      {"mul_broadcast_rows", OpType::kMul, {1, 4, 3}, {{{4, 1}, w}}, {}},
      {"mul_same_shape", OpType::kMul, {1, 2, 3}, {{{1, 2, 3}, w}}, {}},
      {"quantize_straight_through", OpType::kQuantize, {1, 6}, {}, {}},
      {"dequantize_straight_through", OpType::kDequantize, {1, 2, 3}, {}, {}},
  };
  for (const Case& c : cases) {
    Rng rng(7);
    Model m = one_op_model(c, rng);
    Buffers buf = bind(m, 3, true);
    for (float& v : buf.in[0]) v = rng.uniform(-1.0f, 1.0f);  // bind leaves inputs at 0
    check_gradients(c.label, buf, layer_for(c.type), rng);
  }
}

namespace {

Tensor activation(const char* name, Shape shape, DType dtype, float scale, int zp, TensorRole role) {
  Tensor t;
  t.name = name;
  t.shape = std::move(shape);
  t.dtype = dtype;
  t.role = role;
  if (scale > 0) t.quant = Quantization{{scale}, {zp}, -1};
  return t;
}

// y = op(a, b) over two graph inputs of the given shapes.
Model binary_model(OpType type, Shape a, Shape b, DType dtype, float sa, int za, float sb, int zb,
                   float sy, int zy, const char* act = "none") {
  Model m;
  m.name = "binary";
  const int ia = m.add_tensor(activation("a", a, dtype, sa, za, TensorRole::kInput));
  const int ib = m.add_tensor(activation("b", b, dtype, sb, zb, TensorRole::kInput));
  Op op;
  op.type = type;
  op.name = "op";
  op.inputs = {ia, ib};
  op.set_str("activation", act);
  const Shape y = layer_for(type).infer_shapes(op, {a, b})[0];
  const int iy = m.add_tensor(activation("y", y, dtype, sy, zy, TensorRole::kOutput));
  op.outputs = {iy};
  m.ops.push_back(op);
  m.inputs = {ia, ib};
  m.outputs = {iy};
  validate_model(m);
  return m;
}

}  // namespace

TEST_CASE("add and mul broadcast two graph inputs (float)", "[layers][tfops]") {
  // a: (1, 2, 3), b: (1, 3) broadcast over a's rows; two cases back to back.
  const Model add = binary_model(OpType::kAdd, {1, 2, 3}, {1, 3}, DType::kFloat32, 0, 0, 0, 0, 0, 0);
  const std::vector<float> in = {1, 2, 3, 4, 5, 6, 10, 20, 30,
                                 -1, -2, -3, -4, -5, -6, 1, 1, 1};
  const std::vector<float> sum = run_model(add, in.data(), 2);
  CHECK(sum == std::vector<float>{11, 22, 33, 14, 25, 36, 0, -1, -2, -3, -4, -5});
  const Model mul = binary_model(OpType::kMul, {1, 2, 3}, {1, 2, 1}, DType::kFloat32, 0, 0, 0, 0, 0, 0,
                                 "relu");
  const std::vector<float> in2 = {1, -2, 3, 4, 5, 6, 2, -1};
  CHECK(run_model(mul, in2.data(), 1) == std::vector<float>{2, 0, 6, 0, 0, 0});
}

TEST_CASE("int8 add and mul follow TFLite's integer arithmetic", "[layers][tfops]") {
  const float sa = 0.0407253653f, sb = 0.0412456132f, sy = 0.0583774112f;
  const int za = -2, zb = -1, zy = -3;
  std::vector<int8_t> in;
  for (int a = -128; a < 128; a += 3) {
    for (int b = -128; b < 128; b += 5) {
      in.push_back(static_cast<int8_t>(a));
      in.push_back(static_cast<int8_t>(b));
    }
  }
  const auto rows = static_cast<int64_t>(in.size() / 2);
  const Model add = binary_model(OpType::kAdd, {1, 1}, {1, 1}, DType::kInt8, sa, za, sb, zb, sy, zy);
  const Model mul = binary_model(OpType::kMul, {1, 1}, {1, 1}, DType::kInt8, sa, za, sb, zb,
                                 0.1f, 5);
  const std::vector<int8_t> ys = run_model_int8(add, in.data(), rows);
  const std::vector<int8_t> yp = run_model_int8(mul, in.data(), rows);
  int exact_add = 0, exact_mul = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const double ra = sa * (in[2 * r] - za), rb = sb * (in[2 * r + 1] - zb);
    const double want_add = std::min(127.0, std::max(-128.0, std::round((ra + rb) / sy) + zy));
    const double want_mul = std::min(127.0, std::max(-128.0, std::round(ra * rb / 0.1) + 5));
    INFO("a " << int(in[2 * r]) << " b " << int(in[2 * r + 1]));
    CHECK(std::abs(ys[r] - want_add) <= 1);
    CHECK(std::abs(yp[r] - want_mul) <= 1);
    exact_add += ys[r] == want_add;
    exact_mul += yp[r] == want_mul;
  }
  CHECK(exact_add > rows * 9 / 10);
  CHECK(exact_mul > rows * 9 / 10);
  // By hand, TFLM ADD: a=10, b=20: (12 << 20) * (sa / 2sb) and (21 << 20) * 1/2, rescaled by
  // 2sb / (2^20 sy): 0.4887 + 0.8661 = 1.3548 / sy = 23.21 -> 23 - 3 = 20.
  const std::vector<int8_t> one = {10, 20};
  CHECK(run_model_int8(add, one.data(), 1)[0] == 20);
  // Mul: 12 * 21 * sa * sb / 0.1 = 4.233 -> 4 + 5 = 9.
  CHECK(run_model_int8(mul, one.data(), 1)[0] == 9);
}

TEST_CASE("quantize and dequantize convert a model's float and int16 I/O", "[layers][tfops]") {
  // float (1, 4) -> QUANTIZE (0.05, 3) -> DEQUANTIZE -> float: round trip on the int8 grid.
  Model m;
  m.name = "qdq";
  const int x = m.add_tensor(activation("x", {1, 4}, DType::kFloat32, 0, 0, TensorRole::kInput));
  const int q = m.add_tensor(activation("q", {1, 4}, DType::kInt8, 0.05f, 3, TensorRole::kIntermediate));
  const int y = m.add_tensor(activation("y", {1, 4}, DType::kFloat32, 0, 0, TensorRole::kOutput));
  Op qo, dq;
  qo.type = OpType::kQuantize, qo.name = "quantize_1", qo.inputs = {x}, qo.outputs = {q};
  dq.type = OpType::kDequantize, dq.name = "dequantize_1", dq.inputs = {q}, dq.outputs = {y};
  m.ops = {qo, dq};
  m.inputs = {x};
  m.outputs = {y};
  validate_model(m);
  REQUIRE(m.is_quantized());
  const std::vector<float> in = {0.124f, -0.126f, 100.0f, -0.0751f};
  const std::vector<float> out = run_model(m, in.data(), 1);
  // 0.124 / 0.05 = 2.48 -> 2 + 3 = 5 -> 0.1; -2.52 -> -3 + 3 = 0 -> -0.15; 2000 -> 127;
  // -1.502 -> -2 + 3 = 1 -> -0.1.
  REQUIRE(out.size() == 4);
  CHECK(out[0] == Approx(0.1f));
  CHECK(out[1] == Approx(-0.15f));
  CHECK(out[2] == Approx(0.05f * 124));
  CHECK(out[3] == Approx(-0.1f));

  // int16 (scale 1/256, zp 0) -> QUANTIZE -> int8 (scale 1/16, zp -1): TFLM Requantize.
  Model r;
  r.name = "requantize";
  const int a = r.add_tensor(activation("a", {1, 3}, DType::kInt16, 1.0f / 256, 0, TensorRole::kInput));
  const int b = r.add_tensor(activation("b", {1, 3}, DType::kInt8, 1.0f / 16, -1, TensorRole::kOutput));
  Op rq;
  rq.type = OpType::kQuantize, rq.name = "quantize_1", rq.inputs = {a}, rq.outputs = {b};
  r.ops = {rq};
  r.inputs = {a};
  r.outputs = {b};
  validate_model(r);
  const int16_t raw[3] = {40, -24, 32000};  // 40/16 = 2.5 -> 3 - 1; -1.5 -> -2 - 1; saturates
  std::vector<int8_t> bytes(6);
  std::memcpy(bytes.data(), raw, 6);
  CHECK(run_model_int8(r, bytes.data(), 1) == std::vector<int8_t>{2, -3, 127});
}

TEST_CASE("int8 -> int16 softmax -> int32 quantize, as keyword_scrambled ends",
          "[layers][tfops]") {
  // TFLM's Softmax<int8_t, int16_t> (scale 1/65536, zp -32768), then Requantize to int32
  // (scale 2/65536, zp 0): y = round((p16 + 32768) / 2), i.e. about p * 32768.
  Model m;
  m.name = "softmax16";
  const int x = m.add_tensor(activation("x", {1, 3}, DType::kInt8, 0.25f, -2, TensorRole::kInput));
  const int s = m.add_tensor(activation("s", {1, 3}, DType::kInt16, 1.0f / 65536, -32768,
                                        TensorRole::kIntermediate));
  const int y = m.add_tensor(activation("y", {1, 3}, DType::kInt32, 2.0f / 65536, 0,
                                        TensorRole::kOutput));
  Op so, qo;
  so.type = OpType::kSoftmax, so.name = "softmax_1", so.inputs = {x}, so.outputs = {s};
  qo.type = OpType::kQuantize, qo.name = "quantize_1", qo.inputs = {s}, qo.outputs = {y};
  m.ops = {so, qo};
  m.inputs = {x};
  m.outputs = {y};
  validate_model(m);
  const std::vector<int8_t> in = {-2, -2, -2, 6, -2, -10};  // two cases
  const std::vector<int8_t> out = run_model_int8(m, in.data(), 2);
  REQUIRE(out.size() == 24);
  std::vector<int32_t> q(6);
  std::memcpy(q.data(), out.data(), 24);
  for (int k = 0; k < 3; ++k) CHECK(std::abs(q[k] - 10923) <= 1);  // 1/3 each
  const double e[3] = {std::exp(2.0), 1.0, std::exp(-2.0)};
  for (int k = 0; k < 3; ++k) {
    CHECK(std::fabs(q[3 + k] - e[k] / (e[0] + e[1] + e[2]) * 32768.0) <= 2.0);
  }
}

TEST_CASE("pad and concatenation: gradients, float and int8 layout", "[layers][tfops]") {
  const auto w = TensorRole::kWeight;
  const std::vector<Case> cases = {
      {"pad_hw", OpType::kPad, {1, 2, 3, 2}, {}, {{"pads", ints({1, 0, 2, 1, 0, 0})}}},
      {"concat_channels_relu", OpType::kConcatenation, {1, 2, 2, 3}, {{{1, 2, 2, 2}, w}},
       {{"axis", ints({3})}, {"activation", str_attr("relu")}}},
      {"concat_rows", OpType::kConcatenation, {1, 2, 3}, {{{1, 1, 3}, w}}, {{"axis", ints({1})}}},
  };
  for (const Case& c : cases) {
    Rng rng(3);
    Model m = one_op_model(c, rng);
    Buffers buf = bind(m, 2, true);
    for (float& v : buf.in[0]) v = rng.uniform(-1.0f, 1.0f);  // bind leaves inputs at 0
    check_gradients(c.label, buf, layer_for(c.type), rng);
  }
  // pad (1, 2, 2) by one row before and one column after: zeros, or the zero point in int8.
  Model p;
  p.name = "pad";
  const int x = p.add_tensor(activation("x", {1, 2, 2}, DType::kInt8, 0.5f, -7, TensorRole::kInput));
  const int y = p.add_tensor(activation("y", {1, 3, 3}, DType::kInt8, 0.5f, -7, TensorRole::kOutput));
  Op op;
  op.type = OpType::kPad, op.name = "pad_1", op.inputs = {x}, op.outputs = {y};
  op.attrs["pads"] = Attr{{1, 0, 0, 1}, {}, {}};
  p.ops = {op};
  p.inputs = {x};
  p.outputs = {y};
  validate_model(p);
  const std::vector<int8_t> in = {1, 2, 3, 4};
  CHECK(run_model_int8(p, in.data(), 1) == std::vector<int8_t>{-7, -7, -7, 1, 2, -7, 3, 4, -7});
  // concatenation of two graph inputs (1, 2, 1) and (1, 2, 2) along axis 2.
  Model c;
  c.name = "concat";
  const int a = c.add_tensor(activation("a", {1, 2, 1}, DType::kInt8, 0.5f, 1, TensorRole::kInput));
  const int b = c.add_tensor(activation("b", {1, 2, 2}, DType::kInt8, 0.5f, 1, TensorRole::kInput));
  const int z = c.add_tensor(activation("z", {1, 2, 3}, DType::kInt8, 0.5f, 1, TensorRole::kOutput));
  Op cat;
  cat.type = OpType::kConcatenation, cat.name = "concatenation_1", cat.inputs = {a, b},
  cat.outputs = {z};
  cat.set_int("axis", 2);
  c.ops = {cat};
  c.inputs = {a, b};
  c.outputs = {z};
  validate_model(c);
  const std::vector<int8_t> ab = {1, 2, 10, 11, 20, 21};
  CHECK(run_model_int8(c, ab.data(), 1) == std::vector<int8_t>{1, 10, 11, 2, 20, 21});
  // A different scale on one input is refused rather than rescaled.
  c.tensor(b).quant.scale = {0.25f};
  CHECK_THROWS_AS(run_model_int8(c, ab.data(), 1), Error);
}

TEST_CASE("mean: gradients, float axes, int8 global average as TFLite", "[layers][tfops]") {
  const std::vector<Case> cases = {
      {"mean_hw_keep", OpType::kMean, {1, 3, 2, 4}, {}, {{"axes", ints({1, 2})}, {"keep_dims", ints({1})}}},
      {"mean_last", OpType::kMean, {1, 2, 5}, {}, {{"axes", ints({-1})}}},
  };
  for (const Case& c : cases) {
    Rng rng(5);
    Model m = one_op_model(c, rng);
    CHECK(m.tensor(m.outputs[0]).shape == (c.type == OpType::kMean && c.input.size() == 4
                                               ? Shape{1, 1, 1, 4} : Shape{1, 2}));
    Buffers buf = bind(m, 2, true);
    for (float& v : buf.in[0]) v = rng.uniform(-1.0f, 1.0f);  // bind leaves inputs at 0
    check_gradients(c.label, buf, layer_for(c.type), rng);
  }
  // int8 over a 2x2 window of 2 channels: channel 0 sums (x - 3) = 10 - 12 = -2 ... by hand:
  // x = [5, 1], [2, 0], [4, -1], [-1, 7]; zp_in 3, zp_out -1, in/out scale 2.
  Model m;
  m.name = "mean";
  const int x = m.add_tensor(activation("x", {1, 2, 2, 2}, DType::kInt8, 0.5f, 3, TensorRole::kInput));
  const int y = m.add_tensor(activation("y", {1, 1, 1, 2}, DType::kInt8, 0.25f, -1, TensorRole::kOutput));
  Op op;
  op.type = OpType::kMean, op.name = "mean_1", op.inputs = {x}, op.outputs = {y};
  op.attrs["axes"] = Attr{{1, 2}, {}, {}};
  op.set_int("keep_dims", 1);
  m.ops = {op};
  m.inputs = {x};
  m.outputs = {y};
  validate_model(m);
  const std::vector<int8_t> in = {5, 1, 2, 0, 4, -1, -1, 7};
  // channel 0: (2 - 1 + 1 - 4) = -2, * 2 = -4, / 4 = -1, - 1 = -2;
  // channel 1: (-2 - 3 - 4 + 4) = -5, * 2 = -10, / 4 = -2.5 -> -3 (half away), - 1 = -4.
  CHECK(run_model_int8(m, in.data(), 1) == std::vector<int8_t>{-2, -4});
}
