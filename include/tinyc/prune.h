// Magnitude pruning (unstructured): the smallest-magnitude dense weights are set to zero,
// optionally with fine-tuning on a gradual schedule (Zhu & Gupta 2017, polynomial decay):
// fine-tuning runs the trainer with the spec's own optimizer and a TrainHook that sets the
// pruned weights back to zero after every optimizer step, while the target sparsity grows per
// step as s_t = S * (1 - (1 - t / R)^3) over the first R steps (all epochs but the last, which
// fine-tunes at the final sparsity; the whole run when there is one epoch), the masks being
// recomputed about 100 times along the ramp (a mask only grows). The result has exactly the
// target sparsity per pruned tensor (or globally), and zeros survive int8 quantization.
#pragma once

#include <cstdint>
#include <vector>

#include "tinyc/model.h"
#include "tinyc/train.h"

namespace tinyc {

struct PruneOptions {
  double sparsity = 0.0;  // target fraction of zero weights, in [0, 1)
  bool global = false;    // one magnitude threshold over all layers (default: per layer)
  int epochs = 0;         // fine-tuning epochs; 0 = one-shot pruning
  float lr = -1.0f;       // fine-tuning learning rate; <= 0: the stored spec's
  uint64_t seed = 0;
  int threads = 0;        // 0: all hardware threads
};

struct PruneReport {
  std::vector<double> schedule;  // target sparsity at the end of each fine-tuning epoch
  double sparsity = 0.0;         // achieved, over the pruned tensors
  int64_t pruned_params = 0;     // weights in the pruned tensors
  int64_t zero_params = 0;       // of which zero
  // Structured pruning only: units and filters removed, and the model's parameter counts.
  int64_t removed_units = 0;
  int64_t params_before = 0;
  int64_t params_after = 0;
};

// Prunes the weight matrices of dense layers (biases stay). `data` holds preprocessed training
// rows for fine-tuning (may be nullptr when options.epochs == 0). Throws Error(kUnsupported)
// for a quantized model.
Model prune_model(const Model& model, const PruneOptions& options, const TrainData* data,
                  PruneReport* report);

// Structured pruning (--structured): in every dense or conv2d layer whose output reaches
// exactly one dense or conv2d through channel-preserving ops (activation, dropout, pools,
// global_avg_pool2d, flatten), removes floor(S x units) units or filters (at least one stays)
// with the smallest L2 weight norm, together with their bias entries and the matching input
// columns or channels of the consumer; the model gets genuinely fewer parameters, MACs and
// arena bytes. Then fine-tunes for options.epochs with the spec's optimizer (no masks: the
// smaller model trains as any other). report->sparsity is the fraction of parameters removed.
// Throws Error(kUnsupported) for a quantized model or when nothing can be removed.
Model prune_structured(const Model& model, const PruneOptions& options, const TrainData* data,
                       PruneReport* report);

}  // namespace tinyc
