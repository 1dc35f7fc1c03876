// Magnitude pruning with an optional gradual schedule over fine-tuning epochs (tinyc/prune.h).
#include "tinyc/prune.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <thread>

#include "tinyc/error.h"
#include "tinyc/rng.h"
#include "tinyc/spec.h"

namespace tinyc {
namespace {

constexpr int64_t kMaskBatches = 4;  // optimizer steps between mask re-applications
constexpr float kFinetuneLr = 0.1f;  // SGD learning rate of fine-tuning (--lr overrides)

// The tensors pruned: the weight matrix (input 1) of every dense layer.
std::vector<int> prunable_tensors(const Model& model) {
  std::vector<int> tensors;
  for (const Op& op : model.ops) {
    if (op.type == OpType::kDense && op.inputs.size() > 1 && op.inputs[1] >= 0) {
      tensors.push_back(op.inputs[1]);
    }
  }
  return tensors;
}

// Zeroes the `count` smallest-magnitude entries among `refs` (already-zero mask entries first,
// then by magnitude, ties by position), so the mask only grows.
void prune_smallest(std::vector<float*>& refs, const std::vector<bool>& masked, int64_t count) {
  std::vector<size_t> order(refs.size());
  std::iota(order.begin(), order.end(), size_t{0});
  auto key = [&](size_t i) { return masked[i] ? -1.0f : std::fabs(*refs[i]); };
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return key(a) < key(b); });
  for (int64_t k = 0; k < count && k < static_cast<int64_t>(order.size()); ++k) {
    *refs[order[static_cast<size_t>(k)]] = 0.0f;
  }
}

// Applies sparsity `s` to the pruned tensors (per tensor or globally); `masks` (one per tensor,
// true = pruned) grows to the new zero set.
void apply_sparsity(Model& model, const std::vector<int>& tensors, double s, bool global,
                    std::vector<std::vector<bool>>& masks) {
  auto run = [&](const std::vector<size_t>& which) {
    std::vector<float*> refs;
    std::vector<bool> masked;
    for (size_t k : which) {
      Tensor& t = model.tensor(tensors[k]);
      for (size_t i = 0; i < t.f32.size(); ++i) {
        refs.push_back(&t.f32[i]);
        masked.push_back(masks[k][i]);
      }
    }
    const auto count =
        static_cast<int64_t>(std::floor(s * static_cast<double>(refs.size()) + 1e-9));
    prune_smallest(refs, masked, count);
  };
  if (global) {
    std::vector<size_t> all(tensors.size());
    std::iota(all.begin(), all.end(), size_t{0});
    run(all);
  } else {
    for (size_t k = 0; k < tensors.size(); ++k) run({k});
  }
  for (size_t k = 0; k < tensors.size(); ++k) {
    const Tensor& t = model.tensor(tensors[k]);
    for (size_t i = 0; i < t.f32.size(); ++i) masks[k][i] = masks[k][i] || t.f32[i] == 0.0f;
  }
}

// Pruned entries back to zero after an epoch of fine-tuning.
void reapply_masks(Model& model, const std::vector<int>& tensors,
                   const std::vector<std::vector<bool>>& masks) {
  for (size_t k = 0; k < tensors.size(); ++k) {
    Tensor& t = model.tensor(tensors[k]);
    for (size_t i = 0; i < t.f32.size(); ++i) {
      if (masks[k][i]) t.f32[i] = 0.0f;
    }
  }
}

}  // namespace

Model prune_model(const Model& model, const PruneOptions& options, const TrainData* data,
                  PruneReport* report) {
  if (model.is_quantized()) {
    unsupported(
        "model '{}' is int8; prune the float model it came from (prune first, then "
        "quantize: compress does both in that order)",
        model.name);
  }
  if (!(options.sparsity >= 0.0 && options.sparsity < 1.0)) {
    fail(ExitCode::kUsage, "sparsity {} must be in [0, 1)", options.sparsity);
  }
  Model m = model;
  const std::vector<int> tensors = prunable_tensors(m);
  if (tensors.empty()) unsupported("model '{}' has no dense weights to prune", m.name);
  std::vector<std::vector<bool>> masks;
  for (int t : tensors) masks.emplace_back(m.tensor(t).f32.size(), false);

  PruneReport r;
  if (options.epochs <= 0) {
    apply_sparsity(m, tensors, options.sparsity, options.global, masks);
  } else {
    if (data == nullptr)
      bad_input("model '{}': fine-tuning after pruning needs training rows", m.name);
    TrainConfig cfg;
    if (!m.spec_json.empty()) cfg = parse_spec(m.spec_json, m.name + " (stored spec)").train;
    if (m.task == Task::kClassification) cfg.loss = "cross_entropy";
    if (cfg.loss.empty()) cfg.loss = "mse";
    // Optimizer state cannot survive the short train_model calls below (each starts afresh),
    // and a restarted Adam takes sign-like full-size steps: fine-tune with plain SGD.
    cfg.optimizer = "sgd";
    cfg.lr = options.lr > 0.0f ? options.lr : kFinetuneLr;
    cfg.epochs = 1;
    cfg.patience = 0;
    const int threads = options.threads > 0
                            ? options.threads
                            : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    // The trainer cannot hold masks, so each epoch runs as short train_model calls over
    // chunks of kMaskBatches batches of a seeded shuffle, re-zeroing the pruned weights after
    // every chunk: they drift at most a few optimizer steps before being reset.
    const int64_t width = model.input().sample_size();
    const int64_t chunk_rows = std::max<int64_t>(1, cfg.batch * kMaskBatches);
    std::vector<float> cx, cy;
    Rng shuffle(mix_seed(options.seed, 0x5052554e45ull));
    for (int e = 1; e <= options.epochs; ++e) {
      const double frac = 1.0 - static_cast<double>(e) / options.epochs;
      const double s = options.sparsity * (1.0 - frac * frac * frac);
      r.schedule.push_back(s);
      apply_sparsity(m, tensors, s, options.global, masks);
      const std::vector<int64_t> order = shuffle.permutation(data->rows);
      cx.resize(static_cast<size_t>(data->rows * width));
      cy.resize(static_cast<size_t>(data->rows));
      for (int64_t i = 0; i < data->rows; ++i) {
        const int64_t src = order[static_cast<size_t>(i)];
        std::copy(data->x + src * width, data->x + (src + 1) * width, cx.begin() + i * width);
        cy[static_cast<size_t>(i)] = data->y[src];
      }
      double loss = 0.0, metric = 0.0;
      for (int64_t r0 = 0; r0 < data->rows; r0 += chunk_rows) {
        TrainData td;
        td.x = cx.data() + r0 * width;
        td.y = cy.data() + r0;
        td.rows = std::min(chunk_rows, data->rows - r0);
        const uint64_t seed =
            mix_seed(options.seed, static_cast<uint64_t>(e) * 1000003u + static_cast<uint64_t>(r0));
        train_model(m, cfg, td, seed, threads, ProgressMode::kQuiet);
        reapply_masks(m, tensors, masks);
        // One history record per fine-tuning epoch, not per chunk.
        const EpochRecord chunk = m.history.back();
        m.history.pop_back();
        loss += static_cast<double>(chunk.train_loss) * static_cast<double>(td.rows);
        metric += static_cast<double>(chunk.train_metric) * static_cast<double>(td.rows);
      }
      EpochRecord rec;
      rec.epoch = static_cast<int>(m.history.size()) + 1;
      rec.train_loss = static_cast<float>(loss / static_cast<double>(data->rows));
      rec.train_metric = static_cast<float>(metric / static_cast<double>(data->rows));
      rec.lr = cfg.lr;
      m.history.push_back(rec);
    }
  }
  for (size_t k = 0; k < tensors.size(); ++k) {
    const Tensor& t = m.tensor(tensors[k]);
    r.pruned_params += static_cast<int64_t>(t.f32.size());
    for (float v : t.f32) r.zero_params += v == 0.0f;
  }
  r.sparsity = r.pruned_params
                   ? static_cast<double>(r.zero_params) / static_cast<double>(r.pruned_params)
                   : 0.0;
  if (report != nullptr) *report = r;
  return m;
}

}  // namespace tinyc
