// Training: mini-batch gradient descent with backpropagation over the model graph.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tinyc/data.h"
#include "tinyc/executor.h"
#include "tinyc/model.h"
#include "tinyc/spec.h"

namespace tinyc {

enum class ProgressMode : uint8_t { kAuto, kBar, kLines, kQuiet };

class TrainHook;

// Command-line overrides of a spec; unset values (negative, empty) keep the spec's.
struct TrainOptions {
  int epochs = -1;
  int64_t batch = -1;
  float lr = -1.0f;
  std::string optimizer;
  uint64_t seed = 0;
  int threads = 0;          // 0: all hardware threads
  double val_split = -1.0;
  double test_split = -1.0;
  ProgressMode progress = ProgressMode::kAuto;
  TrainHook* hook = nullptr;  // e.g. distillation's loss (tinyc/distill.h)
  int64_t split_seed = -1;    // seed of the data split; < 0: `seed` (which always seeds the rest)
  int checkpoint_every = 0;     // epochs between checkpoints (TrainConfig); 0 = none
  std::string checkpoint_path;  // where they go
  std::string resume_path;      // continue from this checkpoint
};

struct TrainResult {
  int epochs_run = 0;
  bool early_stopped = false;
  int best_epoch = 0;          // epoch whose weights were kept
  int threads_used = 1;
  int64_t train_rows = 0;
  double train_seconds = 0.0;  // the training loop only
  double samples_per_second = 0.0;
  Metrics train, val, test;    // final metrics on each split (clean forward pass)
};

// Low level: trains `model` in place on preprocessed rows. `x` holds train rows then
// (optionally) validation rows; targets in `y`.
struct TrainData {
  const float* x = nullptr;
  const float* y = nullptr;
  int64_t rows = 0;
  const float* val_x = nullptr;
  const float* val_y = nullptr;
  int64_t val_rows = 0;
};

// A parameter tensor as the trainer holds it while training (written back to the model at
// the end): model tensor index, values.
struct TrainParam {
  int tensor = -1;
  float* data = nullptr;
  int64_t size = 0;
};

// Lets compression methods act inside the training loop (pruning masks, fake quantization)
// with the spec's own optimizer. Serial calls run on one thread while the other lockstep
// threads wait; `step` counts optimizer steps from 0 over the whole run. Parallel calls get
// one thread's rows [row0, row0 + n) of a batch tensor (width floats per row) and must touch
// only those rows (and per-thread state of `thread`). Without a hook the loop is unchanged.
class TrainHook {
 public:
  virtual ~TrainHook() = default;
  // Serial, once before the first step: the trainer's parameters, lockstep threads, rows per
  // batch, steps per epoch and epochs.
  virtual void attach(const Model& /*model*/, const std::vector<TrainParam>& /*params*/,
                      int /*threads*/, int64_t /*batch*/, int64_t /*steps_per_epoch*/,
                      int /*epochs*/) {}
  // Serial. Before the step's forward pass: may replace weights for this step's forward and
  // backward (e.g. by fake-quantized ones).
  virtual void before_forward(int64_t /*step*/) {}
  // Serial. Gradients are computed, the optimizer has not run: undo what before_forward did.
  virtual void before_update(int64_t /*step*/) {}
  // Serial. After the optimizer step (e.g. re-apply pruning masks).
  virtual void after_update(int64_t /*step*/) {}
  // Activation tensors the hook transforms in the forward pass (graph input and op outputs;
  // never the fused softmax output).
  virtual std::vector<int> activation_tensors() const { return {}; }
  // Parallel. Forward: values of `tensor` just computed; may be changed in place.
  virtual void forward_activation(int /*tensor*/, float* /*values*/, int64_t /*row0*/,
                                  int64_t /*n*/, int64_t /*width*/, int /*thread*/) {}
  // Parallel. Backward: the loss gradient with respect to `tensor`, before the op that
  // produced it runs its backward; may be changed in place (e.g. a straight-through mask).
  virtual void backward_activation(int /*tensor*/, float* /*grad*/, int64_t /*row0*/,
                                   int64_t /*n*/, int64_t /*width*/, int /*thread*/) {}
  // Parallel. May replace the configured loss (e.g. distillation): for n rows whose training
  // row indices (into TrainData) are `rows`, with predictions `pred` (n, k; logits when the
  // softmax is fused) and targets `y`, add the summed loss (and correct count) to *loss,
  // *correct and write d(batch mean loss)/d(pred), scaled by inv_batch, to `grad`. Returns
  // false to use the configured loss.
  virtual bool loss(const float* /*pred*/, const float* /*y*/, const int64_t* /*rows*/,
                    int64_t /*n*/, int64_t /*k*/, float /*inv_batch*/, float* /*grad*/,
                    double* /*loss*/, int64_t* /*correct*/) const {
    return false;
  }
};

TrainResult train_model(Model& model, const TrainConfig& config, const TrainData& data,
                        uint64_t seed, int threads, ProgressMode progress,
                        TrainHook* hook = nullptr);

// The whole job of `tinyc train`: split (seeded, stratified), fit preprocessing on the train
// split, build the model from the spec, train, score every split, record history and the split
// definition in the model.
struct TrainJob {
  Model model;
  TrainResult result;
};
TrainJob train_from_spec(const ModelSpec& spec, const Dataset& data, const TrainOptions& options);

// Checks that the data fits the model's input (feature count) and its targets (class indices).
void check_data_fits(const Model& model, const Dataset& data);

// Set by the SIGINT handler; the trainer stops at the next batch with Error(kInterrupted).
void request_interrupt();

}  // namespace tinyc
