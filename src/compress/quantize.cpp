// Post-training int8 quantization: calibrate activation ranges on sample inputs, quantize
// weights per output channel, and produce the representation documented in tinyc/quantize.h.
// batch_norm is folded into the layer before it first (tinyc/transform.h).
#include "tinyc/quantize.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>

#include <fmt/format.h>

#include "layers/activation_fn.h"
#include "tinyc/error.h"
#include "tinyc/quant_math.h"
#include "tinyc/transform.h"

namespace tinyc {
namespace {

constexpr size_t kMaxRangeSamples = 1 << 18;  // values per tensor used by the MSE search

struct Range {
  float lo = 0.0f;
  float hi = 0.0f;
};

Range min_max(const std::vector<float>& v) {
  Range r;
  if (v.empty()) return r;
  const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
  r.lo = *lo;
  r.hi = *hi;
  return r;
}

// Mean squared quantize-dequantize error of `v` under the parameters covering `r`.
double quant_mse(const std::vector<float>& v, size_t stride, Range r) {
  const QuantParams p = choose_quant_params(r.lo, r.hi);
  double sum = 0.0;
  size_t count = 0;
  for (size_t i = 0; i < v.size(); i += stride, ++count) {
    const float d =
        dequantize_int8(quantize_int8(v[i], p.scale, p.zero_point), p.scale, p.zero_point);
    const double e = static_cast<double>(d) - static_cast<double>(v[i]);
    sum += e * e;
  }
  return count ? sum / static_cast<double>(count) : 0.0;
}

// The min/max range shrunk by the factor 0.9^k (k = 0..28, down to about 0.05) of least
// quantization MSE; ties keep the wider range.
Range mse_range(const std::vector<float>& v) {
  const Range full = min_max(v);
  const size_t stride = std::max<size_t>(1, v.size() / kMaxRangeSamples);
  Range best = full;
  double best_err = quant_mse(v, stride, full);
  float f = 1.0f;
  for (int k = 1; k <= 28; ++k) {
    f *= 0.9f;
    const Range r{full.lo * f, full.hi * f};
    const double err = quant_mse(v, stride, r);
    if (err < best_err) {
      best_err = err;
      best = r;
    }
  }
  return best;
}

bool op_supported(OpType type) {
  switch (type) {
    case OpType::kDense:
    case OpType::kConv2d:
    case OpType::kDepthwiseConv2d:
    case OpType::kMaxPool2d:
    case OpType::kAvgPool2d:
    case OpType::kGlobalAvgPool2d:
    case OpType::kReshape:
    case OpType::kFlatten:
    case OpType::kDropout:
    case OpType::kActivation:
    case OpType::kSoftmax: return true;
    default: return false;
  }
}

void set_activation(Tensor& t, QuantParams p) {
  t.dtype = DType::kInt8;
  t.quant.scale = {p.scale};
  t.quant.zero_point = {p.zero_point};
  t.quant.axis = -1;
}

// The output channel of element i of a weight tensor quantized along `axis`.
struct ChannelIndex {
  int64_t inner = 1;     // elements per step of the axis (product of the later dimensions)
  int64_t channels = 1;  // shape[axis]
  int64_t operator()(int64_t i) const { return (i / inner) % channels; }
};
ChannelIndex channel_index(const Shape& shape, int axis) {
  ChannelIndex ix;
  ix.channels = shape[static_cast<size_t>(axis)];
  for (size_t d = static_cast<size_t>(axis) + 1; d < shape.size(); ++d) ix.inner *= shape[d];
  return ix;
}

// Weights -> int8 symmetric per output channel along `axis` (dense, conv2d: 0; depthwise: 3);
// bias -> int32 at in_scale * w_scale[c].
void quantize_weights(Tensor& w, Tensor& b, float in_scale, int axis) {
  const ChannelIndex ch = channel_index(w.shape, axis);
  const int64_t units = ch.channels, count = static_cast<int64_t>(w.f32.size());
  std::vector<float> max_abs(static_cast<size_t>(units), 0.0f);
  for (int64_t i = 0; i < count; ++i) {
    float& m = max_abs[static_cast<size_t>(ch(i))];
    m = std::max(m, std::fabs(w.f32[static_cast<size_t>(i)]));
  }
  std::vector<float> scales(static_cast<size_t>(units));
  for (int64_t c = 0; c < units; ++c) {
    const float m = max_abs[static_cast<size_t>(c)];
    scales[static_cast<size_t>(c)] = m > 0.0f ? m / 127.0f : 1.0f;
  }
  std::vector<int32_t> q(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) {
    const float v = std::round(w.f32[static_cast<size_t>(i)] / scales[static_cast<size_t>(ch(i))]);
    q[static_cast<size_t>(i)] = static_cast<int32_t>(std::min(std::max(v, -127.0f), 127.0f));
  }
  // The bias saturates where the int32 accumulator would still be safe for every input:
  // |b| + 256 * sum|w[c]| <= 2^31 - 1 (the bound `tinyc emit` checks). A larger bias (a
  // near-dead channel: tiny weight scale, large bias) saturates the output either way, but
  // would wrap the accumulator.
  std::vector<int64_t> abs_sum(static_cast<size_t>(units), 0);
  for (int64_t i = 0; i < count; ++i) abs_sum[static_cast<size_t>(ch(i))] += std::abs(q[static_cast<size_t>(i)]);
  std::vector<int32_t> qb(static_cast<size_t>(units));
  std::vector<float> bias_scales(static_cast<size_t>(units));
  for (int64_t c = 0; c < units; ++c) {
    const double s =
        static_cast<double>(in_scale) * static_cast<double>(scales[static_cast<size_t>(c)]);
    const double v = std::round(static_cast<double>(b.f32[static_cast<size_t>(c)]) / s);
    const auto limit = static_cast<double>(
        std::max(int64_t{0}, INT32_MAX - 256 * abs_sum[static_cast<size_t>(c)]));
    qb[static_cast<size_t>(c)] = static_cast<int32_t>(std::min(std::max(v, -limit), limit));
    bias_scales[static_cast<size_t>(c)] = in_scale * scales[static_cast<size_t>(c)];
  }
  w.dtype = DType::kInt8;
  w.f32.clear();
  w.ints = std::move(q);
  w.quant = Quantization{scales, std::vector<int64_t>(static_cast<size_t>(units), 0), axis};
  b.dtype = DType::kInt32;
  b.f32.clear();
  b.ints = std::move(qb);
  b.quant = Quantization{bias_scales, std::vector<int64_t>(static_cast<size_t>(units), 0), 0};
}

// Builds the quantized model from calibrated float activation values.
Model build_quantized(const Model& model, const std::vector<std::vector<float>>& values,
                      CalibrationMethod method, const std::vector<TensorRange>& fixed) {
  Model q = model;
  std::vector<QuantParams> params(q.tensors.size());
  auto calibrated = [&](int t) {
    if (static_cast<size_t>(t) < fixed.size() && fixed[static_cast<size_t>(t)].valid) {
      return choose_quant_params(fixed[static_cast<size_t>(t)].lo, fixed[static_cast<size_t>(t)].hi);
    }
    const auto& v = values[static_cast<size_t>(t)];
    const Range r = method == CalibrationMethod::kMse ? mse_range(v) : min_max(v);
    return choose_quant_params(r.lo, r.hi);
  };
  const int input = q.inputs[0];
  params[static_cast<size_t>(input)] = calibrated(input);
  set_activation(q.tensor(input), params[static_cast<size_t>(input)]);
  for (Op& op : q.ops) {
    const int x = op.inputs[0], y = op.outputs[0];
    const QuantParams in = params[static_cast<size_t>(x)];
    QuantParams out = in;  // pools, reshape, flatten, dropout, activation none/relu/relu6
    switch (op.type) {
      case OpType::kDense:
      case OpType::kConv2d:
      case OpType::kDepthwiseConv2d:
        out = calibrated(y);
        quantize_weights(q.tensor(op.inputs[1]), q.tensor(op.inputs[2]), in.scale,
                         op.type == OpType::kDepthwiseConv2d ? 3 : 0);
        break;
      case OpType::kSoftmax: out = {kProbabilityScale, kProbabilityZeroPoint}; break;
      case OpType::kActivation: {
        const ActKind act = op_activation(op, false);
        if (act == ActKind::kSigmoid) out = {kProbabilityScale, kProbabilityZeroPoint};
        if (act == ActKind::kTanh) out = {kTanhScale, kTanhZeroPoint};
        break;
      }
      default: break;
    }
    params[static_cast<size_t>(y)] = out;
    set_activation(q.tensor(y), out);
  }
  return q;
}

// True when `a` is a better calibration result than `b` (ties keep b).
bool better(Task task, const Metrics& a, const Metrics& b) {
  if (task == Task::kClassification) {
    if (a.metric != b.metric) return a.metric > b.metric;
    return a.loss < b.loss;
  }
  return a.metric < b.metric;
}

}  // namespace

const char* calibration_method_name(CalibrationMethod method) {
  switch (method) {
    case CalibrationMethod::kMinMax: return "minmax";
    case CalibrationMethod::kMse: return "mse";
    case CalibrationMethod::kAuto: return "auto";
  }
  return "?";
}

bool parse_calibration_method(const std::string& name, CalibrationMethod* method) {
  for (CalibrationMethod m :
       {CalibrationMethod::kMinMax, CalibrationMethod::kMse, CalibrationMethod::kAuto}) {
    if (name == calibration_method_name(m)) {
      *method = m;
      return true;
    }
  }
  return false;
}

namespace {

void fake_quantize(float* v, int64_t count, const Tensor& t) {
  const float scale = t.quant.scale.at(0);
  const auto zp = static_cast<int32_t>(t.quant.zero_point.at(0));
  for (int64_t i = 0; i < count; ++i)
    v[i] = dequantize_int8(quantize_int8(v[i], scale, zp), scale, zp);
}

// A float copy of `f` with op `index`'s constants replaced by the dequantized int8 ones.
Model with_dequantized_weights(const Model& f, const Model& q, size_t index) {
  Model m = f;
  for (int t : m.ops[index].inputs) {
    if (t < 0 || !m.tensor(t).is_constant()) continue;
    const Tensor& qt = q.tensor(t);
    Tensor& ft = m.tensor(t);
    if (qt.dtype == DType::kFloat32 || qt.quant.scale.empty()) continue;
    const bool per_channel = qt.quant.scale.size() > 1 && qt.quant.axis >= 0;
    const ChannelIndex ch = per_channel ? channel_index(qt.shape, qt.quant.axis) : ChannelIndex{};
    for (size_t i = 0; i < qt.ints.size(); ++i) {
      const auto c = static_cast<size_t>(per_channel ? ch(static_cast<int64_t>(i)) : 0);
      ft.f32[i] = static_cast<float>(static_cast<double>(qt.quant.scale[c]) * qt.ints[i]);
    }
  }
  return m;
}

bool worse(Task task, const Metrics& a, const Metrics& b) {
  return task == Task::kClassification ? a.metric < b.metric : a.metric > b.metric;
}

}  // namespace

QuantExplanation explain_quantization(const Model& float_model, const Model& quantized,
                                      const float* raw_inputs, const float* targets, int64_t rows) {
  QuantExplanation ex;
  const Task task = float_model.task;
  const int64_t out_width = float_model.output().sample_size();
  ex.float_metrics = evaluate(float_model, raw_inputs, targets, rows);
  ex.int8_metrics = evaluate(quantized, raw_inputs, targets, rows);
  const auto vf = run_model_tensors(float_model, raw_inputs, rows);
  const auto vq = run_model_tensors(quantized, raw_inputs, rows);
  auto errors = [&](int t, LayerQuantError* e) {
    const auto& a = vf[static_cast<size_t>(t)];
    const auto& b = vq[static_cast<size_t>(t)];
    double signal = 0.0, noise = 0.0;
    for (size_t i = 0; i < a.size(); ++i) {
      const double d = static_cast<double>(a[i]) - b[i];
      signal += static_cast<double>(a[i]) * a[i];
      noise += d * d;
      e->max_abs_error = std::max(e->max_abs_error, std::fabs(d));
    }
    e->sqnr_db = noise > 0.0 ? 10.0 * std::log10(std::max(signal, 1e-30) / noise) : 200.0;
  };
  // The graph input alone: preprocess, quantize-dequantize, run the float graph.
  {
    LayerQuantError e;
    e.name = "input";
    e.type = "input";
    errors(float_model.inputs[0], &e);
    const int64_t width = float_model.input().sample_size();
    std::vector<float> x(raw_inputs, raw_inputs + rows * width);
    float_model.preprocess.apply(x.data(), rows, width);
    fake_quantize(x.data(), rows * width, quantized.input());
    Model plain = float_model;
    plain.preprocess = Preprocess{};
    e.solo = evaluate(plain, x.data(), targets, rows);
    ex.layers.push_back(e);
  }
  for (size_t i = 0; i < float_model.ops.size(); ++i) {
    const Op& op = float_model.ops[i];
    LayerQuantError e;
    e.name = op.name;
    e.type = op_type_name(op.type);
    errors(op.outputs[0], &e);
    const Model solo = with_dequantized_weights(float_model, quantized, i);
    const Tensor& out = quantized.tensor(op.outputs[0]);
    const int64_t width = out.sample_size();
    const std::vector<float> y =
        run_model_hooked(solo, raw_inputs, rows, [&](size_t k, float* v, int64_t n) {
          if (k == i) fake_quantize(v, n * width, out);
        });
    e.solo = score_outputs(task, y, targets, rows, out_width);
    ex.layers.push_back(e);
  }
  // A culprit stands out when quantizing it alone costs at least half of the whole loss (and
  // something is lost at all).
  const double total = task == Task::kClassification
                           ? ex.float_metrics.metric - ex.int8_metrics.metric
                           : ex.int8_metrics.metric - ex.float_metrics.metric;
  const LayerQuantError* worst = nullptr;
  for (const LayerQuantError& e : ex.layers) {
    if (worst == nullptr || worse(task, e.solo, worst->solo)) worst = &e;
  }
  if (worst != nullptr && total > (task == Task::kClassification ? 0.002 : 0.0)) {
    const double alone = task == Task::kClassification
                             ? ex.float_metrics.metric - worst->solo.metric
                             : worst->solo.metric - ex.float_metrics.metric;
    if (alone >= 0.5 * total) {
      ex.culprit = worst->name;
      ex.suggestion = fmt::format(
          "quantizing '{}' alone costs {:.4g} of the {:.4g} lost (output SQNR {:.1f} dB): try "
          "the other --calibration-method (minmax | mse), more --calibration samples, or "
          "quantization-aware fine-tuning",
          worst->name, alone, total, worst->sqnr_db);
    }
  }
  return ex;
}

QuantParams choose_quant_params(float lo, float hi) {
  lo = std::min(lo, 0.0f);
  hi = std::max(hi, 0.0f);
  // A constant-zero tensor still needs a positive scale.
  const float range = std::max(hi - lo, 1e-6f);
  QuantParams p;
  p.scale = range / 255.0f;
  const float zp = std::round(-128.0f - lo / p.scale);
  p.zero_point = static_cast<int32_t>(std::min(std::max(zp, -128.0f), 127.0f));
  return p;
}

Model quantize_model(const Model& unfolded, const float* raw_inputs, const float* targets,
                     int64_t rows, const QuantizeOptions& options, QuantizeReport* report) {
  Model model = unfolded;
  fold_batch_norm(model);
  if (model.is_quantized()) {
    unsupported("model '{}' is already int8; quantize the float model it came from instead",
                model.name);
  }
  if (model.inputs.size() != 1 || model.outputs.size() != 1) {
    unsupported("model '{}': int8 quantization supports one graph input and one output",
                model.name);
  }
  for (const Op& op : model.ops) {
    if (op.type == OpType::kBatchNorm) {
      unsupported(
          "layer '{}': a batch_norm that cannot be folded into the conv2d, depthwise_conv2d or "
          "dense before it (no fused activation, sole consumer) has no int8 kernel; keep this "
          "model float32",
          op.name);
    }
    if (!op_supported(op.type) || op.inputs.empty() || op.outputs.size() != 1) {
      unsupported(
          "layer '{}': int8 quantization of op type '{}' is not supported yet; keep "
          "this model float32",
          op.name, op_type_name(op.type));
    }
  }
  for (const Tensor& t : model.tensors) {
    if (t.is_constant() && t.dtype != DType::kFloat32) {
      unsupported("model '{}': weight '{}' is {} already; quantize a float32 model", model.name,
                  t.name, dtype_name(t.dtype));
    }
  }
  if (rows <= 0) bad_input("model '{}': int8 calibration needs at least one input row", model.name);

  QuantizeReport r;
  r.calibration_rows = rows;
  const std::vector<std::vector<float>> values = run_model_tensors(model, raw_inputs, rows);
  Model result;
  if (options.method == CalibrationMethod::kMinMax || options.method == CalibrationMethod::kMse) {
    result = build_quantized(model, values, options.method, options.ranges);
    r.method_used = options.method;
  } else {
    Model minmax = build_quantized(model, values, CalibrationMethod::kMinMax, options.ranges);
    r.method_used = CalibrationMethod::kMinMax;
    if (targets != nullptr) {
      Model mse = build_quantized(model, values, CalibrationMethod::kMse, options.ranges);
      r.float_metrics = evaluate(model, raw_inputs, targets, rows);
      r.minmax_metrics = evaluate(minmax, raw_inputs, targets, rows);
      r.mse_metrics = evaluate(mse, raw_inputs, targets, rows);
      if (better(model.task, r.mse_metrics, r.minmax_metrics)) {
        r.method_used = CalibrationMethod::kMse;
        minmax = std::move(mse);
      }
    }
    result = std::move(minmax);
  }
  // Every op must have an int8 kernel: run the calibration rows once (throws naming the op).
  if (targets == nullptr || options.method != CalibrationMethod::kAuto) {
    run_model(result, raw_inputs, std::min<int64_t>(rows, 1));
  }
  validate_model(result);
  if (report != nullptr) *report = r;
  return result;
}

}  // namespace tinyc
