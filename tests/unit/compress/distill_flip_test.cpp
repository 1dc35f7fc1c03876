// --teacher-flip (DistillOptions::teacher_flip): the teacher's targets are the mean of its
// targets for each training image and for that image mirrored left to right.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "test_util.h"
#include "tinyc/distill.h"
#include "tinyc/error.h"
#include "tinyc/spec.h"

using namespace tinyc;

namespace {

const std::string kTasks = TINYC_SHARED_DIR "/data/tasks/";

// digits.csv holds 8x8 images (64 pixels, 0..16).
ModelSpec spec(const std::string& input, const std::string& name) {
  return parse_spec(R"({"name": "s", "input": )" + input + R"(, "task": "classification",
    "preprocess": {"normalize": "standard"}, "split": {"val": 0.0, "test": 0.2},
    "layers": [{"type": "flatten"}, {"type": "dense", "units": 6, "activation": "tanh"},
               {"type": "dense", "units": 10, "activation": "softmax"}],
    "train": {"loss": "cross_entropy", "optimizer": "sgd", "lr": 0.1, "batch": 64, "epochs": 1}})",
                    name);
}

}  // namespace

TEST_CASE("teacher_flip averages the teacher over each image and its mirror image", "[distill]") {
  const Dataset data = load_data(kTasks + "digits.csv");
  const ModelSpec student = spec("[8, 8, 1]", "student.json");
  const Model teacher = build_model(spec("[8, 8, 1]", "teacher.json"), 11);
  DistillOptions d;
  d.temperature = 2.0f;
  d.train.progress = ProgressMode::kQuiet;
  d.train.threads = 2;
  d.train.seed = 3;
  const std::vector<float> plain = distill_targets(teacher, student, data, d);
  d.teacher_flip = true;
  const std::vector<float> flipped = distill_targets(teacher, student, data, d);

  std::vector<float> x, y;
  const int64_t n = tinyc_test::training_rows(data, 3, &x, &y);
  std::vector<float> mirror(x.size());
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t row = 0; row < 8; ++row) {
      for (int64_t col = 0; col < 8; ++col) {
        const int64_t at = r * 64 + row * 8;
        mirror[static_cast<size_t>(at + col)] = x[static_cast<size_t>(at + 7 - col)];
      }
    }
  }
  const std::vector<float> q = teacher_soft_targets(teacher, x.data(), n, d.temperature);
  const std::vector<float> qm = teacher_soft_targets(teacher, mirror.data(), n, d.temperature);
  REQUIRE(plain == q);
  REQUIRE(flipped.size() == q.size());
  int64_t differ = 0;
  for (size_t i = 0; i < q.size(); ++i) {
    CHECK(flipped[i] == Approx(0.5f * (q[i] + qm[i])).margin(1e-6));
    differ += std::abs(flipped[i] - q[i]) > 1e-4f;
  }
  CHECK(differ > n);  // the mirror view changed the targets
  // Deterministic for any thread count.
  d.train.threads = 1;
  CHECK(distill_targets(teacher, student, data, d) == flipped);
}

TEST_CASE("teacher_flip needs an image teacher", "[distill]") {
  const Dataset data = load_data(kTasks + "digits.csv");
  const ModelSpec flat = spec("[64]", "student.json");
  DistillOptions d;
  d.teacher_flip = true;
  d.train.progress = ProgressMode::kQuiet;
  try {
    distill_targets(build_model(flat, 1), flat, data, d);
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.code() == ExitCode::kBadInput);
    CHECK(std::string(e.what()).find("image input") != std::string::npos);
  }
}
