// TensorFlow Lite flatbuffers (.tflite) in tinyc (issue 6). The schema subset tinyc reads is
// schemas/tflite_subset.fbs (written from the public schema's field ids).
#pragma once

#include <string>

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

}  // namespace tinyc
