// Small helpers for layer implementations: shape checks with messages naming the op, and
// Eigen views over the row-major activation buffers.
#pragma once

#include <cstring>

#include <Eigen/Core>

#include "tinyc/error.h"
#include "tinyc/layer.h"

namespace tinyc {

// n rows of `width` features, row-major, seen by Eigen as a (width x n) column-major matrix:
// one column per sample.
using ConstCols = Eigen::Map<const Eigen::MatrixXf>;
using Cols = Eigen::Map<Eigen::MatrixXf>;
using ConstRowMajor =
    Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;
using RowMajor = Eigen::Map<Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;

inline void require_arity(const Op& op, const std::vector<Shape>& inputs, size_t count) {
  if (inputs.size() != count) {
    bad_input("layer '{}' ({}): expected {} inputs, got {}", op.name, op_type_name(op.type), count,
              inputs.size());
  }
}

// Activation shapes carry a batch dimension of 1 first.
inline void require_batched(const Op& op, const Shape& shape) {
  if (shape.empty() || shape[0] != 1) {
    bad_input("layer '{}' ({}): input shape {} must start with a batch dimension of 1", op.name,
              op_type_name(op.type), shape_str(shape));
  }
}

// Per-sample element count of an activation shape.
inline int64_t per_sample(const Shape& shape) {
  int64_t n = 1;
  for (size_t i = 1; i < shape.size(); ++i) n *= shape[i];
  return n;
}

// Float forward and backward of a layer whose values pass through unchanged (reshape; quantize
// and dequantize in training, whose gradient is the straight-through estimator's): a copy,
// nothing when the executor runs the op in place.
inline void copy_forward(const OpBinding& b) {
  if (b.out[0] == b.in[0]) return;
  std::memcpy(b.out[0], b.in[0], sizeof(float) * static_cast<size_t>(b.n * b.out_tensors[0]->sample_size()));
}
inline void copy_backward(const OpBinding& b) {
  if (b.din[0] == nullptr) return;
  std::memcpy(b.din[0], b.dout[0], sizeof(float) * static_cast<size_t>(b.n * b.out_tensors[0]->sample_size()));
}

}  // namespace tinyc
