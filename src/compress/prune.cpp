// Magnitude pruning with an optional gradual schedule over fine-tuning steps (tinyc/prune.h).
#include "tinyc/prune.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "compress/finetune.h"
#include "tinyc/error.h"

namespace tinyc {
namespace {

constexpr int64_t kMaskUpdates = 100;  // mask recomputations over the pruning ramp

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

// One pruned tensor: its values (in the model, or in the trainer while fine-tuning) and mask
// (1 = pruned).
struct Pruned {
  float* data = nullptr;
  int64_t size = 0;
  std::vector<uint8_t> mask;
};

// Zeroes `count` entries of `group`: already masked ones first, then the smallest magnitudes,
// ties by position (a strict total order, so the choice does not depend on the selection
// algorithm); the masks grow to the new zero set.
void prune_smallest(std::vector<Pruned>& tensors, const std::vector<size_t>& group, int64_t count) {
  struct Ref {
    float key;
    uint32_t tensor;
    int64_t index;
  };
  std::vector<Ref> refs;
  for (size_t k : group) {
    const Pruned& p = tensors[k];
    for (int64_t i = 0; i < p.size; ++i) {
      refs.push_back({p.mask[static_cast<size_t>(i)] ? -1.0f : std::fabs(p.data[i]),
                      static_cast<uint32_t>(k), i});
    }
  }
  count = std::min<int64_t>(count, static_cast<int64_t>(refs.size()));
  if (count <= 0) return;
  auto less = [](const Ref& a, const Ref& b) {
    if (a.key != b.key) return a.key < b.key;
    if (a.tensor != b.tensor) return a.tensor < b.tensor;
    return a.index < b.index;
  };
  std::nth_element(refs.begin(), refs.begin() + (count - 1), refs.end(), less);
  for (int64_t r = 0; r < count; ++r) {
    const Ref& ref = refs[static_cast<size_t>(r)];
    tensors[ref.tensor].mask[static_cast<size_t>(ref.index)] = 1;
    tensors[ref.tensor].data[ref.index] = 0.0f;
  }
}

// Applies sparsity `s` per tensor or with one global threshold.
void apply_sparsity(std::vector<Pruned>& tensors, double s, bool global) {
  auto count = [s](int64_t n) {
    return static_cast<int64_t>(std::floor(s * static_cast<double>(n) + 1e-9));
  };
  if (global) {
    std::vector<size_t> all(tensors.size());
    std::iota(all.begin(), all.end(), size_t{0});
    int64_t total = 0;
    for (const Pruned& p : tensors) total += p.size;
    prune_smallest(tensors, all, count(total));
  } else {
    for (size_t k = 0; k < tensors.size(); ++k) prune_smallest(tensors, {k}, count(tensors[k].size));
  }
}

void reapply_masks(std::vector<Pruned>& tensors) {
  for (Pruned& p : tensors) {
    for (int64_t i = 0; i < p.size; ++i) {
      if (p.mask[static_cast<size_t>(i)]) p.data[i] = 0.0f;
    }
  }
}

// Fine-tuning with masks, in the trainer's loop: after every optimizer step the pruned weights
// go back to zero; the target sparsity follows s_t = S (1 - (1 - t / R)^3) over the first
// R steps (all but the last epoch, or the only one), recomputing the masks kMaskUpdates times.
class PruneHook : public TrainHook {
 public:
  PruneHook(std::vector<int> tensors, std::vector<std::vector<uint8_t>> masks, double sparsity,
            bool global)
      : tensors_(std::move(tensors)), masks_(std::move(masks)), sparsity_(sparsity),
        global_(global) {}

  void attach(const Model& /*model*/, const std::vector<TrainParam>& params, int /*threads*/,
              int64_t /*batch*/, int64_t steps_per_epoch, int epochs) override {
    for (size_t k = 0; k < tensors_.size(); ++k) {
      for (const TrainParam& p : params) {
        if (p.tensor == tensors_[k]) pruned_.push_back({p.data, p.size, masks_[k]});
      }
    }
    steps_per_epoch_ = steps_per_epoch;
    ramp_ = std::max<int64_t>(1, steps_per_epoch * (epochs > 1 ? epochs - 1 : 1));
    interval_ = std::max<int64_t>(1, ramp_ / kMaskUpdates);
  }

  void after_update(int64_t step) override {
    if (step < ramp_ && ((step + 1) % interval_ == 0 || step + 1 == ramp_)) {
      const double frac = 1.0 - static_cast<double>(step + 1) / static_cast<double>(ramp_);
      target_ = step + 1 == ramp_ ? sparsity_ : sparsity_ * (1.0 - frac * frac * frac);
      apply_sparsity(pruned_, target_, global_);
    }
    reapply_masks(pruned_);
    if ((step + 1) % steps_per_epoch_ == 0) schedule_.push_back(target_);
  }

  const std::vector<double>& schedule() const { return schedule_; }

 private:
  std::vector<int> tensors_;
  std::vector<std::vector<uint8_t>> masks_;
  double sparsity_;
  bool global_;
  std::vector<Pruned> pruned_;
  int64_t steps_per_epoch_ = 1, ramp_ = 1, interval_ = 1;
  double target_ = 0.0;
  std::vector<double> schedule_;
};

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

  PruneReport r;
  if (options.epochs <= 0) {
    std::vector<Pruned> pruned;
    for (int t : tensors) {
      Tensor& tensor = m.tensor(t);
      pruned.push_back({tensor.f32.data(), static_cast<int64_t>(tensor.f32.size()),
                        std::vector<uint8_t>(tensor.f32.size(), 0)});
    }
    apply_sparsity(pruned, options.sparsity, options.global);
  } else {
    if (data == nullptr)
      bad_input("model '{}': fine-tuning after pruning needs training rows", m.name);
    const TrainConfig cfg = finetune_config(m, options.lr, options.epochs);
    std::vector<std::vector<uint8_t>> masks;
    for (int t : tensors) masks.emplace_back(m.tensor(t).f32.size(), 0);
    PruneHook hook(tensors, std::move(masks), options.sparsity, options.global);
    finetune(m, cfg, *data, options.seed, options.threads, &hook);
    r.schedule = hook.schedule();
  }
  for (int t : tensors) {
    const Tensor& tensor = m.tensor(t);
    r.pruned_params += static_cast<int64_t>(tensor.f32.size());
    for (float v : tensor.f32) r.zero_params += v == 0.0f;
  }
  r.sparsity = r.pruned_params
                   ? static_cast<double>(r.zero_params) / static_cast<double>(r.pruned_params)
                   : 0.0;
  if (report != nullptr) *report = r;
  return m;
}

}  // namespace tinyc
