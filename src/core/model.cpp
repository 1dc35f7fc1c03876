#include "tinyc/model.h"

#include <cmath>

#include <fmt/format.h>

#include "tinyc/error.h"
#include "tinyc/layer.h"

namespace tinyc {

int64_t shape_size(const Shape& shape) {
  int64_t n = 1;
  for (int d : shape) n *= d;
  return n;
}

std::string shape_str(const Shape& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + (shape.size() == 1 ? ",)" : ")");
}

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::kFloat32: return "float32";
    case DType::kInt8: return "int8";
    case DType::kInt16: return "int16";
    case DType::kInt32: return "int32";
  }
  return "?";
}

int dtype_bytes(DType dtype) {
  switch (dtype) {
    case DType::kFloat32: return 4;
    case DType::kInt8: return 1;
    case DType::kInt16: return 2;
    case DType::kInt32: return 4;
  }
  return 4;
}

const char* role_name(TensorRole role) {
  switch (role) {
    case TensorRole::kInput: return "input";
    case TensorRole::kOutput: return "output";
    case TensorRole::kWeight: return "weight";
    case TensorRole::kState: return "state";
    case TensorRole::kIntermediate: return "intermediate";
  }
  return "?";
}

const char* task_name(Task task) {
  return task == Task::kClassification ? "classification" : "regression";
}

const char* op_type_name(OpType type) {
  switch (type) {
#define TINYC_OP(name, snake) \
  case OpType::k##name:       \
    return #snake;
#include "tinyc/op_list.h"
#undef TINYC_OP
  }
  return "?";
}

bool parse_op_type(const std::string& name, OpType* type) {
#define TINYC_OP(enum_name, snake) \
  if (name == #snake) {            \
    *type = OpType::k##enum_name;  \
    return true;                   \
  }
#include "tinyc/op_list.h"
#undef TINYC_OP
  return false;
}

int64_t Tensor::sample_size() const {
  int64_t n = 1;
  for (size_t i = 1; i < shape.size(); ++i) n *= shape[i];
  return n;
}

Shape Tensor::sample_shape() const {
  return shape.empty() ? Shape{} : Shape(shape.begin() + 1, shape.end());
}

bool Tensor::operator==(const Tensor& o) const {
  return name == o.name && dtype == o.dtype && shape == o.shape && role == o.role &&
         quant == o.quant && f32 == o.f32 && ints == o.ints;
}

int64_t Op::get_int(const std::string& key, int64_t fallback) const {
  auto it = attrs.find(key);
  return it == attrs.end() || it->second.ints.empty() ? fallback : it->second.ints[0];
}

float Op::get_float(const std::string& key, float fallback) const {
  auto it = attrs.find(key);
  return it == attrs.end() || it->second.floats.empty() ? fallback : it->second.floats[0];
}

std::string Op::get_str(const std::string& key, const std::string& fallback) const {
  auto it = attrs.find(key);
  return it == attrs.end() || it->second.str.empty() ? fallback : it->second.str;
}

bool EpochRecord::operator==(const EpochRecord& o) const {
  return epoch == o.epoch && train_loss == o.train_loss && train_metric == o.train_metric &&
         has_val == o.has_val && val_loss == o.val_loss && val_metric == o.val_metric &&
         lr == o.lr;
}

bool SplitDefinition::operator==(const SplitDefinition& o) const {
  return defined == o.defined && seed == o.seed && val == o.val && test == o.test &&
         stratify == o.stratify && data_fingerprint == o.data_fingerprint &&
         data_rows == o.data_rows;
}

bool CompressionRecord::operator==(const CompressionRecord& o) const {
  return present == o.present && steps == o.steps && before_params == o.before_params &&
         before_nonzero == o.before_nonzero && before_bytes == o.before_bytes &&
         after_params == o.after_params && after_nonzero == o.after_nonzero &&
         after_bytes == o.after_bytes && samples == o.samples && before_loss == o.before_loss &&
         before_metric == o.before_metric && after_loss == o.after_loss &&
         after_metric == o.after_metric;
}

int Model::add_tensor(Tensor t) {
  tensors.push_back(std::move(t));
  return static_cast<int>(tensors.size()) - 1;
}

bool Model::is_quantized() const {
  for (const auto& t : tensors) {
    if (t.role == TensorRole::kWeight && t.dtype == DType::kInt8) return true;
    // A graph of QUANTIZE, ADD, DEQUANTIZE ... has int8 activations and no weights.
    if (!t.is_constant() && t.dtype == DType::kInt8) return true;
  }
  return !inputs.empty() && inputs[0] >= 0 && static_cast<size_t>(inputs[0]) < tensors.size() &&
         input().dtype == DType::kInt8;
}

bool Model::operator==(const Model& o) const {
  return name == o.name && task == o.task && tensors == o.tensors && ops == o.ops &&
         inputs == o.inputs && outputs == o.outputs && preprocess.kind == o.preprocess.kind &&
         preprocess.offset == o.preprocess.offset && preprocess.scale == o.preprocess.scale &&
         labels == o.labels && history == o.history && split == o.split &&
         spec_json == o.spec_json && seed == o.seed && producer == o.producer &&
         compression == o.compression;
}

void validate_model(const Model& model) {
  const auto n_tensors = static_cast<int>(model.tensors.size());
  if (model.ops.empty()) bad_input("model '{}' has no ops", model.name);
  if (model.inputs.empty() || model.outputs.empty()) {
    bad_input("model '{}' has no graph inputs or outputs", model.name);
  }
  std::vector<bool> available(static_cast<size_t>(n_tensors), false);
  for (int i = 0; i < n_tensors; ++i) {
    const Tensor& t = model.tensors[static_cast<size_t>(i)];
    double elements = 1.0;
    for (int d : t.shape) {
      if (d <= 0) bad_input("tensor '{}' has a non-positive dimension {}", t.name, shape_str(t.shape));
      elements *= d;
    }
    // 2^31 elements (8 GB as float) is beyond any tinyc model; the bound keeps every product of
    // sizes in shape inference and MAC counts inside int64 (fuzzer finding).
    if (elements > 2147483648.0) {
      bad_input("tensor '{}' of shape {} has {:.3g} elements, more than 2^31", t.name,
                shape_str(t.shape), elements);
    }
    if (t.role == TensorRole::kWeight || t.role == TensorRole::kState) {
      const bool is_float = t.dtype == DType::kFloat32;
      const size_t have = is_float ? t.f32.size() : t.ints.size();
      if (static_cast<int64_t>(have) != t.size()) {
        bad_input("tensor '{}': {} values stored for shape {}", t.name, have, shape_str(t.shape));
      }
      available[static_cast<size_t>(i)] = true;
    }
    if (!t.quant.empty()) {
      const size_t channels = t.quant.axis < 0 ? 1
          : (t.quant.axis < static_cast<int>(t.shape.size()) ? static_cast<size_t>(t.shape[static_cast<size_t>(t.quant.axis)]) : 0);
      if (t.quant.scale.size() != channels || t.quant.zero_point.size() != channels) {
        bad_input("tensor '{}': quantization has {} scales for {} channels", t.name,
                  t.quant.scale.size(), channels);
      }
    }
  }
  for (int t : model.inputs) {
    if (t < 0 || t >= n_tensors) bad_input("model input index {} out of range", t);
    // Executors copy each case into the input's activation buffer, which weights do not have.
    if (model.tensor(t).is_constant()) {
      bad_input("graph input '{}' is a constant tensor", model.tensor(t).name);
    }
    available[static_cast<size_t>(t)] = true;
  }
  // Preprocessing stores one value, or one per input feature (fuzzer finding: a model whose
  // vectors were shorter than its input overflowed the heap in Preprocess::apply).
  const int64_t features = model.tensor(model.inputs[0]).sample_size();
  for (const std::vector<float>* v : {&model.preprocess.offset, &model.preprocess.scale}) {
    if (v->size() > 1 && static_cast<int64_t>(v->size()) != features) {
      bad_input("model '{}': preprocessing has {} values for {} input features", model.name,
                v->size(), features);
    }
  }
  // Executors read outputs from activation buffers: a weight cannot be a graph output.
  for (int t : model.outputs) {
    if (t < 0 || t >= n_tensors) bad_input("model output index {} out of range", t);
    if (model.tensor(t).is_constant()) {
      bad_input("graph output '{}' is a constant tensor", model.tensor(t).name);
    }
  }
  std::vector<bool> produced(static_cast<size_t>(n_tensors), false);
  for (const Op& op : model.ops) {
    for (int t : op.inputs) {
      if (t >= n_tensors) bad_input("layer '{}': input tensor index {} out of range", op.name, t);
      if (t >= 0 && !available[static_cast<size_t>(t)]) {
        bad_input("layer '{}': reads tensor '{}' before any op produces it", op.name,
                  model.tensor(t).name);
      }
    }
    for (int t : op.outputs) {
      if (t < 0 || t >= n_tensors) bad_input("layer '{}': output index {} out of range", op.name, t);
      if (produced[static_cast<size_t>(t)] || model.tensor(t).is_constant()) {
        bad_input("layer '{}': tensor '{}' is written twice or is a constant", op.name,
                  model.tensor(t).name);
      }
      produced[static_cast<size_t>(t)] = available[static_cast<size_t>(t)] = true;
    }
    const auto expected = layer_for(op.type).infer_shapes(op, op_input_shapes(model, op));
    if (expected.size() != op.outputs.size()) {
      bad_input("layer '{}': {} outputs stored, {} expected", op.name, op.outputs.size(),
                expected.size());
    }
    for (size_t i = 0; i < expected.size(); ++i) {
      const Tensor& t = model.tensor(op.outputs[i]);
      if (t.shape != expected[i]) {
        bad_input("layer '{}': output '{}' has shape {}, expected {}", op.name, t.name,
                  shape_str(t.shape), shape_str(expected[i]));
      }
    }
  }
  for (int t : model.outputs) {
    if (t < 0 || t >= n_tensors || !available[static_cast<size_t>(t)]) {
      bad_input("model output index {} is not produced by any op", t);
    }
  }
}

int64_t op_params(const Model& model, const Op& op) {
  int64_t n = 0;
  for (int t : op.inputs) {
    if (t >= 0 && model.tensor(t).is_constant()) n += model.tensor(t).size();
  }
  return n;
}

ModelStats model_stats(const Model& model) {
  ModelStats s;
  std::vector<bool> counted(model.tensors.size(), false);
  for (const Op& op : model.ops) {
    s.macs += layer_for(op.type).macs(op, op_input_shapes(model, op), op_output_shapes(model, op));
    for (int t : op.inputs) {
      if (t < 0 || counted[static_cast<size_t>(t)] || !model.tensor(t).is_constant()) continue;
      counted[static_cast<size_t>(t)] = true;
      const Tensor& w = model.tensor(t);
      s.params += w.size();
      s.weights_bytes += w.size() * dtype_bytes(w.dtype);
      // int8 weights carry their float scales (the int32 bias scales are derived from them).
      if (w.dtype == DType::kInt8) {
        s.weights_bytes += 4 * static_cast<int64_t>(w.quant.scale.size());
      }
      if (w.dtype == DType::kFloat32) {
        for (float v : w.f32) s.nonzero_params += v != 0.0f;
      } else {
        for (int32_t v : w.ints) s.nonzero_params += v != 0;
      }
    }
  }
  return s;
}

}  // namespace tinyc
