// Training end to end through the library: the reference tasks' quality, determinism, early
// stopping and divergence.
#include <catch2/catch.hpp>

#include "tinyc/error.h"
#include "tinyc/model_file.h"
#include "tinyc/train.h"

using namespace tinyc;

namespace {

const std::string kModels = TINYC_SOURCE_DIR "/models/";
const std::string kTasks = TINYC_SHARED_DIR "/data/tasks/";

TrainJob train(const std::string& spec_name, const Dataset& data, TrainOptions o = {}) {
  o.progress = ProgressMode::kQuiet;
  return train_from_spec(load_spec(kModels + spec_name), data, o);
}

float weight(const Model& m, const std::string& name) {
  for (const Tensor& t : m.tensors) {
    if (t.name == name) return t.f32.at(0);
  }
  FAIL("no tensor " << name);
  return 0.0f;
}

}  // namespace

TEST_CASE("linear follows the exact gradient-descent trajectory", "[train]") {
  const TrainJob job = train("linear.json", load_data(kTasks + "linear.csv"));
  // PyTorch's float32 run of the same formula ends at w = 1.997318, b = -0.991686.
  CHECK(weight(job.model, "dense_1/weights") == Approx(1.997318).margin(1e-4));
  CHECK(weight(job.model, "dense_1/bias") == Approx(-0.991686).margin(1e-4));
  CHECK(job.result.epochs_run == 500);
  CHECK(job.result.train.metric == Approx(3.94e-5).epsilon(0.05));
  CHECK_FALSE(job.result.test.present);
}

TEST_CASE("sine reaches the reference test MSE", "[train]") {
  const Dataset data = load_data(kTasks + "sine.csv");  // fixed 600/200/200 split column
  const TrainJob job = train("sine.json", data);
  CHECK(job.result.train_rows == 600);
  CHECK(job.result.val.samples == 200);
  CHECK(job.result.test.samples == 200);
  CHECK(job.result.test.metric <= 0.015);
  CHECK(job.model.history.size() == 500);
  CHECK(job.model.history.back().has_val);
}

TEST_CASE("sine trains on generated data too", "[train]") {
  GenerateOptions g;
  g.seed = 5;
  const TrainJob job = train("sine.json", generate_data("sine", g));
  CHECK(job.result.train_rows == 600);
  CHECK(job.result.test.metric <= 0.02);
}

TEST_CASE("digits_mlp reaches 96% test accuracy", "[train]") {
  const TrainJob job = train("digits_mlp.json", load_data(kTasks + "digits.csv"));
  CHECK(job.result.train_rows == 1437);
  CHECK(job.result.test.samples == 360);
  CHECK(job.result.test.metric >= 0.96);
}

TEST_CASE("training is deterministic for a seed and thread count", "[train][determinism]") {
  const Dataset data = load_data(kTasks + "digits.csv");
  for (int threads : {1, 2}) {
    TrainOptions o;
    o.epochs = 3;
    o.threads = threads;
    o.seed = 11;
    const std::string a = serialize_model(train("digits_mlp.json", data, o).model);
    const std::string b = serialize_model(train("digits_mlp.json", data, o).model);
    CHECK(a == b);
    o.seed = 12;
    const std::string c = serialize_model(train("digits_mlp.json", data, o).model);
    CHECK(a != c);
  }
}

TEST_CASE("early stopping keeps the best validation epoch", "[train]") {
  Dataset data = load_data(kTasks + "digits.csv");
  data.split.assign(data.split.size(), SplitTag::kNone);  // split by fractions instead
  ModelSpec spec = load_spec(kModels + "digits_mlp.json");
  spec.train.patience = 2;
  spec.train.epochs = 200;
  spec.train.lr = 0.05f;  // overfits fast, so validation loss turns up early
  TrainOptions o;
  o.progress = ProgressMode::kQuiet;
  o.val_split = 0.2;
  const TrainJob job = train_from_spec(spec, data, o);
  CHECK(job.result.early_stopped);
  CHECK(job.result.epochs_run < 200);
  CHECK(job.result.best_epoch == job.result.epochs_run - 2);
  // The kept weights are the best epoch's: their validation loss is the recorded minimum.
  float best = 1e30f;
  for (const EpochRecord& r : job.model.history) best = std::min(best, r.val_loss);
  CHECK(job.model.history[static_cast<size_t>(job.result.best_epoch - 1)].val_loss == best);
  CHECK(job.result.val.loss == Approx(best).epsilon(1e-4));
}

TEST_CASE("early stopping without validation rows is an error", "[train]") {
  ModelSpec spec = load_spec(kModels + "digits_mlp.json");
  spec.train.patience = 2;
  TrainOptions o;
  o.progress = ProgressMode::kQuiet;
  o.val_split = 0.0;
  // digits.csv's split column has no val rows.
  REQUIRE_THROWS_AS(train_from_spec(spec, load_data(kTasks + "digits.csv"), o), Error);
}

TEST_CASE("divergence stops with exit code 3", "[train]") {
  TrainOptions o;
  o.lr = 1e3f;
  o.optimizer = "sgd";
  try {
    train("linear.json", load_data(kTasks + "linear.csv"), o);
    FAIL("expected divergence");
  } catch (const Error& e) {
    CHECK(e.code() == ExitCode::kDiverged);
    CHECK(std::string(e.what()).find("learning rate") != std::string::npos);
  }
}

TEST_CASE("labels outside the class range are rejected", "[train]") {
  Dataset d = load_data(kTasks + "digits.csv");
  d.y[5] = 10.0f;
  try {
    train("digits_mlp.json", d);
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.code() == ExitCode::kBadInput);
    CHECK(std::string(e.what()).find("line 7") != std::string::npos);
  }
}
