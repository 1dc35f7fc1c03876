// Optimizers over the trainer's flat parameter vector. Each step sums the per-thread gradients
// and updates one range of parameters, so threads update disjoint ranges in parallel.
#pragma once

#include <cstdint>
#include <vector>

#include "tinyc/spec.h"

namespace tinyc {

class Optimizer {
 public:
  Optimizer(const TrainConfig& config, int64_t params);
  // Call once per step (from one thread) before the range updates.
  void begin_step();
  // w[lo, hi) -= update(sum of grads[t][lo, hi) over t < threads), with L2 weight decay
  // (g += weight_decay x w) when `decay`.
  void update(float* w, const float* const* grads, int threads, int64_t lo, int64_t hi,
              bool decay);
  float lr() const { return lr_; }
  // For learning-rate schedules: takes effect from the next step.
  void set_lr(float lr) { lr_ = lr; }

  // Everything a resumed run needs to continue bit-identically (train/checkpoint.h).
  struct State {
    int64_t step = 0;
    std::vector<float> m, v;  // empty when the optimizer keeps none
  };
  State state() const { return {step_, m_, v_}; }
  // Throws Error(kBadInput) when the moment vectors do not match this optimizer's.
  void restore(const State& state);

 private:
  enum class Kind : uint8_t { kSgd, kMomentum, kAdam } kind_;
  float lr_, momentum_, beta1_, beta2_, epsilon_, weight_decay_;
  int64_t step_ = 0;
  float step_size_ = 0.0f;       // Adam: lr / (1 - beta1^t)
  float inv_sqrt_bias2_ = 1.0f;  // Adam: 1 / sqrt(1 - beta2^t)
  std::vector<float> m_, v_;
};

}  // namespace tinyc
