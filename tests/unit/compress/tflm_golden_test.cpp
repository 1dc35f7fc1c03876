// The int8 reference executor against TFLite Micro itself: hello_world_int8 (three int8
// FULLY_CONNECTED layers, per-tensor weights) from ../shared/data/tflite, its 1000 inputs and
// the outputs TFLM computed for them, which must match byte for byte; and test_conv_model
// (per-channel CONV_2D, MAX_POOL_2D, RESHAPE, FULLY_CONNECTED) and person_detect
// (DEPTHWISE_CONV_2D, CONV_2D, AVERAGE_POOL_2D, SOFTMAX) on their 16 cases.
//
// The weights are read straight from the .tflite flatbuffer with generic table access (the
// TFLite schema's field ids: Model.subgraphs = 2, Model.buffers = 4, SubGraph.tensors = 0,
// Tensor.buffer = 2, Buffer.data = 0); shapes and quantization come from the model's JSON.
#include <catch2/catch.hpp>

#include <flatbuffers/flatbuffers.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "tinyc/executor.h"
#include "tinyc/model.h"

using namespace tinyc;

namespace {

const std::string kTflite = TINYC_SHARED_DIR "/data/tflite/";

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

using Table = flatbuffers::Table;
template <typename T>
using OffsetVector = flatbuffers::Vector<flatbuffers::Offset<T>>;

flatbuffers::voffset_t field(int id) { return static_cast<flatbuffers::voffset_t>(4 + 2 * id); }

// The constant bytes of tensor `index` of subgraph 0.
std::vector<uint8_t> tensor_data(const std::string& tflite, int index) {
  const auto* model = flatbuffers::GetRoot<Table>(tflite.data());
  const auto* subgraphs = model->GetPointer<const OffsetVector<Table>*>(field(2));
  const auto* buffers = model->GetPointer<const OffsetVector<Table>*>(field(4));
  const auto* tensors = subgraphs->Get(0)->GetPointer<const OffsetVector<Table>*>(field(0));
  const uint32_t buffer =
      tensors->Get(static_cast<flatbuffers::uoffset_t>(index))->GetField<uint32_t>(field(2), 0);
  const auto* data =
      buffers->Get(buffer)->GetPointer<const flatbuffers::Vector<uint8_t>*>(field(0));
  return data ? std::vector<uint8_t>(data->begin(), data->end()) : std::vector<uint8_t>{};
}

}  // namespace

TEST_CASE("int8 dense matches TFLite Micro on hello_world_int8 byte for byte", "[quantize][tflm]") {
  const std::string tflite = slurp(kTflite + "hello_world_int8.tflite");
  const std::string inputs = slurp(kTflite + "hello_world_int8.inputs.bin");
  const std::string outputs = slurp(kTflite + "hello_world_int8.outputs.bin");
  if (tflite.empty() || inputs.empty()) {
    WARN("../shared/data/tflite/hello_world_int8.* not found; skipping");
    return;
  }
  const nlohmann::json meta = nlohmann::json::parse(slurp(kTflite + "hello_world_int8.json"));
  Model m;
  m.name = "hello_world_int8";
  for (const auto& t : meta["tensors"]) {
    Tensor x;
    x.name = t["name"];
    x.shape = t["shape"].get<Shape>();
    const std::string dtype = t["dtype"];
    x.dtype = dtype == "INT8" ? DType::kInt8 : DType::kInt32;
    x.quant.scale = {t["scale"][0].get<float>()};
    x.quant.zero_point = {t["zero_point"][0].get<int64_t>()};
    x.quant.axis = -1;
    if (t["const_bytes"].get<int>() > 0) {
      x.role = TensorRole::kWeight;
      const std::vector<uint8_t> bytes = tensor_data(tflite, t["index"]);
      if (x.dtype == DType::kInt8) {
        for (uint8_t b : bytes) x.ints.push_back(static_cast<int8_t>(b));
      } else {
        for (size_t i = 0; i + 4 <= bytes.size(); i += 4) {
          int32_t v;
          std::memcpy(&v, bytes.data() + i, 4);
          x.ints.push_back(v);
        }
      }
    }
    m.add_tensor(x);
  }
  int layer = 0;
  for (const auto& o : meta["operator_sequence"]) {
    REQUIRE(o["op"] == "FULLY_CONNECTED");
    Op op;
    op.type = OpType::kDense;
    op.name = "dense_" + std::to_string(++layer);
    op.inputs = o["inputs"].get<std::vector<int>>();
    op.outputs = o["outputs"].get<std::vector<int>>();
    // The first two layers fuse RELU (their output tensors' names say so).
    op.set_str("activation", layer < 3 ? "relu" : "none");
    m.ops.push_back(op);
  }
  m.inputs = {0};
  m.outputs = {9};
  m.tensor(0).role = TensorRole::kInput;
  m.tensor(9).role = TensorRole::kOutput;
  validate_model(m);
  REQUIRE(m.is_quantized());

  const auto rows = static_cast<int64_t>(inputs.size());
  const std::vector<int8_t> got =
      run_model_int8(m, reinterpret_cast<const int8_t*>(inputs.data()), rows);
  REQUIRE(got.size() == outputs.size());
  int64_t mismatches = 0;
  for (size_t i = 0; i < got.size(); ++i) mismatches += got[i] != static_cast<int8_t>(outputs[i]);
  CHECK(mismatches == 0);
  // A sine sweep: the comparison covers many distinct outputs, not one saturated value.
  CHECK(std::set<int8_t>(got.begin(), got.end()).size() > 100);
}

namespace {

// The int8 graph of a TFLite model (no QUANTIZE/DEQUANTIZE) as a tinyc Model: tensors with
// their quantization (constants read from the flatbuffer), ops from `operator_sequence` with
// attributes the JSON does not carry inferred from the shapes: stride = in / out, SAME
// padding for 3x3 windows that keep ceil(in / stride), relu6 / relu from the output tensor's
// name. Shape constants (RESHAPE's second input) are left out.
Model load_int8_graph(const std::string& name, const std::string& tflite,
                      const nlohmann::json& meta) {
  Model m;
  m.name = name;
  std::map<int, int> index;  // tflite tensor -> tinyc tensor
  for (const auto& t : meta["tensors"]) {
    const std::string dtype = t["dtype"];
    if (dtype == "FLOAT32" || t["quantization"] == "none") continue;
    Tensor x;
    x.name = t["name"];
    x.shape = t["shape"].get<Shape>();
    x.dtype = dtype == "INT8" ? DType::kInt8 : DType::kInt32;
    x.quant.scale = t["scale"].get<std::vector<float>>();
    x.quant.zero_point = t["zero_point"].get<std::vector<int64_t>>();
    // The converter gives depthwise biases the weights' quantized_dimension (3); for a 1-D
    // tensor the axis can only be 0.
    const int axis = std::min<int>(t["quantized_dimension"].get<int>(),
                                   static_cast<int>(x.shape.size()) - 1);
    x.quant.axis = x.quant.scale.size() > 1 ? axis : -1;
    if (t["const_bytes"].get<int>() > 0) {
      x.role = TensorRole::kWeight;
      const std::vector<uint8_t> bytes = tensor_data(tflite, t["index"]);
      if (x.dtype == DType::kInt8) {
        for (uint8_t b : bytes) x.ints.push_back(static_cast<int8_t>(b));
      } else {
        for (size_t i = 0; i + 4 <= bytes.size(); i += 4) {
          int32_t v;
          std::memcpy(&v, bytes.data() + i, 4);
          x.ints.push_back(v);
        }
      }
    }
    index[t["index"].get<int>()] = m.add_tensor(x);
  }
  int layer = 0;
  for (const auto& o : meta["operator_sequence"]) {
    const std::string type = o["op"];
    if (type == "QUANTIZE" || type == "DEQUANTIZE") continue;
    Op op;
    op.name = "op_" + std::to_string(++layer);
    for (int i : o["inputs"].get<std::vector<int>>()) {
      if (index.count(i)) op.inputs.push_back(index[i]);
    }
    op.outputs = {index.at(o["outputs"][0].get<int>())};
    const Tensor& in = m.tensor(op.inputs[0]);
    const Tensor& out = m.tensor(op.outputs[0]);
    const std::string out_name = out.name;
    const bool relu6 = out_name.size() >= 5 && out_name.substr(out_name.size() - 5) == "Relu6";
    const bool relu = !relu6 && out_name.find("Relu") != std::string::npos;
    auto window = [&](int k) {
      const int stride = in.shape[1] / out.shape[1];
      op.set_int("stride", stride);
      const bool same = out.shape[1] == (in.shape[1] + stride - 1) / stride && k > 1 &&
                        out.shape[1] != (in.shape[1] - k) / stride + 1;
      op.set_str("padding", same ? "same" : "valid");
    };
    if (type == "CONV_2D" || type == "DEPTHWISE_CONV_2D") {
      const Shape& w = m.tensor(op.inputs[1]).shape;
      op.type = type == "CONV_2D" ? OpType::kConv2d : OpType::kDepthwiseConv2d;
      if (op.type == OpType::kDepthwiseConv2d) op.set_int("depth_multiplier", w[3] / in.shape[3]);
      window(w[1]);
      op.set_str("activation", relu6 ? "relu6" : relu ? "relu" : "none");
    } else if (type == "MAX_POOL_2D" || type == "AVERAGE_POOL_2D") {
      op.type = type == "MAX_POOL_2D" ? OpType::kMaxPool2d : OpType::kAvgPool2d;
      const int k = in.shape[1] / out.shape[1] > 1 ? in.shape[1] / out.shape[1] : in.shape[1];
      op.set_int("pool", k);
      op.set_int("stride", k);
      op.set_str("padding", "valid");
    } else if (type == "RESHAPE") {
      op.type = OpType::kReshape;
      op.set_int("shape", -1);
    } else if (type == "SOFTMAX") {
      op.type = OpType::kSoftmax;
    } else {
      REQUIRE(type == "FULLY_CONNECTED");
      op.type = OpType::kDense;
      op.set_str("activation", relu ? "relu" : "none");
    }
    m.ops.push_back(op);
  }
  m.inputs = {m.ops.front().inputs[0]};
  m.outputs = {m.ops.back().outputs[0]};
  m.tensor(m.inputs[0]).role = TensorRole::kInput;
  m.tensor(m.outputs[0]).role = TensorRole::kOutput;
  validate_model(m);
  return m;
}

}  // namespace

TEST_CASE("int8 conv2d, max_pool2d, reshape match TFLite Micro on test_conv_model",
          "[quantize][tflm][cnn]") {
  // QUANTIZE, CONV_2D 3x3 valid relu (16 filters, per channel), CONV_2D 3x3 valid relu (32),
  // MAX_POOL_2D 2x2, RESHAPE, FULLY_CONNECTED (per tensor), DEQUANTIZE; float input/output.
  const std::string tflite = slurp(kTflite + "test_conv_model.tflite");
  const std::string inputs = slurp(kTflite + "test_conv_model.inputs.bin");
  const std::string outputs = slurp(kTflite + "test_conv_model.outputs.bin");
  if (tflite.empty() || inputs.empty()) {
    WARN("../shared/data/tflite/test_conv_model.* not found; skipping");
    return;
  }
  const nlohmann::json meta = nlohmann::json::parse(slurp(kTflite + "test_conv_model.json"));
  const Model m = load_int8_graph("test_conv_model", tflite, meta);
  REQUIRE(m.is_quantized());
  REQUIRE(m.ops.size() == 5);
  CHECK(m.ops[0].get_str("padding", "") == "valid");

  const int64_t rows = 16;
  REQUIRE(inputs.size() == static_cast<size_t>(rows * 256 * 4));
  REQUIRE(outputs.size() == static_cast<size_t>(rows * 10 * 4));
  std::vector<float> x(static_cast<size_t>(rows * 256)), want(static_cast<size_t>(rows * 10));
  std::memcpy(x.data(), inputs.data(), inputs.size());
  std::memcpy(want.data(), outputs.data(), outputs.size());
  const std::vector<float> got = run_model(m, x.data(), rows);  // QUANTIZE .. DEQUANTIZE
  REQUIRE(got.size() == want.size());
  int64_t mismatches = 0;
  for (size_t i = 0; i < got.size(); ++i) mismatches += got[i] != want[i];
  CHECK(mismatches == 0);
  CHECK(std::set<float>(got.begin(), got.end()).size() > 20);
}

TEST_CASE("int8 depthwise_conv2d, conv2d, avg_pool2d match TFLite Micro on person_detect",
          "[quantize][tflm][cnn]") {
  // MobileNet v1 0.25 on 96x96x1: depthwise (multiplier 8 on the first), 1x1 conv, SAME
  // padding with strides 1 and 2, fused relu6, AVERAGE_POOL_2D 3x3, RESHAPE, SOFTMAX.
  const std::string tflite = slurp(kTflite + "person_detect.tflite");
  const std::string inputs = slurp(kTflite + "person_detect.inputs.bin");
  const std::string outputs = slurp(kTflite + "person_detect.outputs.bin");
  if (tflite.empty() || inputs.empty()) {
    WARN("../shared/data/tflite/person_detect.* not found; skipping");
    return;
  }
  const nlohmann::json meta = nlohmann::json::parse(slurp(kTflite + "person_detect.json"));
  const Model m = load_int8_graph("person_detect", tflite, meta);
  REQUIRE(m.ops.size() == 31);
  CHECK(m.ops[0].get_int("depth_multiplier", 0) == 8);
  CHECK(m.ops[0].get_str("padding", "") == "same");
  const int64_t rows = 16;
  REQUIRE(inputs.size() == static_cast<size_t>(rows * 96 * 96));
  REQUIRE(outputs.size() == static_cast<size_t>(rows * 2));
  const std::vector<int8_t> got =
      run_model_int8(m, reinterpret_cast<const int8_t*>(inputs.data()), rows);
  REQUIRE(got.size() == outputs.size());
  int64_t mismatches = 0;
  for (size_t i = 0; i < got.size(); ++i) mismatches += got[i] != static_cast<int8_t>(outputs[i]);
  CHECK(mismatches == 0);
  // Every intermediate layer is checked through the output: compare the logits as well.
  CHECK(std::set<int8_t>(got.begin(), got.end()).size() > 3);
}
