// Structured pruning: the smallest-norm units and filters go, the consumer is rewritten, and
// the smaller model computes what the original computes with those units zeroed.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "tinyc/error.h"
#include "tinyc/executor.h"
#include "tinyc/prune.h"
#include "tinyc/rng.h"
#include "tinyc/spec.h"
#include "tinyc/transform.h"

using namespace tinyc;

namespace {

Model spec_model(const std::string& input, const std::string& layers) {
  const std::string spec = R"({"name": "s", "input": )" + input +
                           R"(, "task": "regression", "layers": [)" + layers +
                           R"(], "train": {"loss": "mse"}})";
  return build_model(parse_spec(spec, "test.json"), 3);
}

std::vector<float> random_inputs(int64_t rows, int64_t width) {
  Rng rng(5);
  std::vector<float> x(static_cast<size_t>(rows * width));
  for (float& v : x) v = rng.uniform() * 2.0f - 1.0f;
  return x;
}

// Shrinks units `which` of op `index` to a tiny norm (so they are the ones pruned) with a zero
// bias; returns the same model with those units exactly zero (what pruning should compute).
Model weaken_units(Model& m, size_t index, const std::vector<int>& which) {
  Tensor& w = m.tensor(m.ops[index].inputs[1]);
  Tensor& b = m.tensor(m.ops[index].inputs[2]);
  const size_t row = w.f32.size() / static_cast<size_t>(w.shape[0]);
  Model zeroed = m;
  for (int u : which) {
    for (size_t k = 0; k < row; ++k) {
      w.f32[u * row + k] *= 1e-4f;
      zeroed.tensor(m.ops[index].inputs[1]).f32[u * row + k] = 0.0f;
    }
    b.f32[static_cast<size_t>(u)] = 0.0f;
    zeroed.tensor(m.ops[index].inputs[2]).f32[static_cast<size_t>(u)] = 0.0f;
  }
  return zeroed;
}

void check_same_outputs(const Model& a, const Model& b) {
  const int64_t width = a.input().sample_size();
  const std::vector<float> x = random_inputs(20, width);
  const std::vector<float> ya = run_model(a, x.data(), 20), yb = run_model(b, x.data(), 20);
  REQUIRE(ya.size() == yb.size());
  for (size_t i = 0; i < ya.size(); ++i) CHECK(ya[i] == Approx(yb[i]).margin(1e-4));
}

}  // namespace

TEST_CASE("structured pruning removes the weakest dense units", "[prune][structured]") {
  Model m = spec_model("[6]", R"({"type": "dense", "units": 8, "activation": "relu"},
      {"type": "dense", "units": 4, "activation": "relu"}, {"type": "dense", "units": 2})");
  const Model zeroed = weaken_units(m, 0, {1, 4, 5, 7});
  PruneOptions o;
  o.sparsity = 0.5;
  PruneReport r;
  const Model p = prune_structured(m, o, nullptr, &r);
  CHECK(p.tensor(p.ops[0].inputs[1]).shape == Shape{4, 6});
  CHECK(p.ops[0].get_int("units", 0) == 4);
  CHECK(p.tensor(p.ops[1].inputs[1]).shape == Shape{2, 4});
  CHECK(p.tensor(p.ops[2].inputs[1]).shape == Shape{2, 2});  // the output layer stays
  CHECK(r.removed_units == 6);
  CHECK(r.params_after < r.params_before);
  CHECK(model_stats(p).macs < model_stats(m).macs);
  // The second layer's weakest units are not known here; check the first layer alone.
  o.sparsity = 0.5;
  Model first_only = m;
  first_only.ops.resize(2);
  first_only.outputs = {first_only.ops[1].outputs[0]};
  Model zeroed_first = zeroed;
  zeroed_first.ops.resize(2);
  zeroed_first.outputs = first_only.outputs;
  first_only.tensor(first_only.outputs[0]).role = TensorRole::kOutput;
  zeroed_first.tensor(zeroed_first.outputs[0]).role = TensorRole::kOutput;
  // Only the first layer is prunable now (the second one is the graph output).
  remove_unused_tensors(first_only);
  remove_unused_tensors(zeroed_first);
  const Model pf = prune_structured(first_only, o, nullptr, nullptr);
  check_same_outputs(pf, zeroed_first);
}

TEST_CASE("structured pruning of conv2d filters through pool and flatten",
          "[prune][structured]") {
  Model m = spec_model("[6, 6, 1]", R"({"type": "conv2d", "filters": 4, "kernel": 3,
        "activation": "relu"},
      {"type": "max_pool2d", "pool": 2}, {"type": "flatten"}, {"type": "dense", "units": 3})");
  const Model zeroed = weaken_units(m, 0, {0, 2});
  PruneOptions o;
  o.sparsity = 0.5;
  PruneReport r;
  const Model p = prune_structured(m, o, nullptr, &r);
  CHECK(r.removed_units == 2);
  CHECK(p.tensor(p.ops[0].inputs[1]).shape == Shape{2, 3, 3, 1});
  CHECK(p.tensor(p.ops[3].inputs[1]).shape == Shape{3, 2 * 2 * 2});
  check_same_outputs(p, zeroed);
  // conv -> conv: the consumer loses input channels.
  Model c = spec_model("[6, 6, 2]", R"({"type": "conv2d", "filters": 4, "kernel": 3,
        "padding": "same", "activation": "relu"},
      {"type": "conv2d", "filters": 3, "kernel": 3}, {"type": "global_avg_pool2d"},
      {"type": "dense", "units": 2})");
  const Model cz = weaken_units(c, 0, {3});
  o.sparsity = 0.25;
  const Model cp = prune_structured(c, o, nullptr, nullptr);
  CHECK(cp.tensor(cp.ops[1].inputs[1]).shape == Shape{3, 3, 3, 3});
  // The second conv (3 filters, through global_avg_pool2d into dense) loses none at 25%.
  CHECK(cp.tensor(cp.ops[3].inputs[1]).shape == Shape{2, 3});
  check_same_outputs(cp, cz);
  // conv -> global_avg_pool2d -> dense: one input column per filter.
  Model g = spec_model("[5, 5, 1]", R"({"type": "conv2d", "filters": 4, "kernel": 3,
        "activation": "relu"}, {"type": "global_avg_pool2d"}, {"type": "dense", "units": 2})");
  const Model gz = weaken_units(g, 0, {1, 2});
  o.sparsity = 0.5;
  const Model gp = prune_structured(g, o, nullptr, nullptr);
  CHECK(gp.tensor(gp.ops[2].inputs[1]).shape == Shape{2, 2});
  CHECK(gp.tensor(gp.ops[1].outputs[0]).shape == Shape{1, 2});
  check_same_outputs(gp, gz);
}

TEST_CASE("structured pruning refuses what it cannot shrink", "[prune][structured]") {
  const Model m = spec_model("[4]", R"({"type": "dense", "units": 2})");
  PruneOptions o;
  o.sparsity = 0.5;
  CHECK_THROWS_AS(prune_structured(m, o, nullptr, nullptr), Error);
}
