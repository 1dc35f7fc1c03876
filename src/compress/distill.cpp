// Knowledge distillation through a loss-replacing trainer hook (tinyc/distill.h).
#include "tinyc/distill.h"

#include <algorithm>
#include <cmath>

#include "tinyc/error.h"
#include "tinyc/executor.h"

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

class DistillHook : public TrainHook {
 public:
  DistillHook(Task task, std::vector<float> soft, int64_t width, float temperature, float alpha)
      : task_(task), soft_(std::move(soft)), width_(width), t_(temperature), alpha_(alpha) {}

  bool loss(const float* pred, const float* y, const int64_t* rows, int64_t n, int64_t k,
            float inv_batch, float* grad, double* loss, int64_t* correct) const override {
    if (task_ == Task::kRegression) {
      // alpha * mean (p - y)^2 + (1 - alpha) * mean (p - t)^2 over the k outputs.
      const float scale = 2.0f * inv_batch / static_cast<float>(k);
      for (int64_t r = 0; r < n; ++r) {
        const float* t = soft_.data() + rows[r] * width_;
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
      *loss += distill_loss_row(z, label, soft_.data() + rows[r] * width_, k, t_, alpha_, grad + r * k);
      for (int64_t i = 0; i < k; ++i) grad[r * k + i] *= inv_batch;
      *correct += std::max_element(z, z + k) - z == label;
    }
    return true;
  }

 private:
  Task task_;
  std::vector<float> soft_;  // per training row: soft targets q (or teacher outputs)
  int64_t width_;
  float t_, alpha_;
};

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

TrainJob distill(const Model& teacher, const ModelSpec& student_spec, const Dataset& data,
                 const DistillOptions& options) {
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
  const int64_t width = teacher.output().sample_size();
  std::vector<float> soft = teacher.task == Task::kClassification
                                ? teacher_soft_targets(teacher, x.data(), rows, options.temperature)
                                : run_model(teacher, x.data(), rows);
  DistillHook hook(teacher.task, std::move(soft), width, options.temperature, options.alpha);
  TrainOptions o = options.train;
  o.hook = &hook;
  return train_from_spec(student_spec, data, o);
}

}  // namespace tinyc
