// Knowledge distillation through a loss-replacing trainer hook (tinyc/distill.h).
#include "tinyc/distill.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <thread>

#include <fmt/format.h>

#include "tinyc/error.h"
#include "tinyc/executor.h"
#include "tinyc/limits.h"
#include "tinyc/rng.h"
#include "train/augment.h"

namespace tinyc {
namespace {

// softmax(z / t) into out; returns log(sum exp((z - max) / t)) + max / t (log-partition).
double softmax_t(const float* z, int64_t k, float t, float* out) {
  float m = z[0];
  for (int64_t i = 1; i < k; ++i) m = std::max(m, z[i]);
  double sum = 0.0;
  for (int64_t i = 0; i < k; ++i) sum += (out[i] = std::exp((z[i] - m) / t));
  for (int64_t i = 0; i < k; ++i) out[i] = static_cast<float>(out[i] / sum);
  return std::log(sum) + static_cast<double>(m) / t;
}

// Rows per teacher call: bounds the teacher's activation memory; fixed (not per thread) so
// the targets are the same bytes for any thread count.
constexpr int64_t kTeacherChunk = 1024;

// Runs fn(first_row, row_count) over [0, rows) in kTeacherChunk pieces on up to `threads`
// threads; each piece writes only its own rows.
void for_chunks(int64_t rows, int threads, const std::function<void(int64_t, int64_t)>& fn) {
  const int64_t chunks = (rows + kTeacherChunk - 1) / kTeacherChunk;
  const int workers = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, chunks)));
  auto work = [&](int w) {
    for (int64_t c = w; c < chunks; c += workers) {
      const int64_t lo = c * kTeacherChunk;
      fn(lo, std::min(kTeacherChunk, rows - lo));
    }
  };
  std::vector<std::thread> pool;
  for (int w = 1; w < workers; ++w) pool.emplace_back(work, w);
  work(0);
  for (auto& t : pool) t.join();
}

// Undoes Preprocess::apply: raw = x / scale + offset (a zero scale leaves x unscaled).
void unapply(const Preprocess& pre, float* x, int64_t rows, int64_t features) {
  if (pre.is_identity()) return;
  const bool per_offset = pre.offset.size() > 1, per_scale = pre.scale.size() > 1;
  for (int64_t r = 0; r < rows; ++r) {
    float* row = x + r * features;
    for (int64_t i = 0; i < features; ++i) {
      const float o = pre.offset.empty() ? 0.0f : pre.offset[per_offset ? static_cast<size_t>(i) : 0];
      const float sc = pre.scale.empty() ? 1.0f : pre.scale[per_scale ? static_cast<size_t>(i) : 0];
      row[i] = (sc != 0.0f ? row[i] / sc : row[i]) + o;
    }
  }
}

class DistillHook : public TrainHook {
 public:
  // `soft`: blocks of rows x width targets, one block for the whole run or one per epoch
  // (the teacher's labels of that epoch's augmented inputs).
  DistillHook(Task task, std::vector<float> soft, int64_t rows, int64_t width, float temperature,
              float alpha)
      : task_(task), soft_(std::move(soft)), block_(rows * width), width_(width), t_(temperature),
        alpha_(alpha) {}

  void attach(const Model& /*model*/, const std::vector<TrainParam>& /*params*/, int /*threads*/,
              int64_t /*batch*/, int64_t steps_per_epoch, int /*epochs*/) override {
    steps_per_epoch_ = std::max<int64_t>(1, steps_per_epoch);
  }
  void before_forward(int64_t step) override {
    const int64_t blocks = block_ > 0 ? static_cast<int64_t>(soft_.size()) / block_ : 1;
    offset_ = std::min(step / steps_per_epoch_, blocks - 1) * block_;
  }

  bool loss(const float* pred, const float* y, const int64_t* rows, int64_t n, int64_t k,
            float inv_batch, float* grad, double* loss, int64_t* correct) const override {
    const float* soft = soft_.data() + offset_;
    if (task_ == Task::kRegression) {
      // alpha * mean (p - y)^2 + (1 - alpha) * mean (p - t)^2 over the k outputs.
      const float scale = 2.0f * inv_batch / static_cast<float>(k);
      for (int64_t r = 0; r < n; ++r) {
        const float* t = soft + rows[r] * width_;
        for (int64_t i = 0; i < k; ++i) {
          const float p = pred[r * k + i];
          const float dy = p - y[r * k + i], dt = p - t[i];
          *loss += (alpha_ * static_cast<double>(dy) * dy + (1.0 - alpha_) * static_cast<double>(dt) * dt) /
                   static_cast<double>(k);
          grad[r * k + i] = scale * (alpha_ * dy + (1.0f - alpha_) * dt);
        }
      }
      return true;
    }
    for (int64_t r = 0; r < n; ++r) {
      const float* z = pred + r * k;
      const auto label = static_cast<int64_t>(y[r]);
      *loss += distill_loss_row(z, label, soft + rows[r] * width_, k, t_, alpha_, grad + r * k);
      for (int64_t i = 0; i < k; ++i) grad[r * k + i] *= inv_batch;
      *correct += std::max_element(z, z + k) - z == label;
    }
    return true;
  }

 private:
  Task task_;
  std::vector<float> soft_;  // per block and training row: soft targets q (or teacher outputs)
  int64_t block_;
  int64_t width_;
  float t_, alpha_;
  int64_t steps_per_epoch_ = 1;
  int64_t offset_ = 0;  // of the current epoch's block in soft_
};

int distill_epochs(const ModelSpec& student, const DistillOptions& options) {
  return options.train.epochs > 0 ? options.train.epochs : student.train.epochs;
}

// Mirrors each of `rows` (H, W, C) samples left to right.
std::vector<float> flip_rows(const float* x, int64_t rows, const Shape& shape) {
  const int64_t h = shape[0], w = shape[1], c = shape[2];
  std::vector<float> out(static_cast<size_t>(rows * h * w * c));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t y = 0; y < h; ++y) {
      const float* src = x + (r * h + y) * w * c;
      float* dst = out.data() + (r * h + y) * w * c;
      for (int64_t i = 0; i < w; ++i) std::copy(src + (w - 1 - i) * c, src + (w - i) * c, dst + i * c);
    }
  }
  return out;
}

// The teacher's targets (soft targets, or outputs for regression) for `rows` raw inputs; with
// `flip`, the mean of its targets for each input and its mirror image.
void teacher_targets(const Model& teacher, const float* raw, int64_t rows, float temperature,
                     bool flip, int threads, float* out) {
  const int64_t features = teacher.input().sample_size(), width = teacher.output().sample_size();
  auto targets = [&](const float* x, int64_t n) {
    return teacher.task == Task::kClassification ? teacher_soft_targets(teacher, x, n, temperature)
                                                 : run_model(teacher, x, n);
  };
  for_chunks(rows, threads, [&](int64_t lo, int64_t n) {
    const float* x = raw + lo * features;
    std::vector<float> t = targets(x, n);
    if (flip) {
      const std::vector<float> mirrored = flip_rows(x, n, teacher.input().sample_shape());
      const std::vector<float> tf = targets(mirrored.data(), n);
      for (size_t i = 0; i < t.size(); ++i) t[i] = 0.5f * (t[i] + tf[i]);
    }
    std::copy(t.begin(), t.end(), out + lo * width);
  });
}

}  // namespace

double distill_loss_row(const float* z, int64_t label, const float* q, int64_t k, float temperature,
                        float alpha, float* grad) {
  std::vector<float> p(static_cast<size_t>(k)), pt(static_cast<size_t>(k));
  const double log_z = softmax_t(z, k, 1.0f, p.data());
  const double log_zt = softmax_t(z, k, temperature, pt.data());
  const double ce = log_z - z[label];
  // KL(q || softmax(z / T)) = sum q (log q - z / T + log Z_T), with 0 log 0 = 0.
  double kl = 0.0;
  for (int64_t i = 0; i < k; ++i) {
    if (q[i] > 0.0f) kl += q[i] * (std::log(static_cast<double>(q[i])) - z[i] / temperature + log_zt);
  }
  const double t2 = static_cast<double>(temperature) * temperature;
  for (int64_t i = 0; i < k; ++i) {
    grad[i] = alpha * (p[static_cast<size_t>(i)] - (i == label ? 1.0f : 0.0f)) +
              (1.0f - alpha) * temperature * (pt[static_cast<size_t>(i)] - q[i]);
  }
  return alpha * ce + (1.0 - alpha) * t2 * kl;
}

void soften_probabilities(float* p, int64_t rows, int64_t k, float temperature) {
  for (int64_t r = 0; r < rows; ++r) {
    float* row = p + r * k;
    double m = -INFINITY;
    for (int64_t i = 0; i < k; ++i) {
      if (row[i] > 0.0f) m = std::max(m, std::log(static_cast<double>(row[i])) / temperature);
    }
    double sum = 0.0;
    std::vector<double> e(static_cast<size_t>(k), 0.0);
    for (int64_t i = 0; i < k; ++i) {
      if (row[i] > 0.0f) sum += (e[static_cast<size_t>(i)] = std::exp(std::log(static_cast<double>(row[i])) / temperature - m));
    }
    for (int64_t i = 0; i < k; ++i) {
      row[i] = sum > 0.0 ? static_cast<float>(e[static_cast<size_t>(i)] / sum) : 1.0f / static_cast<float>(k);
    }
  }
}

std::vector<float> teacher_soft_targets(const Model& teacher, const float* raw_input, int64_t rows,
                                        float temperature) {
  const int64_t k = teacher.output().sample_size();
  const Op* last = teacher.ops.empty() ? nullptr : &teacher.ops.back();
  if (last != nullptr && last->type == OpType::kSoftmax && !teacher.is_quantized() &&
      teacher.outputs.size() == 1 && last->outputs[0] == teacher.outputs[0]) {
    // Float graph ending in softmax: run it without the softmax to get the logits z, then
    // q = softmax(beta z / T) directly (no round trip through float probabilities, which
    // underflow to 0 for confident rows and lose the ranking of the small classes).
    Model logits_model = teacher;
    logits_model.ops.pop_back();
    logits_model.outputs[0] = last->inputs[0];
    std::vector<float> z = run_model(logits_model, raw_input, rows);
    const float beta = last->get_float("beta", 1.0f);
    std::vector<float> q(z.size());
    for (int64_t r = 0; r < rows; ++r) {
      float* row = z.data() + r * k;
      for (int64_t i = 0; i < k; ++i) row[i] *= beta;
      softmax_t(row, k, temperature, q.data() + r * k);
    }
    return q;
  }
  // int8 or other graphs: only the probabilities are available.
  std::vector<float> p = run_model(teacher, raw_input, rows);
  soften_probabilities(p.data(), rows, k, temperature);
  return p;
}

std::vector<float> distill_targets(const Model& teacher, const ModelSpec& student_spec,
                                   const Dataset& data, const DistillOptions& options) {
  if (!(options.temperature > 0.0f)) fail(ExitCode::kUsage, "temperature {} must be > 0", options.temperature);
  if (!(options.alpha >= 0.0f && options.alpha <= 1.0f)) {
    fail(ExitCode::kUsage, "alpha {} must be in [0, 1]", options.alpha);
  }
  const Model probe = build_model(student_spec, 0);
  if (probe.task != teacher.task) {
    bad_input("{}: student task {} differs from teacher '{}' ({})", student_spec.source,
              task_name(probe.task), teacher.name, task_name(teacher.task));
  }
  if (probe.input().sample_size() != teacher.input().sample_size() ||
      probe.output().sample_size() != teacher.output().sample_size()) {
    bad_input("{}: student input/output sizes {}/{} differ from teacher '{}' ({}/{})",
              student_spec.source, probe.input().sample_size(), probe.output().sample_size(),
              teacher.name, teacher.input().sample_size(), teacher.output().sample_size());
  }
  check_data_fits(teacher, data);
  if (options.teacher_flip && teacher.input().sample_shape().size() != 3) {
    bad_input("teacher '{}': flipped targets need an image input (H, W, C), not {} dims",
              teacher.name, teacher.input().sample_shape().size());
  }
  // The student's training rows, exactly as train_from_spec splits them.
  SplitSpec split;
  split.val = options.train.val_split >= 0 ? options.train.val_split : student_spec.val;
  split.test = options.train.test_split >= 0 ? options.train.test_split : student_spec.test;
  split.seed = options.train.split_seed >= 0 ? static_cast<uint64_t>(options.train.split_seed)
                                             : options.train.seed;
  split.stratify = student_spec.task == Task::kClassification;
  if (split.val + split.test >= 1.0) {
    fail(ExitCode::kUsage, "validation ({}) and test ({}) fractions leave no training rows",
         split.val, split.test);
  }
  const std::vector<int64_t> train_rows = make_split(data, split).train;
  std::vector<float> x, y;
  gather_rows(data, train_rows, &x, &y);
  const auto rows = static_cast<int64_t>(train_rows.size());
  const int64_t width = teacher.output().sample_size(), features = data.features;
  const int threads = options.train.threads > 0
                          ? options.train.threads
                          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const AugmentConfig& aug = student_spec.train.augment;
  std::vector<float> soft;
  if (!aug.any()) {
    soft.resize(static_cast<size_t>(rows * width));
    teacher_targets(teacher, x.data(), rows, options.temperature, options.teacher_flip, threads,
                    soft.data());
  } else {
    // Transfer set: the student sees a new augmented copy of each row every epoch; the teacher
    // labels exactly that copy (the trainer's augmentation, reproduced from its seed, on the
    // student's normalized input, then mapped back to raw values for the teacher's own
    // preprocessing).
    const int epochs = distill_epochs(student_spec, options);
    check_memory(4.0 * static_cast<double>(epochs) * static_cast<double>(rows * width),
                 fmt::format("the teacher's targets for {} epochs of {} augmented rows", epochs, rows));
    const Preprocess pre = fit_preprocess(data, train_rows, student_spec.normalize, student_spec.factor);
    soft.resize(static_cast<size_t>(epochs) * static_cast<size_t>(rows * width));
    for (int epoch = 1; epoch <= epochs; ++epoch) {
      float* block = soft.data() + static_cast<int64_t>(epoch - 1) * rows * width;
      for_chunks(rows, threads, [&](int64_t lo, int64_t n) {
        std::vector<float> chunk(x.begin() + lo * features, x.begin() + (lo + n) * features);
        std::vector<float> scratch(static_cast<size_t>(features));
        pre.apply(chunk.data(), n, features);
        for (int64_t r = 0; r < n; ++r) {
          Rng rng(augment_seed(options.train.seed, epoch, lo + r));
          augment_sample(aug, student_spec.input, chunk.data() + r * features, scratch.data(), rng);
        }
        unapply(pre, chunk.data(), n, features);
        teacher_targets(teacher, chunk.data(), n, options.temperature, options.teacher_flip, 1,
                        block + lo * width);
      });
    }
  }
  return soft;
}

TrainJob distill(const Model& teacher, const ModelSpec& student_spec, const Dataset& data,
                 const DistillOptions& options) {
  std::vector<float> soft = distill_targets(teacher, student_spec, data, options);
  const int64_t width = teacher.output().sample_size();
  const int64_t rows = static_cast<int64_t>(soft.size()) / width /
                       (student_spec.train.augment.any() ? distill_epochs(student_spec, options) : 1);
  DistillHook hook(teacher.task, std::move(soft), rows, width, options.temperature, options.alpha);
  TrainOptions o = options.train;
  o.hook = &hook;
  return train_from_spec(student_spec, data, o);
}

}  // namespace tinyc
