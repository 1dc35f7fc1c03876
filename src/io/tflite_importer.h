// The .tflite importer's private parts, shared by its files: the Importer of one subgraph.
// tflite_import.cpp: checks, run(), entry points; tflite_import_tensors.cpp: tensors, buffers,
// operator names and scale checks; tflite_import_ops.cpp: the stateless operators;
// tflite_import_recurrent.cpp: UNIDIRECTIONAL_SEQUENCE_LSTM and SVDF.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "io/tflite_ops.h"
#include "tflite_subset_generated.h"
#include "tinyc/error.h"
#include "tinyc/model.h"

namespace tinyc::tflite_import_detail {

namespace fbs = flatbuffers;
namespace op_code = tflite_op;

// Model > subgraphs > SubGraph > tensors > Tensor > quantization > scale, with margin.
constexpr fbs::uoffset_t kMaxDepth = 16;
// Largest tensor accepted (elements): bounds the executors' buffers for corrupt shapes.
constexpr int64_t kMaxElements = int64_t{1} << 26;

struct Importer {
  const tfl::Model& fm;
  const tfl::SubGraph& sg;
  std::string source;
  Model m;
  std::vector<int> mapped;          // TFLite tensor index -> tinyc tensor index, or -1
  std::vector<std::string> op_names;  // per operator: "FULLY_CONNECTED", "CUSTOM:Foo"
  std::map<OpType, int> type_counts;  // for op names: dense_1, dense_2 ...

  Importer(const tfl::Model& model, const tfl::SubGraph& subgraph, std::string src)
      : fm(model), sg(subgraph), source(std::move(src)) {}

  int tensor_count() const {
    return sg.tensors() == nullptr ? 0 : static_cast<int>(sg.tensors()->size());
  }

  std::string op_list() const {
    std::string s;
    for (size_t i = 0; i < op_names.size(); ++i) s += (i ? ", " : "") + op_names[i];
    return "[" + s + "]";
  }

  int32_t builtin_code(const tfl::OperatorCode& oc) const {
    return std::max<int32_t>(oc.deprecated_builtin_code(), oc.builtin_code());
  }

  // Names every operator; refuses custom ops (all of them at once) and bad opcode indices.
  void name_ops();

  [[noreturn]] void refuse_op(size_t index, const std::string& why) const {
    unsupported("{}: operator {} ({}) {}; model ops: {}", source, index, op_names[index], why,
                op_list());
  }

  void check_index(int t, size_t op, bool optional) const {
    if ((t == -1 && optional) || (t >= 0 && t < tensor_count())) return;
    bad_input("{}: operator {} ({}) refers to tensor {}, outside [0, {})", source, op,
              op_names[op], t, tensor_count());
  }

  // The tinyc tensor for TFLite tensor `t` (imported on first use).
  int tensor(int t);

  void read_buffer(const tfl::Tensor& ft, int t, Tensor& x) const;

  // The fused activation as tinyc's attribute value; others are refused.
  std::string fused(tfl::ActivationFunctionType a, size_t index) const;

  std::string padding(tfl::Padding p) const { return p == tfl::Padding_SAME ? "same" : "valid"; }

  // A zero bias for a FULLY_CONNECTED / CONV without one: float, or int32 with scale in*w.
  int zero_bias(int x, int w, int64_t units);

  void require_constant(int t, size_t index, const char* what) const {
    if (!m.tensor(t).is_constant()) refuse_op(index, std::string("has a non-constant ") + what);
  }

  // The integer kernels shift by the exponent of scale ratios: scales must be finite and
  // positive, and in * w / out (with weights) or in / out below 2^31, as in real models.
  void check_scales(size_t index, const std::vector<int>& inputs, int y) const;

  void add_op(size_t index, const tfl::Operator& o);
  void add_lstm(size_t index, const tfl::Operator& o, const std::vector<int>& in,
                const std::vector<int>& out);
  void add_svdf(size_t index, const tfl::Operator& o, const std::vector<int>& in,
                const std::vector<int>& out);
  void finish_op(size_t index, Op op, int y);
  Model run();
};

}  // namespace tinyc::tflite_import_detail
