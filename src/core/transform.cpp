#include "tinyc/transform.h"

#include <cmath>

namespace tinyc {

namespace {

// batch_norm's default epsilon (src/layers/batch_norm.cpp).
constexpr float kBatchNormEpsilon = 1e-3f;

bool foldable_producer(const Op& op) {
  return (op.type == OpType::kConv2d || op.type == OpType::kDepthwiseConv2d ||
          op.type == OpType::kDense) &&
         op.get_str("activation", "none") == "none";
}

}  // namespace

int fold_batch_norm(Model& model) {
  std::vector<int> uses(model.tensors.size(), 0);
  std::vector<int> producer(model.tensors.size(), -1);
  for (size_t i = 0; i < model.ops.size(); ++i) {
    for (int t : model.ops[i].inputs) {
      if (t >= 0) ++uses[static_cast<size_t>(t)];
    }
    for (int t : model.ops[i].outputs) producer[static_cast<size_t>(t)] = static_cast<int>(i);
  }
  for (int t : model.outputs) ++uses[static_cast<size_t>(t)];
  std::vector<bool> folded(model.ops.size(), false);
  int count = 0;
  for (size_t i = 0; i < model.ops.size(); ++i) {
    const Op& bn = model.ops[i];
    if (bn.type != OpType::kBatchNorm) continue;
    const int x = bn.inputs[0];
    const int p = producer[static_cast<size_t>(x)];
    if (p < 0 || !foldable_producer(model.ops[static_cast<size_t>(p)]) || uses[static_cast<size_t>(x)] != 1) continue;
    Op& prod = model.ops[static_cast<size_t>(p)];
    Tensor& w = model.tensor(prod.inputs[1]);
    Tensor& b = model.tensor(prod.inputs[2]);
    if (uses[static_cast<size_t>(prod.inputs[1])] != 1 || uses[static_cast<size_t>(prod.inputs[2])] != 1 ||
        w.dtype != DType::kFloat32 || b.dtype != DType::kFloat32 || !w.quant.empty()) {
      continue;
    }
    const FloatBuffer& gamma = model.tensor(bn.inputs[1]).f32;
    const FloatBuffer& beta = model.tensor(bn.inputs[2]).f32;
    const FloatBuffer& mean = model.tensor(bn.inputs[3]).f32;
    const FloatBuffer& var = model.tensor(bn.inputs[4]).f32;
    const size_t channels = gamma.size();
    const double eps = bn.get_float("epsilon", kBatchNormEpsilon);
    // conv2d (filters, kh, kw, in) and dense (units, in) keep the output channel first;
    // depthwise (1, kh, kw, C * M) last.
    const bool channel_last = prod.type == OpType::kDepthwiseConv2d;
    const size_t per_channel = w.f32.size() / channels;
    for (size_t c = 0; c < channels; ++c) {
      const double s = gamma[c] / std::sqrt(static_cast<double>(var[c]) + eps);
      for (size_t k = 0; k < per_channel; ++k) {
        float& v = channel_last ? w.f32[k * channels + c] : w.f32[c * per_channel + k];
        v = static_cast<float>(v * s);
      }
      b.f32[c] = static_cast<float>((static_cast<double>(b.f32[c]) - mean[c]) * s + beta[c]);
    }
    prod.set_str("activation", bn.get_str("activation", "none"));
    prod.outputs[0] = bn.outputs[0];
    folded[i] = true;
    ++count;
  }
  if (count == 0) return 0;
  std::vector<Op> kept;
  for (size_t i = 0; i < model.ops.size(); ++i) {
    if (!folded[i]) kept.push_back(std::move(model.ops[i]));
  }
  model.ops = std::move(kept);
  remove_unused_tensors(model);
  validate_model(model);
  return count;
}

void remove_unused_tensors(Model& model) {
  std::vector<bool> used(model.tensors.size(), false);
  auto mark = [&](int t) {
    if (t >= 0) used[static_cast<size_t>(t)] = true;
  };
  for (const Op& op : model.ops) {
    for (int t : op.inputs) mark(t);
    for (int t : op.outputs) mark(t);
  }
  for (int t : model.inputs) mark(t);
  for (int t : model.outputs) mark(t);
  std::vector<int> remap(model.tensors.size(), -1);
  std::vector<Tensor> kept;
  for (size_t t = 0; t < model.tensors.size(); ++t) {
    if (!used[t]) continue;
    remap[t] = static_cast<int>(kept.size());
    kept.push_back(std::move(model.tensors[t]));
  }
  model.tensors = std::move(kept);
  auto renumber = [&](std::vector<int>& list) {
    for (int& t : list) {
      if (t >= 0) t = remap[static_cast<size_t>(t)];
    }
  };
  for (Op& op : model.ops) {
    renumber(op.inputs);
    renumber(op.outputs);
  }
  renumber(model.inputs);
  renumber(model.outputs);
}

}  // namespace tinyc
