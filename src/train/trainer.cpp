// The training loop. Threads work in lockstep on each batch (SPMD): every thread runs forward
// and backward on its slice of the batch into its own gradient buffer; after a barrier each
// thread sums the per-thread gradients over its own range of parameters (in thread order, so
// results depend only on the seed and thread count) and applies the optimizer there.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <memory>
#include <thread>

#include "tinyc/error.h"
#include "tinyc/layer.h"
#include "tinyc/rng.h"
#include "tinyc/train.h"
#include "train/barrier.h"
#include "train/loss.h"
#include "train/optimizer.h"
#include "train/progress.h"

namespace tinyc {
namespace {

std::atomic<bool> g_interrupt{false};

// Below this many FLOPs per step a second thread costs more in synchronization than it saves.
constexpr double kMinFlopsPerThread = 400e3;

using Clock = std::chrono::steady_clock;

class Trainer {
 public:
  Trainer(Model& model, const TrainConfig& config, const TrainData& data, uint64_t seed,
          int threads, ProgressMode progress);
  TrainResult run();

 private:
  struct Workspace {
    std::vector<FloatBuffer> act;   // per tensor: activation rows of this slice
    std::vector<FloatBuffer> grad;  // per tensor: gradient rows of this slice
    FloatBuffer dparams;            // gradient of the flat parameter vector
    std::vector<FloatBuffer> scratch;
    std::vector<OpBinding> bindings;
  };

  void bind(Workspace& ws, int64_t rows);
  void run_epoch(int thread, int epoch);
  void write_back();

  Model& model_;
  TrainConfig config_;
  TrainData data_;
  uint64_t seed_;
  int threads_;
  LossKind loss_;
  size_t forward_ops_;  // ops run in training (the final softmax is fused into cross-entropy)
  int pred_tensor_;     // logits (cross-entropy) or output (MSE)
  int64_t in_width_, pred_width_;
  std::vector<int> param_tensors_;
  std::vector<int64_t> param_offset_;  // per tensor index; -1 if not a parameter
  FloatBuffer params_;  // every tensor starts on a 64-byte boundary
  std::vector<Workspace> ws_;
  std::vector<const float*> grad_ptrs_;
  std::unique_ptr<Optimizer> optimizer_;  // sized for params_, padding included
  std::unique_ptr<SpinBarrier> barrier_;
  Progress progress_;
  // Per-epoch state shared by the lockstep threads.
  std::vector<int64_t> order_;
  std::vector<LossSums> partial_;
  bool stop_ = false;
  bool diverged_ = false;
  int64_t diverged_step_ = 0;
  double epoch_loss_ = 0.0;
  int64_t epoch_correct_ = 0;
  int64_t step_counter_ = 0;
};

Trainer::Trainer(Model& model, const TrainConfig& config, const TrainData& data, uint64_t seed,
                 int threads, ProgressMode progress)
    : model_(model),
      config_(config),
      data_(data),
      seed_(seed),
      threads_(std::max(1, threads)),
      loss_(config.loss == "cross_entropy" ? LossKind::kCrossEntropy : LossKind::kMse),
      progress_(progress, model.task,
                config.epochs, (data.rows + config.batch - 1) / std::max<int64_t>(1, config.batch)) {
  if (model.is_quantized()) unsupported("model '{}' is quantized; train the float model instead", model.name);
  if (model.inputs.size() != 1 || model.outputs.size() != 1) {
    unsupported("training supports models with one input and one output");
  }
  // Each activation may feed one op only (no gradient accumulation across branches yet).
  std::vector<int> consumers(model.tensors.size(), 0);
  for (const Op& op : model.ops) {
    for (int t : op.inputs) {
      if (t >= 0 && !model.tensor(t).is_constant() && ++consumers[static_cast<size_t>(t)] > 1) {
        unsupported("training a graph whose tensor '{}' feeds several ops is not supported yet",
                    model.tensor(t).name);
      }
    }
  }
  const Op& last = model.ops.back();
  const bool fused = loss_ == LossKind::kCrossEntropy && last.type == OpType::kSoftmax &&
                     last.outputs[0] == model.outputs[0];
  if (loss_ == LossKind::kCrossEntropy && !fused) {
    bad_input("cross_entropy needs a model that ends in softmax");
  }
  forward_ops_ = model.ops.size() - (fused ? 1 : 0);
  pred_tensor_ = fused ? last.inputs[0] : model.outputs[0];
  in_width_ = model.input().sample_size();
  pred_width_ = model.tensor(pred_tensor_).sample_size();

  param_offset_.assign(model.tensors.size(), -1);
  for (size_t t = 0; t < model.tensors.size(); ++t) {
    const Tensor& tensor = model.tensors[t];
    if (!tensor.is_constant()) continue;
    param_offset_[t] = static_cast<int64_t>(params_.size());
    param_tensors_.push_back(static_cast<int>(t));
    params_.insert(params_.end(), tensor.f32.begin(), tensor.f32.end());
    params_.resize(align_floats(params_.size()), 0.0f);
  }
  optimizer_ = std::make_unique<Optimizer>(config, static_cast<int64_t>(params_.size()));

  // Thread count: deterministic from the model and batch, never more than the batch.
  int64_t macs = 0;
  for (const Op& op : model.ops) {
    macs += layer_for(op.type).macs(op, op_input_shapes(model, op), op_output_shapes(model, op));
  }
  const double flops_per_step = 6.0 * static_cast<double>(macs) * static_cast<double>(config.batch);
  threads_ = static_cast<int>(std::min<int64_t>(threads_, config.batch));
  threads_ = std::max(1, std::min(threads_, static_cast<int>(flops_per_step / kMinFlopsPerThread)));
  barrier_ = std::make_unique<SpinBarrier>(threads_);

  const int64_t slice_rows = (config.batch + threads_ - 1) / threads_;
  ws_.resize(static_cast<size_t>(threads_));
  for (Workspace& ws : ws_) bind(ws, slice_rows);
  for (const Workspace& ws : ws_) grad_ptrs_.push_back(ws.dparams.data());
  partial_.resize(static_cast<size_t>(threads_));
}

void Trainer::bind(Workspace& ws, int64_t rows) {
  const Model& m = model_;
  // A tensor needs a gradient buffer only if some parameter lies upstream of it: the first
  // layer never computes dx.
  std::vector<bool> needs_grad(m.tensors.size(), false);
  for (size_t i = 0; i < forward_ops_; ++i) {
    bool upstream = false;
    for (int t : m.ops[i].inputs) {
      upstream = upstream || (t >= 0 && (m.tensor(t).is_constant() || needs_grad[static_cast<size_t>(t)]));
    }
    for (int t : m.ops[i].outputs) needs_grad[static_cast<size_t>(t)] = upstream;
  }
  needs_grad[static_cast<size_t>(pred_tensor_)] = true;
  ws.act.resize(m.tensors.size());
  ws.grad.resize(m.tensors.size());
  for (size_t t = 0; t < m.tensors.size(); ++t) {
    if (m.tensors[t].is_constant()) continue;
    const auto size = static_cast<size_t>(rows * m.tensors[t].sample_size());
    ws.act[t].resize(size);
    if (needs_grad[t]) ws.grad[t].resize(size);
  }
  ws.dparams.assign(params_.size(), 0.0f);
  ws.bindings.resize(forward_ops_);
  ws.scratch.resize(forward_ops_);
  for (size_t i = 0; i < forward_ops_; ++i) {
    const Op& op = m.ops[i];
    OpBinding& b = ws.bindings[i];
    b.op = &op;
    b.training = true;
    for (int t : op.inputs) {
      const Tensor& tensor = m.tensor(t);
      const int64_t off = param_offset_[static_cast<size_t>(t)];
      b.in_tensors.push_back(&tensor);
      b.in.push_back(off >= 0 ? params_.data() + off : ws.act[static_cast<size_t>(t)].data());
      b.din.push_back(off >= 0 ? ws.dparams.data() + off
                      : ws.grad[static_cast<size_t>(t)].empty() ? nullptr
                                                                : ws.grad[static_cast<size_t>(t)].data());
    }
    for (int t : op.outputs) {
      b.out_tensors.push_back(&m.tensor(t));
      b.out.push_back(ws.act[static_cast<size_t>(t)].data());
      b.dout.push_back(ws.grad[static_cast<size_t>(t)].empty() ? nullptr
                                                                : ws.grad[static_cast<size_t>(t)].data());
    }
    ws.scratch[i].resize(static_cast<size_t>(rows * layer_for(op.type).scratch_floats(b)));
    b.scratch = ws.scratch[i].data();
  }
}

void Trainer::run_epoch(int thread, int epoch) {
  Workspace& ws = ws_[static_cast<size_t>(thread)];
  const int64_t rows = data_.rows, batch = config_.batch;
  const int64_t steps = (rows + batch - 1) / batch;
  const int input = model_.inputs[0];
  const int64_t plo = static_cast<int64_t>(params_.size()) * thread / threads_;
  const int64_t phi = static_cast<int64_t>(params_.size()) * (thread + 1) / threads_;
  FloatBuffer y(static_cast<size_t>((batch + threads_ - 1) / threads_ * pred_width_));
  for (int64_t s = 0; s < steps; ++s) {
    const int64_t b0 = s * batch, n_batch = std::min(batch, rows - b0);
    const int64_t lo = n_batch * thread / threads_, hi = n_batch * (thread + 1) / threads_;
    const int64_t n = hi - lo;
    const int64_t* idx = order_.data() + b0 + lo;
    LossSums sums;
    if (n == 0) {
      std::fill(ws.dparams.begin(), ws.dparams.end(), 0.0f);
    } else {
      float* x = ws.act[static_cast<size_t>(input)].data();
      const int64_t y_width = loss_ == LossKind::kCrossEntropy ? 1 : pred_width_;
      for (int64_t r = 0; r < n; ++r) {
        std::memcpy(x + r * in_width_, data_.x + idx[r] * in_width_, sizeof(float) * static_cast<size_t>(in_width_));
        std::memcpy(y.data() + r * y_width, data_.y + idx[r] * y_width, sizeof(float) * static_cast<size_t>(y_width));
      }
      const uint64_t step_seed = mix_seed(seed_, static_cast<uint64_t>(step_counter_ + s));
      for (OpBinding& b : ws.bindings) {
        b.n = n;
        b.seed = step_seed;
        b.row0 = lo;
      }
      for (size_t i = 0; i < forward_ops_; ++i) layer_for(model_.ops[i].type).forward(ws.bindings[i]);
      sums = loss_and_grad(loss_, ws.act[static_cast<size_t>(pred_tensor_)].data(), y.data(), n,
                           pred_width_, 1.0f / static_cast<float>(n_batch),
                           ws.grad[static_cast<size_t>(pred_tensor_)].data());
      for (size_t i = forward_ops_; i-- > 0;) {
        if (ws.bindings[i].dout[0] != nullptr) layer_for(model_.ops[i].type).backward(ws.bindings[i]);
      }
    }
    partial_[static_cast<size_t>(thread)] = sums;
    if (thread == 0) stop_ = g_interrupt.load(std::memory_order_relaxed);
    barrier_->wait();
    double loss = 0.0;
    int64_t correct = 0;
    for (const LossSums& p : partial_) {
      loss += p.loss;
      correct += p.correct;
    }
    if (!std::isfinite(loss) || stop_) {
      if (thread == 0 && !stop_) {
        diverged_ = true;
        diverged_step_ = s;
      }
      return;  // every thread sees the same values and leaves together
    }
    if (thread == 0) optimizer_->begin_step();
    barrier_->wait();
    optimizer_->update(params_.data(), grad_ptrs_.data(), threads_, plo, phi);
    if (thread == 0) {
      epoch_loss_ += loss;
      epoch_correct_ += correct;
      progress_.step(epoch, s, b0 + n_batch, epoch_loss_);
    }
    barrier_->wait();
  }
}

void Trainer::write_back() {
  for (int t : param_tensors_) {
    Tensor& tensor = model_.tensor(t);
    const auto off = static_cast<size_t>(param_offset_[static_cast<size_t>(t)]);
    std::copy(params_.begin() + static_cast<std::ptrdiff_t>(off),
              params_.begin() + static_cast<std::ptrdiff_t>(off + tensor.f32.size()), tensor.f32.begin());
  }
}

TrainResult Trainer::run() {
  TrainResult result;
  result.threads_used = threads_;
  result.train_rows = data_.rows;
  if (data_.rows == 0) bad_input("no training rows (check the data and the split fractions)");
  if (config_.patience > 0 && data_.val_rows == 0) {
    bad_input("early stopping needs a validation split: set \"split\": {{\"val\": 0.2}} or --val-split");
  }
  g_interrupt.store(false);
  const int64_t steps = (data_.rows + config_.batch - 1) / config_.batch;
  Rng shuffle_rng(mix_seed(seed_, 0x5348554646ull));
  FloatBuffer best_params;
  double best_val = INFINITY;
  int since_best = 0;
  for (int epoch = 1; epoch <= config_.epochs; ++epoch) {
    if (config_.shuffle) {
      order_ = shuffle_rng.permutation(data_.rows);
    } else {
      order_.resize(static_cast<size_t>(data_.rows));
      for (int64_t i = 0; i < data_.rows; ++i) order_[static_cast<size_t>(i)] = i;
    }
    epoch_loss_ = 0.0;
    epoch_correct_ = 0;
    const auto t0 = Clock::now();
    std::vector<std::thread> workers;
    for (int t = 1; t < threads_; ++t) workers.emplace_back([this, t, epoch] { run_epoch(t, epoch); });
    run_epoch(0, epoch);
    for (auto& w : workers) w.join();
    const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    step_counter_ += steps;
    if (stop_) fail(ExitCode::kInterrupted, "interrupted during epoch {}; no model was written", epoch);
    if (diverged_) {
      fail(ExitCode::kDiverged,
           "training diverged at epoch {}, batch {}: the loss became NaN/Inf; try a lower "
           "learning rate (now {}, --lr)", epoch, diverged_step_ + 1, config_.lr);
    }
    result.train_seconds += seconds;
    result.epochs_run = epoch;

    EpochRecord rec;
    rec.epoch = epoch;
    rec.lr = optimizer_->lr();
    rec.train_loss = static_cast<float>(epoch_loss_ / static_cast<double>(data_.rows));
    rec.train_metric = loss_ == LossKind::kCrossEntropy
                           ? static_cast<float>(static_cast<double>(epoch_correct_) / static_cast<double>(data_.rows))
                           : rec.train_loss;
    if (data_.val_rows > 0) {
      write_back();
      // Validation rows are already preprocessed: score them without the model's preprocessing.
      Model plain = model_;
      plain.preprocess = Preprocess{};
      const Metrics val = evaluate(plain, data_.val_x, data_.val_y, data_.val_rows);
      rec.has_val = true;
      rec.val_loss = static_cast<float>(val.loss);
      rec.val_metric = static_cast<float>(val.metric);
    }
    model_.history.push_back(rec);
    progress_.epoch_end(rec, seconds, static_cast<double>(data_.rows) / seconds);
    if (config_.patience > 0) {
      if (rec.val_loss < best_val) {
        best_val = rec.val_loss;
        best_params = params_;
        result.best_epoch = epoch;
        since_best = 0;
      } else if (++since_best >= config_.patience) {
        result.early_stopped = true;
        progress_.message(fmt::format("early stopping at epoch {}: validation loss has not improved "
                                      "for {} epochs; keeping epoch {}", epoch, config_.patience,
                                      result.best_epoch));
        break;
      }
    }
  }
  if (result.early_stopped || (config_.patience > 0 && !best_params.empty())) params_ = best_params;
  if (result.best_epoch == 0) result.best_epoch = result.epochs_run;
  write_back();
  result.samples_per_second = result.train_seconds > 0
      ? static_cast<double>(result.epochs_run) * static_cast<double>(data_.rows) / result.train_seconds
      : 0.0;
  return result;
}

}  // namespace

void request_interrupt() { g_interrupt.store(true); }

TrainResult train_model(Model& model, const TrainConfig& config, const TrainData& data,
                        uint64_t seed, int threads, ProgressMode progress) {
  Trainer trainer(model, config, data, seed, threads, progress);
  return trainer.run();
}

}  // namespace tinyc
