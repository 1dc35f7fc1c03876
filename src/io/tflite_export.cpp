// Model -> .tflite (include/tinyc/tflite.h). First a lowering on a copy of the model (batch_norm
// folded, identity ops removed, preprocessing folded where exact), then one pass that writes
// TFLite tensors, buffers and operators with the FlatBuffers builder. The builder is
// deterministic: the same model gives the same bytes.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>

#include "io/tflite_ops.h"
#include "tflite_subset_generated.h"
#include "tinyc/error.h"
#include "tinyc/executor.h"
#include "tinyc/fileio.h"
#include "tinyc/tflite.h"
#include "tinyc/transform.h"
#include "tinyc/version.h"

namespace tinyc {
namespace {

namespace fbs = flatbuffers;
namespace op_code = tflite_op;

// TFLM and the TFLite interpreter read constant buffers in place: keep them 16-byte aligned.
constexpr size_t kBufferAlignment = 16;

[[noreturn]] void refuse_layer(const Op& op, const std::string& why) {
  unsupported("cannot export layer '{}' ({}) to .tflite: {}", op.name, op_type_name(op.type), why);
}

// Removes ops that compute the identity at inference (dropout, activation "none"): their
// consumers read the op's input instead.
void remove_identity_ops(Model& m) {
  std::vector<Op> kept;
  for (Op& op : m.ops) {
    const bool identity = op.type == OpType::kDropout ||
                          (op.type == OpType::kActivation &&
                           op.get_str("activation", "none") == "none");
    if (!identity) {
      kept.push_back(std::move(op));
      continue;
    }
    const int x = op.inputs.at(0), y = op.outputs.at(0);
    for (Op& later : m.ops) {
      for (int& t : later.inputs) t = t == y ? x : t;
    }
    for (Op& earlier : kept) {
      for (int& t : earlier.inputs) t = t == y ? x : t;
    }
    for (int& t : m.outputs) {
      if (t != y) continue;
      if (std::find(m.inputs.begin(), m.inputs.end(), x) != m.inputs.end()) {
        refuse_layer(op, "it would connect the graph input straight to the output");
      }
      t = x;
      m.tensor(x).role = TensorRole::kOutput;
    }
  }
  m.ops = std::move(kept);
  remove_unused_tensors(m);
}

// The ops reading tensor `t`.
std::vector<size_t> consumers(const Model& m, int t) {
  std::vector<size_t> result;
  for (size_t i = 0; i < m.ops.size(); ++i) {
    const auto& in = m.ops[i].inputs;
    if (std::find(in.begin(), in.end(), t) != in.end()) result.push_back(i);
  }
  return result;
}

// A .tflite has no preprocessing. Folds x' = (x - offset) * scale into the model where that is
// exact in real arithmetic (see tflite.h); otherwise leaves it out and says so in a note.
void fold_preprocess(Model& m, ExportReport& report) {
  const Preprocess& p = m.preprocess;
  if (p.is_identity()) return;
  const Tensor& in = m.input();
  const int64_t features = in.sample_size();
  const bool no_offset = std::all_of(p.offset.begin(), p.offset.end(), [](float o) { return o == 0.0f; });
  const bool uniform = p.scale.size() <= 1 && p.offset.size() <= 1;
  const std::vector<size_t> users = consumers(m, m.inputs[0]);
  const std::string kind = norm_kind_name(p.kind);
  // int8 models keep it out: TFLM derives each layer's requantization from the input scale, so
  // a scale folded into it would change the first layer's arithmetic.
  if (!m.is_quantized() && m.inputs.size() == 1 && users.size() == 1) {
    // Through flatten / reshape (row-major: the feature order is unchanged) to the first layer.
    size_t first = users[0];
    while (m.ops[first].type == OpType::kFlatten || m.ops[first].type == OpType::kReshape) {
      const int t = m.ops[first].outputs[0];
      const std::vector<size_t> next = consumers(m, t);
      if (next.size() != 1 || std::count(m.outputs.begin(), m.outputs.end(), t) != 0) break;
      first = next[0];
    }
    Op& op = m.ops[first];
    const bool dense = op.type == OpType::kDense;
    // A conv's padding holds zeros of the preprocessed input, and its taps see several
    // features through one weight: only a per-tensor scale without offset folds exactly.
    const bool conv = (op.type == OpType::kConv2d || op.type == OpType::kDepthwiseConv2d) &&
                      no_offset && uniform;
    // The weights change: only when this layer alone reads them.
    const bool own_weights = (dense || conv) && consumers(m, op.inputs[1]).size() == 1 &&
                             consumers(m, op.inputs[2]).size() == 1;
    if (own_weights) {
      auto at = [](const std::vector<float>& v, int64_t i, float fallback) {
        return v.empty() ? fallback : v[v.size() == 1 ? 0 : static_cast<size_t>(i)];
      };
      Tensor& w = m.tensor(op.inputs[1]);
      Tensor& b = m.tensor(op.inputs[2]);
      if (dense) {
        // y = W ((x - o) * s) + b = (W diag(s)) x + (b - W diag(s) o)
        const int64_t units = w.shape[0];
        for (int64_t u = 0; u < units; ++u) {
          double shift = 0.0;
          for (int64_t j = 0; j < features; ++j) {
            float& v = w.f32[static_cast<size_t>(u * features + j)];
            const double scaled = static_cast<double>(v) * at(p.scale, j, 1.0f);
            shift += scaled * at(p.offset, j, 0.0f);
            v = static_cast<float>(scaled);
          }
          float& bias = b.f32[static_cast<size_t>(u)];
          bias = static_cast<float>(static_cast<double>(bias) - shift);
        }
      } else {
        const double s = at(p.scale, 0, 1.0f);
        for (float& v : w.f32) v = static_cast<float>(v * s);
      }
      m.preprocess = Preprocess{};
      report.notes.push_back(fmt::format("preprocessing ({}) folded into layer '{}': the .tflite "
                                         "takes raw inputs", kind, op.name));
      return;
    }
  }
  auto describe = [](const std::vector<float>& v) {
    return v.size() == 1 ? fmt::format("{}", v[0]) : fmt::format("per feature ({} values)", v.size());
  };
  std::string params;
  if (!p.offset.empty()) params += "offset " + describe(p.offset);
  if (!p.scale.empty()) params += (params.empty() ? "" : ", ") + ("scale " + describe(p.scale));
  report.notes.push_back(fmt::format("note: preprocessing '{}' ({}) is not part of the .tflite; "
                                     "feed it preprocessed inputs x' = (x - offset) * scale", kind, params));
  m.preprocess = Preprocess{};
}

// The lowered copy the writer emits.
Model lower(const Model& model, ExportReport& report) {
  Model m = model;
  if (!m.is_quantized()) fold_batch_norm(m);
  for (const Op& op : m.ops) {
    if (op.type == OpType::kBatchNorm) {
      refuse_layer(op, "a batch_norm folds only into the conv2d, depthwise_conv2d or dense "
                       "before it, when nothing else reads that layer's output and it has no "
                       "fused activation");
    }
  }
  remove_identity_ops(m);
  if (m.ops.empty()) unsupported("cannot export model '{}' to .tflite: it has no ops", m.name);
  fold_preprocess(m, report);
  validate_model(m);
  return m;
}

tfl::TensorType tensor_type(DType d) {
  switch (d) {
    case DType::kFloat32: return tfl::TensorType_FLOAT32;
    case DType::kInt8: return tfl::TensorType_INT8;
    case DType::kInt16: return tfl::TensorType_INT16;
    case DType::kInt32: return tfl::TensorType_INT32;
  }
  return tfl::TensorType_FLOAT32;
}

class Writer {
 public:
  Writer(const Model& m, bool float_io) : m_(m), int8_(m.is_quantized()), float_io_(float_io && int8_) {
    buffers_.push_back(tfl::CreateBuffer(fbb_));  // buffer 0: the empty sentinel
  }

  std::string run();

 private:
  // The TFLite tensor of tinyc tensor `t` (written on first use).
  int tensor(int t) {
    auto it = mapped_.find(t);
    if (it != mapped_.end()) return it->second;
    const Tensor& x = m_.tensor(t);
    const int k = add_tensor(x.name, x.shape, x.dtype, x.quant, data_buffer(x));
    mapped_[t] = k;
    return k;
  }

  int add_tensor(const std::string& name, const Shape& shape, DType dtype, const Quantization& q,
                 uint32_t buffer) {
    fbs::Offset<tfl::QuantizationParameters> quant = 0;
    if (!q.empty()) {
      quant = tfl::CreateQuantizationParametersDirect(fbb_, nullptr, nullptr, &q.scale,
                                                      &q.zero_point, q.axis < 0 ? 0 : q.axis);
    }
    tensors_.push_back(tfl::CreateTensorDirect(fbb_, &shape, tensor_type(dtype), buffer,
                                               name.c_str(), quant));
    return static_cast<int>(tensors_.size() - 1);
  }

  // A buffer with the tensor's constant data, little-endian; 0 (the empty buffer) for
  // activations.
  uint32_t data_buffer(const Tensor& x) {
    if (!x.is_constant()) return 0;
    const size_t width = static_cast<size_t>(dtype_bytes(x.dtype));
    const size_t count = static_cast<size_t>(x.size());
    std::vector<uint8_t> bytes(count * width);
    for (size_t i = 0; i < count; ++i) {
      uint32_t bits = 0;
      if (x.dtype == DType::kFloat32) {
        std::memcpy(&bits, &x.f32[i], 4);
      } else {
        bits = static_cast<uint32_t>(x.ints[i]);  // two's complement, low `width` bytes kept
      }
      for (size_t b = 0; b < width; ++b) bytes[i * width + b] = static_cast<uint8_t>(bits >> (8 * b));
    }
    return add_buffer(bytes);
  }

  uint32_t add_buffer(const std::vector<uint8_t>& bytes) {
    fbb_.ForceVectorAlignment(bytes.size(), 1, kBufferAlignment);
    const auto data = fbb_.CreateVector(bytes);
    buffers_.push_back(tfl::CreateBuffer(fbb_, data));
    return static_cast<uint32_t>(buffers_.size() - 1);
  }

  // A constant int32 shape tensor (RESHAPE's second input).
  int shape_tensor(const std::string& name, const Shape& shape) {
    std::vector<uint8_t> bytes(shape.size() * 4);
    for (size_t i = 0; i < shape.size(); ++i) {
      for (size_t b = 0; b < 4; ++b) {
        bytes[i * 4 + b] = static_cast<uint8_t>(static_cast<uint32_t>(shape[i]) >> (8 * b));
      }
    }
    Quantization none;
    return add_tensor(name, {static_cast<int>(shape.size())}, DType::kInt32, none,
                      add_buffer(bytes));
  }

  // An intermediate tensor like tinyc tensor `like` (dtype, quantization) with `shape`.
  int intermediate(const std::string& name, const Shape& shape, const Tensor& like) {
    return add_tensor(name, shape, like.dtype, like.quant, 0);
  }

  uint32_t opcode(int32_t code) {
    const int version = op_version(code);
    const auto key = std::make_pair(code, version);
    auto it = opcodes_.find(key);
    if (it != opcodes_.end()) return it->second;
    // deprecated_builtin_code holds codes below 127; larger ones put 127
    // (PLACEHOLDER_FOR_GREATER_OP_CODES) there and the real code in builtin_code.
    const auto deprecated = static_cast<int8_t>(std::min<int32_t>(code, 127));
    codes_.push_back(tfl::CreateOperatorCode(fbb_, deprecated, 0, version, code));
    const auto index = static_cast<uint32_t>(codes_.size() - 1);
    opcodes_[key] = index;
    return index;
  }

  // TFLite's op versions (tools/versioning/op_version.cc) for the signatures written here.
  int op_version(int32_t code) const {
    if (!int8_) return 1;
    switch (code) {
      case op_code::kQuantize: return 1;  // float32 -> int8, per tensor
      case op_code::kDequantize: return 2;  // int8 -> float32
      case op_code::kConv2d: case op_code::kDepthwiseConv2d: return 3;
      case op_code::kFullyConnected: return 4;
      case op_code::kReshape: return 1;
      default: return 2;  // pools, SOFTMAX, LOGISTIC, TANH, RELU, RELU6 with int8
    }
  }

  void add_op(int32_t code, const std::vector<int>& in, const std::vector<int>& out,
              tfl::BuiltinOptions type = tfl::BuiltinOptions_NONE,
              fbs::Offset<void> options = 0) {
    ops_.push_back(tfl::CreateOperatorDirect(fbb_, opcode(code), &in, &out, type, options));
  }

  tfl::ActivationFunctionType fused(const Op& op) const {
    const std::string a = op.get_str("activation", "none");
    if (a == "none" || a == "linear") return tfl::ActivationFunctionType_NONE;
    if (a == "relu") return tfl::ActivationFunctionType_RELU;
    if (a == "relu6") return tfl::ActivationFunctionType_RELU6;
    refuse_layer(op, "fused activation '" + a + "' (TFLite fuses none, relu and relu6)");
  }

  static std::pair<int, int> pair_attr(const Op& op, const char* key) {
    auto it = op.attrs.find(key);
    if (it == op.attrs.end() || it->second.ints.empty()) return {1, 1};
    return {static_cast<int>(it->second.ints.front()), static_cast<int>(it->second.ints.back())};
  }

  tfl::Padding padding(const Op& op) const {
    return op.get_str("padding", "valid") == "same" ? tfl::Padding_SAME : tfl::Padding_VALID;
  }

  void write_op(const Op& op);

  const Model& m_;
  const bool int8_;
  const bool float_io_;
  fbs::FlatBufferBuilder fbb_{1 << 16};
  std::map<int, int> mapped_;
  std::map<std::pair<int32_t, int>, uint32_t> opcodes_;
  std::vector<fbs::Offset<tfl::Tensor>> tensors_;
  std::vector<fbs::Offset<tfl::Buffer>> buffers_;
  std::vector<fbs::Offset<tfl::OperatorCode>> codes_;
  std::vector<fbs::Offset<tfl::Operator>> ops_;
};

void Writer::write_op(const Op& op) {
  const Tensor& yt = m_.tensor(op.outputs.at(0));
  switch (op.type) {
    case OpType::kDense: {
      const std::vector<int> in = {tensor(op.inputs[0]), tensor(op.inputs[1]), tensor(op.inputs[2])};
      const auto options = tfl::CreateFullyConnectedOptions(fbb_, fused(op));
      add_op(op_code::kFullyConnected, in, {tensor(op.outputs[0])},
             tfl::BuiltinOptions_FullyConnectedOptions, options.Union());
      return;
    }
    case OpType::kConv2d:
    case OpType::kDepthwiseConv2d: {
      const std::vector<int> in = {tensor(op.inputs[0]), tensor(op.inputs[1]), tensor(op.inputs[2])};
      const auto [sh, sw] = pair_attr(op, "stride");
      if (op.type == OpType::kConv2d) {
        const auto options = tfl::CreateConv2DOptions(fbb_, padding(op), sw, sh, fused(op));
        add_op(op_code::kConv2d, in, {tensor(op.outputs[0])}, tfl::BuiltinOptions_Conv2DOptions,
               options.Union());
      } else {
        const auto mult = static_cast<int>(op.get_int("depth_multiplier", 1));
        const auto options =
            tfl::CreateDepthwiseConv2DOptions(fbb_, padding(op), sw, sh, mult, fused(op));
        add_op(op_code::kDepthwiseConv2d, in, {tensor(op.outputs[0])},
               tfl::BuiltinOptions_DepthwiseConv2DOptions, options.Union());
      }
      return;
    }
    case OpType::kMaxPool2d:
    case OpType::kAvgPool2d: {
      const auto [ph, pw] = pair_attr(op, "pool");
      auto [sh, sw] = pair_attr(op, "stride");
      if (!op.has("stride")) sh = ph, sw = pw;  // tinyc's default stride is the pool size
      const auto options = tfl::CreatePool2DOptions(fbb_, padding(op), sw, sh, pw, ph);
      add_op(op.type == OpType::kMaxPool2d ? op_code::kMaxPool2d : op_code::kAveragePool2d,
             {tensor(op.inputs[0])}, {tensor(op.outputs[0])}, tfl::BuiltinOptions_Pool2DOptions,
             options.Union());
      return;
    }
    case OpType::kGlobalAvgPool2d: {
      // AVERAGE_POOL_2D over the whole H x W (exactly tinyc's int8 arithmetic; TFLM's MEAN is
      // a different kernel), then RESHAPE (1, 1, 1, C) -> (1, C).
      const Shape& s = m_.tensor(op.inputs[0]).shape;
      const int pooled = intermediate(yt.name + "/pooled", {1, 1, 1, s[3]}, yt);
      const auto options = tfl::CreatePool2DOptions(fbb_, tfl::Padding_VALID, 1, 1, s[2], s[1]);
      add_op(op_code::kAveragePool2d, {tensor(op.inputs[0])}, {pooled},
             tfl::BuiltinOptions_Pool2DOptions, options.Union());
      const int shape = shape_tensor(yt.name + "/shape", yt.shape);
      const auto reshape = tfl::CreateReshapeOptionsDirect(fbb_, &yt.shape);
      add_op(op_code::kReshape, {pooled, shape}, {tensor(op.outputs[0])},
             tfl::BuiltinOptions_ReshapeOptions, reshape.Union());
      return;
    }
    case OpType::kFlatten:
    case OpType::kReshape: {
      const int shape = shape_tensor(yt.name + "/shape", yt.shape);
      const auto options = tfl::CreateReshapeOptionsDirect(fbb_, &yt.shape);
      add_op(op_code::kReshape, {tensor(op.inputs[0]), shape}, {tensor(op.outputs[0])},
             tfl::BuiltinOptions_ReshapeOptions, options.Union());
      return;
    }
    case OpType::kSoftmax: {
      const auto options = tfl::CreateSoftmaxOptions(fbb_, op.get_float("beta", 1.0f));
      add_op(op_code::kSoftmax, {tensor(op.inputs[0])}, {tensor(op.outputs[0])},
             tfl::BuiltinOptions_SoftmaxOptions, options.Union());
      return;
    }
    case OpType::kActivation: {
      const std::string a = op.get_str("activation", "none");
      const int32_t code = a == "relu"      ? op_code::kRelu
                           : a == "relu6"   ? op_code::kRelu6
                           : a == "sigmoid" ? op_code::kLogistic
                           : a == "tanh"    ? op_code::kTanh : -1;
      if (code < 0) refuse_layer(op, "activation '" + a + "' has no TFLite op");
      add_op(code, {tensor(op.inputs[0])}, {tensor(op.outputs[0])});
      return;
    }
    default:
      refuse_layer(op, "no TFLite mapping (export supports dense, conv2d, depthwise_conv2d, "
                       "max_pool2d, avg_pool2d, global_avg_pool2d, flatten, reshape, softmax, "
                       "activation, and folds batch_norm and dropout)");
  }
}

std::string Writer::run() {
  std::vector<int> inputs, outputs;
  // Float I/O: QUANTIZE each float input into the int8 graph input, DEQUANTIZE each output.
  const Quantization none;
  for (int t : m_.inputs) {
    const Tensor& x = m_.tensor(t);
    if (!float_io_) continue;
    inputs.push_back(add_tensor(x.name + "/float", x.shape, DType::kFloat32, none, 0));
    add_op(op_code::kQuantize, {inputs.back()}, {tensor(t)});
  }
  for (const Op& op : m_.ops) write_op(op);
  for (int t : m_.inputs) {
    if (!float_io_) inputs.push_back(tensor(t));
  }
  for (int t : m_.outputs) {
    const Tensor& y = m_.tensor(t);
    if (!float_io_) {
      outputs.push_back(tensor(t));
      continue;
    }
    outputs.push_back(add_tensor(y.name + "/float", y.shape, DType::kFloat32, none, 0));
    add_op(op_code::kDequantize, {tensor(t)}, {outputs.back()});
  }
  const auto subgraph = tfl::CreateSubGraphDirect(fbb_, &tensors_, &inputs, &outputs, &ops_, "main");
  const std::vector<fbs::Offset<tfl::SubGraph>> subgraphs = {subgraph};
  const std::string description = fmt::format("tinyc {} export of model '{}'", kVersion, m_.name);
  const auto model = tfl::CreateModelDirect(fbb_, 3, &codes_, &subgraphs, description.c_str(),
                                            &buffers_);
  tfl::FinishModelBuffer(fbb_, model);
  return std::string(reinterpret_cast<const char*>(fbb_.GetBufferPointer()), fbb_.GetSize());
}

}  // namespace

std::string export_tflite(const Model& model, const ExportOptions& options, ExportReport* report) {
  ExportReport local;
  ExportReport& r = report != nullptr ? *report : local;
  const Model m = lower(model, r);
  if (m.is_quantized()) check_int8_model(m);
  for (const Tensor& t : m.tensors) {
    if (!t.is_constant() && m.is_quantized() != (t.dtype == DType::kInt8)) {
      unsupported("cannot export model '{}' to .tflite: activation tensor '{}' is {} in a{} "
                  "model", m.name, t.name, dtype_name(t.dtype),
                  m.is_quantized() ? "n int8" : " float32");
    }
  }
  if (options.float_io && !m.is_quantized()) {
    r.notes.push_back("note: --float-io has no effect on a float32 model (its I/O is float32)");
  }
  Writer writer(m, options.float_io);
  return writer.run();
}

void save_tflite(const Model& model, const std::string& path, const ExportOptions& options,
                 ExportReport* report) {
  write_file_atomic(path, export_tflite(model, options, report));
}

}  // namespace tinyc
