// Shared by the compression stages that train (pruning, QAT, distillation): the training
// configuration of a fine-tuning run.
#pragma once

#include "tinyc/model.h"
#include "tinyc/spec.h"
#include "tinyc/train.h"

namespace tinyc {

// The train section of the model's stored spec (defaults when it has none), with the loss
// implied by the task, `lr` when > 0, `epochs`, and no early stopping (fine-tuning has no
// validation split).
TrainConfig finetune_config(const Model& model, float lr, int epochs);

// Trains `model` with `hook`, numbering the new history records after the existing ones.
void finetune(Model& model, const TrainConfig& config, const TrainData& data, uint64_t seed,
              int threads, TrainHook* hook);

// `threads`, or every hardware thread when it is <= 0.
int resolve_threads(int threads);

}  // namespace tinyc
