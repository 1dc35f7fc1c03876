// The in-memory model: a DAG of tensors and ops (DESIGN.md §1). A sequential spec is only
// one way to build it; the .tflite importer builds it too.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tinyc/aligned.h"
#include "tinyc/preprocess.h"

namespace tinyc {

using Shape = std::vector<int>;

int64_t shape_size(const Shape& shape);
std::string shape_str(const Shape& shape);  // "(28, 28, 1)"

enum class DType : uint8_t { kFloat32, kInt8, kInt16, kInt32 };
const char* dtype_name(DType dtype);
int dtype_bytes(DType dtype);

enum class TensorRole : uint8_t { kInput, kOutput, kWeight, kState, kIntermediate };
const char* role_name(TensorRole role);

// real = scale * (q - zero_point); per tensor (one scale) or per channel along `axis`.
struct Quantization {
  std::vector<float> scale;
  std::vector<int64_t> zero_point;
  int axis = -1;
  bool empty() const { return scale.empty(); }
  bool operator==(const Quantization& o) const {
    return scale == o.scale && zero_point == o.zero_point && axis == o.axis;
  }
};

// Activation tensors (input, output, intermediate) carry a leading batch dimension of 1, as in
// TFLite; executors run them with N rows of shape[1:]. Weight and state tensors have their
// full shape.
struct Tensor {
  std::string name;
  DType dtype = DType::kFloat32;
  Shape shape;
  TensorRole role = TensorRole::kIntermediate;
  Quantization quant;
  // Constant data of weights (and initial state): float32 in `f32`, integer types widened
  // into `ints`. Empty for activations.
  FloatBuffer f32;
  std::vector<int32_t> ints;

  int64_t size() const { return shape_size(shape); }
  // Per-sample size of an activation tensor (shape without its batch dimension).
  int64_t sample_size() const;
  Shape sample_shape() const;
  bool is_constant() const { return role == TensorRole::kWeight; }
  bool operator==(const Tensor& o) const;
};

enum class OpType : uint16_t {
#define TINYC_OP(name, snake) k##name,
#include "tinyc/op_list.h"
#undef TINYC_OP
};
const char* op_type_name(OpType type);
bool parse_op_type(const std::string& name, OpType* type);

// A free-form attribute: ints, floats or a string (layers read the kind they expect).
struct Attr {
  std::vector<int64_t> ints;
  std::vector<float> floats;
  std::string str;
  bool operator==(const Attr& o) const {
    return ints == o.ints && floats == o.floats && str == o.str;
  }
};

struct Op {
  OpType type = OpType::kDense;
  std::string name;          // unique, e.g. "dense_1"
  std::vector<int> inputs;   // tensor indices; -1 for an absent optional input
  std::vector<int> outputs;  // tensor indices
  std::map<std::string, Attr> attrs;  // sorted: deterministic serialization

  bool has(const std::string& key) const { return attrs.count(key) != 0; }
  int64_t get_int(const std::string& key, int64_t fallback) const;
  float get_float(const std::string& key, float fallback) const;
  std::string get_str(const std::string& key, const std::string& fallback) const;
  void set_int(const std::string& key, int64_t v) { attrs[key] = Attr{{v}, {}, {}}; }
  void set_float(const std::string& key, float v) { attrs[key] = Attr{{}, {v}, {}}; }
  void set_str(const std::string& key, const std::string& v) { attrs[key] = Attr{{}, {}, v}; }
  bool operator==(const Op& o) const {
    return type == o.type && name == o.name && inputs == o.inputs && outputs == o.outputs &&
           attrs == o.attrs;
  }
};

enum class Task : uint8_t { kClassification, kRegression };
const char* task_name(Task task);

struct EpochRecord {
  int epoch = 0;                 // 1-based
  float train_loss = 0;
  float train_metric = 0;        // accuracy or mse
  bool has_val = false;
  float val_loss = 0;
  float val_metric = 0;
  float lr = 0;
  bool operator==(const EpochRecord& o) const;
};

// How the data was split at training time, so `eval --split` can re-create it.
struct SplitDefinition {
  bool defined = false;
  uint64_t seed = 0;
  double val = 0.0;
  double test = 0.0;
  bool stratify = true;
  uint64_t data_fingerprint = 0;
  int64_t data_rows = 0;
  bool operator==(const SplitDefinition& o) const;
};

// What `compress` did to a model, kept for reports: sizes and test metrics before and after.
struct CompressionRecord {
  bool present = false;
  std::string steps;              // e.g. "prune 0.5, quantize int8"
  int64_t before_params = 0, before_nonzero = 0, before_bytes = 0;
  int64_t after_params = 0, after_nonzero = 0, after_bytes = 0;
  int64_t samples = 0;            // rows the metrics were measured on
  double before_loss = 0, before_metric = 0;  // metric: accuracy or mse
  double after_loss = 0, after_metric = 0;
  bool operator==(const CompressionRecord& o) const;
};

struct Model {
  std::string name;
  Task task = Task::kRegression;
  std::vector<Tensor> tensors;
  std::vector<Op> ops;           // topological order
  std::vector<int> inputs;       // graph inputs (tensor indices), in order
  std::vector<int> outputs;      // graph outputs (tensor indices), in order
  Preprocess preprocess;         // applied to input 0's raw values
  std::vector<std::string> labels;   // class names (classification), optional
  std::vector<EpochRecord> history;  // per-epoch training metrics
  SplitDefinition split;
  std::string spec_json;         // the spec it was built from (compact), may be empty
  uint64_t seed = 0;
  std::string producer;          // "tinyc 0.1.0"
  CompressionRecord compression;  // present after `tinyc compress`

  int add_tensor(Tensor t);
  Tensor& tensor(int index) { return tensors.at(static_cast<size_t>(index)); }
  const Tensor& tensor(int index) const { return tensors.at(static_cast<size_t>(index)); }
  const Tensor& input() const { return tensor(inputs.at(0)); }
  const Tensor& output() const { return tensor(outputs.at(0)); }
  // True when any weight is stored as int8, or the graph input is int8 (a quantized model; a
  // graph of pools and reshapes has no weights).
  bool is_quantized() const;
  bool operator==(const Model& o) const;
};

// Structural checks (indices in range, each tensor produced once, ops in topological order,
// constant data sizes match shapes) and per-op shape inference through the layer registry.
// Throws Error(kBadInput) naming the op.
void validate_model(const Model& model);

// Sizes for `info`, `compress` and reports.
struct ModelStats {
  int64_t params = 0;
  int64_t nonzero_params = 0;
  int64_t weights_bytes = 0;
  int64_t macs = 0;
};
ModelStats model_stats(const Model& model);
int64_t op_params(const Model& model, const Op& op);

}  // namespace tinyc
