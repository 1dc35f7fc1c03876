// Shared by the layer test suites: a one-op model, its buffers for n rows, and the
// finite-difference gradient check.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "tinyc/layer.h"
#include "tinyc/rng.h"

namespace tinyc_test {

using namespace tinyc;

struct Input {
  Shape shape;
  TensorRole role = TensorRole::kWeight;
};

struct Case {
  const char* label;
  OpType type;
  Shape input;                  // with batch dim 1
  std::vector<Input> weights;   // constant (or state) inputs after the activation input
  std::map<std::string, Attr> attrs;
  bool training = true;
};

inline Attr str_attr(const char* s) { return Attr{{}, {}, s}; }
inline Attr ints(std::vector<int64_t> v) { return Attr{std::move(v), {}, {}}; }
inline Attr flt(float v) { return Attr{{}, {v}, {}}; }

// One-op model; weights uniform in [-1, 1], state tensors (moving variance) in [0.5, 1.5].
Model one_op_model(const Case& c, Rng& rng);

// Buffers of one op for n rows. Weights and state are bound to the tensors' own data (the
// executor contract); state gets no gradient.
struct Buffers {
  std::vector<std::vector<float>> in, din;
  std::vector<float> out, dout, scratch;
  OpBinding b;
};
Buffers bind(Model& m, int64_t n, bool training);

// Runs forward and backward with L = sum(y * g) for a random g (dL/dy = g) and compares every
// input gradient (activations and weights; state has none) with central differences.
void check_gradients(const char* label, Buffers& buf, const Layer& layer, Rng& rng);

}  // namespace tinyc_test
