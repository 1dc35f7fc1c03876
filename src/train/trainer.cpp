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
#include "tinyc/fileio.h"
#include "tinyc/limits.h"
#include "tinyc/layer.h"
#include "tinyc/rng.h"
#include "tinyc/train.h"
#include "train/augment.h"
#include "train/barrier.h"
#include "train/checkpoint.h"
#include "train/loss.h"
#include "train/optimizer.h"
#include "train/progress.h"

namespace tinyc {
namespace {

std::atomic<bool> g_interrupt{false};

// Below this many FLOPs per step a second thread costs more in synchronization than it saves.
constexpr double kMinFlopsPerThread = 400e3;

using Clock = std::chrono::steady_clock;

// The learning rate of a (1-based) epoch under the configured schedule.
float scheduled_lr(const TrainConfig& c, int epoch) {
  if (c.schedule == "step") {
    return c.lr * std::pow(c.gamma, static_cast<float>((epoch - 1) / c.step_epochs));
  }
  if (c.schedule == "cosine") {
    const double progress = c.epochs > 1 ? static_cast<double>(epoch - 1) / (c.epochs - 1) : 0.0;
    return static_cast<float>(c.min_lr + 0.5 * (c.lr - c.min_lr) * (1.0 + std::cos(M_PI * progress)));
  }
  return c.lr;
}

class Trainer {
 public:
  Trainer(Model& model, const TrainConfig& config, const TrainData& data, uint64_t seed,
          int threads, ProgressMode progress, TrainHook* hook);
  TrainResult run();

 private:
  // An op input/output: a shared full-batch buffer (width > 0: floats per row, sliced by the
  // rows a thread works on) or a constant / parameter (width 0: used as it is).
  struct Slot {
    float* base = nullptr;
    int64_t width = 0;
    float* at(int64_t row) const { return base == nullptr ? nullptr : base + row * width; }
  };
  struct Bound {
    OpBinding b;
    std::vector<Slot> in, din, out, dout;
    Slot scratch;
  };

  void bind_all();
  // Points thread `t`'s binding of op `i` at rows [lo, lo + n).
  void set_rows(Bound& bound, int64_t lo, int64_t n) const;
  void run_epoch(int thread, int epoch);
  void write_back();
  // Checkpoints (train/checkpoint.h): what a resumed run must share with the interrupted one,
  // and the state at the end of an epoch; the state lives in trainer_state.cpp's helpers.
  uint64_t identity() const;
  struct EarlyStop {
    FloatBuffer best_params;
    std::vector<FloatBuffer> best_state;
    double best_val = INFINITY;
    int since_best = 0;
  };
  void save_state(int epoch, uint64_t identity, const TrainResult& result, const EarlyStop& es);
  int restore_state(uint64_t identity, TrainResult* result, EarlyStop* es);

  Model& model_;
  TrainConfig config_;
  TrainData data_;
  uint64_t seed_;
  int threads_;
  LossKind loss_;
  size_t forward_ops_;  // ops run in training (the final softmax is fused into cross-entropy)
  int pred_tensor_;     // logits (cross-entropy) or output (MSE)
  int64_t in_width_, pred_width_;
  bool augment_;
  Shape sample_shape_;  // of the input, for augmentation
  std::vector<int> param_tensors_;
  std::vector<int64_t> param_offset_;  // per tensor index; -1 if not a parameter
  FloatBuffer params_;                 // every tensor starts on a 64-byte boundary
  std::vector<FloatBuffer> act_, grad_;  // per tensor, whole batch, shared by the threads
  std::vector<FloatBuffer> scratch_;     // per op, whole batch
  std::vector<FloatBuffer> dparams_;     // per thread; unit-split ops write thread 0's only
  std::vector<bool> unit_split_;         // per op: splits its units instead of rows
  // No barrier is needed at the end of a step: a barrier (that of a unit-split op) comes before
  // any op reads parameters or state that the optimizer or another thread writes.
  bool skip_step_barrier_ = false;
  // Parameter ranges [lo, hi) and whether their gradient is summed over the threads' buffers.
  struct ParamRange {
    int64_t lo, hi;
    bool summed;
    bool decay;  // weight matrices and kernels get L2 weight decay; biases and scales do not
  };
  std::vector<ParamRange> ranges_;
  std::vector<std::vector<Bound>> bound_;  // [thread][op]
  std::vector<const float*> grad_ptrs_;
  FloatBuffer targets_;                    // the batch's targets
  std::unique_ptr<Optimizer> optimizer_;   // sized for params_, padding included
  std::unique_ptr<SpinBarrier> barrier_;
  Progress progress_;
  TrainHook* hook_;                        // nullptr: none
  std::vector<bool> hooked_;               // per tensor: the hook transforms its activations
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
                 int threads, ProgressMode progress, TrainHook* hook)
    : model_(model),
      config_(config),
      data_(data),
      seed_(seed),
      threads_(std::max(1, threads)),
      loss_(config.loss == "cross_entropy" ? LossKind::kCrossEntropy : LossKind::kMse),
      progress_(progress, model.task,
                config.epochs, (data.rows + config.batch - 1) / std::max<int64_t>(1, config.batch)),
      hook_(hook) {
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
  augment_ = config.augment.any();
  sample_shape_ = model.input().sample_shape();

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
  partial_.resize(static_cast<size_t>(threads_));
  // Before bind_all allocates: per-thread gradients, optimizer moments, the best epoch's copy,
  // and activations plus their gradients for a whole batch.
  double activations = 0.0;
  for (const Tensor& t : model.tensors) {
    if (!t.is_constant()) activations += static_cast<double>(t.sample_size());
  }
  check_memory(sizeof(float) * (static_cast<double>(params_.size()) * (threads_ + 3) +
                                2.0 * static_cast<double>(config.batch) * activations),
               fmt::format("training model '{}' (batch {}, {} threads)", model.name, config.batch, threads_));
  bind_all();
  hooked_.assign(model.tensors.size(), false);
  if (hook_ != nullptr) {
    std::vector<TrainParam> views;
    for (int t : param_tensors_) {
      views.push_back({t, params_.data() + param_offset_[static_cast<size_t>(t)],
                       static_cast<int64_t>(model.tensor(t).f32.size())});
    }
    hook_->attach(model, views, threads_, config.batch, (data.rows + config.batch - 1) / std::max<int64_t>(1, config.batch),
                  config.epochs);
    for (int t : hook_->activation_tensors()) {
      if (t >= 0 && static_cast<size_t>(t) < hooked_.size() && !act_[static_cast<size_t>(t)].empty()) {
        hooked_[static_cast<size_t>(t)] = true;
      }
    }
  }
}

void Trainer::bind_all() {
  const Model& m = model_;
  const int64_t rows = config_.batch;
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
  act_.resize(m.tensors.size());
  grad_.resize(m.tensors.size());
  for (size_t t = 0; t < m.tensors.size(); ++t) {
    if (m.tensors[t].is_constant() || m.tensors[t].role == TensorRole::kState) continue;
    const auto size = static_cast<size_t>(rows * m.tensors[t].sample_size());
    act_[t].resize(size);
    if (needs_grad[t]) grad_[t].resize(size);
  }
  targets_.resize(static_cast<size_t>(rows * pred_width_));
  dparams_.assign(static_cast<size_t>(threads_), FloatBuffer(params_.size(), 0.0f));
  for (const FloatBuffer& d : dparams_) grad_ptrs_.push_back(d.data());
  scratch_.resize(forward_ops_);
  unit_split_.assign(forward_ops_, false);
  std::vector<bool> summed(m.tensors.size(), false);
  bound_.assign(static_cast<size_t>(threads_), std::vector<Bound>(forward_ops_));
  auto slot = [&](FloatBuffer& buf, int64_t width) {
    return Slot{buf.empty() ? nullptr : buf.data(), width};
  };
  for (size_t i = 0; i < forward_ops_; ++i) {
    const Op& op = m.ops[i];
    for (int thread = 0; thread < threads_; ++thread) {
      Bound& bd = bound_[static_cast<size_t>(thread)][i];
      OpBinding& b = bd.b;
      b.op = &op;
      b.training = true;
      for (int t : op.inputs) b.in_tensors.push_back(&m.tensor(t));
      for (int t : op.outputs) b.out_tensors.push_back(&m.tensor(t));
      if (thread == 0) unit_split_[i] = threads_ > 1 && layer_for(op.type).splits_units(b, threads_);
      // Unit-split ops write every thread's share of the weight gradients into one buffer.
      FloatBuffer& dparams = dparams_[unit_split_[i] ? 0 : static_cast<size_t>(thread)];
      for (int t : op.inputs) {
        const int64_t off = param_offset_[static_cast<size_t>(t)];
        const auto ti = static_cast<size_t>(t);
        if (off >= 0) {
          bd.in.push_back(Slot{params_.data() + off, 0});
          bd.din.push_back(Slot{dparams.data() + off, 0});
          summed[ti] = !unit_split_[i];
        } else if (m.tensors[ti].role == TensorRole::kState) {
          // State (batch_norm's moving statistics) is the model's own data: forward updates it
          // in place when training (only the slice with row0 == 0 writes); no gradient, and
          // the optimizer never sees it.
          bd.in.push_back(Slot{model_.tensor(t).f32.data(), 0});
          bd.din.push_back(Slot{});
        } else {
          bd.in.push_back(slot(act_[ti], m.tensors[ti].sample_size()));
          bd.din.push_back(slot(grad_[ti], m.tensors[ti].sample_size()));
        }
      }
      for (int t : op.outputs) {
        const auto ti = static_cast<size_t>(t);
        bd.out.push_back(slot(act_[ti], m.tensors[ti].sample_size()));
        bd.dout.push_back(slot(grad_[ti], m.tensors[ti].sample_size()));
      }
      b.in.resize(bd.in.size());
      b.din.resize(bd.din.size());
      b.out.resize(bd.out.size());
      b.dout.resize(bd.dout.size());
      set_rows(bd, 0, rows);
      if (thread == 0) {
        scratch_[i].resize(static_cast<size_t>(rows * layer_for(op.type).scratch_floats(b)));
      }
      bd.scratch = slot(scratch_[i], layer_for(op.type).scratch_floats(b));
    }
  }
  skip_step_barrier_ = false;
  for (size_t i = 0; i < forward_ops_; ++i) {
    if (unit_split_[i]) {
      skip_step_barrier_ = true;
      break;
    }
    const bool reads_shared = std::any_of(m.ops[i].inputs.begin(), m.ops[i].inputs.end(), [&](int t) {
      return t >= 0 && (m.tensor(t).is_constant() || m.tensor(t).role == TensorRole::kState);
    });
    if (reads_shared) break;
  }
  for (int t : param_tensors_) {
    const int64_t lo = param_offset_[static_cast<size_t>(t)];
    ranges_.push_back({lo, lo + static_cast<int64_t>(align_floats(m.tensor(t).f32.size())),
                       summed[static_cast<size_t>(t)], m.tensor(t).shape.size() >= 2});
  }
}

void Trainer::set_rows(Bound& bd, int64_t lo, int64_t n) const {
  OpBinding& b = bd.b;
  for (size_t k = 0; k < bd.in.size(); ++k) {
    b.in[k] = bd.in[k].at(lo);
    b.din[k] = bd.din[k].at(lo);
  }
  for (size_t k = 0; k < bd.out.size(); ++k) {
    b.out[k] = bd.out[k].at(lo);
    b.dout[k] = bd.dout[k].at(lo);
  }
  b.scratch = bd.scratch.at(lo);
  b.n = n;
  b.row0 = lo;
}

// One epoch in lockstep. Per step: row-split ops run on each thread's rows; a unit-split op
// runs on all rows with a barrier before and after it (its input and output span every
// thread's rows); then the loss on each thread's rows, backward in reverse, and the optimizer
// on each thread's range of parameters.
void Trainer::run_epoch(int thread, int epoch) {
  std::vector<Bound>& ops = bound_[static_cast<size_t>(thread)];
  const int64_t rows = data_.rows, batch = config_.batch;
  const int64_t steps = (rows + batch - 1) / batch;
  const int input = model_.inputs[0];
  const int64_t y_width = loss_ == LossKind::kCrossEntropy ? 1 : pred_width_;
  const auto n_params = static_cast<int64_t>(params_.size());
  const int64_t plo = align_floats(static_cast<size_t>(n_params * thread / threads_));
  const int64_t phi = thread == threads_ - 1 ? n_params
                                             : align_floats(static_cast<size_t>(n_params * (thread + 1) / threads_));
  FloatBuffer aug_scratch(augment_ ? static_cast<size_t>(in_width_) : 0);
  for (int64_t s = 0; s < steps; ++s) {
    const int64_t b0 = s * batch, n_batch = std::min(batch, rows - b0);
    const int64_t lo = n_batch * thread / threads_, hi = n_batch * (thread + 1) / threads_;
    const int64_t n = hi - lo;
    if (hook_ != nullptr) {
      if (thread == 0) hook_->before_forward(step_counter_ + s);
      barrier_->wait();
    }
    float* x = act_[static_cast<size_t>(input)].data();
    for (int64_t r = lo; r < hi; ++r) {
      const int64_t src = order_[static_cast<size_t>(b0 + r)];
      std::memcpy(x + r * in_width_, data_.x + src * in_width_, sizeof(float) * static_cast<size_t>(in_width_));
      std::memcpy(targets_.data() + r * y_width, data_.y + src * y_width, sizeof(float) * static_cast<size_t>(y_width));
      if (augment_) {
        Rng rng(augment_seed(seed_, epoch, src));
        augment_sample(config_.augment, sample_shape_, x + r * in_width_, aug_scratch.data(), rng);
      }
    }
    if (hooked_[static_cast<size_t>(input)] && n > 0) {
      hook_->forward_activation(input, x + lo * in_width_, lo, n, in_width_, thread);
    }
    const uint64_t step_seed = mix_seed(seed_, static_cast<uint64_t>(step_counter_ + s));
    for (size_t i = 0; i < forward_ops_; ++i) {
      ops[i].b.seed = step_seed;
      if (unit_split_[i]) {
        set_rows(ops[i], 0, n_batch);
      } else {
        set_rows(ops[i], lo, n);
      }
    }
    // A thread without rows in a short last batch contributes zero gradients.
    if (n == 0) {
      for (const ParamRange& r : ranges_) {
        if (r.summed) std::fill(dparams_[static_cast<size_t>(thread)].begin() + r.lo,
                                dparams_[static_cast<size_t>(thread)].begin() + r.hi, 0.0f);
      }
    }
    for (size_t i = 0; i < forward_ops_; ++i) {
      const Layer& layer = layer_for(model_.ops[i].type);
      if (unit_split_[i]) {
        barrier_->wait();
        layer.forward_part(ops[i].b, thread, threads_);
        barrier_->wait();
      } else if (n > 0) {
        layer.forward(ops[i].b);
      }
      const int y = model_.ops[i].outputs[0];
      if (hooked_[static_cast<size_t>(y)] && n > 0) {
        const int64_t w = model_.tensor(y).sample_size();
        hook_->forward_activation(y, act_[static_cast<size_t>(y)].data() + lo * w, lo, n, w, thread);
      }
    }
    LossSums sums;
    if (n > 0) {
      const float* pred = act_[static_cast<size_t>(pred_tensor_)].data() + lo * pred_width_;
      float* dpred = grad_[static_cast<size_t>(pred_tensor_)].data() + lo * pred_width_;
      const float inv_batch = 1.0f / static_cast<float>(n_batch);
      if (hook_ == nullptr ||
          !hook_->loss(pred, targets_.data() + lo * y_width, order_.data() + b0 + lo, n,
                       pred_width_, inv_batch, dpred, &sums.loss, &sums.correct)) {
        sums = loss_and_grad(loss_, pred, targets_.data() + lo * y_width, n, pred_width_,
                             inv_batch, dpred);
      }
    }
    for (size_t i = forward_ops_; i-- > 0;) {
      const OpBinding& b = ops[i].b;
      if (b.dout[0] == nullptr) continue;
      const Layer& layer = layer_for(model_.ops[i].type);
      const int y = model_.ops[i].outputs[0];
      if (hooked_[static_cast<size_t>(y)] && n > 0) {
        const int64_t w = model_.tensor(y).sample_size();
        hook_->backward_activation(y, grad_[static_cast<size_t>(y)].data() + lo * w, lo, n, w, thread);
      }
      if (unit_split_[i]) {
        barrier_->wait();
        layer.backward_part(b, 0, thread, threads_);
        // Phase 1 computes dx only. Without it (the first layer) nothing upstream runs before
        // the barrier that precedes the optimizer, which also orders the weight gradients.
        if (b.din[0] != nullptr) {
          barrier_->wait();
          layer.backward_part(b, 1, thread, threads_);
          barrier_->wait();
        }
      } else if (n > 0) {
        layer.backward(b);
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
    if (thread == 0) {
      if (hook_ != nullptr) hook_->before_update(step_counter_ + s);
      optimizer_->begin_step();
    }
    barrier_->wait();
    for (const ParamRange& r : ranges_) {
      const int64_t a = std::max(r.lo, plo), z = std::min(r.hi, phi);
      if (a < z) {
        optimizer_->update(params_.data(), grad_ptrs_.data(), r.summed ? threads_ : 1, a, z, r.decay);
      }
    }
    if (thread == 0) {
      epoch_loss_ += loss;
      epoch_correct_ += correct;
      progress_.step(epoch, s, b0 + n_batch, epoch_loss_);
    }
    // A thread that skips this barrier only gathers its own rows of the next batch before the
    // barrier that opens the first unit-split op, which then orders every parameter update
    // before any read. Not when a thread of the next step has no rows: it zeroes its gradients
    // at once, which the other thread's optimizer may still be reading.
    const int64_t next_rows = std::min(batch, rows - (s + 1) * batch);
    if (!skip_step_barrier_ || hook_ != nullptr || (s + 1 < steps && next_rows < threads_)) {
      barrier_->wait();
    }
    if (hook_ != nullptr) {
      if (thread == 0) hook_->after_update(step_counter_ + s);
      barrier_->wait();
    }
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
  EarlyStop es;  // best_state: batch_norm moving statistics of the best epoch
  FloatBuffer& best_params = es.best_params;
  std::vector<FloatBuffer>& best_state = es.best_state;
  double& best_val = es.best_val;
  int& since_best = es.since_best;
  const uint64_t run_identity = config_.checkpoint_every > 0 || !config_.resume_path.empty() ? identity() : 0;
  int first_epoch = 1;
  if (!config_.resume_path.empty()) {
    first_epoch = restore_state(run_identity, &result, &es) + 1;
    // The shuffle stream and the step counter continue where the interrupted run left them.
    for (int e = 1; e < first_epoch && config_.shuffle; ++e) (void)shuffle_rng.permutation(data_.rows);
    step_counter_ = static_cast<int64_t>(first_epoch - 1) * steps;
  }
  for (int epoch = first_epoch; epoch <= config_.epochs; ++epoch) {
    optimizer_->set_lr(scheduled_lr(config_, epoch));
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
    if (stop_) {
      fail(ExitCode::kInterrupted, "interrupted during epoch {}; no model was written{}", epoch,
           config_.checkpoint_every > 0 && epoch > config_.checkpoint_every
               ? fmt::format(" (continue with --resume {})", config_.checkpoint_path) : "");
    }
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
        best_state.clear();
        for (const Tensor& t : model_.tensors) {
          if (t.role == TensorRole::kState) best_state.push_back(t.f32);
        }
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
    if (config_.checkpoint_every > 0 && epoch % config_.checkpoint_every == 0) {
      save_state(epoch, run_identity, result, es);
    }
  }
  if (config_.patience > 0 && !best_params.empty()) {
    params_ = best_params;
    size_t k = 0;
    for (Tensor& t : model_.tensors) {
      if (t.role == TensorRole::kState) t.f32 = best_state[k++];
    }
  }
  if (result.best_epoch == 0) result.best_epoch = result.epochs_run;
  write_back();
  result.samples_per_second = result.train_seconds > 0
      ? static_cast<double>(result.epochs_run) * static_cast<double>(data_.rows) / result.train_seconds
      : 0.0;
  return result;
}

uint64_t Trainer::identity() const {
  const int64_t y_width = loss_ == LossKind::kCrossEntropy ? 1 : pred_width_;
  auto hash = [](const float* p, int64_t n, uint64_t h) {
    return p == nullptr ? h : fnv1a64(p, static_cast<size_t>(n) * sizeof(float), h);
  };
  uint64_t h = hash(data_.x, data_.rows * in_width_, 0xcbf29ce484222325ull);
  h = hash(data_.y, data_.rows * y_width, h);
  h = hash(data_.val_x, data_.val_rows * in_width_, h);
  h = hash(data_.val_y, data_.val_rows * y_width, h);
  h = hash(params_.data(), static_cast<int64_t>(params_.size()), h);
  const double knobs[] = {static_cast<double>(seed_), static_cast<double>(threads_),
                          static_cast<double>(config_.epochs), static_cast<double>(config_.batch),
                          config_.lr, static_cast<double>(config_.patience),
                          static_cast<double>(config_.shuffle), config_.momentum, config_.beta1,
                          config_.beta2, config_.epsilon, static_cast<double>(config_.step_epochs),
                          config_.gamma, config_.min_lr, config_.weight_decay};
  h = fnv1a64(knobs, sizeof knobs, h);
  const std::string names = config_.loss + "/" + config_.optimizer + "/" + config_.schedule;
  return fnv1a64(names.data(), names.size(), h);
}

void Trainer::save_state(int epoch, uint64_t identity, const TrainResult& result, const EarlyStop& es) {
  TrainCheckpoint c;
  c.identity = identity;
  c.epochs_done = epoch;
  c.train_seconds = result.train_seconds;
  c.params.assign(params_.begin(), params_.end());
  Optimizer::State o = optimizer_->state();
  c.optimizer_step = o.step;
  c.optimizer_m = std::move(o.m);
  c.optimizer_v = std::move(o.v);
  for (const Tensor& t : model_.tensors) {
    if (t.role == TensorRole::kState) c.state.emplace_back(t.f32.begin(), t.f32.end());
  }
  c.best_val = es.best_val;
  c.since_best = es.since_best;
  c.best_epoch = result.best_epoch;
  c.best_params.assign(es.best_params.begin(), es.best_params.end());
  for (const FloatBuffer& b : es.best_state) c.best_state.emplace_back(b.begin(), b.end());
  c.history = model_.history;
  save_checkpoint(c, config_.checkpoint_path);
}

int Trainer::restore_state(uint64_t identity, TrainResult* result, EarlyStop* es) {
  const std::string& path = config_.resume_path;
  TrainCheckpoint c = load_checkpoint(path);
  if (c.identity != identity) {
    bad_input("{}: this checkpoint belongs to another run (resume with the same spec, data, "
              "flags, --seed and --threads as the interrupted run)", path);
  }
  std::vector<Tensor*> states;
  for (Tensor& t : model_.tensors) {
    if (t.role == TensorRole::kState) states.push_back(&t);
  }
  bool fits = c.params.size() == params_.size() && c.state.size() == states.size() &&
              c.epochs_done <= config_.epochs &&
              (c.best_params.empty() || c.best_params.size() == params_.size()) &&
              (c.best_state.empty() || c.best_state.size() == states.size());
  for (size_t k = 0; fits && k < states.size(); ++k) {
    fits = c.state[k].size() == states[k]->f32.size() &&
           (c.best_state.empty() || c.best_state[k].size() == states[k]->f32.size());
  }
  if (!fits) bad_input("{}: corrupt checkpoint (its state does not fit the model)", path);
  optimizer_->restore({c.optimizer_step, std::move(c.optimizer_m), std::move(c.optimizer_v)});
  std::copy(c.params.begin(), c.params.end(), params_.begin());
  // The bound slots point into the state tensors: copy in place.
  for (size_t k = 0; k < states.size(); ++k) std::copy(c.state[k].begin(), c.state[k].end(), states[k]->f32.begin());
  es->best_val = c.best_val;
  es->since_best = c.since_best;
  es->best_params.assign(c.best_params.begin(), c.best_params.end());
  es->best_state.clear();
  for (const auto& b : c.best_state) es->best_state.emplace_back(b.begin(), b.end());
  result->best_epoch = c.best_epoch;
  result->epochs_run = c.epochs_done;
  result->train_seconds = c.train_seconds;
  model_.history = c.history;
  return c.epochs_done;
}

}  // namespace

void request_interrupt() { g_interrupt.store(true); }

TrainResult train_model(Model& model, const TrainConfig& config, const TrainData& data,
                        uint64_t seed, int threads, ProgressMode progress, TrainHook* hook) {
  Trainer trainer(model, config, data, seed, threads, progress, hook);
  return trainer.run();
}

}  // namespace tinyc
