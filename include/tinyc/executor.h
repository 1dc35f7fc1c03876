// The reference executor (float): runs a model's graph forward on raw inputs, applying the
// model's preprocessing first. Used by eval, predict and the trainer's evaluation.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tinyc/model.h"

namespace tinyc {

// Runs `rows` samples of raw input (rows x input sample size; a float model with several graph
// inputs reads them back to back) and returns rows x output sample size values (graph output 0).
// A quantized model (Model::is_quantized) runs as quantize_inputs, run_model_int8,
// dequantize_outputs; it takes one float32 or int8 graph input (else Error(kUnsupported)).
std::vector<float> run_model(const Model& model, const float* raw_input, int64_t rows);

// int8 models (representation in tinyc/quantize.h). Preprocessing, then TFLite QUANTIZE with
// the graph input's parameters: rows x input sample size int8 values.
std::vector<int8_t> quantize_inputs(const Model& model, const float* raw_input, int64_t rows);
// The int8 reference executor (exact TFLite integer arithmetic). Cases of raw bytes in the
// model's own I/O layout (io_case_bytes): for the usual one int8 input and output, rows x
// sample size int8 values; several inputs (outputs) come back to back in graph order, each in
// its tensor's dtype (float32 where the graph itself QUANTIZEs / DEQUANTIZEs).
std::vector<int8_t> run_model_int8(const Model& model, const int8_t* input, int64_t rows);
// Bytes of one case of the graph inputs (inputs) or outputs, each tensor in its own dtype.
int64_t io_case_bytes(const Model& model, bool inputs);
// TFLite DEQUANTIZE with the graph output's parameters.
std::vector<float> dequantize_outputs(const Model& model, const int8_t* q, int64_t count);
// Checks that every activation tensor is int8 with per-tensor parameters (except float32 or
// int16 tensors that only QUANTIZE reads or DEQUANTIZE writes); Error(kBadInput) or
// Error(kUnsupported) naming the tensor.
void check_int8_model(const Model& model);

// The float executor with a hook called after each op on its output 0 (`n` rows of the output
// tensor's sample size, rewritable): fake quantization for the quantization debugger.
using AfterOpHook = std::function<void(size_t op_index, float* out, int64_t n)>;
std::vector<float> run_model_hooked(const Model& model, const float* raw_input, int64_t rows,
                                    const AfterOpHook& after_op);

// Every activation tensor's values for `rows` raw inputs (rows x sample size each, the int8
// ones dequantized; empty for constants): calibration and quantization reports.
std::vector<std::vector<float>> run_model_tensors(const Model& model, const float* raw_input,
                                                  int64_t rows);

struct Metrics {
  bool present = false;
  int64_t samples = 0;
  double loss = 0.0;
  double metric = 0.0;  // accuracy (classification) or mse (regression)
};

// Loss and metric of model outputs against targets (class index or value per row).
Metrics score_outputs(Task task, const std::vector<float>& outputs, const float* targets,
                      int64_t rows, int64_t width);
// run_model + score_outputs.
Metrics evaluate(const Model& model, const float* raw_input, const float* targets, int64_t rows);

// Checks that every target is a class index in [0, classes) (classification) and finite;
// errors name the data row through `where` (e.g. "data.csv line 12").
void check_targets(Task task, int64_t classes, const float* targets, int64_t rows,
                   const std::function<std::string(int64_t)>& where);

}  // namespace tinyc
