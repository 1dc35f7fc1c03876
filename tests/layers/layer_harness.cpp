#include "layers/layer_harness.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>

namespace tinyc_test {

Model one_op_model(const Case& c, Rng& rng) {
  Model m;
  Tensor in;
  in.name = "x";
  in.role = TensorRole::kInput;
  in.shape = c.input;
  m.inputs = {m.add_tensor(in)};
  Op op;
  op.type = c.type;
  op.name = c.label;
  op.attrs = c.attrs;
  op.inputs = {m.inputs[0]};
  for (size_t i = 0; i < c.weights.size(); ++i) {
    Tensor w;
    w.name = "w" + std::to_string(i);
    w.role = c.weights[i].role;
    w.shape = c.weights[i].shape;
    w.f32.resize(static_cast<size_t>(w.size()));
    for (float& v : w.f32) v = w.role == TensorRole::kState ? rng.uniform(0.5f, 1.5f) : rng.uniform(-1.0f, 1.0f);
    op.inputs.push_back(m.add_tensor(w));
  }
  const auto shapes = layer_for(op.type).infer_shapes(op, op_input_shapes(m, op));
  Tensor out;
  out.name = "y";
  out.role = TensorRole::kOutput;
  out.shape = shapes[0];
  op.outputs = {m.add_tensor(out)};
  m.outputs = op.outputs;
  m.ops.push_back(op);
  validate_model(m);
  return m;
}

Buffers bind(Model& m, int64_t n, bool training) {
  Buffers buf;
  const Op& op = m.ops[0];
  buf.in.resize(op.inputs.size());
  buf.din.resize(op.inputs.size());
  buf.b.op = &op;
  buf.b.n = n;
  buf.b.training = training;
  buf.b.seed = 99;
  for (size_t i = 0; i < op.inputs.size(); ++i) {
    Tensor& t = m.tensor(op.inputs[i]);
    buf.b.in_tensors.push_back(&t);
    const bool stored = t.is_constant() || t.role == TensorRole::kState;
    if (stored) {
      buf.b.in.push_back(t.f32.data());
    } else {
      buf.in[i].resize(static_cast<size_t>(n * t.sample_size()));
      buf.b.in.push_back(buf.in[i].data());
    }
    if (t.role == TensorRole::kState) {
      buf.b.din.push_back(nullptr);
    } else {
      buf.din[i].assign(static_cast<size_t>(stored ? t.size() : n * t.sample_size()), 0.0f);
      buf.b.din.push_back(buf.din[i].data());
    }
  }
  const Tensor& out = m.tensor(op.outputs[0]);
  buf.b.out_tensors.push_back(&out);
  buf.out.resize(static_cast<size_t>(n * out.sample_size()));
  buf.dout.resize(buf.out.size());
  buf.b.out.push_back(buf.out.data());
  buf.b.dout.push_back(buf.dout.data());
  buf.scratch.resize(static_cast<size_t>(n * layer_for(op.type).scratch_floats(buf.b)));
  buf.b.scratch = buf.scratch.data();
  return buf;
}

void check_gradients(const char* label, Buffers& buf, const Layer& layer, Rng& rng) {
  std::vector<float> g(buf.out.size());
  for (float& v : g) v = rng.uniform(-1.0f, 1.0f);
  auto loss = [&] {
    layer.forward(buf.b);
    double l = 0.0;
    for (size_t i = 0; i < g.size(); ++i) l += static_cast<double>(buf.out[i]) * g[i];
    return l;
  };
  loss();
  buf.dout = g;
  layer.backward(buf.b);
  for (size_t k = 0; k < buf.b.in.size(); ++k) {
    if (buf.b.din[k] == nullptr) continue;  // state: no gradient
    auto* values = const_cast<float*>(buf.b.in[k]);
    for (size_t i = 0; i < buf.din[k].size(); ++i) {
      const float saved = values[i];
      const float h = 2e-3f * std::max(1.0f, std::fabs(saved));
      values[i] = saved + h;
      const double up = loss();
      values[i] = saved - h;
      const double down = loss();
      values[i] = saved;
      const double numeric = (up - down) / (2.0 * h);
      INFO(label << " input " << k << " element " << i);
      CHECK(buf.din[k][i] == Approx(numeric).margin(2e-3).epsilon(2e-2));
    }
  }
}

}  // namespace tinyc_test
