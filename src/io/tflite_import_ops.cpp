// .tflite import: the stateless operators, each mapped to one tinyc op.
#include <algorithm>
#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "io/tflite_importer.h"
#include "tinyc/error.h"

namespace tinyc::tflite_import_detail {

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

}  // namespace tinyc::tflite_import_detail
