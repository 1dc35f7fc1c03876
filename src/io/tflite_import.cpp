// .tflite -> Model (include/tinyc/tflite.h). Check once, then decode: the identifier and the
// FlatBuffers verifier make every access safe; indices, buffer sizes and options are checked
// here with messages naming the op or tensor; validate_model does shape inference last.
#include "tinyc/tflite.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <memory>

#include "io/tflite_ops.h"
#include "tflite_subset_generated.h"
#include "tinyc/error.h"
#include "tinyc/executor.h"
#include "tinyc/fileio.h"
#include "tinyc/version.h"

namespace tinyc {
namespace {

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
  void name_ops() {
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
  int tensor(int t) {
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
        x.quant.zero_point.assign(q->zero_point()->begin(), q->zero_point()->end());
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

  void read_buffer(const tfl::Tensor& ft, int t, Tensor& x) const {
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
  std::string fused(tfl::ActivationFunctionType a, size_t index) const {
    switch (a) {
      case tfl::ActivationFunctionType_NONE: return "none";
      case tfl::ActivationFunctionType_RELU: return "relu";
      case tfl::ActivationFunctionType_RELU6: return "relu6";
      default:
        refuse_op(index, "has fused activation " + std::to_string(static_cast<int>(a)) +
                             " (tinyc fuses NONE, RELU and RELU6)");
    }
  }

  std::string padding(tfl::Padding p) const { return p == tfl::Padding_SAME ? "same" : "valid"; }

  // A zero bias for a FULLY_CONNECTED / CONV without one: float, or int32 with scale in*w.
  int zero_bias(int x, int w, int64_t units) {
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

  void require_constant(int t, size_t index, const char* what) const {
    if (!m.tensor(t).is_constant()) refuse_op(index, std::string("has a non-constant ") + what);
  }

  // The integer kernels shift by the exponent of scale ratios: scales must be finite and
  // positive, and in * w / out (with weights) or in / out below 2^31, as in real models.
  void check_scales(size_t index, const std::vector<int>& inputs, int y) const {
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

  void add_op(size_t index, const tfl::Operator& o);
  void add_lstm(size_t index, const tfl::Operator& o, const std::vector<int>& in,
                const std::vector<int>& out);
  void add_svdf(size_t index, const tfl::Operator& o, const std::vector<int>& in,
                const std::vector<int>& out);
  void finish_op(size_t index, Op op, int y);
  Model run();
};

void Importer::add_op(size_t index, const tfl::Operator& o) {
  const auto* ins = o.inputs();
  const auto* outs = o.outputs();
  std::vector<int> in, out;
  if (ins != nullptr) in.assign(ins->begin(), ins->end());
  if (outs != nullptr) out.assign(outs->begin(), outs->end());
  for (int t : in) check_index(t, index, true);
  for (int t : out) check_index(t, index, false);
  if (out.size() != 1) refuse_op(index, "has " + std::to_string(out.size()) + " outputs");
  const int32_t code = builtin_code(*fm.operator_codes()->Get(o.opcode_index()));
  auto need_inputs = [&](size_t lo, size_t hi) {
    if (in.size() < lo || in.size() > hi || in[0] < 0) {
      bad_input("{}: operator {} ({}) has {} inputs", source, index, op_names[index], in.size());
    }
  };
  if (code == op_code::kUnidirectionalSequenceLstm) {
    add_lstm(index, o, in, out);
    return;
  }
  if (code == op_code::kSvdf) {
    add_svdf(index, o, in, out);
    return;
  }
  switch (code) {
    case op_code::kFullyConnected: case op_code::kConv2d: case op_code::kDepthwiseConv2d:
    case op_code::kMaxPool2d: case op_code::kAveragePool2d: case op_code::kReshape:
    case op_code::kSoftmax: case op_code::kLogistic: case op_code::kTanh: case op_code::kRelu:
    case op_code::kRelu6: case op_code::kAdd: case op_code::kMul: case op_code::kQuantize:
    case op_code::kDequantize: case op_code::kPad: case op_code::kConcatenation:
    case op_code::kMean:
      break;
    default:
      refuse_op(index, "is not supported by the importer yet");
  }
  Op op;
  const int x = [&] {
    need_inputs(1, code == op_code::kConcatenation ? 1024 : 3);
    return tensor(in[0]);
  }();
  op.inputs = {x};
  switch (code) {
    case op_code::kAdd:
    case op_code::kMul: {
      need_inputs(2, 2);
      if (in[1] < 0) bad_input("{}: operator {} ({}) lacks its second input", source, index, op_names[index]);
      op.type = code == op_code::kAdd ? OpType::kAdd : OpType::kMul;
      op.inputs = {x, tensor(in[1])};
      tfl::ActivationFunctionType act = tfl::ActivationFunctionType_NONE;
      if (const auto* opt = o.builtin_options_as_AddOptions()) act = opt->fused_activation_function();
      if (const auto* opt = o.builtin_options_as_MulOptions()) act = opt->fused_activation_function();
      op.set_str("activation", fused(act, index));
      break;
    }
    case op_code::kConcatenation: {
      need_inputs(2, 1024);
      op.type = OpType::kConcatenation;
      for (size_t i = 1; i < in.size(); ++i) {
        if (in[i] < 0) bad_input("{}: operator {} ({}) lacks input {}", source, index, op_names[index], i);
        op.inputs.push_back(tensor(in[i]));
      }
      const auto* opt = o.builtin_options_as_ConcatenationOptions();
      if (opt == nullptr) {
        bad_input("{}: operator {} ({}) has no ConcatenationOptions", source, index, op_names[index]);
      }
      const int rank = static_cast<int>(m.tensor(x).shape.size());
      const int axis = opt->axis() < 0 ? opt->axis() + rank : opt->axis();
      if (axis == 0) refuse_op(index, "concatenates along the batch dimension");
      op.set_int("axis", axis);
      op.set_str("activation", fused(opt->fused_activation_function(), index));
      break;
    }
    case op_code::kMean: {
      need_inputs(2, 2);
      const int axes = in[1] < 0 ? -1 : tensor(in[1]);
      if (axes < 0 || !m.tensor(axes).is_constant() || m.tensor(axes).dtype != DType::kInt32) {
        refuse_op(index, "has no constant int32 axes");
      }
      op.type = OpType::kMean;
      const Tensor& at = m.tensor(axes);
      op.attrs["axes"] = Attr{std::vector<int64_t>(at.ints.begin(), at.ints.end()), {}, {}};
      const auto* opt = o.builtin_options_as_ReducerOptions();
      op.set_int("keep_dims", opt != nullptr && opt->keep_dims() ? 1 : 0);
      // The axes became the attribute: only tensors the ops use are kept.
      if (axes == static_cast<int>(m.tensors.size()) - 1) {
        m.tensors.pop_back();
        mapped[static_cast<size_t>(in[1])] = -1;
      }
      break;
    }
    case op_code::kPad: {
      need_inputs(2, 2);
      const int pads = in[1] < 0 ? -1 : tensor(in[1]);
      if (pads < 0 || !m.tensor(pads).is_constant() || m.tensor(pads).dtype != DType::kInt32) {
        refuse_op(index, "has no constant int32 paddings");
      }
      const Tensor& pt = m.tensor(pads);
      const auto rank = static_cast<int64_t>(m.tensor(x).shape.size());
      if (pt.shape != Shape{static_cast<int>(rank), 2}) {
        bad_input("{}: operator {} ({}): paddings of shape {} for a rank-{} input", source, index,
                  op_names[index], shape_str(pt.shape), rank);
      }
      if (pt.ints[0] != 0 || pt.ints[1] != 0) refuse_op(index, "pads the batch dimension");
      op.type = OpType::kPad;
      op.attrs["pads"] = Attr{std::vector<int64_t>(pt.ints.begin() + 2, pt.ints.end()), {}, {}};
      // The paddings became the attribute: only tensors the ops use are kept.
      if (pads == static_cast<int>(m.tensors.size()) - 1) {
        m.tensors.pop_back();
        mapped[static_cast<size_t>(in[1])] = -1;
      }
      break;
    }
    case op_code::kQuantize:
    case op_code::kDequantize:
      need_inputs(1, 1);
      op.type = code == op_code::kQuantize ? OpType::kQuantize : OpType::kDequantize;
      break;
    case op_code::kFullyConnected: {
      need_inputs(2, 3);
      const int w = tensor(in[1]);
      require_constant(w, index, "weight tensor");
      const Tensor& wt = m.tensor(w);
      if (wt.shape.size() != 2) refuse_op(index, "has weights of shape " + shape_str(wt.shape));
      const int b = in.size() > 2 && in[2] >= 0 ? tensor(in[2]) : zero_bias(x, w, wt.shape[0]);
      require_constant(b, index, "bias tensor");
      op.type = OpType::kDense;
      op.inputs = {x, w, b};
      op.set_int("units", m.tensor(w).shape[0]);
      std::string act = "none";
      if (const auto* opt = o.builtin_options_as_FullyConnectedOptions()) {
        if (opt->weights_format() != 0) refuse_op(index, "uses shuffled weights");
        act = fused(opt->fused_activation_function(), index);
      }
      op.set_str("activation", act);
      break;
    }
    case op_code::kConv2d:
    case op_code::kDepthwiseConv2d: {
      need_inputs(2, 3);
      const int w = tensor(in[1]);
      require_constant(w, index, "filter tensor");
      const Tensor& wt = m.tensor(w);
      if (wt.shape.size() != 4) refuse_op(index, "has filters of shape " + shape_str(wt.shape));
      const int64_t c_out = wt.shape[code == op_code::kConv2d ? 0 : 3];
      const int b = in.size() > 2 && in[2] >= 0 ? tensor(in[2]) : zero_bias(x, w, c_out);
      require_constant(b, index, "bias tensor");
      op.inputs = {x, w, b};
      int sh = 1, sw = 1, dh = 1, dw = 1;
      std::string act = "none", pad = "valid";
      if (code == op_code::kConv2d) {
        op.type = OpType::kConv2d;
        op.set_int("filters", m.tensor(w).shape[0]);
        if (const auto* opt = o.builtin_options_as_Conv2DOptions()) {
          sh = opt->stride_h(), sw = opt->stride_w(), dh = opt->dilation_h_factor(),
          dw = opt->dilation_w_factor(), act = fused(opt->fused_activation_function(), index);
          pad = padding(opt->padding());
        }
      } else {
        op.type = OpType::kDepthwiseConv2d;
        const Tensor& xt = m.tensor(x);
        const int64_t c_in = xt.shape.empty() ? 0 : xt.shape.back();
        if (c_in <= 0 || c_out % c_in != 0) {
          bad_input("{}: operator {} ({}): {} filter channels for {} input channels", source,
                    index, op_names[index], c_out, c_in);
        }
        op.set_int("depth_multiplier", c_out / c_in);
        if (const auto* opt = o.builtin_options_as_DepthwiseConv2DOptions()) {
          sh = opt->stride_h(), sw = opt->stride_w(), dh = opt->dilation_h_factor(),
          dw = opt->dilation_w_factor(), act = fused(opt->fused_activation_function(), index);
          pad = padding(opt->padding());
        }
      }
      if (dh != 1 || dw != 1) refuse_op(index, "uses dilation (not supported)");
      if (sh < 1 || sw < 1) {
        bad_input("{}: operator {} ({}) has stride {}x{}", source, index, op_names[index], sh, sw);
      }
      op.attrs["stride"] = Attr{{sh, sw}, {}, {}};
      op.set_str("padding", pad);
      op.set_str("activation", act);
      break;
    }
    case op_code::kMaxPool2d:
    case op_code::kAveragePool2d: {
      op.type = code == op_code::kMaxPool2d ? OpType::kMaxPool2d : OpType::kAvgPool2d;
      const auto* opt = o.builtin_options_as_Pool2DOptions();
      if (opt == nullptr) {
        bad_input("{}: operator {} ({}) has no Pool2DOptions", source, index, op_names[index]);
      }
      if (fused(opt->fused_activation_function(), index) != "none") {
        refuse_op(index, "has a fused activation (not supported on pools)");
      }
      if (opt->stride_h() < 1 || opt->stride_w() < 1 || opt->filter_height() < 1 ||
          opt->filter_width() < 1) {
        bad_input("{}: operator {} ({}) has filter {}x{} stride {}x{}", source, index,
                  op_names[index], opt->filter_height(), opt->filter_width(), opt->stride_h(),
                  opt->stride_w());
      }
      op.attrs["pool"] = Attr{{opt->filter_height(), opt->filter_width()}, {}, {}};
      op.attrs["stride"] = Attr{{opt->stride_h(), opt->stride_w()}, {}, {}};
      op.set_str("padding", padding(opt->padding()));
      break;
    }
    case op_code::kReshape: {
      op.type = OpType::kReshape;
      const tfl::Tensor& fy = *sg.tensors()->Get(static_cast<fbs::uoffset_t>(out[0]));
      if (fy.shape() == nullptr || fy.shape()->size() < 1 || fy.shape()->Get(0) != 1) {
        refuse_op(index, "has an output without a leading batch dimension of 1");
      }
      Attr shape;
      for (fbs::uoffset_t d = 1; d < fy.shape()->size(); ++d) {
        shape.ints.push_back(fy.shape()->Get(d));
      }
      op.attrs["shape"] = shape;
      break;
    }
    case op_code::kSoftmax:
      op.type = OpType::kSoftmax;
      if (const auto* opt = o.builtin_options_as_SoftmaxOptions()) {
        op.set_float("beta", opt->beta());
      }
      break;
    case op_code::kLogistic:
    case op_code::kTanh:
    case op_code::kRelu:
    case op_code::kRelu6:
      op.type = OpType::kActivation;
      op.set_str("activation", code == op_code::kLogistic ? "sigmoid"
                               : code == op_code::kTanh   ? "tanh"
                               : code == op_code::kRelu   ? "relu" : "relu6");
      break;
    default:
      break;  // refused above
  }
  const int y = tensor(out[0]);
  const Shape ys = m.tensor(y).shape;
  if (op.type == OpType::kDense && ys.size() > 2 && ys[0] == 1) {
    // keep_num_dims: tinyc's dense writes (1, units); a reshape restores TFLite's shape.
    Tensor flat = m.tensor(y);
    flat.name += "/dense_out";
    flat.role = TensorRole::kIntermediate;
    flat.shape = {1, static_cast<int>(op.get_int("units", 0))};
    const int f = m.add_tensor(std::move(flat));
    finish_op(index, std::move(op), f);
    Op reshape;
    reshape.type = OpType::kReshape;
    reshape.inputs = {f};
    reshape.attrs["shape"] = Attr{{ys.begin() + 1, ys.end()}, {}, {}};
    finish_op(index, std::move(reshape), y);
    return;
  }
  finish_op(index, std::move(op), y);
}

void Importer::finish_op(size_t index, Op op, int y) {
  if (m.tensor(y).is_constant() || m.tensor(y).role == TensorRole::kState) {
    bad_input("{}: operator {} ({}) writes constant tensor '{}'", source, index, op_names[index],
              m.tensor(y).name);
  }
  // Float and int8 do not mix within one op, except in QUANTIZE / DEQUANTIZE and an int8 ->
  // int16 SOFTMAX.
  const bool converts = op.type == OpType::kQuantize || op.type == OpType::kDequantize ||
                        (op.type == OpType::kSoftmax && m.tensor(y).dtype == DType::kInt16);
  for (int t : converts ? std::vector<int>{} : op.inputs) {
    const Tensor& tt = m.tensor(t);
    if (!tt.is_constant() && tt.role != TensorRole::kState && tt.dtype != m.tensor(y).dtype) {
      refuse_op(index, fmt::format("reads {} tensor '{}' and writes {}", dtype_name(tt.dtype),
                                   tt.name, dtype_name(m.tensor(y).dtype)));
    }
  }
  if (!converts && op.type != OpType::kLstm && op.type != OpType::kSvdf) {
    check_scales(index, op.inputs, y);
  }
  op.outputs = {y};
  op.name = std::string(op_type_name(op.type)) + "_" + std::to_string(++type_counts[op.type]);
  m.ops.push_back(std::move(op));
}

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

Model Importer::run() {
  if (sg.operators() == nullptr || sg.operators()->size() == 0) {
    bad_input("{}: the subgraph has no operators", source);
  }
  name_ops();
  mapped.assign(static_cast<size_t>(tensor_count()), -1);
  for (fbs::uoffset_t i = 0; i < sg.operators()->size(); ++i) add_op(i, *sg.operators()->Get(i));
  auto io = [&](const fbs::Vector<int32_t>* v, const char* what, TensorRole role) {
    std::vector<int> result;
    if (v == nullptr || v->size() == 0) bad_input("{}: the subgraph has no {}", source, what);
    for (int t : *v) {
      if (t < 0 || t >= tensor_count()) {
        bad_input("{}: subgraph {} refer to tensor {}, outside [0, {})", source, what, t,
                  tensor_count());
      }
      const int k = tensor(t);
      if (m.tensor(k).is_constant()) bad_input("{}: subgraph {} include a constant", source, what);
      m.tensor(k).role = role;
      result.push_back(k);
    }
    return result;
  };
  m.inputs = io(sg.inputs(), "inputs", TensorRole::kInput);
  m.outputs = io(sg.outputs(), "outputs", TensorRole::kOutput);
  // One kind of arithmetic per model: every activation float32, or int8 (with float32 or
  // int16 I/O tensors converted by QUANTIZE / DEQUANTIZE, checked by check_int8_model).
  bool any_int8 = false;
  for (const Tensor& t : m.tensors) any_int8 = any_int8 || (!t.is_constant() && t.dtype == DType::kInt8);
  for (const Tensor& t : m.tensors) {
    if (any_int8) break;
    const bool weight_or_state = t.is_constant() || t.role == TensorRole::kState;
    if (!weight_or_state && t.dtype != DType::kFloat32) {
      unsupported("{}: activation tensor '{}' is {} (tinyc runs float32 or int8 graphs); model "
                  "ops: {}", source, t.name, dtype_name(t.dtype), op_list());
    }
    if (weight_or_state && t.dtype != DType::kFloat32) {
      unsupported("{}: float model with {} weight tensor '{}' (hybrid quantization); model ops: "
                  "{}", source, dtype_name(t.dtype), t.name, op_list());
    }
  }
  if (!m.ops.empty() && m.ops.back().type == OpType::kSoftmax) m.task = Task::kClassification;
  m.producer = fmt::format("tinyc {} (imported from TFLite schema version {})", kVersion,
                           fm.version());
  try {
    validate_model(m);
    if (any_int8) check_int8_model(m);
  } catch (const Error& e) {
    throw Error(e.code(), source + ": " + e.what());
  }
  return std::move(m);
}

}  // namespace

bool is_tflite_path(const std::string& path) {
  const std::string suffix = ".tflite";
  return path.size() >= suffix.size() &&
         path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0;
}

Model import_tflite(const std::string& bytes, const std::string& source) {
  if (bytes.size() < 8) bad_input("{}: not a .tflite file (only {} bytes)", source, bytes.size());
  if (bytes.size() >= FLATBUFFERS_MAX_BUFFER_SIZE) {
    bad_input("{}: not a .tflite file (larger than 2 GiB)", source);
  }
  // Scalars are read in place: copy into an aligned buffer.
  std::unique_ptr<uint64_t[]> aligned(new uint64_t[bytes.size() / sizeof(uint64_t) + 1]);
  std::memcpy(aligned.get(), bytes.data(), bytes.size());
  const auto* buf = reinterpret_cast<const uint8_t*>(aligned.get());
  if (!tfl::ModelBufferHasIdentifier(buf)) {
    bad_input("{}: not a .tflite file (file identifier is not TFL3)", source);
  }
  fbs::Verifier::Options options;
  options.max_depth = kMaxDepth;
  options.max_tables = static_cast<fbs::uoffset_t>(bytes.size() / 4 + 16);
  fbs::Verifier verifier(buf, bytes.size(), options);
  if (!tfl::VerifyModelBuffer(verifier)) {
    bad_input("{}: corrupt .tflite file (FlatBuffers verification failed)", source);
  }
  const tfl::Model& fm = *tfl::GetModel(buf);
  if (fm.version() != 3) {
    unsupported("{}: TFLite schema version {} (tinyc reads version 3)", source, fm.version());
  }
  const auto* subgraphs = fm.subgraphs();
  if (subgraphs == nullptr || subgraphs->size() == 0) bad_input("{}: no subgraph", source);
  if (subgraphs->size() > 1) {
    unsupported("{}: {} subgraphs (tinyc imports models with one subgraph)", source,
                subgraphs->size());
  }
  Importer importer(fm, *subgraphs->Get(0), source);
  std::string name = source;
  const size_t slash = name.find_last_of('/');
  if (slash != std::string::npos) name = name.substr(slash + 1);
  if (is_tflite_path(name)) name.resize(name.size() - 7);
  importer.m.name = name;
  return importer.run();
}

Model load_tflite(const std::string& path) { return import_tflite(read_file(path), path); }

}  // namespace tinyc
