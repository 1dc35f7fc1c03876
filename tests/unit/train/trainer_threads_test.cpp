// Lockstep training threads: a first layer wide enough to be split by units lets the trainer
// drop the barrier at the end of each step (the unit-split op's own barrier orders the
// parameter updates), except before a step where a thread gets no rows. A missing barrier
// shows up as a race: runs of the same seed and thread count differing in their bytes.
#include <catch2/catch.hpp>

#include "tinyc/model_file.h"
#include "tinyc/spec.h"
#include "tinyc/train.h"

using namespace tinyc;

namespace {

const std::string kTasks = TINYC_SHARED_DIR "/data/tasks/";

// digits (1437 training rows) through a 64-unit first layer: unit-split at 2 threads.
std::string wide_spec(int batch) {
  return R"({"name": "wide", "input": [64], "task": "classification",
    "preprocess": {"normalize": "scale", "factor": 0.0625}, "split": {"val": 0.0, "test": 0.2},
    "layers": [{"type": "dense", "units": 96, "activation": "relu"},
               {"type": "dense", "units": 10, "activation": "softmax"}],
    "train": {"loss": "cross_entropy", "optimizer": "adam", "lr": 0.003, "batch": )" +
         std::to_string(batch) + R"(, "epochs": 3}})";
}

TrainJob train_wide(const Dataset& data, int batch, int threads) {
  TrainOptions o;
  o.threads = threads;
  o.seed = 7;
  o.progress = ProgressMode::kQuiet;
  return train_from_spec(parse_spec(wide_spec(batch), "wide.json"), data, o);
}

}  // namespace

TEST_CASE("two lockstep threads give the same bytes run after run", "[train][determinism]") {
  const Dataset data = load_data(kTasks + "digits.csv");
  // 32: many steps, a last batch of 29 rows; 359: the last batch holds one row, so one
  // thread has none and the barrier must stay before that step.
  for (int batch : {32, 359}) {
    INFO("batch " << batch);
    const TrainJob first = train_wide(data, batch, 2);
    REQUIRE(first.result.threads_used == 2);
    CHECK(first.result.train.metric > (batch == 32 ? 0.9 : 0.5));  // 15 steps at batch 359
    const std::string bytes = serialize_model(first.model);
    for (int run = 0; run < 4; ++run) CHECK(serialize_model(train_wide(data, batch, 2).model) == bytes);
  }
}
