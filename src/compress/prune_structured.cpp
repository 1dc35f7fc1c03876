// Structured pruning: removes whole dense units and conv2d filters with the smallest L2 norm
// and rewrites the layer that consumes them, so the model is genuinely smaller.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <thread>

#include "tinyc/error.h"
#include "tinyc/prune.h"
#include "tinyc/spec.h"

namespace tinyc {
namespace {

// The ops between a pruned layer and its consumer that keep channels one to one.
bool passes_channels(const Op& op) {
  switch (op.type) {
    case OpType::kActivation:
    case OpType::kDropout:
    case OpType::kMaxPool2d:
    case OpType::kAvgPool2d:
    case OpType::kGlobalAvgPool2d:
    case OpType::kFlatten: return true;
    default: return false;
  }
}

// The one op reading tensor `t` (nullptr when none, several, or `t` is a graph output).
const Op* sole_consumer(const Model& m, int t) {
  if (std::find(m.outputs.begin(), m.outputs.end(), t) != m.outputs.end()) return nullptr;
  const Op* found = nullptr;
  for (const Op& op : m.ops) {
    for (int in : op.inputs) {
      if (in != t) continue;
      if (found != nullptr && found != &op) return nullptr;
      found = &op;
    }
  }
  return found;
}

// A prunable layer: its output channels reach exactly one dense or conv2d, as input 0,
// through channel-preserving ops only.
struct Chain {
  size_t producer = 0;
  std::vector<int> tensors;  // activation tensors from the producer's output to the consumer's input
  std::vector<bool> flattened;  // per tensor: the output of a flatten (pixels x channels)
  size_t consumer = 0;
};

bool find_chain(const Model& m, size_t producer, Chain* chain) {
  chain->producer = producer;
  chain->tensors.clear();
  chain->flattened.clear();
  int t = m.ops[producer].outputs[0];
  bool flat = false;
  for (;;) {
    chain->tensors.push_back(t);
    chain->flattened.push_back(flat);
    const Op* c = sole_consumer(m, t);
    if (c == nullptr || c->inputs.empty() || c->inputs[0] != t) return false;
    if (c->type == OpType::kDense || c->type == OpType::kConv2d) {
      chain->consumer = static_cast<size_t>(c - m.ops.data());
      return true;
    }
    if (!passes_channels(*c) || c->outputs.size() != 1) return false;
    flat = c->type == OpType::kFlatten;
    t = c->outputs[0];
  }
}

// Keeps `keep` (sorted) of the `channels` slices along the last axis of a row-major tensor
// whose elements are grouped as (outer, channels, inner).
FloatBuffer select(const FloatBuffer& v, int64_t outer, int64_t channels,
                  int64_t inner, const std::vector<int64_t>& keep) {
  FloatBuffer out;
  out.reserve(static_cast<size_t>(outer * static_cast<int64_t>(keep.size()) * inner));
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t c : keep) {
      const auto* p = v.data() + (o * channels + c) * inner;
      out.insert(out.end(), p, p + inner);
    }
  }
  return out;
}

// Removes all but `keep` output channels of chain.producer and rewrites the chain.
void rewrite(Model& m, const Chain& chain, const std::vector<int64_t>& keep) {
  Op& p = m.ops[chain.producer];
  Tensor& w = m.tensor(p.inputs[1]);
  Tensor& b = m.tensor(p.inputs[2]);
  const int64_t units = w.shape[0], n = static_cast<int64_t>(keep.size());
  const int64_t row = static_cast<int64_t>(w.f32.size()) / units;
  w.f32 = select(w.f32, 1, units, row, keep);
  w.shape[0] = static_cast<int>(n);
  b.f32 = select(b.f32, 1, units, 1, keep);
  b.shape[0] = static_cast<int>(n);
  p.set_int(p.type == OpType::kDense ? "units" : "filters", n);
  // Activation tensors: channels last; a flattened tensor holds pixels x channels.
  int64_t pixels = 1;
  for (size_t k = 0; k < chain.tensors.size(); ++k) {
    Tensor& a = m.tensor(chain.tensors[k]);
    if (chain.flattened[k]) {
      a.shape[1] = static_cast<int>(pixels * n);
    } else {
      pixels = 1;
      for (size_t d = 1; d + 1 < a.shape.size(); ++d) pixels *= a.shape[d];
      a.shape.back() = static_cast<int>(n);
    }
  }
  Op& c = m.ops[chain.consumer];
  Tensor& cw = m.tensor(c.inputs[1]);
  if (c.type == OpType::kConv2d) {  // (F, kh, kw, C): channels last
    const int64_t outer = static_cast<int64_t>(cw.f32.size()) / units;
    cw.f32 = select(cw.f32, outer, units, 1, keep);
    cw.shape.back() = static_cast<int>(n);
  } else {  // dense (out, pixels x C)
    const int64_t out = cw.shape[0];
    cw.f32 = select(cw.f32, out * pixels, units, 1, keep);
    cw.shape[1] = static_cast<int>(pixels * n);
  }
}

}  // namespace

Model prune_structured(const Model& model, const PruneOptions& options, const TrainData* data,
                       PruneReport* report) {
  if (model.is_quantized()) {
    unsupported("model '{}' is int8; prune the float model it came from", model.name);
  }
  if (!(options.sparsity >= 0.0 && options.sparsity < 1.0)) {
    fail(ExitCode::kUsage, "sparsity {} must be in [0, 1)", options.sparsity);
  }
  Model m = model;
  PruneReport r;
  r.params_before = model_stats(m).params;
  for (size_t i = 0; i < m.ops.size(); ++i) {
    const Op& op = m.ops[i];
    Chain chain;
    if ((op.type != OpType::kDense && op.type != OpType::kConv2d) || op.inputs.size() < 3 ||
        op.inputs[2] < 0 || !find_chain(m, i, &chain)) {
      continue;
    }
    const Tensor& w = m.tensor(op.inputs[1]);
    const int64_t units = w.shape[0];
    const int64_t row = static_cast<int64_t>(w.f32.size()) / units;
    const auto removed = static_cast<int64_t>(std::floor(options.sparsity * units + 1e-9));
    const int64_t n = std::max<int64_t>(1, units - removed);
    if (n == units) continue;
    std::vector<double> norm(static_cast<size_t>(units), 0.0);
    for (int64_t u = 0; u < units; ++u) {
      for (int64_t k = 0; k < row; ++k) {
        const double v = w.f32[static_cast<size_t>(u * row + k)];
        norm[static_cast<size_t>(u)] += v * v;
      }
    }
    // The n largest norms (ties: the earlier unit), kept in their original order.
    std::vector<int64_t> order(static_cast<size_t>(units));
    std::iota(order.begin(), order.end(), int64_t{0});
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
      return norm[static_cast<size_t>(a)] > norm[static_cast<size_t>(b)];
    });
    std::vector<int64_t> keep(order.begin(), order.begin() + n);
    std::sort(keep.begin(), keep.end());
    rewrite(m, chain, keep);
    r.removed_units += units - n;
  }
  if (r.removed_units == 0) {
    unsupported("model '{}': no dense or conv2d layer feeds another one through channel-"
                "preserving ops, or the sparsity removes no whole unit; nothing to prune",
                m.name);
  }
  validate_model(m);
  if (options.epochs > 0) {
    if (data == nullptr)
      bad_input("model '{}': fine-tuning after pruning needs training rows", m.name);
    // The smaller model trains like any other: the spec's optimizer, no masks to keep.
    TrainConfig cfg;
    if (!m.spec_json.empty()) cfg = parse_spec(m.spec_json, m.name + " (stored spec)").train;
    if (m.task == Task::kClassification) cfg.loss = "cross_entropy";
    if (cfg.loss.empty()) cfg.loss = "mse";
    if (options.lr > 0.0f) cfg.lr = options.lr;
    cfg.epochs = options.epochs;
    cfg.patience = 0;
    const int threads = options.threads > 0
                            ? options.threads
                            : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    train_model(m, cfg, *data, options.seed, threads, ProgressMode::kQuiet);
  }
  r.params_after = model_stats(m).params;
  r.sparsity = r.params_before
                   ? 1.0 - static_cast<double>(r.params_after) / static_cast<double>(r.params_before)
                   : 0.0;
  if (report != nullptr) *report = r;
  return m;
}

}  // namespace tinyc
