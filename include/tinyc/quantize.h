// Post-training int8 quantization (TFLite quantization spec, DESIGN.md §6).
//
// THE QUANTIZED MODEL REPRESENTATION (shared by the int8 reference executor, the model file,
// `emit` and `export`). A quantized model is the float model's graph with the same ops (same
// OpType, names and attributes), the same tensors (names, shapes, roles) and the same float
// Preprocess, with these dtypes and parameters (real = scale * (q - zero_point)):
//  - Activation tensors (graph input, intermediates, graph output): dtype kInt8, per tensor:
//    quant.scale = {s}, quant.zero_point = {zp}, zp in [-128, 127], quant.axis = -1. No data.
//    The graph input's parameters apply to the *preprocessed* input: executors run
//    x' = preprocess(raw), q = clamp(round_half_away(x' / s) + zp, -128, 127) (float division),
//    and dequantize outputs as float(double(s) * (q - zp)).
//  - dense weights (input 1, shape (units, in)): dtype kInt8, values in [-127, 127] stored in
//    Tensor::ints, symmetric per output channel: quant.axis = 0, quant.scale[c] =
//    max|w[c, :]| / 127 (1.0 for an all-zero row), quant.zero_point[c] = 0.
//  - dense bias (input 2, shape (units)): dtype kInt32 in Tensor::ints, quant.axis = 0,
//    quant.scale[c] = float(in_scale * w_scale[c]), zero_point[c] = 0, values
//    round(b[c] / (double(in_scale) * double(w_scale[c]))).
//  - Requantization of dense (per channel c): M_c = double(in_scale) * double(w_scale[c]) /
//    double(out_scale) -> quantize_multiplier (tinyc/quant_math.h); weights with a single
//    scale (a one-unit layer, or per tensor when imported) take TFLM's per-tensor path and its
//    float product: requant_multiplier(in, w, out, /*per_channel=*/scale.size() > 1). The fused
//    activation (attribute "activation": none | relu | relu6) becomes the output clamp
//    (activation_range_int8).
//  - conv2d weights (input 1, shape (filters, kh, kw, in_ch)): as dense, per output channel
//    along quant.axis = 0 (scale[f] = max|w[f, :, :, :]| / 127). depthwise_conv2d weights
//    (shape (1, kh, kw, C * M)): per output channel along the LAST axis, quant.axis = 3
//    (scale[o] = max|w[0, :, :, o]| / 127). Their biases (shape (filters) or (C * M)) are
//    int32 as dense's, quant.axis = 0, scale[c] = float(in_scale * w_scale[c]).
//  - Requantization of conv2d and depthwise_conv2d: M_c = double(in_scale) *
//    double(w_scale[c]) / double(out_scale) for every channel, a single weight scale broadcast
//    (TFLM PopulateConvolutionQuantizationParams; no float product, unlike dense's per-tensor
//    path). Taps in the padding are skipped (they would add (zp - zp) * w = 0). Fused
//    activation as for dense.
//  - Fixed output parameters: softmax and activation(sigmoid) (1/256, -128); activation(tanh)
//    (1/128, 0). max_pool2d, avg_pool2d, global_avg_pool2d, reshape, flatten, dropout and
//    activation(none | relu | relu6) outputs share their input's parameters. avg_pool2d and
//    global_avg_pool2d divide the raw int8 window sum by the count of in-image positions,
//    rounding half away from zero (TFLite AVERAGE_POOL_2D; global_avg_pool2d is an H x W
//    average pool followed by a reshape, not TFLM's MEAN kernel).
//  - batch_norm does not appear: quantize_model folds it into the conv2d, depthwise_conv2d or
//    dense before it (fold_batch_norm, tinyc/transform.h) and refuses one it cannot fold.
//  - Model::is_quantized() is true (some weight is int8).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tinyc/executor.h"
#include "tinyc/model.h"

namespace tinyc {

// How each activation tensor's range is chosen from the calibration values.
//  - minmax: [min, max] of the values (widened to include 0).
//  - mse: the range, [min, max] shrunk by a factor 0.9^k (k = 0..28), whose quantize-dequantize
//    error (mean squared) on the values is least: long thin tails are clipped for finer steps.
//  - auto: builds both and keeps the one with the better calibration-set metric (accuracy, then
//    loss; or mse); min/max wins ties.
enum class CalibrationMethod : uint8_t { kMinMax, kMse, kAuto };
const char* calibration_method_name(CalibrationMethod method);
bool parse_calibration_method(const std::string& name, CalibrationMethod* method);

// A fixed activation range (e.g. learned by QAT, tinyc/qat.h); used only when `valid`.
struct TensorRange {
  float lo = 0.0f;
  float hi = 0.0f;
  bool valid = false;
};

struct QuantizeOptions {
  CalibrationMethod method = CalibrationMethod::kAuto;
  // Per tensor index (may be empty): a valid entry replaces the calibrated range of that
  // activation tensor (graph input, dense/conv2d/depthwise_conv2d outputs).
  std::vector<TensorRange> ranges;
};

struct QuantizeReport {
  CalibrationMethod method_used = CalibrationMethod::kMinMax;
  int64_t calibration_rows = 0;
  // Calibration-set metrics of the float model and of each candidate (auto only has both).
  Metrics float_metrics;
  Metrics minmax_metrics;
  Metrics mse_metrics;
};

// Quantizes a float model with calibration rows (raw inputs, rows x input sample size;
// `targets` may be nullptr, then auto keeps min/max). Throws Error(kUnsupported) for an
// already quantized model or an op without int8 support, naming it.
Model quantize_model(const Model& model, const float* raw_inputs, const float* targets,
                     int64_t rows, const QuantizeOptions& options, QuantizeReport* report);

// The quantization debugger: per layer (and the graph input), the error of its int8 output
// against the float model on the same rows, and the metric when only that layer is quantized
// (simulated in float: its weights dequantized from int8, its output quantize-dequantized
// with the int8 tensor's parameters; the "input" row quantizes only the graph input).
// `float_model` must have the graph `quantized` came from: fold its batch_norm first
// (fold_batch_norm), as quantize_model does.
struct LayerQuantError {
  std::string name;
  std::string type;
  double sqnr_db = 0.0;        // 10 log10(sum f^2 / sum (f - q)^2); 200 when exact
  double max_abs_error = 0.0;  // max |f - q| over the output values
  Metrics solo;
};
struct QuantExplanation {
  Metrics float_metrics, int8_metrics;
  std::vector<LayerQuantError> layers;
  std::string culprit;     // the layer whose solo quantization costs the most, if it stands out
  std::string suggestion;  // what to try, when there is a culprit
};
QuantExplanation explain_quantization(const Model& float_model, const Model& quantized,
                                      const float* raw_inputs, const float* targets, int64_t rows);

// (scale, zero_point) of an int8 tensor covering [lo, hi] (widened to include 0).
struct QuantParams {
  float scale = 1.0f;
  int32_t zero_point = 0;
};
QuantParams choose_quant_params(float lo, float hi);

}  // namespace tinyc
