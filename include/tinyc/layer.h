// The layer registry: one implementation per OpType (src/layers/, one file each) with shape
// inference, cost, and the float forward/backward kernels used by the trainer and the
// reference executor.
#pragma once

#include <cstdint>
#include <vector>

#include "tinyc/model.h"

namespace tinyc {

// One op bound to buffers for a batch slice of `n` rows. Activation buffers hold n rows of
// the tensor's per-sample size, row-major; weight pointers point at the whole constant.
// Gradient pointers are nullptr where no gradient is wanted (e.g. the graph input). Backward
// may overwrite `dout` (it is this op's private output gradient) and overwrites `din`.
struct OpBinding {
  const Op* op = nullptr;
  std::vector<const Tensor*> in_tensors;
  std::vector<const Tensor*> out_tensors;
  std::vector<const float*> in;
  std::vector<float*> out;
  std::vector<float*> din;
  std::vector<float*> dout;
  float* scratch = nullptr;  // scratch_floats(op) x n floats, private to this binding
  int64_t n = 0;
  bool training = false;
  uint64_t seed = 0;   // per-step seed for stochastic layers
  int64_t row0 = 0;    // index of this slice's first row in the whole batch
  // Per input: the executor's mutable copy of a state tensor (role state, e.g. an LSTM's
  // hidden and cell state), carried from row to row and chunk to chunk; nullptr otherwise.
  // Empty where the caller keeps no state (the trainer).
  std::vector<float*> state;
};

// One op of a quantized model bound to int8 activation buffers for `n` rows (DESIGN.md §6;
// the representation is described in tinyc/quantize.h). Constant inputs (weights, biases) are
// read from `in_tensors[i]->ints`; their `in[i]` is nullptr.
struct Int8Binding {
  const Op* op = nullptr;
  std::vector<const Tensor*> in_tensors;
  std::vector<const Tensor*> out_tensors;
  std::vector<const int8_t*> in;
  std::vector<int8_t*> out;
  int64_t n = 0;
  // Per input: the executor's mutable copy of a state tensor (its integer values widened to
  // int32, whatever its dtype), carried from row to row; nullptr for other inputs.
  std::vector<int32_t*> state;
};

class Layer {
 public:
  virtual ~Layer() = default;
  // Validates attributes and input shapes (activations with their batch dimension of 1) and
  // returns the output shapes. Errors are Error(kBadInput) naming the op.
  virtual std::vector<Shape> infer_shapes(const Op& op, const std::vector<Shape>& inputs) const = 0;
  // Multiply-accumulates per sample.
  virtual int64_t macs(const Op& /*op*/, const std::vector<Shape>& /*inputs*/,
                       const std::vector<Shape>& /*outputs*/) const {
    return 0;
  }
  // Private scratch floats per row needed by forward/backward (e.g. a dropout mask).
  virtual int64_t scratch_floats(const OpBinding& /*b*/) const { return 0; }
  virtual void forward(const OpBinding& b) const = 0;
  virtual void backward(const OpBinding& b) const = 0;

  // Lockstep training threads split most ops by batch rows (forward/backward on each thread's
  // rows, weight gradients summed afterwards). A layer whose weights dominate the work (dense)
  // may instead split its output units over the whole batch: its products keep their full
  // size and no per-thread weight gradients need summing.
  virtual bool splits_units(const OpBinding& /*b*/, int /*parts*/) const { return false; }
  // Forward for this part's share of the output units, all rows.
  virtual void forward_part(const OpBinding& b, int /*part*/, int /*parts*/) const { forward(b); }
  // Phase 0: this part's units' weight and bias gradients; phase 1 (after a barrier): this
  // part's share of dx.
  virtual void backward_part(const OpBinding& /*b*/, int /*phase*/, int /*part*/,
                             int /*parts*/) const {}

  // The int8 reference kernel: exactly the integer arithmetic of the TFLite reference kernels.
  // The default throws Error(kUnsupported) naming the op and its type.
  virtual void forward_int8(const Int8Binding& b) const;
};

const Layer& layer_for(OpType type);

// Input shapes of an op as stored in the model (absent optional inputs give an empty shape).
std::vector<Shape> op_input_shapes(const Model& model, const Op& op);
std::vector<Shape> op_output_shapes(const Model& model, const Op& op);

}  // namespace tinyc
