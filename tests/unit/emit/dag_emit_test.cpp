// Emitted code of a graph that branches and joins (issue 6): x feeds two dense layers, add
// joins them, and mul reads the first branch again after the join, so its buffer must outlive
// the other branch (lifetimes over the topological order). Built on the host under ASan and
// UBSan and compared with the reference executor.
#include <catch2/catch.hpp>

#include "emit_harness.h"
#include "tinyc/emit.h"
#include "tinyc/executor.h"
#include "tinyc/rng.h"

using namespace tinyc;

namespace {

int dense(Model& m, int x, int units, const char* name, const char* act, Rng& rng) {
  const int in = m.tensor(x).shape[1];
  Tensor w, b, y;
  w.name = std::string(name) + "_w", w.role = TensorRole::kWeight, w.shape = {units, in};
  b.name = std::string(name) + "_b", b.role = TensorRole::kWeight, b.shape = {units};
  for (int i = 0; i < units * in; ++i) w.f32.push_back(rng.uniform(-1.0f, 1.0f));
  for (int i = 0; i < units; ++i) b.f32.push_back(rng.uniform(-0.5f, 0.5f));
  y.name = name, y.shape = {1, units};
  Op op;
  op.type = OpType::kDense, op.name = name;
  op.inputs = {x, m.add_tensor(w), m.add_tensor(b)};
  op.outputs = {m.add_tensor(y)};
  op.set_int("units", units);
  op.set_str("activation", act);
  m.ops.push_back(op);
  return op.outputs[0];
}

int binary(Model& m, OpType type, int a, int b, const char* name) {
  Tensor y;
  y.name = name, y.shape = m.tensor(a).shape;
  Op op;
  op.type = type, op.name = name, op.inputs = {a, b};
  op.outputs = {m.add_tensor(y)};
  m.ops.push_back(op);
  return op.outputs[0];
}

}  // namespace

TEST_CASE("emit: a branching and joining float graph agrees with the reference executor",
          "[emit][host][dag]") {
  Rng rng(11);
  Model m;
  m.name = "dag";
  Tensor x;
  x.name = "x", x.role = TensorRole::kInput, x.shape = {1, 6};
  m.inputs = {m.add_tensor(x)};
  const int a = dense(m, m.inputs[0], 8, "branch_a", "relu", rng);
  const int b = dense(m, m.inputs[0], 8, "branch_b", "none", rng);
  const int c = binary(m, OpType::kAdd, a, b, "join");
  const int d = dense(m, c, 8, "after_join", "relu6", rng);
  const int y = binary(m, OpType::kMul, d, a, "reuse_a");
  m.tensor(y).role = TensorRole::kOutput;
  m.outputs = {y};
  validate_model(m);

  tinyc_test::TempDir dir;
  EmitOptions o;
  o.out_dir = dir.path();
  o.name = "net";
  const EmitReport r = emit_model(m, o);
  // branch_a lives from step 1 to step 5: it may not share bytes with branch_b, join or
  // after_join; the planner needs at least three 32-byte buffers at once.
  CHECK(r.arena_lower_bound >= 3 * 32);
  CHECK(r.arena_bytes >= r.arena_lower_bound);
  const int64_t cases = 25;
  std::vector<float> in(static_cast<size_t>(cases * 6));
  for (float& v : in) v = rng.uniform(-2.0f, 2.0f);
  const std::vector<float> want = run_model(m, in.data(), cases);
  std::vector<std::vector<float>> expected;
  for (int64_t k = 0; k < cases; ++k) expected.emplace_back(want.begin() + k * 8, want.begin() + (k + 1) * 8);
  tinyc_test::check_float_agreement(tinyc_test::run_on_host(dir.path(), "net", in, 6), expected);
}

TEST_CASE("emit: pad and concatenation of a branching graph, float and int8", "[emit][host][dag]") {
  // x (1, 4, 3) -> pad one column each side -> (1, 4, 5); concatenated with x itself along
  // the last axis -> (1, 4, 8): the graph input is read by both ops.
  for (const bool int8 : {false, true}) {
    INFO((int8 ? "int8" : "float32"));
    Model m;
    m.name = "padcat";
    auto tensor = [&](const char* name, Shape shape, TensorRole role) {
      Tensor t;
      t.name = name, t.shape = std::move(shape), t.role = role;
      if (int8) t.dtype = DType::kInt8, t.quant = Quantization{{0.05f}, {3}, -1};
      return m.add_tensor(t);
    };
    const int x = tensor("x", {1, 4, 3}, TensorRole::kInput);
    const int p = tensor("padded", {1, 4, 5}, TensorRole::kIntermediate);
    const int y = tensor("y", {1, 4, 8}, TensorRole::kOutput);
    Op pad, cat;
    pad.type = OpType::kPad, pad.name = "pad_1", pad.inputs = {x}, pad.outputs = {p};
    pad.attrs["pads"] = Attr{{0, 0, 1, 1}, {}, {}};
    cat.type = OpType::kConcatenation, cat.name = "concatenation_1", cat.inputs = {p, x};
    cat.outputs = {y};
    cat.set_int("axis", 2);
    m.ops = {pad, cat};
    m.inputs = {x};
    m.outputs = {y};
    validate_model(m);
    tinyc_test::TempDir dir;
    EmitOptions o;
    o.out_dir = dir.path();
    o.name = "net";
    emit_model(m, o);
    const int64_t cases = 10;
    Rng rng(3);
    std::vector<float> in(static_cast<size_t>(cases * 12));
    for (float& v : in) v = rng.uniform(-4.0f, 4.0f);
    if (!int8) {
      const std::vector<float> want = run_model(m, in.data(), cases);
      std::vector<std::vector<float>> expected;
      for (int64_t k = 0; k < cases; ++k) expected.emplace_back(want.begin() + k * 32, want.begin() + (k + 1) * 32);
      tinyc_test::check_float_agreement(tinyc_test::run_on_host(dir.path(), "net", in, 12), expected);
      // Padding columns are zero, the copy of x follows.
      CHECK(want[0] == 0.0f);
      CHECK(want[5] == in[0]);
      continue;
    }
    const tinyc_test::Int8Expected ref = tinyc_test::int8_reference(m, in, cases);
    std::vector<std::vector<int>> actual_int8;
    const auto actual = tinyc_test::run_on_host(dir.path(), "net", in, 12, true, &actual_int8);
    tinyc_test::check_exact(actual, ref.outputs, actual_int8, ref.outputs_int8);
    CHECK(ref.outputs_int8[0][0] == 3);  // the zero point fills the padding
  }
}

TEST_CASE("emit: mean over H and W (global average), float and int8", "[emit][host][dag]") {
  for (const bool int8 : {false, true}) {
    INFO((int8 ? "int8" : "float32"));
    Model m;
    m.name = "gap";
    auto tensor = [&](const char* name, Shape shape, TensorRole role, float scale, int zp) {
      Tensor t;
      t.name = name, t.shape = std::move(shape), t.role = role;
      if (int8) t.dtype = DType::kInt8, t.quant = Quantization{{scale}, {zp}, -1};
      return m.add_tensor(t);
    };
    const int x = tensor("x", {1, 3, 5, 4}, TensorRole::kInput, 0.06f, -5);
    const int y = tensor("y", {1, 1, 1, 4}, TensorRole::kOutput, 0.02f, 7);
    Op op;
    op.type = OpType::kMean, op.name = "mean_1", op.inputs = {x}, op.outputs = {y};
    op.attrs["axes"] = Attr{{1, 2}, {}, {}};
    op.set_int("keep_dims", 1);
    m.ops = {op};
    m.inputs = {x};
    m.outputs = {y};
    validate_model(m);
    tinyc_test::TempDir dir;
    EmitOptions o;
    o.out_dir = dir.path();
    o.name = "net";
    emit_model(m, o);
    const int64_t cases = 12;
    Rng rng(8);
    std::vector<float> in(static_cast<size_t>(cases * 60));
    for (float& v : in) v = rng.uniform(-3.0f, 3.0f);
    if (!int8) {
      const std::vector<float> want = run_model(m, in.data(), cases);
      std::vector<std::vector<float>> expected;
      for (int64_t k = 0; k < cases; ++k) expected.emplace_back(want.begin() + k * 4, want.begin() + (k + 1) * 4);
      tinyc_test::check_float_agreement(tinyc_test::run_on_host(dir.path(), "net", in, 60), expected);
      continue;
    }
    const tinyc_test::Int8Expected ref = tinyc_test::int8_reference(m, in, cases);
    std::vector<std::vector<int>> actual_int8;
    const auto actual = tinyc_test::run_on_host(dir.path(), "net", in, 60, true, &actual_int8);
    tinyc_test::check_exact(actual, ref.outputs, actual_int8, ref.outputs_int8);
  }
}
