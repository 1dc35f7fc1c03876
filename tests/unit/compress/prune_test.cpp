// Magnitude pruning: exact sparsity per layer or globally, smallest magnitudes first, the
// gradual schedule with fine-tuning, zeros kept through int8 quantization, refusals.
#include <catch2/catch.hpp>

#include <cmath>

#include "tinyc/error.h"
#include "tinyc/prune.h"
#include "tinyc/quantize.h"
#include "tinyc/spec.h"
#include "tinyc/train.h"

using namespace tinyc;

namespace {

const std::string kModels = TINYC_SOURCE_DIR "/models/";
const std::string kTasks = TINYC_SHARED_DIR "/data/tasks/";

double zero_fraction(const Tensor& t) {
  int64_t zeros = 0;
  for (float v : t.f32) zeros += v == 0.0f;
  return static_cast<double>(zeros) / static_cast<double>(t.f32.size());
}

}  // namespace

TEST_CASE("one-shot pruning zeroes the smallest weights of each layer", "[prune]") {
  const Model f = build_model(load_spec(kModels + "digits_mlp.json"), 3);
  PruneOptions o;
  o.sparsity = 0.75;
  PruneReport r;
  const Model p = prune_model(f, o, nullptr, &r);
  for (const Op& op : p.ops) {
    if (op.type != OpType::kDense) continue;
    const Tensor& w = p.tensor(op.inputs[1]);
    const Tensor& w0 = f.tensor(op.inputs[1]);
    CHECK(zero_fraction(w) == Approx(0.75).margin(1.0 / static_cast<double>(w.f32.size())));
    // Every kept weight is at least as large as every pruned one, and kept ones are unchanged.
    float max_pruned = 0.0f, min_kept = INFINITY;
    for (size_t i = 0; i < w.f32.size(); ++i) {
      if (w.f32[i] == 0.0f) {
        max_pruned = std::max(max_pruned, std::fabs(w0.f32[i]));
      } else {
        min_kept = std::min(min_kept, std::fabs(w.f32[i]));
        CHECK(w.f32[i] == w0.f32[i]);
      }
    }
    CHECK(max_pruned <= min_kept);
    // Biases are not pruned.
    CHECK(p.tensor(op.inputs[2]).f32 == f.tensor(op.inputs[2]).f32);
  }
  CHECK(r.sparsity == Approx(0.75).margin(0.01));
}

TEST_CASE("global pruning uses one threshold", "[prune]") {
  const Model f = build_model(load_spec(kModels + "digits_mlp.json"), 3);
  PruneOptions o;
  o.sparsity = 0.5;
  o.global = true;
  PruneReport r;
  const Model p = prune_model(f, o, nullptr, &r);
  CHECK(r.zero_params == r.pruned_params / 2);
}

TEST_CASE("gradual pruning with fine-tuning keeps digits_mlp accurate, and int8 keeps the zeros",
          "[prune]") {
  const Dataset data = load_data(kTasks + "digits.csv");
  TrainOptions t;
  t.progress = ProgressMode::kQuiet;
  t.threads = 1;
  const TrainJob job = train_from_spec(load_spec(kModels + "digits_mlp.json"), data, t);
  SplitSpec s;
  s.test = job.model.split.test;
  s.seed = job.model.split.seed;
  const SplitIndices split = make_split(data, s);
  std::vector<float> x, y, tx, ty;
  gather_rows(data, split.train, &x, &y);
  gather_rows(data, split.test, &tx, &ty);
  std::vector<float> px = x;
  job.model.preprocess.apply(px.data(), static_cast<int64_t>(split.train.size()), data.features);
  TrainData td;
  td.x = px.data();
  td.y = y.data();
  td.rows = static_cast<int64_t>(split.train.size());
  PruneOptions o;
  o.sparsity = 0.8;
  o.global = true;
  o.epochs = 5;
  o.threads = 1;
  PruneReport r;
  const Model p = prune_model(job.model, o, &td, &r);
  REQUIRE(r.schedule.size() == 5);
  CHECK(r.schedule.front() < r.schedule.back());
  CHECK(r.schedule.back() == Approx(0.8));
  CHECK(r.sparsity == Approx(0.8).margin(0.01));
  CHECK(p.history.size() == job.model.history.size() + 5);
  CHECK(p.history.back().epoch == static_cast<int>(p.history.size()));
  const auto n = static_cast<int64_t>(split.test.size());
  const double acc_f = evaluate(job.model, tx.data(), ty.data(), n).metric;
  const double acc_p = evaluate(p, tx.data(), ty.data(), n).metric;
  PruneOptions one_shot = o;
  one_shot.epochs = 0;
  const double acc_1 =
      evaluate(prune_model(job.model, one_shot, nullptr, nullptr), tx.data(), ty.data(), n).metric;
  // 80% of a 64-32-10 network is harsh: fine-tuning must recover most of what one-shot
  // pruning loses.
  INFO("float " << acc_f << ", 80% one-shot " << acc_1
                << ", 80% with 5 fine-tuning epochs (global) " << acc_p);
  CHECK(acc_p >= acc_f - 0.05);
  CHECK(acc_p >= acc_1 + 0.05);
  // Deterministic.
  const Model again = prune_model(job.model, o, &td, nullptr);
  CHECK(again == p);

  const Model q = quantize_model(p, x.data(), y.data(), 500, QuantizeOptions{}, nullptr);
  const ModelStats sp = model_stats(p), sq = model_stats(q);
  CHECK(sq.nonzero_params <= sp.nonzero_params);
  for (const Op& op : q.ops) {
    if (op.type != OpType::kDense) continue;
    const Tensor& wq = q.tensor(op.inputs[1]);
    const Tensor& wp = p.tensor(op.inputs[1]);
    for (size_t i = 0; i < wq.ints.size(); ++i) {
      if (wp.f32[i] == 0.0f) CHECK(wq.ints[i] == 0);
    }
  }
  try {
    prune_model(q, o, &td, nullptr);
    FAIL("pruning an int8 model must throw");
  } catch (const Error& e) {
    CHECK(e.code() == ExitCode::kUnsupported);
  }
}
