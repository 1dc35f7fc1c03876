#include "tinyc/executor.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "tinyc/error.h"
#include "tinyc/limits.h"
#include "tinyc/layer.h"
#include "tinyc/quant_math.h"

namespace tinyc {
namespace {

constexpr int64_t kChunkRows = 256;  // bounds the activation memory of large evaluations

using FloatBuffers = std::vector<FloatBuffer>;
using Int8Buffers = std::vector<std::vector<int8_t>>;
// Called after each chunk with (first row, rows, every activation buffer).
using FloatChunkFn = std::function<void(int64_t, int64_t, const FloatBuffers&)>;
using Int8ChunkFn = std::function<void(int64_t, int64_t, const Int8Buffers&)>;

// Runs the float graph over `rows` raw inputs in chunks; `on_chunk(r0, n, act)` sees every
// activation buffer of the chunk; `after_op` (optional) may rewrite each op's output.
void run_float(const Model& model, const float* raw_input, int64_t rows,
               const FloatChunkFn& on_chunk, const AfterOpHook& after_op = nullptr) {
  const Tensor& in = model.input();
  const int64_t in_width = in.sample_size();
  // A model file can pair ops with weights of another dtype, or declare huge activations:
  // refuse both before running (fuzzer findings).
  double bytes = 0.0;
  for (const Op& op : model.ops) {
    for (int t : op.inputs) {
      if (t < 0) continue;
      const Tensor& x = model.tensor(t);
      if (x.is_constant() && x.dtype != DType::kFloat32) {
        bad_input("layer '{}': weight tensor '{}' is {}; a float model needs float32 weights",
                  op.name, x.name, dtype_name(x.dtype));
      }
    }
  }
  for (const Tensor& t : model.tensors) {
    if (!t.is_constant()) bytes += static_cast<double>(kChunkRows * t.sample_size()) * sizeof(float);
  }
  check_memory(bytes, fmt::format("running model '{}' (activations)", model.name));
  // One buffer per activation tensor, sized for a chunk.
  std::vector<FloatBuffer> act(model.tensors.size());
  for (size_t t = 0; t < model.tensors.size(); ++t) {
    if (!model.tensors[t].is_constant()) {
      act[t].resize(static_cast<size_t>(kChunkRows * model.tensors[t].sample_size()));
    }
  }
  // State tensors start from their stored values at every run: a fresh interpreter.
  std::vector<FloatBuffer> state(model.tensors.size());
  for (size_t t = 0; t < model.tensors.size(); ++t) {
    if (model.tensors[t].role == TensorRole::kState) state[t] = model.tensors[t].f32;
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
      // Weights and state (e.g. batch_norm's moving statistics) are read from the model.
      const bool is_state = tensor.role == TensorRole::kState;
      float* st = is_state ? state[static_cast<size_t>(t)].data() : nullptr;
      b.in.push_back(tensor.is_constant() ? tensor.f32.data()
                     : is_state           ? st
                                          : act[static_cast<size_t>(t)].data());
      b.state.push_back(st);
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
  // Several inputs: each case holds them back to back, in graph order.
  int64_t case_width = 0;
  for (int t : model.inputs) case_width += model.tensor(t).sample_size();
  float* x = act[static_cast<size_t>(model.inputs[0])].data();
  for (int64_t r0 = 0; r0 < rows; r0 += kChunkRows) {
    const int64_t n = std::min(kChunkRows, rows - r0);
    int64_t offset = 0;
    for (int t : model.inputs) {
      const int64_t w = model.tensor(t).sample_size();
      float* dst = act[static_cast<size_t>(t)].data();
      for (int64_t r = 0; r < n; ++r) {
        const float* src = raw_input + (r0 + r) * case_width + offset;
        std::copy(src, src + w, dst + r * w);
      }
      offset += w;
    }
    model.preprocess.apply(x, n, in_width);
    for (size_t i = 0; i < model.ops.size(); ++i) {
      bindings[i].n = n;
      layer_for(model.ops[i].type).forward(bindings[i]);
      if (after_op) after_op(i, bindings[i].out[0], n);
    }
    on_chunk(r0, n, act);
  }
}

// The int8 graph over `rows` cases of raw input bytes (every graph input in its own dtype,
// back to back), in chunks, like run_float. Each activation buffer holds its tensor's own
// dtype: int8, or float32 / int16 at the QUANTIZE and DEQUANTIZE that convert a model's I/O.
void run_int8(const Model& model, const int8_t* input, int64_t rows, const Int8ChunkFn& on_chunk) {
  check_int8_model(model);
  const int64_t case_bytes = io_case_bytes(model, true);
  // Like run_float: a model file can declare activations too big for this machine.
  double bytes = 0.0;
  for (const Tensor& t : model.tensors) {
    if (t.is_constant()) continue;
    bytes += static_cast<double>(kChunkRows) * static_cast<double>(t.sample_size()) *
             static_cast<double>(dtype_bytes(t.dtype));
    if (t.role == TensorRole::kState) bytes += static_cast<double>(t.ints.size()) * sizeof(int32_t);
  }
  check_memory(bytes, fmt::format("running model '{}' (int8 activations)", model.name));
  Int8Buffers act(model.tensors.size());
  for (size_t t = 0; t < model.tensors.size(); ++t) {
    const Tensor& tensor = model.tensors[t];
    if (!tensor.is_constant()) {
      act[t].resize(static_cast<size_t>(kChunkRows * tensor.sample_size() * dtype_bytes(tensor.dtype)));
    }
  }
  std::vector<std::vector<int32_t>> state(model.tensors.size());
  for (size_t t = 0; t < model.tensors.size(); ++t) {
    if (model.tensors[t].role == TensorRole::kState) state[t] = model.tensors[t].ints;
  }
  std::vector<Int8Binding> bindings(model.ops.size());
  for (size_t i = 0; i < model.ops.size(); ++i) {
    const Op& op = model.ops[i];
    Int8Binding& b = bindings[i];
    b.op = &op;
    for (int t : op.inputs) {
      const Tensor& tensor = model.tensor(t);
      const bool is_state = tensor.role == TensorRole::kState;
      b.in_tensors.push_back(&tensor);
      b.in.push_back(tensor.is_constant() || is_state ? nullptr
                                                      : act[static_cast<size_t>(t)].data());
      b.state.push_back(is_state ? state[static_cast<size_t>(t)].data() : nullptr);
    }
    for (int t : op.outputs) {
      b.out_tensors.push_back(&model.tensor(t));
      b.out.push_back(act[static_cast<size_t>(t)].data());
    }
  }
  for (int64_t r0 = 0; r0 < rows; r0 += kChunkRows) {
    const int64_t n = std::min(kChunkRows, rows - r0);
    int64_t offset = 0;
    for (int t : model.inputs) {
      const Tensor& tensor = model.tensor(t);
      const int64_t w = tensor.sample_size() * dtype_bytes(tensor.dtype);
      int8_t* dst = act[static_cast<size_t>(t)].data();
      for (int64_t r = 0; r < n; ++r) {
        const int8_t* src = input + (r0 + r) * case_bytes + offset;
        std::copy(src, src + w, dst + r * w);
      }
      offset += w;
    }
    for (size_t i = 0; i < model.ops.size(); ++i) {
      bindings[i].n = n;
      layer_for(model.ops[i].type).forward_int8(bindings[i]);
    }
    on_chunk(r0, n, act);
  }
}

// The cases run_int8 reads, from `rows` raw float inputs: the preprocessed floats where the graph
// quantizes its float32 input itself, else quantize_inputs. Only for one float32 or int8 graph
// input: other inputs come in their own dtypes (predict --input-bin).
std::vector<int8_t> int8_cases_from_float(const Model& model, const float* raw_input, int64_t rows) {
  check_int8_model(model);
  const Tensor& in = model.input();
  if (in.dtype != DType::kFloat32) return quantize_inputs(model, raw_input, rows);
  if (model.inputs.size() != 1) {
    unsupported("model '{}' has {} graph inputs: give raw cases with predict --input-bin",
                model.name, model.inputs.size());
  }
  const int64_t width = in.sample_size();
  std::vector<int8_t> bytes(static_cast<size_t>(rows * width) * sizeof(float));
  std::memcpy(bytes.data(), raw_input, bytes.size());
  model.preprocess.apply(reinterpret_cast<float*>(bytes.data()), rows, width);
  return bytes;
}

bool is_io(const Model& m, int t) {
  return std::find(m.inputs.begin(), m.inputs.end(), t) != m.inputs.end() ||
         std::find(m.outputs.begin(), m.outputs.end(), t) != m.outputs.end();
}

// Graph inputs and outputs of a model file need not have passed check_int8_model yet.
float activation_scale(const Tensor& t) {
  if (t.quant.scale.empty() || !(t.quant.scale[0] > 0.0f)) {
    bad_input("tensor '{}' of a quantized model has no positive quantization scale", t.name);
  }
  return t.quant.scale[0];
}
int32_t activation_zero_point(const Tensor& t) {
  if (t.quant.zero_point.empty() || t.quant.zero_point[0] < -128 || t.quant.zero_point[0] > 127) {
    bad_input("tensor '{}' of a quantized model has no zero point in [-128, 127]", t.name);
  }
  return static_cast<int32_t>(t.quant.zero_point[0]);
}

}  // namespace

void check_int8_model(const Model& model) {
  // Which ops touch each tensor: a non-int8 activation may only be converted by QUANTIZE
  // (reading or writing it: a model's int16/int32 I/O) or DEQUANTIZE (writing it), or be
  // written by an int16 SOFTMAX, i.e. a model's float, int16 or int32 I/O.
  std::vector<bool> converted(model.tensors.size(), false), other_use(model.tensors.size(), false);
  for (const Op& op : model.ops) {
    for (int t : op.inputs) {
      if (t < 0) continue;
      (op.type == OpType::kQuantize ? converted : other_use)[static_cast<size_t>(t)] = true;
    }
    for (int t : op.outputs) {
      const bool writes_wide = op.type == OpType::kDequantize ||
                               (op.type == OpType::kQuantize && model.tensor(t).dtype != DType::kFloat32) ||
                               (op.type == OpType::kSoftmax && model.tensor(t).dtype == DType::kInt16);
      (writes_wide ? converted : other_use)[static_cast<size_t>(t)] = true;
    }
  }
  for (size_t i = 0; i < model.tensors.size(); ++i) {
    const Tensor& t = model.tensors[i];
    if (t.is_constant() || t.role == TensorRole::kState) continue;
    if (!converted[i] && !other_use[i] && !is_io(model, static_cast<int>(i))) continue;  // unused
    if (t.dtype != DType::kInt8) {
      if (converted[i] && !other_use[i]) continue;
      bad_input("model '{}': activation tensor '{}' of a quantized model is {}; only QUANTIZE "
                "may read and DEQUANTIZE may write a non-int8 tensor", model.name, t.name,
                dtype_name(t.dtype));
    }
    if (t.quant.scale.size() != 1 || t.quant.zero_point.size() != 1 ||
        !(t.quant.scale[0] > 0.0f) || t.quant.zero_point[0] < -128 || t.quant.zero_point[0] > 127) {
      bad_input("model '{}': activation tensor '{}' of a quantized model must be int8 with one "
                "positive scale and a zero point in [-128, 127]", model.name, t.name);
    }
  }
}

int64_t io_case_bytes(const Model& model, bool inputs) {
  int64_t bytes = 0;
  for (int t : inputs ? model.inputs : model.outputs) {
    bytes += model.tensor(t).sample_size() * dtype_bytes(model.tensor(t).dtype);
  }
  return bytes;
}

std::vector<int8_t> quantize_inputs(const Model& model, const float* raw_input, int64_t rows) {
  const Tensor& in = model.input();
  // run_int8 reads every graph input in its own dtype: these int8 bytes fit only one int8 input.
  if (model.inputs.size() != 1 || in.dtype != DType::kInt8) {
    unsupported("model '{}': graph input '{}' is {} ({} inputs); float data fits one int8 or "
                "float32 input: give raw cases with predict --input-bin",
                model.name, in.name, dtype_name(in.dtype), model.inputs.size());
  }
  const int64_t width = in.sample_size();
  const float scale = activation_scale(in);
  const int32_t zp = activation_zero_point(in);
  std::vector<float> x(raw_input, raw_input + rows * width);
  model.preprocess.apply(x.data(), rows, width);
  std::vector<int8_t> q(x.size());
  for (size_t i = 0; i < x.size(); ++i) q[i] = quantize_int8(x[i], scale, zp);
  return q;
}

std::vector<float> dequantize_outputs(const Model& model, const int8_t* q, int64_t count) {
  const Tensor& out = model.output();
  const float scale = activation_scale(out);
  const int32_t zp = activation_zero_point(out);
  std::vector<float> y(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) y[static_cast<size_t>(i)] = dequantize_int8(q[i], scale, zp);
  return y;
}

std::vector<int8_t> run_model_int8(const Model& model, const int8_t* input, int64_t rows) {
  const int64_t out_bytes = io_case_bytes(model, false);
  std::vector<int8_t> result(static_cast<size_t>(rows * out_bytes));
  run_int8(model, input, rows, [&](int64_t r0, int64_t n, const Int8Buffers& act) {
    int64_t offset = 0;
    for (int t : model.outputs) {
      const Tensor& tensor = model.tensor(t);
      const int64_t w = tensor.sample_size() * dtype_bytes(tensor.dtype);
      const int8_t* src = act[static_cast<size_t>(t)].data();
      for (int64_t r = 0; r < n; ++r) {
        std::copy(src + r * w, src + (r + 1) * w, result.begin() + (r0 + r) * out_bytes + offset);
      }
      offset += w;
    }
  });
  return result;
}

std::vector<float> run_model(const Model& model, const float* raw_input, int64_t rows) {
  if (model.is_quantized()) {
    // One float input and output (eval, predict --data): quantized here unless the graph
    // quantizes it itself (a float32 input read by QUANTIZE).
    const std::vector<int8_t> q = int8_cases_from_float(model, raw_input, rows);
    const std::vector<int8_t> y = run_model_int8(model, q.data(), rows);
    if (model.output().dtype == DType::kFloat32) {
      std::vector<float> out(y.size() / 4);
      std::memcpy(out.data(), y.data(), y.size());
      return out;
    }
    return dequantize_outputs(model, y.data(), static_cast<int64_t>(y.size()));
  }
  const int64_t out_width = model.output().sample_size();
  const auto y = static_cast<size_t>(model.outputs[0]);
  std::vector<float> result(static_cast<size_t>(rows * out_width));
  run_float(model, raw_input, rows, [&](int64_t r0, int64_t n, const FloatBuffers& act) {
    std::copy(act[y].begin(), act[y].begin() + n * out_width, result.begin() + r0 * out_width);
  });
  return result;
}

std::vector<float> run_model_hooked(const Model& model, const float* raw_input, int64_t rows,
                                    const AfterOpHook& after_op) {
  const int64_t out_width = model.output().sample_size();
  const auto y = static_cast<size_t>(model.outputs[0]);
  std::vector<float> result(static_cast<size_t>(rows * out_width));
  run_float(model, raw_input, rows, [&](int64_t r0, int64_t n, const FloatBuffers& act) {
    std::copy(act[y].begin(), act[y].begin() + n * out_width, result.begin() + r0 * out_width);
  }, after_op);
  return result;
}

std::vector<std::vector<float>> run_model_tensors(const Model& model, const float* raw_input,
                                                  int64_t rows) {
  std::vector<std::vector<float>> values(model.tensors.size());
  if (model.is_quantized()) {
    const std::vector<int8_t> q = int8_cases_from_float(model, raw_input, rows);
    run_int8(model, q.data(), rows, [&](int64_t, int64_t n, const Int8Buffers& act) {
      for (size_t t = 0; t < act.size(); ++t) {
        const Tensor& tensor = model.tensors[t];
        if (tensor.is_constant()) continue;
        if (tensor.dtype == DType::kFloat32) {  // a float I/O tensor around QUANTIZE
          const size_t count = static_cast<size_t>(n * tensor.sample_size());
          const size_t at = values[t].size();
          values[t].resize(at + count);
          std::memcpy(values[t].data() + at, act[t].data(), count * 4);
          continue;
        }
        if (tensor.dtype != DType::kInt8) continue;
        const float scale = activation_scale(tensor);
        const int32_t zp = activation_zero_point(tensor);
        for (int64_t i = 0; i < n * tensor.sample_size(); ++i) {
          values[t].push_back(dequantize_int8(act[t][static_cast<size_t>(i)], scale, zp));
        }
      }
    });
    return values;
  }
  run_float(model, raw_input, rows, [&](int64_t, int64_t n, const FloatBuffers& act) {
    for (size_t t = 0; t < act.size(); ++t) {
      if (model.tensors[t].is_constant()) continue;
      const auto count = static_cast<size_t>(n * model.tensors[t].sample_size());
      values[t].insert(values[t].end(), act[t].begin(),
                       act[t].begin() + static_cast<std::ptrdiff_t>(count));
    }
  });
  return values;
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
