// TFLite builtin operator codes (the public schema's BuiltinOperator values) that the
// importer maps, and the names of all codes for error messages.
#pragma once

#include <cstdint>
#include <string>

namespace tinyc::tflite_op {

constexpr int32_t kAdd = 0;
constexpr int32_t kAveragePool2d = 1;
constexpr int32_t kConcatenation = 2;
constexpr int32_t kConv2d = 3;
constexpr int32_t kDepthwiseConv2d = 4;
constexpr int32_t kDequantize = 6;
constexpr int32_t kFullyConnected = 9;
constexpr int32_t kLogistic = 14;
constexpr int32_t kMaxPool2d = 17;
constexpr int32_t kMul = 18;
constexpr int32_t kRelu = 19;
constexpr int32_t kRelu6 = 21;
constexpr int32_t kReshape = 22;
constexpr int32_t kSoftmax = 25;
constexpr int32_t kSvdf = 27;
constexpr int32_t kTanh = 28;
constexpr int32_t kCustom = 32;
constexpr int32_t kPad = 34;
constexpr int32_t kMean = 40;
constexpr int32_t kUnidirectionalSequenceLstm = 44;
constexpr int32_t kQuantize = 114;

// "FULLY_CONNECTED"; "BUILTIN_<code>" for codes without a name here.
std::string builtin_name(int32_t code);

}  // namespace tinyc::tflite_op
