// TensorFlow Lite flatbuffers (.tflite) in tinyc (issue 6). The schema subset tinyc reads is
// schemas/tflite_subset.fbs (written from the public schema's field ids).
#pragma once

#include <string>
#include <vector>

#include "tinyc/model.h"

namespace tinyc {

// True when `path` ends in ".tflite".
bool is_tflite_path(const std::string& path);

// Decodes a .tflite buffer into a tinyc Model (one subgraph; float32 or int8 ops).
// The buffer is checked (identifier, FlatBuffers verifier, indices, data sizes) before use:
// anything malformed is Error(kBadInput) naming `source` and the place. Ops, dtypes or options
// tinyc cannot run are Error(kUnsupported) naming the op, its index and the model's op list;
// custom ops are named as CUSTOM:<name>.
//
// Mapping: FULLY_CONNECTED -> dense, CONV_2D -> conv2d, DEPTHWISE_CONV_2D -> depthwise_conv2d,
// MAX_POOL_2D / AVERAGE_POOL_2D -> max_pool2d / avg_pool2d, RESHAPE -> reshape (its shape
// input dropped: the output tensor's shape becomes the attribute), SOFTMAX -> softmax (beta),
// LOGISTIC / TANH / RELU / RELU6 -> activation. Fused activations NONE, RELU and RELU6 are
// kept. Per-tensor weight quantization stays per tensor (axis -1), per-channel keeps its
// quantized_dimension; a missing bias becomes a zero bias. Only tensors the ops use are kept.
Model import_tflite(const std::string& bytes, const std::string& source);

// Reads and imports a .tflite file; the model is named after the file's stem.
Model load_tflite(const std::string& path);

struct ExportOptions {
  // int8 models: float32 graph input and output, through QUANTIZE (float32 -> int8, with the
  // int8 input's parameters) and DEQUANTIZE (int8 -> float32) ops. No effect on float models.
  bool float_io = false;
};

// What export did to the model on the way (preprocessing folded or left out), one line each.
struct ExportReport {
  std::vector<std::string> notes;
};

// Encodes a tinyc model (float32 or int8) as a .tflite flatbuffer: schema version 3,
// identifier "TFL3", buffer 0 empty, one buffer per constant (16-byte aligned), operator codes
// with both deprecated_builtin_code and builtin_code, TFLite's op versions for int8 / float.
// The same model gives the same bytes.
//
// Lowering (on a copy): batch_norm is folded into the conv2d / depthwise_conv2d / dense before
// it (fold_batch_norm; one that cannot fold is Error(kUnsupported) naming it); dropout and
// activation "none" are removed. Mapping: dense -> FULLY_CONNECTED, conv2d -> CONV_2D,
// depthwise_conv2d -> DEPTHWISE_CONV_2D, max/avg_pool2d -> MAX/AVERAGE_POOL_2D,
// global_avg_pool2d -> AVERAGE_POOL_2D over H x W then RESHAPE to (1, C) (tinyc's int8
// arithmetic; TFLM's MEAN rounds differently), flatten / reshape -> RESHAPE (with an int32 shape
// input), softmax -> SOFTMAX, activation -> RELU / RELU6 / LOGISTIC / TANH; relu and relu6 stay
// fused. int8 tensors keep their quantization: weights per channel (quantized_dimension 0 for
// conv / FC, 3 for depthwise), int32 biases with scale in * w, fixed softmax / logistic output
// parameters. Other layers are Error(kUnsupported) naming the layer.
//
// Preprocessing: a .tflite cannot hold it. For float models it is folded into the first layer
// where that is exact in real arithmetic: the input feeds (through flatten / reshape) one
// dense layer (w' = w * scale, b' = b - w' offset), or one conv and the preprocessing is a
// per-tensor scale without offset (w' = w * scale). int8 models never fold it (TFLM derives the
// first layer's requantization from the input scale, so changing it would change the
// arithmetic). Otherwise it is left out and a note in `report` tells the caller to feed
// preprocessed inputs.
std::string export_tflite(const Model& model, const ExportOptions& options, ExportReport* report);

// export_tflite, written to `path` atomically (temporary file + rename).
void save_tflite(const Model& model, const std::string& path, const ExportOptions& options,
                 ExportReport* report);

}  // namespace tinyc
