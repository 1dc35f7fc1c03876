// The NHWC layers of issue 3 (conv2d, depthwise_conv2d, pools, batch_norm, reshape):
// finite-difference gradient checks (table-driven, as gradient_test.cpp), hand-computed
// outputs for the layout and padding rules that gradients cannot see, shape-inference errors,
// and batch-norm folding.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "tinyc/error.h"
#include "tinyc/executor.h"
#include "tinyc/layer.h"
#include "tinyc/rng.h"
#include "tinyc/transform.h"
#include "layers/layer_harness.h"

using namespace tinyc;
using namespace tinyc_test;

namespace {

// Distinct values at least 0.05 apart in [-2, 2), shuffled: a finite-difference step never
// swaps the order of two inputs, so max-pool windows keep their argmax.
void fill_distinct(std::vector<float>& x, Rng& rng) {
  const std::vector<int64_t> perm = rng.permutation(static_cast<int64_t>(x.size()));
  const float step = 4.0f / static_cast<float>(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    x[i] = -2.0f + step * (static_cast<float>(perm[i]) + 0.5f) + 0.2f * step * rng.uniform(-1.0f, 1.0f);
  }
}

}  // namespace

TEST_CASE("NHWC layer gradients match finite differences", "[layers][gradient]") {
  const auto w = TensorRole::kWeight;
  const auto s = TensorRole::kState;
  const std::vector<Case> cases = {
      {"conv2d_same_stride2_relu", OpType::kConv2d, {1, 5, 6, 3}, {{{4, 3, 3, 3}, w}, {{4}, w}},
       {{"stride", ints({2})}, {"padding", str_attr("same")}, {"activation", str_attr("relu")}}},
      {"conv2d_valid_stride_1x2", OpType::kConv2d, {1, 5, 5, 2}, {{{3, 2, 3, 2}, w}, {{3}, w}},
       {{"stride", ints({1, 2})}, {"padding", str_attr("valid")}}},
      {"conv2d_same_even_kernel_relu6", OpType::kConv2d, {1, 4, 5, 2}, {{{2, 2, 4, 2}, w}, {{2}, w}},
       {{"padding", str_attr("same")}, {"activation", str_attr("relu6")}}},
      {"conv2d_wide_same_stride2", OpType::kConv2d, {1, 5, 4, 6}, {{{3, 3, 3, 6}, w}, {{3}, w}},
       {{"stride", ints({2})}, {"padding", str_attr("same")}}},
      {"conv2d_wide_valid_relu", OpType::kConv2d, {1, 4, 5, 8}, {{{2, 2, 2, 8}, w}, {{2}, w}},
       {{"activation", str_attr("relu")}}},
      {"conv2d_pointwise", OpType::kConv2d, {1, 3, 4, 5}, {{{6, 1, 1, 5}, w}, {{6}, w}},
       {{"activation", str_attr("relu")}}},
      {"depthwise_mult2_same_stride2", OpType::kDepthwiseConv2d, {1, 5, 5, 3},
       {{{1, 3, 3, 6}, w}, {{6}, w}},
       {{"depth_multiplier", ints({2})}, {"stride", ints({2, 2})}, {"padding", str_attr("same")}}},
      {"depthwise_valid_relu", OpType::kDepthwiseConv2d, {1, 4, 5, 4}, {{{1, 2, 3, 4}, w}, {{4}, w}},
       {{"activation", str_attr("relu")}}},
      {"max_pool_3x3_stride2_valid_odd", OpType::kMaxPool2d, {1, 7, 5, 3}, {},
       {{"pool", ints({3})}, {"stride", ints({2})}}},
      {"max_pool_2x2_same_odd", OpType::kMaxPool2d, {1, 5, 5, 2}, {},
       {{"pool", ints({2})}, {"padding", str_attr("same")}}},
      {"avg_pool_3x2_stride2_same_odd", OpType::kAvgPool2d, {1, 5, 7, 2}, {},
       {{"pool", ints({3, 2})}, {"stride", ints({2})}, {"padding", str_attr("same")}}},
      {"avg_pool_3x3_stride1_valid", OpType::kAvgPool2d, {1, 5, 5, 3}, {},
       {{"pool", ints({3})}, {"stride", ints({1})}}},
      {"global_avg_pool", OpType::kGlobalAvgPool2d, {1, 3, 5, 4}, {}, {}},
      {"batch_norm_train_nhwc_relu", OpType::kBatchNorm, {1, 3, 2, 4},
       {{{4}, w}, {{4}, w}, {{4}, s}, {{4}, s}}, {{"activation", str_attr("relu")}}},
      {"batch_norm_train_flat", OpType::kBatchNorm, {1, 5}, {{{5}, w}, {{5}, w}, {{5}, s}, {{5}, s}},
       {{"epsilon", flt(0.01f)}}},
      {"batch_norm_inference", OpType::kBatchNorm, {1, 2, 2, 3},
       {{{3}, w}, {{3}, w}, {{3}, s}, {{3}, s}}, {}, false},
      {"reshape", OpType::kReshape, {1, 2, 6}, {}, {{"shape", ints({3, -1, 1})}}},
  };
  for (const Case& c : cases) {
    SECTION(c.label) {
      Rng rng(11);
      Model m = one_op_model(c, rng);
      constexpr int64_t n = 3;
      Buffers buf = bind(m, n, c.training);
      fill_distinct(buf.in[0], rng);
      check_gradients(c.label, buf, layer_for(c.type), rng);
    }
  }
}

namespace {

// Runs one op forward on a single sample.
std::vector<float> run_one(Model& m, const std::vector<float>& x) {
  Buffers buf = bind(m, 1, false);
  buf.in[0] = x;
  buf.b.in[0] = buf.in[0].data();
  layer_for(m.ops[0].type).forward(buf.b);
  return buf.out;
}

void set_weights(Model& m, size_t k, std::vector<float> values) {
  Tensor& t = m.tensor(m.ops[0].inputs[k]);
  REQUIRE(static_cast<int64_t>(values.size()) == t.size());
  t.f32.assign(values.begin(), values.end());
}

}  // namespace

TEST_CASE("conv2d SAME padding puts the odd row and column after (TFLite)", "[layers]") {
  // x = 1..16 on a 4x4 image, one 3x3 filter of ones, stride 2: out 2x2, padding total 1,
  // all of it after, so output (0, 0) sums rows 0-2 and columns 0-2.
  Rng rng(1);
  Case c{"conv_same", OpType::kConv2d, {1, 4, 4, 1}, {{{1, 3, 3, 1}}, {{1}}},
         {{"stride", ints({2})}, {"padding", str_attr("same")}}};
  Model m = one_op_model(c, rng);
  CHECK(m.tensor(m.outputs[0]).shape == Shape{1, 2, 2, 1});
  set_weights(m, 1, std::vector<float>(9, 1.0f));
  set_weights(m, 2, {0.5f});
  std::vector<float> x(16);
  for (int i = 0; i < 16; ++i) x[static_cast<size_t>(i)] = static_cast<float>(i + 1);
  const std::vector<float> y = run_one(m, x);
  CHECK(y[0] == 1 + 2 + 3 + 5 + 6 + 7 + 9 + 10 + 11 + 0.5f);
  CHECK(y[1] == 3 + 4 + 7 + 8 + 11 + 12 + 0.5f);
  CHECK(y[2] == 9 + 10 + 11 + 13 + 14 + 15 + 0.5f);
  CHECK(y[3] == 11 + 12 + 15 + 16 + 0.5f);
}

TEST_CASE("conv2d weights are (filters, kh, kw, in_channels)", "[layers]") {
  // A 2x1 kernel over 2 channels: w[f][ky][0][c]; x pixel (0,0) = (1, 2), (1,0) = (3, 4).
  Rng rng(1);
  Case c{"conv_layout", OpType::kConv2d, {1, 2, 1, 2}, {{{2, 2, 1, 2}}, {{2}}}, {}};
  Model m = one_op_model(c, rng);
  set_weights(m, 1, {1, 10, 100, 1000, 2, 0, 0, 0});
  set_weights(m, 2, {0, 0});
  const std::vector<float> y = run_one(m, {1, 2, 3, 4});
  CHECK(y[0] == 1 * 1 + 2 * 10 + 3 * 100 + 4 * 1000);
  CHECK(y[1] == 2);
}

TEST_CASE("depthwise output channel c * multiplier + m reads input channel c", "[layers]") {
  Rng rng(1);
  Case c{"dw_order", OpType::kDepthwiseConv2d, {1, 1, 1, 2}, {{{1, 1, 1, 4}}, {{4}}},
         {{"depth_multiplier", ints({2})}}};
  Model m = one_op_model(c, rng);
  set_weights(m, 1, {10, 20, 30, 40});
  set_weights(m, 2, {0, 0, 0, 1});
  CHECK(run_one(m, {1, 2}) == std::vector<float>{10, 20, 60, 81});
}

TEST_CASE("avg_pool2d leaves padding out of the mean and max_pool2d ignores it", "[layers]") {
  Rng rng(1);
  // 3x3 input, pool 2, stride 2, same: out 2x2, padding after; the last window has 1 value.
  std::vector<float> x = {-1, -2, -3, -4, -5, -6, -7, -8, -9};
  Case avg{"avg_same", OpType::kAvgPool2d, {1, 3, 3, 1}, {}, {{"pool", ints({2})}, {"padding", str_attr("same")}}};
  Model ma = one_op_model(avg, rng);
  CHECK(run_one(ma, x) == std::vector<float>{-3, -4.5f, -7.5f, -9});
  Case mx{"max_same", OpType::kMaxPool2d, {1, 3, 3, 1}, {}, {{"pool", ints({2})}, {"padding", str_attr("same")}}};
  Model mm = one_op_model(mx, rng);
  CHECK(run_one(mm, x) == std::vector<float>{-1, -3, -7, -9});
}

TEST_CASE("NHWC shape inference errors name the layer", "[layers]") {
  Rng rng(1);
  struct Bad {
    Case c;
    const char* message;
  };
  const std::vector<Bad> bad = {
      {{"conv_channels", OpType::kConv2d, {1, 5, 5, 3}, {{{4, 3, 3, 2}}, {{4}}}, {}}, "input channels"},
      {{"conv_rank3", OpType::kConv2d, {1, 28, 28}, {{{4, 3, 3, 1}}, {{4}}}, {}}, "[H, W, 1]"},
      {{"conv_too_big", OpType::kConv2d, {1, 2, 2, 1}, {{{4, 3, 3, 1}}, {{4}}}, {}}, "larger than"},
      {{"conv_bias", OpType::kConv2d, {1, 5, 5, 1}, {{{4, 3, 3, 1}}, {{3}}}, {}}, "bias"},
      {{"conv_padding", OpType::kConv2d, {1, 5, 5, 1}, {{{4, 3, 3, 1}}, {{4}}}, {{"padding", str_attr("full")}}}, "padding"},
      {{"conv_kernel_attr", OpType::kConv2d, {1, 5, 5, 1}, {{{4, 3, 3, 1}}, {{4}}}, {{"kernel", ints({5})}}}, "kernel"},
      {{"dw_mult", OpType::kDepthwiseConv2d, {1, 5, 5, 3}, {{{1, 3, 3, 3}}, {{3}}}, {{"depth_multiplier", ints({2})}}}, "depth_multiplier"},
      {{"pool_missing", OpType::kMaxPool2d, {1, 4, 4, 1}, {}, {}}, "pool"},
      {{"pool_stride0", OpType::kAvgPool2d, {1, 4, 4, 1}, {}, {{"pool", ints({2})}, {"stride", ints({0})}}}, "stride"},
      {{"gap_flat", OpType::kGlobalAvgPool2d, {1, 16}, {}, {}}, "NHWC"},
      {{"bn_gamma", OpType::kBatchNorm, {1, 4, 4, 2}, {{{3}}, {{2}}, {{2}, TensorRole::kState}, {{2}, TensorRole::kState}}, {}}, "gamma"},
      {{"reshape_count", OpType::kReshape, {1, 12}, {}, {{"shape", ints({5, 2})}}}, "values"},
      {{"reshape_two_inferred", OpType::kReshape, {1, 12}, {}, {{"shape", ints({-1, -1})}}}, ">= 1"},
  };
  for (const Bad& b : bad) {
    INFO(b.c.label);
    try {
      one_op_model(b.c, rng);
      FAIL("expected an error for " << b.c.label);
    } catch (const Error& e) {
      CHECK(e.code() == ExitCode::kBadInput);
      CHECK_THAT(e.what(), Catch::Contains(b.c.label) && Catch::Contains(b.message));
    }
  }
}

namespace {

Tensor weight(const std::string& name, Shape shape, Rng& rng, TensorRole role, float lo, float hi) {
  Tensor t;
  t.name = name;
  t.role = role;
  t.shape = std::move(shape);
  t.f32.resize(static_cast<size_t>(t.size()));
  for (float& v : t.f32) v = rng.uniform(lo, hi);
  return t;
}

// Appends `type` reading tensor `x` with the given weights; returns its output tensor.
int add_op(Model& m, OpType type, const std::string& name, int x, std::vector<Tensor> weights,
           std::map<std::string, Attr> attrs) {
  Op op;
  op.type = type;
  op.name = name;
  op.attrs = std::move(attrs);
  op.inputs = {x};
  for (Tensor& w : weights) op.inputs.push_back(m.add_tensor(std::move(w)));
  Tensor out;
  out.name = name;
  out.shape = layer_for(type).infer_shapes(op, op_input_shapes(m, op))[0];
  op.outputs = {m.add_tensor(std::move(out))};
  m.ops.push_back(op);
  return op.outputs[0];
}

std::vector<Tensor> bn_weights(const std::string& name, int c, Rng& rng) {
  const auto w = TensorRole::kWeight, s = TensorRole::kState;
  return {weight(name + "/gamma", {c}, rng, w, 0.5f, 1.5f), weight(name + "/beta", {c}, rng, w, -1, 1),
          weight(name + "/mean", {c}, rng, s, -1, 1), weight(name + "/var", {c}, rng, s, 0.2f, 2)};
}

}  // namespace

TEST_CASE("batch_norm folds into conv2d, depthwise and dense with the same outputs", "[layers][fold]") {
  Rng rng(5);
  const auto w = TensorRole::kWeight;
  Model m;
  Tensor in;
  in.name = "input";
  in.role = TensorRole::kInput;
  in.shape = {1, 6, 6, 2};
  m.inputs = {m.add_tensor(in)};
  int cur = m.inputs[0];
  cur = add_op(m, OpType::kConv2d, "conv", cur,
               {weight("conv/w", {4, 3, 3, 2}, rng, w, -1, 1), weight("conv/b", {4}, rng, w, -1, 1)},
               {{"padding", str_attr("same")}});
  cur = add_op(m, OpType::kBatchNorm, "bn1", cur, bn_weights("bn1", 4, rng), {{"activation", str_attr("relu")}});
  cur = add_op(m, OpType::kDepthwiseConv2d, "dw", cur,
               {weight("dw/w", {1, 3, 3, 8}, rng, w, -1, 1), weight("dw/b", {8}, rng, w, -1, 1)},
               {{"depth_multiplier", ints({2})}, {"stride", ints({2})}});
  cur = add_op(m, OpType::kBatchNorm, "bn2", cur, bn_weights("bn2", 8, rng), {{"epsilon", flt(0.01f)}});
  cur = add_op(m, OpType::kMaxPool2d, "pool", cur, {}, {{"pool", ints({2})}});
  // Not foldable: its producer is a pool.
  cur = add_op(m, OpType::kBatchNorm, "bn3", cur, bn_weights("bn3", 8, rng), {});
  cur = add_op(m, OpType::kFlatten, "flatten", cur, {}, {});
  cur = add_op(m, OpType::kDense, "dense", cur,
               {weight("dense/w", {5, 8}, rng, w, -1, 1), weight("dense/b", {5}, rng, w, -1, 1)}, {});
  cur = add_op(m, OpType::kBatchNorm, "bn4", cur, bn_weights("bn4", 5, rng), {{"activation", str_attr("relu6")}});
  m.tensor(cur).role = TensorRole::kOutput;
  m.outputs = {cur};
  validate_model(m);

  constexpr int64_t rows = 7;
  std::vector<float> x(static_cast<size_t>(rows * 72));
  for (float& v : x) v = rng.uniform(-2, 2);
  const std::vector<float> before = run_model(m, x.data(), rows);
  const size_t tensors_before = m.tensors.size();
  CHECK(fold_batch_norm(m) == 3);
  CHECK(m.ops.size() == 6);
  CHECK(m.tensors.size() == tensors_before - 4 * 3 - 3);
  CHECK(m.ops[0].get_str("activation", "") == "relu");
  CHECK(m.ops.back().get_str("activation", "") == "relu6");
  const std::vector<float> after = run_model(m, x.data(), rows);
  REQUIRE(after.size() == before.size());
  for (size_t i = 0; i < before.size(); ++i) {
    INFO("output " << i);
    CHECK(std::fabs(after[i] - before[i]) <= 1e-5f * std::max(1.0f, std::fabs(before[i])));
  }
  CHECK(fold_batch_norm(m) == 0);
}
