// Learning-rate schedules, L2 weight decay and augmentation (issue 3).
#include <catch2/catch.hpp>

#include <cmath>

#include "tinyc/error.h"
#include "tinyc/model_file.h"
#include "tinyc/train.h"
#include "train/augment.h"

using namespace tinyc;

namespace {

const std::string kModels = TINYC_SOURCE_DIR "/models/";
const std::string kTasks = TINYC_SHARED_DIR "/data/tasks/";

TrainJob train_spec(const ModelSpec& spec, const Dataset& data, int epochs) {
  TrainOptions o;
  o.progress = ProgressMode::kQuiet;
  o.epochs = epochs;
  o.threads = 2;
  return train_from_spec(spec, data, o);
}

double weight_norm(const Model& m) {
  double sum = 0.0;
  for (const Tensor& t : m.tensors) {
    if (t.is_constant() && t.shape.size() >= 2) {
      for (float v : t.f32) sum += static_cast<double>(v) * v;
    }
  }
  return std::sqrt(sum);
}

Dataset kws_data() {
  GenerateOptions g;
  g.samples = 400;
  g.seed = 2;
  return generate_data("kws", g);
}

}  // namespace

TEST_CASE("step and cosine schedules set each epoch's learning rate", "[train][schedule]") {
  const Dataset data = load_data(kTasks + "digits.csv");
  ModelSpec spec = load_spec(kModels + "digits_mlp.json");
  spec.train.lr = 0.01f;
  spec.train.schedule = "step";
  spec.train.step_epochs = 2;
  spec.train.gamma = 0.5f;
  TrainJob job = train_spec(spec, data, 5);
  const float step[] = {0.01f, 0.01f, 0.005f, 0.005f, 0.0025f};
  for (int e = 0; e < 5; ++e) CHECK(job.model.history[static_cast<size_t>(e)].lr == Approx(step[e]));

  spec.train.schedule = "cosine";
  spec.train.min_lr = 0.001f;
  job = train_spec(spec, data, 5);
  CHECK(job.model.history.front().lr == Approx(0.01f));
  CHECK(job.model.history[2].lr == Approx(0.0055f));  // halfway: the mean of lr and min_lr
  CHECK(job.model.history.back().lr == Approx(0.001f));
  CHECK(job.result.test.metric > 0.9);
}

TEST_CASE("weight decay shrinks the weight matrices", "[train][schedule]") {
  const Dataset data = load_data(kTasks + "digits.csv");
  ModelSpec spec = load_spec(kModels + "digits_mlp.json");
  const double plain = weight_norm(train_spec(spec, data, 5).model);
  spec.train.weight_decay = 0.05f;
  const TrainJob decayed = train_spec(spec, data, 5);
  CHECK(weight_norm(decayed.model) < 0.9 * plain);
  CHECK(decayed.result.test.metric > 0.85);
}

TEST_CASE("augmentation is seeded, deterministic and changes training", "[train][augment]") {
  const Dataset data = kws_data();
  ModelSpec spec = load_spec(kModels + "kws_like.json");
  const std::string plain = serialize_model(train_spec(spec, data, 2).model);
  spec.train.augment.shift = 2;
  spec.train.augment.flip_horizontal = true;
  spec.train.augment.noise = 0.05f;
  const std::string a = serialize_model(train_spec(spec, data, 2).model);
  const std::string b = serialize_model(train_spec(spec, data, 2).model);
  CHECK(a == b);
  CHECK(a != plain);
}

TEST_CASE("augment_sample shifts with zero fill and mirrors", "[train][augment]") {
  const Shape shape = {3, 4, 1};
  std::vector<float> x(12), scratch(12);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i + 1);
  AugmentConfig flip;
  flip.flip_horizontal = true;
  int mirrored = 0;
  for (uint64_t seed = 0; seed < 16; ++seed) {
    std::vector<float> y = x;
    Rng rng(seed);
    augment_sample(flip, shape, y.data(), scratch.data(), rng);
    const bool same = y == x;
    const bool mirror = y[0] == 4 && y[3] == 1 && y[4] == 8 && y[11] == 9;
    CHECK((same || mirror));
    mirrored += mirror;
  }
  CHECK(mirrored > 0);
  CHECK(mirrored < 16);
  AugmentConfig shift;
  shift.shift = 1;
  for (uint64_t seed = 0; seed < 16; ++seed) {
    std::vector<float> y = x;
    Rng rng(seed);
    augment_sample(shift, shape, y.data(), scratch.data(), rng);
    for (float v : y) CHECK((v == 0.0f || (v >= 1.0f && v <= 12.0f)));
  }
}

TEST_CASE("augment keys are checked against the input shape", "[train][augment]") {
  try {
    parse_spec(R"({"input": [4], "layers": [{"type": "dense", "units": 1}], "augment": {"shift": 2}})",
               "s.json");
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.code() == ExitCode::kBadInput);
    CHECK(std::string(e.what()).find("$.augment") != std::string::npos);
  }
  const ModelSpec ok = parse_spec(
      R"({"input": [4], "layers": [{"type": "dense", "units": 1}], "augment": {"noise": 0.1},
          "train": {"schedule": {"type": "cosine", "min_lr": 0.0001}, "weight_decay": 0.001}})",
      "s.json");
  CHECK(ok.train.augment.noise == Approx(0.1f));
  CHECK(ok.train.schedule == "cosine");
  CHECK(ok.train.weight_decay == Approx(0.001f));
  CHECK_THROWS_AS(parse_spec(R"({"input": [4], "layers": [{"type": "dense", "units": 1}],
                                 "train": {"schedule": {"type": "exp"}}})", "s.json"), Error);
}
