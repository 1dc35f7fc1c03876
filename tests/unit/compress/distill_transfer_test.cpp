// Distillation through the real trainer: one SGD step moves the weights by the finite-difference
// gradient of the distillation loss (alpha, T^2 and batch scaling included), and with an
// augmenting student (the transfer set) the teacher labels exactly the inputs the trainer feeds.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "test_util.h"
#include "tinyc/distill.h"
#include "tinyc/executor.h"
#include "tinyc/model_file.h"
#include "tinyc/spec.h"

using namespace tinyc;

namespace {

const std::string kTasks = TINYC_SHARED_DIR "/data/tasks/";

// digits.csv holds 8x8 images (64 pixels, 0..16).
std::string student_json(const std::string& input, const std::string& extra) {
  return R"({"name": "s", "input": )" + input + R"(, "task": "classification",
    "preprocess": {"normalize": "standard"}, "split": {"val": 0.0, "test": 0.2}, )" + extra + R"(
    "layers": [{"type": "flatten"}, {"type": "dense", "units": 4, "activation": "tanh"},
               {"type": "dense", "units": 10, "activation": "softmax"}],
    "train": {"loss": "cross_entropy", "optimizer": "sgd", "lr": 0.5, "batch": 2000,
              "epochs": 1, "shuffle": false}})";
}

// The student's logits (its graph without the final softmax) for raw rows.
std::vector<float> logits(Model m, const std::vector<float>& x, int64_t rows) {
  const Op last = m.ops.back();
  m.ops.pop_back();
  m.outputs[0] = last.inputs[0];
  return run_model(m, x.data(), rows);
}

// A labelling recorder: with one thread, the input batch the trainer just built and the
// training rows of that batch (loss() sees them next); the configured loss still runs.
class Recorder : public TrainHook {
 public:
  explicit Recorder(int input) : input_(input) {}
  std::vector<int> activation_tensors() const override { return {input_}; }
  void before_forward(int64_t step) override { step_ = step; }
  void forward_activation(int /*tensor*/, float* values, int64_t /*row0*/, int64_t n,
                          int64_t width, int /*thread*/) override {
    batch_.assign(values, values + n * width);
  }
  bool loss(const float* /*pred*/, const float* /*y*/, const int64_t* rows, int64_t n,
            int64_t /*k*/, float /*inv_batch*/, float* /*grad*/, double* /*loss*/,
            int64_t* /*correct*/) const override {
    steps.push_back(step_);
    seen_rows.emplace_back(rows, rows + n);
    inputs.push_back(batch_);
    return false;
  }
  mutable std::vector<int64_t> steps;
  mutable std::vector<std::vector<int64_t>> seen_rows;
  mutable std::vector<std::vector<float>> inputs;

 private:
  int input_;
  int64_t step_ = 0;
  std::vector<float> batch_;
};

}  // namespace

TEST_CASE("one SGD step of distillation follows the finite-difference gradient", "[distill]") {
  const Dataset data = load_data(kTasks + "digits.csv");
  const ModelSpec spec = parse_spec(student_json("[64]", ""), "student.json");
  // Teacher: another random net of the same shape (a float graph ending in softmax).
  const Model teacher = build_model(spec, 99);
  DistillOptions d;
  d.temperature = 3.0f;
  d.alpha = 0.2f;
  d.train.progress = ProgressMode::kQuiet;
  d.train.threads = 1;
  d.train.seed = 4;
  const TrainJob job = distill(teacher, spec, data, d);  // one full-batch step
  const Model w0 = build_model(spec, d.train.seed);        // the weights it started from

  std::vector<float> x, y;
  const int64_t n = tinyc_test::training_rows(data, 4, &x, &y);
  const std::vector<float> q = teacher_soft_targets(teacher, x.data(), n, d.temperature);
  REQUIRE(distill_targets(teacher, spec, data, d) == q);
  // Mean distillation loss of the model `m` over the training rows (the trainer's objective).
  auto objective = [&](const Model& m) {
    const std::vector<float> z = logits(m, x, n);
    std::vector<float> g(10);
    double sum = 0.0;
    for (int64_t r = 0; r < n; ++r) {
      sum += distill_loss_row(z.data() + r * 10, static_cast<int64_t>(y[static_cast<size_t>(r)]),
                              q.data() + r * 10, 10, d.temperature, d.alpha, g.data());
    }
    return sum / static_cast<double>(n);
  };
  Model m = job.model;  // its preprocessing, with the initial weights put back
  for (size_t t = 0; t < m.tensors.size(); ++t) {
    if (m.tensors[t].is_constant()) m.tensors[t].f32 = w0.tensors[t].f32;
  }
  const float lr = spec.train.lr;
  int checked = 0;
  for (const Op& op : m.ops) {
    if (op.type != OpType::kDense) continue;
    for (const int which : {1, 2}) {  // weights, bias
      const int t = op.inputs[static_cast<size_t>(which)];
      const size_t size = m.tensor(t).f32.size();
      for (const size_t i : {size_t{0}, size / 3, size - 1}) {
        const float before = m.tensor(t).f32[i];
        const double step_grad = (before - job.model.tensor(t).f32[i]) / lr;
        const float h = 1e-2f;
        m.tensor(t).f32[i] = before + h;
        const double up = objective(m);
        m.tensor(t).f32[i] = before - h;
        const double down = objective(m);
        m.tensor(t).f32[i] = before;
        const double fd = (up - down) / (2.0 * h);
        INFO("tensor " << m.tensor(t).name << " input " << which << " element " << i);
        CHECK(step_grad == Approx(fd).margin(2e-4).epsilon(0.02));
        ++checked;
      }
    }
  }
  CHECK(checked == 12);
}

TEST_CASE("with an augmenting student the teacher labels exactly the inputs the trainer feeds",
          "[distill]") {
  const Dataset data = load_data(kTasks + "digits.csv");
  // Batch 64 (several steps per epoch), shuffled, three epochs.
  std::string text = student_json("[8, 8, 1]", R"("augment": {"shift": 1, "flip_horizontal": true},)");
  text.replace(text.find("2000"), 4, "64");
  text.replace(text.find("\"epochs\": 1"), 11, "\"epochs\": 3");
  text.replace(text.find(", \"shuffle\": false"), 18, "");
  const ModelSpec spec = parse_spec(text, "student.json");
  const Model teacher = build_model(parse_spec(student_json("[64]", ""), "teacher.json"), 7);
  DistillOptions d;
  d.temperature = 2.0f;
  d.train.progress = ProgressMode::kQuiet;
  d.train.threads = 1;
  d.train.seed = 5;
  const std::vector<float> targets = distill_targets(teacher, spec, data, d);

  // The trainer's own augmented inputs (student-normalized), recorded batch by batch.
  Model probe = build_model(spec, 5);
  Recorder rec(probe.inputs[0]);
  TrainOptions o = d.train;
  o.hook = &rec;
  const TrainJob job = train_from_spec(spec, data, o);
  const Preprocess& pre = job.model.preprocess;
  const auto rows = static_cast<int64_t>(job.result.train_rows);
  REQUIRE(targets.size() == static_cast<size_t>(3 * rows * 10));
  const int64_t steps_per_epoch = (rows + 63) / 64;
  int64_t compared = 0, augmented = 0;
  std::vector<float> clean, y;
  tinyc_test::training_rows(data, 5, &clean, &y);
  for (size_t b = 0; b < rec.steps.size(); ++b) {
    const int64_t epoch = rec.steps[b] / steps_per_epoch;
    const std::vector<int64_t>& batch_rows = rec.seen_rows[b];
    const auto n = static_cast<int64_t>(batch_rows.size());
    // Back to raw values: x / scale + offset (standard normalization, per pixel).
    std::vector<float> raw = rec.inputs[b];
    for (int64_t r = 0; r < n; ++r) {
      for (int64_t i = 0; i < 64; ++i) {
        float& v = raw[static_cast<size_t>(r * 64 + i)];
        v = v / pre.scale[static_cast<size_t>(i)] + pre.offset[static_cast<size_t>(i)];
        const float c = clean[static_cast<size_t>(batch_rows[static_cast<size_t>(r)] * 64 + i)];
        augmented += std::fabs(v - c) > 1e-3f;
      }
    }
    const std::vector<float> want = teacher_soft_targets(teacher, raw.data(), n, d.temperature);
    for (int64_t r = 0; r < n; ++r) {
      const float* got = targets.data() + (epoch * rows + batch_rows[static_cast<size_t>(r)]) * 10;
      for (int64_t k = 0; k < 10; ++k) {
        CHECK(got[k] == Approx(want[static_cast<size_t>(r * 10 + k)]).margin(1e-5));
        ++compared;
      }
    }
  }
  CHECK(compared == 3 * rows * 10);
  CHECK(augmented > rows * 64);  // the inputs really were shifted and flipped
  // The epochs differ (a new augmented copy each epoch), and the distilled run is deterministic.
  CHECK(!std::equal(targets.begin(), targets.begin() + rows * 10, targets.begin() + rows * 10));
  CHECK(serialize_model(distill(teacher, spec, data, d).model) ==
        serialize_model(distill(teacher, spec, data, d).model));
}
