// Quantization-aware training: fake quantization with a straight-through estimator, as a
// trainer hook (tinyc/qat.h).
#include "tinyc/qat.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "compress/finetune.h"
#include "tinyc/error.h"
#include "tinyc/executor.h"
#include "tinyc/quant_math.h"
#include "tinyc/transform.h"

namespace tinyc {
namespace {

bool has_weights(OpType type) {
  return type == OpType::kDense || type == OpType::kConv2d || type == OpType::kDepthwiseConv2d;
}
int weight_axis(OpType type) { return type == OpType::kDepthwiseConv2d ? 3 : 0; }

// The activation tensors PTQ calibrates: the graph input and the outputs of weighted ops.
std::vector<int> quantized_activations(const Model& model) {
  std::vector<int> tensors{model.inputs[0]};
  for (const Op& op : model.ops) {
    if (has_weights(op.type)) tensors.push_back(op.outputs[0]);
  }
  return tensors;
}

}  // namespace

float fake_quantize(float v, QuantParams p) {
  return dequantize_int8(quantize_int8(v, p.scale, p.zero_point), p.scale, p.zero_point);
}

bool fake_quant_passes(float v, QuantParams p) {
  const float lo = p.scale * static_cast<float>(-128 - p.zero_point);
  const float hi = p.scale * static_cast<float>(127 - p.zero_point);
  return v >= lo && v <= hi;
}

void fake_quantize_weights(const float* w, float* out, const Shape& shape, int axis) {
  int64_t inner = 1;
  for (size_t d = static_cast<size_t>(axis) + 1; d < shape.size(); ++d) inner *= shape[d];
  const int64_t channels = shape[static_cast<size_t>(axis)];
  int64_t count = 1;
  for (int64_t d : shape) count *= d;
  std::vector<float> scale(static_cast<size_t>(channels), 0.0f);
  for (int64_t i = 0; i < count; ++i) {
    float& m = scale[static_cast<size_t>((i / inner) % channels)];
    m = std::max(m, std::fabs(w[i]));
  }
  for (float& s : scale) s = s > 0.0f ? s / 127.0f : 1.0f;
  for (int64_t i = 0; i < count; ++i) {
    const float s = scale[static_cast<size_t>((i / inner) % channels)];
    const float q = std::min(std::max(std::round(w[i] / s), -127.0f), 127.0f);
    out[i] = static_cast<float>(static_cast<double>(s) * q);  // as the debugger dequantizes
  }
}

QatHook::QatHook(const Model& model, std::vector<TensorRange> ranges, float ema_decay)
    : decay_(ema_decay), ranges_(std::move(ranges)) {
  ranges_.resize(model.tensors.size());
  slot_.assign(model.tensors.size(), -1);
  for (int t : quantized_activations(model)) {
    if (!ranges_[static_cast<size_t>(t)].valid || slot_[static_cast<size_t>(t)] >= 0) continue;
    slot_[static_cast<size_t>(t)] = static_cast<int>(tensors_.size());
    tensors_.push_back(t);
  }
  for (const Op& op : model.ops) {
    if (has_weights(op.type)) weight_ops_.emplace_back(op.inputs[1], weight_axis(op.type));
  }
}

void QatHook::attach(const Model& model, const std::vector<TrainParam>& params, int threads,
                     int64_t batch, int64_t /*steps_per_epoch*/, int /*epochs*/) {
  for (const auto& [tensor, axis] : weight_ops_) {
    for (const TrainParam& p : params) {
      if (p.tensor != tensor) continue;
      Weight w;
      w.data = p.data;
      w.shape = model.tensor(tensor).shape;
      w.axis = axis;
      w.master.resize(static_cast<size_t>(p.size));
      w.zero.resize(static_cast<size_t>(p.size));
      for (int64_t i = 0; i < p.size; ++i) w.zero[static_cast<size_t>(i)] = p.data[i] == 0.0f;
      weights_.push_back(std::move(w));
    }
  }
  params_.resize(tensors_.size());
  pass_.clear();
  for (int t : tensors_) {
    pass_.emplace_back(static_cast<size_t>(batch * model.tensor(t).sample_size()), 1);
  }
  observed_.assign(static_cast<size_t>(threads), std::vector<Observed>(tensors_.size()));
}

void QatHook::before_forward(int64_t /*step*/) {
  for (Weight& w : weights_) {
    std::memcpy(w.master.data(), w.data, sizeof(float) * w.master.size());
    fake_quantize_weights(w.master.data(), w.data, w.shape, w.axis);
  }
  for (size_t k = 0; k < tensors_.size(); ++k) {
    const TensorRange& r = ranges_[static_cast<size_t>(tensors_[k])];
    params_[k] = choose_quant_params(r.lo, r.hi);
  }
  for (auto& per_thread : observed_) {
    for (Observed& o : per_thread) o = {0.0f, 0.0f, false};
  }
}

void QatHook::before_update(int64_t /*step*/) {
  for (Weight& w : weights_) std::memcpy(w.data, w.master.data(), sizeof(float) * w.master.size());
}

void QatHook::after_update(int64_t /*step*/) {
  for (Weight& w : weights_) {
    for (size_t i = 0; i < w.zero.size(); ++i) {
      if (w.zero[i]) w.data[i] = 0.0f;
    }
  }
  for (size_t k = 0; k < tensors_.size(); ++k) {
    Observed batch{0.0f, 0.0f, false};
    for (const auto& per_thread : observed_) {
      const Observed& o = per_thread[k];
      if (!o.seen) continue;
      batch = batch.seen ? Observed{std::min(batch.lo, o.lo), std::max(batch.hi, o.hi), true} : o;
    }
    if (!batch.seen) continue;
    TensorRange& r = ranges_[static_cast<size_t>(tensors_[k])];
    r.lo = decay_ * r.lo + (1.0f - decay_) * batch.lo;
    r.hi = decay_ * r.hi + (1.0f - decay_) * batch.hi;
  }
}

std::vector<int> QatHook::activation_tensors() const { return tensors_; }

void QatHook::forward_activation(int tensor, float* values, int64_t row0, int64_t n,
                                 int64_t width, int thread) {
  const int slot = slot_[static_cast<size_t>(tensor)];
  if (slot < 0) return;
  const QuantParams p = params_[static_cast<size_t>(slot)];
  uint8_t* pass = pass_[static_cast<size_t>(slot)].data() + row0 * width;
  Observed& o = observed_[static_cast<size_t>(thread)][static_cast<size_t>(slot)];
  float lo = o.seen ? o.lo : values[0], hi = o.seen ? o.hi : values[0];
  for (int64_t i = 0; i < n * width; ++i) {
    const float v = values[i];
    lo = std::min(lo, v);
    hi = std::max(hi, v);
    pass[i] = fake_quant_passes(v, p);
    values[i] = fake_quantize(v, p);
  }
  o = {lo, hi, true};
}

void QatHook::backward_activation(int tensor, float* grad, int64_t row0, int64_t n,
                                  int64_t width, int /*thread*/) {
  const int slot = slot_[static_cast<size_t>(tensor)];
  if (slot < 0) return;
  const uint8_t* pass = pass_[static_cast<size_t>(slot)].data() + row0 * width;
  for (int64_t i = 0; i < n * width; ++i) {
    if (!pass[i]) grad[i] = 0.0f;
  }
}

std::vector<TensorRange> calibration_ranges(const Model& model, const float* raw_inputs,
                                                int64_t rows) {
  if (rows <= 0) bad_input("model '{}': QAT needs at least one calibration row", model.name);
  const std::vector<std::vector<float>> values = run_model_tensors(model, raw_inputs, rows);
  std::vector<TensorRange> ranges(model.tensors.size());
  for (int t : quantized_activations(model)) {
    const std::vector<float>& v = values[static_cast<size_t>(t)];
    if (v.empty()) continue;
    const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
    ranges[static_cast<size_t>(t)] = {*lo, *hi, true};
  }
  return ranges;
}

Model qat_finetune(const Model& model, const TrainData& data, const float* calib_raw,
                   int64_t calib_rows, const QatOptions& options,
                   std::vector<TensorRange>* ranges) {
  if (model.is_quantized()) {
    unsupported("model '{}' is int8 already; QAT fine-tunes the float model", model.name);
  }
  Model m = model;
  fold_batch_norm(m);
  QatHook hook(m, calibration_ranges(m, calib_raw, calib_rows));
  if (options.epochs > 0) {
    const TrainConfig cfg = finetune_config(m, options.lr, options.epochs);
    finetune(m, cfg, data, options.seed, options.threads, &hook);
  }
  if (ranges != nullptr) *ranges = hook.ranges();
  return m;
}

}  // namespace tinyc
