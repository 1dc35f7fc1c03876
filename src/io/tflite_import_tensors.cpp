// .tflite import: tensors (types, shapes, quantization, constant buffers, state), operator
// names and the checks on quantization scales.
#include <algorithm>
#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "io/tflite_importer.h"
#include "tinyc/error.h"

namespace tinyc::tflite_import_detail {

// Names every operator; refuses custom ops (all of them at once) and bad opcode indices.
void Importer::name_ops() {
  const auto* codes = fm.operator_codes();
  std::vector<std::string> custom;
  for (const tfl::Operator* o : *sg.operators()) {
    const uint32_t idx = o->opcode_index();
    if (codes == nullptr || idx >= codes->size()) {
      bad_input("{}: operator {} has opcode index {} but the model has {} operator codes",
                source, op_names.size(), idx, codes == nullptr ? 0 : codes->size());
    }
    const tfl::OperatorCode& oc = *codes->Get(idx);
    const int32_t code = builtin_code(oc);
    std::string name = op_code::builtin_name(code);
    if (code == op_code::kCustom) {
      name = "CUSTOM:" + (oc.custom_code() ? oc.custom_code()->str() : std::string("?"));
      if (std::find(custom.begin(), custom.end(), name) == custom.end()) custom.push_back(name);
    }
    op_names.push_back(name);
  }
  if (!custom.empty()) {
    std::string list;
    for (const std::string& c : custom) list += (list.empty() ? "" : ", ") + c;
    unsupported("{}: custom operators {} are not supported (model ops: {})", source, list,
                op_list());
  }
}

// The tinyc tensor for TFLite tensor `t` (imported on first use).
int Importer::tensor(int t) {
  if (t < 0 || static_cast<size_t>(t) >= mapped.size()) {
    bad_input("{}: tensor index {} out of range (the subgraph has {} tensors)", source, t,
              mapped.size());
  }
  if (mapped[static_cast<size_t>(t)] >= 0) return mapped[static_cast<size_t>(t)];
  const tfl::Tensor& ft = *sg.tensors()->Get(static_cast<fbs::uoffset_t>(t));
  Tensor x;
  x.name = ft.name() ? ft.name()->str() : "tensor_" + std::to_string(t);
  switch (ft.type()) {
    case tfl::TensorType_FLOAT32: x.dtype = DType::kFloat32; break;
    case tfl::TensorType_INT8: x.dtype = DType::kInt8; break;
    case tfl::TensorType_INT16: x.dtype = DType::kInt16; break;
    case tfl::TensorType_INT32: x.dtype = DType::kInt32; break;
    default:
      unsupported("{}: tensor {} ('{}') has TFLite type {}, which tinyc does not support "
                  "(float32, int8, int16, int32)", source, t, x.name,
                  static_cast<int>(ft.type()));
  }
  if (ft.shape() != nullptr) x.shape.assign(ft.shape()->begin(), ft.shape()->end());
  int64_t count = 1;
  for (int d : x.shape) {
    if (d < 1 || d > kMaxElements || (count *= d) > kMaxElements) {
      bad_input("{}: tensor {} ('{}') has shape {} (dimensions >= 1, at most {} elements)",
                source, t, x.name, shape_str(x.shape), kMaxElements);
    }
  }
  if (const tfl::QuantizationParameters* q = ft.quantization()) {
    if (q->scale() != nullptr) x.quant.scale.assign(q->scale()->begin(), q->scale()->end());
    if (q->zero_point() != nullptr) {
      // Copied bytewise: the verifier does not check that 8-byte elements are aligned.
      x.quant.zero_point.resize(q->zero_point()->size());
      if (!x.quant.zero_point.empty()) {
        std::memcpy(x.quant.zero_point.data(), q->zero_point()->Data(),
                    x.quant.zero_point.size() * sizeof(int64_t));
      }
    }
    if (x.quant.scale.size() != x.quant.zero_point.size()) {
      bad_input("{}: tensor {} ('{}') has {} scales but {} zero points", source, t, x.name,
                x.quant.scale.size(), x.quant.zero_point.size());
    }
    // A 1-D tensor (a bias) has one possible axis, whatever the file says.
    if (x.quant.scale.size() > 1) {
      x.quant.axis = x.shape.size() == 1 ? 0 : q->quantized_dimension();
      const auto axis = static_cast<size_t>(x.quant.axis);
      if (x.quant.axis < 0 || axis >= x.shape.size() ||
          static_cast<int64_t>(x.quant.scale.size()) != x.shape[axis]) {
        bad_input("{}: tensor {} ('{}'): {} scales along dimension {} of shape {}", source, t,
                  x.name, x.quant.scale.size(), x.quant.axis, shape_str(x.shape));
      }
    }
  }
  read_buffer(ft, t, x);
  if (ft.is_variable()) {
    // A variable tensor is the state of a recurrent op. TFLM resets it when it allocates
    // tensors, whatever its buffer holds: to the zero point (int8), else to zeros.
    x.role = TensorRole::kState;
    x.f32.clear();
    x.ints.clear();
    if (x.dtype == DType::kFloat32) {
      x.f32.assign(static_cast<size_t>(x.size()), 0.0f);
    } else {
      const bool zp = x.dtype == DType::kInt8 && !x.quant.zero_point.empty();
      x.ints.assign(static_cast<size_t>(x.size()),
                    zp ? static_cast<int8_t>(x.quant.zero_point[0]) : 0);
    }
  }
  mapped[static_cast<size_t>(t)] = m.add_tensor(std::move(x));
  return mapped[static_cast<size_t>(t)];
}

void Importer::read_buffer(const tfl::Tensor& ft, int t, Tensor& x) const {
  const auto* buffers = fm.buffers();
  const uint32_t b = ft.buffer();
  if (b == 0) return;  // buffer 0 is the empty sentinel: an activation
  if (buffers == nullptr || b >= buffers->size()) {
    bad_input("{}: tensor {} ('{}') refers to buffer {} but the model has {} buffers", source,
              t, x.name, b, buffers == nullptr ? 0 : buffers->size());
  }
  const tfl::Buffer& buf = *buffers->Get(b);
  if (buf.offset() != 0 || buf.size() != 0) {
    unsupported("{}: tensor {} ('{}') keeps its data outside the flatbuffer (buffer offset), "
                "which tinyc does not support", source, t, x.name);
  }
  const auto* data = buf.data();
  if (data == nullptr || data->size() == 0) return;
  const auto width = static_cast<size_t>(dtype_bytes(x.dtype));
  const auto count = static_cast<size_t>(x.size());
  if (data->size() != count * width) {
    bad_input("{}: tensor {} ('{}') has {} data bytes where shape {} of {} needs {}", source, t,
              x.name, data->size(), shape_str(x.shape), dtype_name(x.dtype), count * width);
  }
  x.role = TensorRole::kWeight;
  const uint8_t* p = data->data();
  if (x.dtype == DType::kFloat32) {
    x.f32.resize(count);
    std::memcpy(x.f32.data(), p, count * 4);  // little-endian host, as TFLite itself assumes
    return;
  }
  x.ints.resize(count);
  for (size_t i = 0; i < count; ++i) {
    if (x.dtype == DType::kInt8) {
      x.ints[i] = static_cast<int8_t>(p[i]);
    } else if (x.dtype == DType::kInt16) {
      int16_t v;
      std::memcpy(&v, p + 2 * i, 2);
      x.ints[i] = v;
    } else {
      std::memcpy(&x.ints[i], p + 4 * i, 4);
    }
  }
}

// The fused activation as tinyc's attribute value; others are refused.
std::string Importer::fused(tfl::ActivationFunctionType a, size_t index) const {
  switch (a) {
    case tfl::ActivationFunctionType_NONE: return "none";
    case tfl::ActivationFunctionType_RELU: return "relu";
    case tfl::ActivationFunctionType_RELU6: return "relu6";
    default:
      refuse_op(index, "has fused activation " + std::to_string(static_cast<int>(a)) +
                           " (tinyc fuses NONE, RELU and RELU6)");
  }
}

// A zero bias for a FULLY_CONNECTED / CONV without one: float, or int32 with scale in*w.
int Importer::zero_bias(int x, int w, int64_t units) {
  const Tensor& xt = m.tensor(x);
  const Tensor& wt = m.tensor(w);
  Tensor b;
  b.name = wt.name + "/zero_bias";
  b.shape = {static_cast<int>(units)};
  b.role = TensorRole::kWeight;
  if (wt.dtype == DType::kFloat32) {
    b.f32.assign(static_cast<size_t>(units), 0.0f);
  } else {
    b.dtype = DType::kInt32;
    b.ints.assign(static_cast<size_t>(units), 0);
    const float xs = xt.quant.scale.empty() ? 1.0f : xt.quant.scale[0];
    for (float ws : wt.quant.scale) b.quant.scale.push_back(xs * ws);
    b.quant.zero_point.assign(b.quant.scale.size(), 0);
    b.quant.axis = b.quant.scale.size() > 1 ? 0 : -1;
  }
  return m.add_tensor(std::move(b));
}

// The integer kernels shift by the exponent of scale ratios: scales must be finite and
// positive, and in * w / out (with weights) or in / out below 2^31, as in real models.
void Importer::check_scales(size_t index, const std::vector<int>& inputs, int y) const {
  const Tensor& yt = m.tensor(y);
  if (yt.dtype != DType::kInt8) return;
  for (const int t : inputs) {
    for (float s : m.tensor(t).quant.scale) {
      if (!(s > 0.0f) || !std::isfinite(s)) {
        bad_input("{}: operator {} ({}): tensor '{}' has quantization scale {}", source, index,
                  op_names[index], m.tensor(t).name, s);
      }
    }
  }
  const Tensor& xt = m.tensor(inputs[0]);
  if (xt.quant.scale.size() != 1 || yt.quant.scale.size() != 1 || !(yt.quant.scale[0] > 0.0f)) {
    return;  // the kernels report missing per-tensor parameters, naming the layer
  }
  double most = static_cast<double>(xt.quant.scale[0]);
  if (inputs.size() > 1 && m.tensor(inputs[1]).dtype == DType::kInt8) {
    double w = 0.0;
    for (float s : m.tensor(inputs[1]).quant.scale) w = std::max(w, static_cast<double>(s));
    most *= w;
  }
  const double ratio = most / static_cast<double>(yt.quant.scale[0]);
  if (!(ratio < 0x1p30)) {
    bad_input("{}: operator {} ({}): quantization scales give a rescale factor of {} (output "
              "'{}'); the file is corrupt", source, index, op_names[index], ratio, yt.name);
  }
}

}  // namespace tinyc::tflite_import_detail
