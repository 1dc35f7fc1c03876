#include "tinyc/executor.h"

#include <algorithm>
#include <cmath>

#include "tinyc/error.h"
#include "tinyc/layer.h"

namespace tinyc {
namespace {

constexpr int64_t kChunkRows = 256;  // bounds the activation memory of large evaluations

}  // namespace

std::vector<float> run_model(const Model& model, const float* raw_input, int64_t rows) {
  if (model.is_quantized()) unsupported("model '{}' is quantized: int8 execution lands with issue 4", model.name);
  const Tensor& in = model.input();
  const Tensor& out = model.output();
  const int64_t in_width = in.sample_size(), out_width = out.sample_size();
  std::vector<float> result(static_cast<size_t>(rows * out_width));
  // One buffer per activation tensor, sized for a chunk.
  std::vector<FloatBuffer> act(model.tensors.size());
  for (size_t t = 0; t < model.tensors.size(); ++t) {
    if (!model.tensors[t].is_constant()) {
      act[t].resize(static_cast<size_t>(kChunkRows * model.tensors[t].sample_size()));
    }
  }
  std::vector<OpBinding> bindings(model.ops.size());
  std::vector<FloatBuffer> scratch(model.ops.size());
  for (size_t i = 0; i < model.ops.size(); ++i) {
    const Op& op = model.ops[i];
    OpBinding& b = bindings[i];
    b.op = &op;
    for (int t : op.inputs) {
      const Tensor& tensor = model.tensor(t);
      b.in_tensors.push_back(&tensor);
      b.in.push_back(tensor.is_constant() ? tensor.f32.data() : act[static_cast<size_t>(t)].data());
      b.din.push_back(nullptr);
    }
    for (int t : op.outputs) {
      b.out_tensors.push_back(&model.tensor(t));
      b.out.push_back(act[static_cast<size_t>(t)].data());
      b.dout.push_back(nullptr);
    }
    scratch[i].resize(static_cast<size_t>(kChunkRows * layer_for(op.type).scratch_floats(b)));
    b.scratch = scratch[i].data();
  }
  float* x = act[static_cast<size_t>(model.inputs[0])].data();
  const float* y = act[static_cast<size_t>(model.outputs[0])].data();
  for (int64_t r0 = 0; r0 < rows; r0 += kChunkRows) {
    const int64_t n = std::min(kChunkRows, rows - r0);
    std::copy(raw_input + r0 * in_width, raw_input + (r0 + n) * in_width, x);
    model.preprocess.apply(x, n, in_width);
    for (size_t i = 0; i < model.ops.size(); ++i) {
      bindings[i].n = n;
      layer_for(model.ops[i].type).forward(bindings[i]);
    }
    std::copy(y, y + n * out_width, result.begin() + r0 * out_width);
  }
  return result;
}

Metrics score_outputs(Task task, const std::vector<float>& outputs, const float* targets,
                      int64_t rows, int64_t width) {
  Metrics m;
  m.present = rows > 0;
  m.samples = rows;
  if (rows == 0) return m;
  double loss = 0.0, metric = 0.0;
  for (int64_t r = 0; r < rows; ++r) {
    const float* p = outputs.data() + r * width;
    if (task == Task::kClassification) {
      const auto label = static_cast<int64_t>(targets[r]);
      // Probabilities come from softmax; clamp so a confident mistake gives a large, finite loss.
      loss -= std::log(std::max(static_cast<double>(p[label]), 1e-30));
      metric += (std::max_element(p, p + width) - p) == label ? 1.0 : 0.0;
    } else {
      for (int64_t k = 0; k < width; ++k) {
        const double d = static_cast<double>(p[k]) - targets[r * width + k];
        loss += d * d / static_cast<double>(width);
      }
    }
  }
  m.loss = loss / static_cast<double>(rows);
  m.metric = task == Task::kClassification ? metric / static_cast<double>(rows) : m.loss;
  return m;
}

Metrics evaluate(const Model& model, const float* raw_input, const float* targets, int64_t rows) {
  return score_outputs(model.task, run_model(model, raw_input, rows), targets, rows,
                       model.output().sample_size());
}

void check_targets(Task task, int64_t classes, const float* targets, int64_t rows,
                   const std::function<std::string(int64_t)>& where) {
  for (int64_t r = 0; r < rows; ++r) {
    const float v = targets[r];
    if (!std::isfinite(v)) bad_input("{}: target is not finite", where(r));
    if (task == Task::kClassification &&
        (v != std::floor(v) || v < 0 || v >= static_cast<float>(classes))) {
      bad_input("{}: label {} is not a class index in [0, {}) (the model has {} output units)",
                where(r), v, classes, classes);
    }
  }
}

}  // namespace tinyc
