// The int8 reference executor against TFLite Micro itself: hello_world_int8 (three int8
// FULLY_CONNECTED layers, per-tensor weights) from ../shared/data/tflite, its 1000 inputs and
// the outputs TFLM computed for them, which must match byte for byte.
//
// The weights are read straight from the .tflite flatbuffer with generic table access (the
// TFLite schema's field ids: Model.subgraphs = 2, Model.buffers = 4, SubGraph.tensors = 0,
// Tensor.buffer = 2, Buffer.data = 0); shapes and quantization come from the model's JSON.
#include <catch2/catch.hpp>

#include <flatbuffers/flatbuffers.h>
#include <nlohmann/json.hpp>

#include <cstring>
#include <fstream>
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
