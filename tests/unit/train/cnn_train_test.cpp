// A CNN trained end to end through the library on a Fashion-MNIST subset: models/fashion_cnn.json
// on the first 3000 training images, scored on the first 1000 t10k images.
#include <catch2/catch.hpp>

#include <filesystem>

#include "tinyc/executor.h"
#include "tinyc/train.h"

using namespace tinyc;

namespace {

const std::string kFashion = "/usr/share/datasets/fashion-mnist";

// The first `train` untagged rows and the first `test` t10k rows of an IDX data set.
Dataset subset(const Dataset& d, int64_t train, int64_t test) {
  Dataset s = d;
  s.x.clear();
  s.y.clear();
  s.split.clear();
  int64_t want_train = train, want_test = test;
  for (int64_t r = 0; r < d.rows; ++r) {
    const bool is_test = d.split[static_cast<size_t>(r)] == SplitTag::kTest;
    int64_t& want = is_test ? want_test : want_train;
    if (want == 0) continue;
    --want;
    s.x.insert(s.x.end(), d.x.begin() + r * d.features, d.x.begin() + (r + 1) * d.features);
    s.y.push_back(d.y[static_cast<size_t>(r)]);
    s.split.push_back(d.split[static_cast<size_t>(r)]);
  }
  s.rows = static_cast<int64_t>(s.y.size());
  return s;
}

}  // namespace

TEST_CASE("fashion_cnn learns a Fashion-MNIST subset", "[train][cnn]") {
  if (!std::filesystem::exists(kFashion)) {
    WARN("skipped: no Fashion-MNIST at " << kFashion);
    return;
  }
  const Dataset data = subset(load_idx_dir(kFashion), 3000, 1000);
  TrainOptions o;
  o.progress = ProgressMode::kQuiet;
  o.threads = 2;
  const TrainJob job = train_from_spec(load_spec(TINYC_SOURCE_DIR "/models/fashion_cnn.json"), data, o);
  CHECK(job.result.epochs_run == 3);
  CHECK(job.result.train_rows == 3000);
  CHECK(job.result.test.samples == 1000);
  // Full data reaches 0.86 (PyTorch 0.866); 3000 rows and 3 epochs reach about 0.75.
  CHECK(job.result.test.metric >= 0.72);
  // eval reproduces train's test score: the same executor over the stored model.
  std::vector<float> x, y;
  std::vector<int64_t> rows;
  for (int64_t r = 3000; r < 4000; ++r) rows.push_back(r);
  gather_rows(data, rows, &x, &y);
  CHECK(evaluate(job.model, x.data(), y.data(), 1000).metric == job.result.test.metric);
}

TEST_CASE("kws_like trains on the synthetic kws data in seconds", "[train][cnn]") {
  GenerateOptions g;
  g.seed = 1;
  const Dataset data = generate_data("kws", g);
  TrainOptions o;
  o.progress = ProgressMode::kQuiet;
  o.threads = 2;
  const TrainJob job = train_from_spec(load_spec(TINYC_SOURCE_DIR "/models/kws_like.json"), data, o);
  CHECK(job.result.epochs_run == 10);
  CHECK(job.result.test.samples == 400);
  // About 0.95 with noise 1.0 (chance: 0.25).
  CHECK(job.result.test.metric >= 0.88);
}
