#include "train/progress.h"

#include <unistd.h>

#include <cstdio>
#include <string>

#include <fmt/format.h>

namespace tinyc {

Progress::Progress(ProgressMode mode, Task task, int epochs, int64_t steps_per_epoch)
    : mode_(mode), task_(task), epochs_(epochs), steps_(steps_per_epoch) {
  if (mode_ == ProgressMode::kAuto) mode_ = isatty(2) ? ProgressMode::kBar : ProgressMode::kLines;
  epoch_start_ = last_draw_ = std::chrono::steady_clock::now();
}

void Progress::step(int epoch, int64_t step, int64_t samples, double loss_sum) {
  if (mode_ != ProgressMode::kBar) return;
  if (step == 0) epoch_start_ = std::chrono::steady_clock::now();
  if ((step & 7) != 7 && step + 1 != steps_) return;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ < std::chrono::milliseconds(100) && step + 1 != steps_) return;
  last_draw_ = now;
  const double elapsed = std::chrono::duration<double>(now - epoch_start_).count();
  const double rate = elapsed > 0 ? static_cast<double>(samples) / elapsed : 0.0;
  const double eta = step + 1 > 0 ? elapsed * static_cast<double>(steps_ - step - 1) / static_cast<double>(step + 1) : 0.0;
  constexpr int kWidth = 24;
  const int filled = static_cast<int>(kWidth * (step + 1) / steps_);
  std::string bar(static_cast<size_t>(filled), '=');
  if (filled < kWidth) bar += '>' + std::string(static_cast<size_t>(kWidth - filled - 1), ' ');
  std::fprintf(stderr, "\r\033[Kepoch %d/%d [%s] %lld/%lld loss %.4f %.1fk samples/s ETA %.1fs",
               epoch, epochs_, bar.c_str(), static_cast<long long>(step + 1),
               static_cast<long long>(steps_), samples > 0 ? loss_sum / static_cast<double>(samples) : 0.0,
               rate / 1000.0, eta);
  std::fflush(stderr);
  bar_shown_ = true;
}

void Progress::epoch_end(const EpochRecord& r, double epoch_seconds, double samples_per_second) {
  if (mode_ == ProgressMode::kQuiet) return;
  // Plain lines: every epoch of short runs, about 50 lines for long ones (plus the last).
  const int every = epochs_ <= 50 ? 1 : (epochs_ + 49) / 50;
  if (mode_ == ProgressMode::kLines && r.epoch % every != 0 && r.epoch != epochs_ && r.epoch != 1) return;
  const char* metric = task_ == Task::kClassification ? "acc" : "mse";
  std::string line = fmt::format("epoch {}/{}: loss {:.4f}", r.epoch, epochs_, r.train_loss);
  if (task_ == Task::kClassification) line += fmt::format(" {} {:.4f}", metric, r.train_metric);
  if (r.has_val) {
    line += fmt::format(" | val_loss {:.4f}", r.val_loss);
    if (task_ == Task::kClassification) line += fmt::format(" val_{} {:.4f}", metric, r.val_metric);
  }
  line += fmt::format(" ({:.2f} s, {:.1f}k samples/s)", epoch_seconds, samples_per_second / 1000.0);
  std::fprintf(stderr, "%s%s\n", bar_shown_ ? "\r\033[K" : "", line.c_str());
  bar_shown_ = false;
}

void Progress::message(const std::string& text) {
  if (mode_ == ProgressMode::kQuiet) return;
  std::fprintf(stderr, "%s%s\n", bar_shown_ ? "\r\033[K" : "", text.c_str());
  bar_shown_ = false;
}

}  // namespace tinyc
