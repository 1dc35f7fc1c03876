// The trainer hook (TrainHook): called once per step in order, free when it does nothing, and
// able to replace the loss.
#include <catch2/catch.hpp>

#include <atomic>
#include <cmath>

#include "tinyc/model_file.h"
#include "tinyc/train.h"

using namespace tinyc;

namespace {

const std::string kModels = TINYC_SOURCE_DIR "/models/";
const std::string kTasks = TINYC_SHARED_DIR "/data/tasks/";

// Counts the serial calls and checks their order; changes nothing.
class CountingHook : public TrainHook {
 public:
  void attach(const Model& model, const std::vector<TrainParam>& params, int /*threads*/,
              int64_t batch, int64_t steps_per_epoch, int epochs) override {
    params_ = static_cast<int64_t>(params.size());
    constants_ = 0;
    for (const Tensor& t : model.tensors) constants_ += t.is_constant();
    batch_ = batch;
    expected_steps_ = steps_per_epoch * epochs;
  }
  void before_forward(int64_t step) override {
    CHECK(step == forward_);
    ++forward_;
  }
  void before_update(int64_t step) override {
    CHECK(step == update_);
    CHECK(forward_ == update_ + 1);
    ++update_;
  }
  void after_update(int64_t step) override {
    CHECK(step == after_);
    ++after_;
  }
  int64_t params_ = 0, constants_ = 0, batch_ = 0, expected_steps_ = 0;
  int64_t forward_ = 0, update_ = 0, after_ = 0;
};

// Replaces the loss by plain cross-entropy written here: must train as well as the built-in.
class CrossEntropyHook : public TrainHook {
 public:
  bool loss(const float* pred, const float* y, const int64_t* /*rows*/, int64_t n, int64_t k,
            float inv_batch, float* grad, double* loss, int64_t* correct) const override {
    for (int64_t r = 0; r < n; ++r) {
      const float* z = pred + r * k;
      int64_t best = 0;
      for (int64_t i = 1; i < k; ++i) best = z[i] > z[best] ? i : best;
      double sum = 0.0;
      for (int64_t i = 0; i < k; ++i) sum += std::exp(static_cast<double>(z[i] - z[best]));
      const auto label = static_cast<int64_t>(y[r]);
      for (int64_t i = 0; i < k; ++i) {
        grad[r * k + i] = static_cast<float>(std::exp(static_cast<double>(z[i] - z[best])) / sum -
                                             (i == label ? 1.0 : 0.0)) * inv_batch;
      }
      *loss += std::log(sum) + z[best] - z[label];
      *correct += best == label;
    }
    ++calls_;
    return true;
  }
  mutable std::atomic<int64_t> calls_{0};
};

}  // namespace

TEST_CASE("a hook that does nothing changes nothing and sees every step", "[train][hook]") {
  const Dataset data = load_data(kTasks + "digits.csv");
  ModelSpec spec = load_spec(kModels + "digits_mlp.json");
  spec.train.epochs = 3;
  for (int threads : {1, 2}) {
    TrainOptions o;
    o.progress = ProgressMode::kQuiet;
    o.threads = threads;
    const TrainJob plain = train_from_spec(spec, data, o);
    CountingHook hook;
    o.hook = &hook;
    const TrainJob hooked = train_from_spec(spec, data, o);
    CHECK(serialize_model(hooked.model) == serialize_model(plain.model));
    CHECK(hook.params_ == hook.constants_);
    CHECK(hook.batch_ == 32);
    CHECK(hook.expected_steps_ == 3 * ((plain.result.train_rows + 31) / 32));
    CHECK(hook.after_ == hook.expected_steps_);
    CHECK(hook.update_ == hook.expected_steps_);
  }
}

TEST_CASE("a hook can replace the loss", "[train][hook]") {
  const Dataset data = load_data(kTasks + "digits.csv");
  ModelSpec spec = load_spec(kModels + "digits_mlp.json");
  spec.train.epochs = 10;
  TrainOptions o;
  o.progress = ProgressMode::kQuiet;
  o.threads = 2;
  const TrainJob plain = train_from_spec(spec, data, o);
  CrossEntropyHook hook;
  o.hook = &hook;
  const TrainJob hooked = train_from_spec(spec, data, o);
  CHECK(hook.calls_ > 0);
  CHECK(hooked.result.test.metric == Approx(plain.result.test.metric).margin(0.02));
  CHECK(hooked.model.history.back().train_loss ==
        Approx(plain.model.history.back().train_loss).epsilon(0.05));
}
