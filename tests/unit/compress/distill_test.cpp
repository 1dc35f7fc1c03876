// Distillation: the loss gradient against finite differences, softened teacher probabilities,
// and a student distilled from digits_mlp.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

#include "tinyc/distill.h"
#include "tinyc/error.h"
#include "tinyc/executor.h"
#include "tinyc/model_file.h"
#include "tinyc/rng.h"
#include "tinyc/spec.h"

using namespace tinyc;

namespace {

const std::string kModels = TINYC_SOURCE_DIR "/models/";
const std::string kTasks = TINYC_SHARED_DIR "/data/tasks/";

std::vector<float> softmax(const std::vector<float>& z, float t) {
  std::vector<float> p(z.size());
  const double m = *std::max_element(z.begin(), z.end());
  double sum = 0.0;
  for (size_t i = 0; i < z.size(); ++i) sum += std::exp((z[i] - m) / t);
  for (size_t i = 0; i < z.size(); ++i) p[i] = static_cast<float>(std::exp((z[i] - m) / t) / sum);
  return p;
}

const char* kStudent = R"({"name": "digits_student", "input": [64], "task": "classification",
  "preprocess": {"normalize": "scale", "factor": 0.0625}, "split": {"val": 0.0, "test": 0.2},
  "layers": [{"type": "dense", "units": 6, "activation": "relu"},
             {"type": "dense", "units": 10, "activation": "softmax"}],
  "train": {"loss": "cross_entropy", "optimizer": "adam", "lr": 0.003, "batch": 32, "epochs": 8}})";

}  // namespace

TEST_CASE("distillation loss gradient matches finite differences", "[distill]") {
  Rng rng(7);
  const int64_t k = 5;
  for (float alpha : {0.0f, 0.3f, 1.0f}) {
    for (float t : {1.0f, 4.0f}) {
      std::vector<float> z(k), teacher(k);
      for (auto& v : z) v = 3.0f * (static_cast<float>(rng.uniform()) - 0.5f);
      for (auto& v : teacher) v = 4.0f * (static_cast<float>(rng.uniform()) - 0.5f);
      const std::vector<float> q = softmax(teacher, t);
      std::vector<float> grad(k), scratch(k);
      const double loss = distill_loss_row(z.data(), 2, q.data(), k, t, alpha, grad.data());
      CHECK(std::isfinite(loss));
      for (int64_t i = 0; i < k; ++i) {
        const float h = 1e-2f;
        std::vector<float> zp = z, zm = z;
        zp[static_cast<size_t>(i)] += h;
        zm[static_cast<size_t>(i)] -= h;
        const double fd = (distill_loss_row(zp.data(), 2, q.data(), k, t, alpha, scratch.data()) -
                           distill_loss_row(zm.data(), 2, q.data(), k, t, alpha, scratch.data())) /
                          (zp[static_cast<size_t>(i)] - zm[static_cast<size_t>(i)]);
        INFO("alpha " << alpha << " T " << t << " logit " << i);
        CHECK(grad[static_cast<size_t>(i)] == Approx(fd).margin(2e-3));
      }
    }
  }
  // The KL term vanishes when the student matches the teacher: only the label term remains.
  const std::vector<float> z{0.5f, -1.0f, 2.0f};
  const std::vector<float> q = softmax(z, 4.0f);
  std::vector<float> g(3);
  const double l = distill_loss_row(z.data(), 0, q.data(), 3, 4.0f, 0.0f, g.data());
  CHECK(l == Approx(0.0).margin(1e-6));
  for (float v : g) CHECK(v == Approx(0.0f).margin(1e-6));
}

TEST_CASE("softened probabilities equal softmax(logits / T)", "[distill]") {
  const std::vector<float> z{1.0f, -2.0f, 0.5f, 3.0f};
  std::vector<float> p = softmax(z, 1.0f);
  soften_probabilities(p.data(), 1, 4, 4.0f);
  const std::vector<float> want = softmax(z, 4.0f);
  for (size_t i = 0; i < z.size(); ++i) CHECK(p[i] == Approx(want[i]).epsilon(1e-5));
  // int8 teachers give exact zeros: they stay zero.
  std::vector<float> sparse{0.0f, 0.75f, 0.25f};
  soften_probabilities(sparse.data(), 1, 3, 2.0f);
  CHECK(sparse[0] == 0.0f);
  CHECK(sparse[1] + sparse[2] == Approx(1.0f));
  CHECK(sparse[1] == Approx(std::sqrt(0.75) / (std::sqrt(0.75) + std::sqrt(0.25))));
}

TEST_CASE("a student distilled from digits_mlp follows its teacher", "[distill]") {
  const Dataset data = load_data(kTasks + "digits.csv");
  TrainOptions t;
  t.progress = ProgressMode::kQuiet;
  t.threads = 2;
  const TrainJob teacher = train_from_spec(load_spec(kModels + "digits_mlp.json"), data, t);
  const ModelSpec student = parse_spec(kStudent, "student.json");
  DistillOptions d;
  d.train = t;
  d.alpha = 0.0f;  // teacher only: the student must learn from the soft targets alone
  const TrainJob s = distill(teacher.model, student, data, d);
  const TrainJob alone = train_from_spec(student, data, t);
  INFO("teacher " << teacher.result.test.metric << ", distilled (alpha 0) " << s.result.test.metric
                  << ", alone " << alone.result.test.metric);
  CHECK(s.result.test.metric >= 0.75);
  // Agreement with the teacher on the test rows.
  SplitSpec sp;
  sp.test = 0.2;
  const SplitIndices split = make_split(data, sp);
  std::vector<float> x, y;
  gather_rows(data, split.test, &x, &y);
  const auto n = static_cast<int64_t>(split.test.size());
  const std::vector<float> pt = run_model(teacher.model, x.data(), n);
  const std::vector<float> ps = run_model(s.model, x.data(), n);
  int64_t agree = 0;
  for (int64_t r = 0; r < n; ++r) {
    agree += std::max_element(pt.begin() + r * 10, pt.begin() + r * 10 + 10) - (pt.begin() + r * 10) ==
             std::max_element(ps.begin() + r * 10, ps.begin() + r * 10 + 10) - (ps.begin() + r * 10);
  }
  CHECK(static_cast<double>(agree) / static_cast<double>(n) >= 0.75);
  // Deterministic.
  CHECK(serialize_model(distill(teacher.model, student, data, d).model) == serialize_model(s.model));
  // Mismatched student: refused with exit 2.
  ModelSpec wrong = parse_spec(std::string(kStudent).replace(std::string(kStudent).find("[64]"), 4, "[32]"),
                               "wrong.json");
  try {
    distill(teacher.model, wrong, data, d);
    FAIL("a student with another input size must be refused");
  } catch (const Error& e) {
    CHECK(e.code() == ExitCode::kBadInput);
  }
}

TEST_CASE("regression distillation mixes MSE to the labels and to the teacher", "[distill]") {
  // Teacher: y = 2x + 1 (a linear model set by hand). Data: the sine task. A linear student
  // learns the teacher's line with alpha 0, and half-way between the teacher's line and the
  // least-squares line of the labels with alpha 0.5 (the mixed loss is a quadratic whose
  // minimum is the average of the two targets).
  const Dataset data = load_data(kTasks + "sine.csv");
  ModelSpec spec = load_spec(kModels + "linear.json");
  spec.train.epochs = 300;
  Model teacher = build_model(spec, 0);
  teacher.tensor(teacher.ops[0].inputs[1]).f32[0] = 2.0f;
  teacher.tensor(teacher.ops[0].inputs[2]).f32[0] = 1.0f;
  auto line = [](const Model& m) {
    return std::pair<float, float>{m.tensor(m.ops[0].inputs[1]).f32[0], m.tensor(m.ops[0].inputs[2]).f32[0]};
  };
  DistillOptions d;
  d.train.progress = ProgressMode::kQuiet;
  d.train.threads = 1;
  d.alpha = 0.0f;
  const auto [w0, b0] = line(distill(teacher, spec, data, d).model);
  CHECK(w0 == Approx(2.0f).margin(0.02));
  CHECK(b0 == Approx(1.0f).margin(0.05));
  const auto [wl, bl] = line(train_from_spec(spec, data, d.train).model);
  d.alpha = 0.5f;
  const auto [wh, bh] = line(distill(teacher, spec, data, d).model);
  CHECK(wh == Approx((wl + 2.0f) / 2.0f).margin(0.03));
  CHECK(bh == Approx((bl + 1.0f) / 2.0f).margin(0.06));
}

TEST_CASE("soft targets come from the teacher's logits, not its rounded probabilities", "[distill]") {
  // A float teacher whose logits are -15 i for class i (last dense: zero weights, set biases):
  // its softmax outputs underflow to exactly 0 for the last classes, so softening them would
  // keep those zeros. The soft targets must be softmax(logits / T), positive everywhere.
  const Dataset data = load_data(kTasks + "digits.csv");
  ModelSpec spec = parse_spec(kStudent, "teacher.json");
  Model teacher = build_model(spec, 3);
  const Op& dense = teacher.ops[teacher.ops.size() - 2];
  for (float& w : teacher.tensor(dense.inputs[1]).f32) w = 0.0f;
  FloatBuffer& bias = teacher.tensor(dense.inputs[2]).f32;
  for (size_t i = 0; i < bias.size(); ++i) bias[i] = -15.0f * static_cast<float>(i);
  const int64_t n = 50, k = 10;
  std::vector<float> x, y;
  std::vector<int64_t> rows(static_cast<size_t>(n));
  for (int64_t r = 0; r < n; ++r) rows[static_cast<size_t>(r)] = r;
  gather_rows(data, rows, &x, &y);
  const float t = 4.0f;
  const std::vector<float> q = teacher_soft_targets(teacher, x.data(), n, t);
  const std::vector<std::vector<float>> acts = run_model_tensors(teacher, x.data(), n);
  const std::vector<float>& logits = acts[static_cast<size_t>(teacher.ops.back().inputs[0])];
  std::vector<float> probs = run_model(teacher, x.data(), n);
  int64_t zeros = 0;
  for (float p : probs) zeros += p == 0.0f;
  REQUIRE(zeros > 0);  // the case the logits path exists for
  for (int64_t r = 0; r < n; ++r) {
    const std::vector<float> z(logits.begin() + r * k, logits.begin() + (r + 1) * k);
    const std::vector<float> want = softmax(z, t);
    for (int64_t i = 0; i < k; ++i) {
      CHECK(q[static_cast<size_t>(r * k + i)] > 0.0f);
      CHECK(q[static_cast<size_t>(r * k + i)] == Approx(want[static_cast<size_t>(i)]).margin(1e-6));
    }
  }
}
