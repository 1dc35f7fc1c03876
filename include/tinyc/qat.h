// Quantization-aware training (QAT): fine-tunes a float model with fake quantization in the
// forward pass, so that the int8 model quantize_model then builds loses less accuracy.
//
// Fake quantization reproduces exactly what quantize_model does (tinyc/quantize.h):
//  - weights of dense, conv2d (axis 0) and depthwise_conv2d (axis 3): symmetric int8 per output
//    channel, scale = max|w_c| / 127, q = clamp(round(w / scale), -127, 127), w' = scale * q;
//  - activations (the graph input after preprocessing, and the outputs of dense, conv2d and
//    depthwise_conv2d, i.e. the tensors PTQ calibrates): per tensor asymmetric int8 with the
//    parameters choose_quant_params gives for the tensor's current range [lo, hi].
// Gradients use the straight-through estimator: weight gradients computed with w' update the
// float w; an activation's gradient passes where its value lies inside the representable
// range [scale * (-128 - zp), scale * (127 - zp)] and is zero outside. Activation ranges
// start from min/max on the calibration rows and then follow an exponential moving average
// of each batch's min/max (decay 0.99, per step, reduced over threads in thread order so the
// result depends only on seed and thread count). Weights that are exactly zero when QAT
// starts (pruned) stay zero. Fixed-parameter outputs (softmax, sigmoid, tanh) and ops sharing
// their input's parameters are not fake-quantized: their values are already on the grid or
// close to it. The learned ranges are handed to quantize_model (QuantizeOptions::ranges).
#pragma once

#include <cstdint>
#include <vector>

#include "tinyc/model.h"
#include "tinyc/quantize.h"
#include "tinyc/train.h"

namespace tinyc {

// quantize_int8 then dequantize_int8 (the int8 executor's own rounding and clamping).
float fake_quantize(float v, QuantParams p);
// The straight-through estimator's pass condition: v within the representable range.
bool fake_quant_passes(float v, QuantParams p);
// Per-output-channel symmetric fake quantization of a weight tensor of `shape` along `axis`.
void fake_quantize_weights(const float* w, float* out, const Shape& shape, int axis);

// The trainer hook doing the above; usable on its own (tests drive it directly).
class QatHook : public TrainHook {
 public:
  // `ranges`: the starting range of each activation tensor that is fake-quantized (indexed
  // by tensor; valid entries only), e.g. from calibration_ranges().
  QatHook(const Model& model, std::vector<TensorRange> ranges, float ema_decay = 0.99f);
  void attach(const Model& model, const std::vector<TrainParam>& params, int threads,
              int64_t batch, int64_t steps_per_epoch, int epochs) override;
  void before_forward(int64_t step) override;
  void before_update(int64_t step) override;
  void after_update(int64_t step) override;
  std::vector<int> activation_tensors() const override;
  void forward_activation(int tensor, float* values, int64_t row0, int64_t n, int64_t width,
                          int thread) override;
  void backward_activation(int tensor, float* grad, int64_t row0, int64_t n, int64_t width,
                           int thread) override;
  const std::vector<TensorRange>& ranges() const { return ranges_; }

 private:
  struct Weight {
    float* data = nullptr;
    Shape shape;
    int axis = 0;
    std::vector<float> master;
    std::vector<uint8_t> zero;  // pruned entries (exactly zero at the start)
  };
  struct Observed {
    float lo, hi;
    bool seen;
  };
  float decay_;
  std::vector<TensorRange> ranges_;  // per tensor
  std::vector<int> tensors_;             // the fake-quantized activations
  std::vector<int> slot_;                // per tensor: index into tensors_, or -1
  std::vector<QuantParams> params_;      // per slot, fixed for the current step
  std::vector<std::vector<uint8_t>> pass_;        // per slot: batch x width STE mask
  std::vector<std::vector<Observed>> observed_;   // [thread][slot] this step's min/max
  std::vector<Weight> weights_;
  std::vector<std::pair<int, int>> weight_ops_;   // (weight tensor, axis) from the model
};

// Min/max of every tensor QAT fake-quantizes, on calibration rows (raw inputs); `model` must
// have its batch_norm folded (fold_batch_norm).
std::vector<TensorRange> calibration_ranges(const Model& model, const float* raw_inputs,
                                                int64_t rows);

struct QatOptions {
  int epochs = 0;
  float lr = -1.0f;  // <= 0: the stored spec's learning rate
  uint64_t seed = 0;
  int threads = 0;
};

// Fine-tunes `model` (float; its batch_norm is folded first) with fake quantization on the
// preprocessed training rows `data`, with the stored spec's optimizer. Returns the float model
// and writes the learned activation ranges to *ranges, for QuantizeOptions::ranges.
Model qat_finetune(const Model& model, const TrainData& data, const float* calib_raw,
                   int64_t calib_rows, const QatOptions& options,
                   std::vector<TensorRange>* ranges);

}  // namespace tinyc
