// .tflite import: the stateful recurrent operators (state tensors of role state).
#include <algorithm>
#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "io/tflite_importer.h"
#include "tinyc/error.h"

namespace tinyc::tflite_import_detail {

// UNIDIRECTIONAL_SEQUENCE_LSTM as TFLM runs it: the standard LSTM only (24 inputs; no
// peephole, projection, layer norm or CIFG), batch 1. tinyc's op reads 15 inputs: x, the input
// weights of the i, f, c, o gates, the recurrent weights (same order), the four biases, then
// the hidden and cell state tensors (role state).
void Importer::add_lstm(size_t index, const tfl::Operator& o, const std::vector<int>& in,
                        const std::vector<int>& out) {
  if (in.size() != 24) {
    bad_input("{}: operator {} ({}) has {} inputs (24 expected)", source, index, op_names[index],
              in.size());
  }
  for (size_t k : {9, 10, 11, 16, 17, 20, 21, 22, 23}) {
    if (in[k] >= 0) refuse_op(index, fmt::format("uses optional input {} (peephole, projection "
                                                 "or layer norm: not supported)", k));
  }
  for (size_t k : {0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 13, 14, 15, 18, 19}) {
    if (in[k] < 0) refuse_op(index, fmt::format("lacks input {} (CIFG is not supported)", k));
  }
  Op op;
  op.type = OpType::kLstm;
  for (size_t k : {0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 13, 14, 15, 18, 19}) {
    op.inputs.push_back(tensor(in[k]));
  }
  for (size_t k = 1; k <= 12; ++k) require_constant(op.inputs[k], index, "weight or bias tensor");
  for (size_t k = 13; k <= 14; ++k) {
    if (m.tensor(op.inputs[k]).role != TensorRole::kState) {
      refuse_op(index, "has a hidden or cell state that is not a variable tensor");
    }
  }
  const auto* opt = o.builtin_options_as_UnidirectionalSequenceLSTMOptions();
  if (opt == nullptr) {
    bad_input("{}: operator {} ({}) has no UnidirectionalSequenceLSTMOptions", source, index,
              op_names[index]);
  }
  switch (opt->fused_activation_function()) {
    case tfl::ActivationFunctionType_TANH: op.set_str("activation", "tanh"); break;
    default: refuse_op(index, "has a cell activation other than TANH (TFLM runs only TANH)");
  }
  if (!(opt->cell_clip() >= 0.0f) || !std::isfinite(opt->cell_clip())) {
    bad_input("{}: operator {} ({}) has cell_clip {}", source, index, op_names[index],
              opt->cell_clip());
  }
  op.set_float("cell_clip", opt->cell_clip());
  const Tensor& xt = m.tensor(op.inputs[0]);
  if (opt->time_major() && !(xt.shape.size() == 3 && xt.shape[1] == 1 && xt.shape[0] == 1)) {
    refuse_op(index, "is time-major with more than one step or batch (not supported)");
  }
  finish_op(index, std::move(op), tensor(out[0]));
}

// SVDF: x, weights_feature, weights_time, bias (required, as TFLM reads its scale) and the
// state (a variable tensor).
void Importer::add_svdf(size_t index, const tfl::Operator& o, const std::vector<int>& in,
                        const std::vector<int>& out) {
  if (in.size() != 5 || std::find(in.begin(), in.end(), -1) != in.end()) {
    refuse_op(index, fmt::format("has {} inputs (x, weights_feature, weights_time, bias and "
                                 "state expected)", in.size()));
  }
  Op op;
  op.type = OpType::kSvdf;
  for (int t : in) op.inputs.push_back(tensor(t));
  for (size_t k = 1; k <= 3; ++k) require_constant(op.inputs[k], index, "weight or bias tensor");
  if (m.tensor(op.inputs[4]).role != TensorRole::kState) {
    refuse_op(index, "has a state that is not a variable tensor");
  }
  const auto* opt = o.builtin_options_as_SVDFOptions();
  if (opt == nullptr) {
    bad_input("{}: operator {} ({}) has no SVDFOptions", source, index, op_names[index]);
  }
  op.set_int("rank", opt->rank());
  op.set_str("activation", fused(opt->fused_activation_function(), index));
  finish_op(index, std::move(op), tensor(out[0]));
}

}  // namespace tinyc::tflite_import_detail
