// Sparse weight layout of int8 dense layers (kernels_sparse.cpp): chosen per layer when it
// takes fewer bytes than the dense matrix.
#pragma once

#include <cstdint>
#include <string>

#include "emit/emit_internal.h"

namespace tinyc {

struct WeightLayout {
  bool applies = false;       // an int8 dense layer: a layout choice is made
  bool sparse = false;        // the sparse layout is smaller, and chosen
  int64_t dense_bytes = 0;    // the weight matrix as (out, in) int8
  int64_t sparse_bytes = 0;   // values + deltas + row ends
  double zero_fraction = 0.0;
  std::string why;            // "75.0% zeros: sparse 52400 B < dense 100352 B"
};

WeightLayout choose_int8_weight_layout(const Model& m, const Op& op);

// The layer's constants in the sparse layout and `void fn(const int8_t* x, int8_t* y)`.
void emit_sparse_dense(EmitContext& ctx, const Op& op, const std::string& fn);

}  // namespace tinyc
