// Training progress on stderr: a live bar per epoch on a terminal, plain epoch lines otherwise.
#pragma once

#include <chrono>
#include <cstdint>

#include "tinyc/model.h"
#include "tinyc/train.h"

namespace tinyc {

class Progress {
 public:
  Progress(ProgressMode mode, Task task, int epochs, int64_t steps_per_epoch);
  // Called by the training thread after each step; redraws at most ~10 times a second.
  void step(int epoch, int64_t step, int64_t samples, double loss_sum);
  void epoch_end(const EpochRecord& record, double epoch_seconds, double samples_per_second);
  void message(const std::string& text);

 private:
  ProgressMode mode_;
  Task task_;
  int epochs_;
  int64_t steps_;
  std::chrono::steady_clock::time_point epoch_start_, last_draw_;
  bool bar_shown_ = false;
};

}  // namespace tinyc
