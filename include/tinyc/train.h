// Training: mini-batch gradient descent with backpropagation over the model graph.
#pragma once

#include <cstdint>
#include <string>

#include "tinyc/data.h"
#include "tinyc/executor.h"
#include "tinyc/model.h"
#include "tinyc/spec.h"

namespace tinyc {

enum class ProgressMode : uint8_t { kAuto, kBar, kLines, kQuiet };

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
TrainResult train_model(Model& model, const TrainConfig& config, const TrainData& data,
                        uint64_t seed, int threads, ProgressMode progress);

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
