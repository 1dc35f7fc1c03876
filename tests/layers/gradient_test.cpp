// Finite-difference gradient checks, table-driven: every layer (and each fused activation)
// and both losses. L = sum(y * g) for a fixed random g, so dL/dy = g.
#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <vector>

#include "tinyc/error.h"
#include "tinyc/layer.h"
#include "tinyc/rng.h"
#include "layers/layer_harness.h"
#include "train/loss.h"

using namespace tinyc;
using namespace tinyc_test;

TEST_CASE("layer gradients match finite differences", "[layers][gradient]") {
  const std::vector<Case> cases = {
      {"dense_linear", OpType::kDense, {1, 5}, {{{4, 5}}, {{4}}}, {{"activation", str_attr("none")}}},
      {"dense_relu", OpType::kDense, {1, 6}, {{{3, 6}}, {{3}}}, {{"activation", str_attr("relu")}}},
      {"dense_relu6", OpType::kDense, {1, 4}, {{{3, 4}}, {{3}}}, {{"activation", str_attr("relu6")}}},
      {"flatten", OpType::kFlatten, {1, 3, 2, 2}, {}, {}},
      {"dropout", OpType::kDropout, {1, 7}, {}, {{"rate", Attr{{}, {0.3f}, {}}}}},
      {"act_relu", OpType::kActivation, {1, 6}, {}, {{"activation", str_attr("relu")}}},
      {"act_relu6", OpType::kActivation, {1, 6}, {}, {{"activation", str_attr("relu6")}}},
      {"act_sigmoid", OpType::kActivation, {1, 6}, {}, {{"activation", str_attr("sigmoid")}}},
      {"act_tanh", OpType::kActivation, {1, 6}, {}, {{"activation", str_attr("tanh")}}},
      {"softmax", OpType::kSoftmax, {1, 5}, {}, {}},
  };
  for (const Case& c : cases) {
    SECTION(c.label) {
      Rng rng(7);
      Model m = one_op_model(c, rng);
      constexpr int64_t n = 3;
      Buffers buf = bind(m, n, true);
      // Inputs scaled up so relu6 sees values on both sides of 0 and 6.
      for (float& v : buf.in[0]) v = rng.uniform(-8.0f, 8.0f) * (c.type == OpType::kDense ? 0.4f : 1.0f);
      check_gradients(c.label, buf, layer_for(c.type), rng);
    }
  }
}

TEST_CASE("loss gradients match finite differences", "[layers][gradient]") {
  Rng rng(3);
  constexpr int64_t n = 4, k = 5;
  std::vector<float> pred(n * k), grad(n * k), labels(n), targets(n * k);
  for (float& v : pred) v = rng.uniform(-3.0f, 3.0f);
  for (float& v : targets) v = rng.uniform(-1.0f, 1.0f);
  for (int64_t r = 0; r < n; ++r) labels[static_cast<size_t>(r)] = static_cast<float>(r % k);
  for (LossKind kind : {LossKind::kMse, LossKind::kCrossEntropy}) {
    const float* y = kind == LossKind::kMse ? targets.data() : labels.data();
    const float inv_batch = 1.0f / n;
    loss_and_grad(kind, pred.data(), y, n, k, inv_batch, grad.data());
    std::vector<float> scratch(grad.size());
    for (size_t i = 0; i < pred.size(); ++i) {
      const float saved = pred[i], h = 1e-2f;
      pred[i] = saved + h;
      const double up = loss_and_grad(kind, pred.data(), y, n, k, inv_batch, scratch.data()).loss;
      pred[i] = saved - h;
      const double down = loss_and_grad(kind, pred.data(), y, n, k, inv_batch, scratch.data()).loss;
      pred[i] = saved;
      // loss_and_grad returns the sum over rows; the gradient is of the batch mean.
      const double numeric = (up - down) / (2.0 * h) / n;
      INFO((kind == LossKind::kMse ? "mse" : "cross_entropy") << " element " << i);
      CHECK(grad[i] == Approx(numeric).margin(1e-4).epsilon(1e-2));
    }
  }
}

TEST_CASE("cross-entropy is stable for huge logits", "[layers]") {
  std::vector<float> z = {1000.0f, -1000.0f, 0.0f}, grad(3);
  const float label = 0.0f;
  const LossSums s = loss_and_grad(LossKind::kCrossEntropy, z.data(), &label, 1, 3, 1.0f, grad.data());
  CHECK(std::isfinite(s.loss));
  CHECK(s.loss == Approx(0.0).margin(1e-6));
  CHECK(s.correct == 1);
  for (float g : grad) CHECK(std::isfinite(g));
}

TEST_CASE("shape inference names the layer", "[layers]") {
  Rng rng(1);
  Case bad{"dense_bad", OpType::kDense, {1, 5}, {{{4, 6}}, {{4}}}, {}};
  try {
    one_op_model(bad, rng);
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.code() == ExitCode::kBadInput);
    CHECK(std::string(e.what()).find("dense_bad") != std::string::npos);
  }
}
