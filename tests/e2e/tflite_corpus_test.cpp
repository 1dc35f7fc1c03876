// A generated corpus of malformed and unsupported .tflite files (issue 6), fed to the CLI:
// truncated files, a wrong identifier, offsets pointing outside the file, indices out of
// range, tensor shapes that disagree with their op or data, and ops tinyc does not run. Each
// is one clear line on stderr naming the file, exit 2 (bad input) or 4 (unsupported), never a
// crash and never an output file. The files are patched copies of a TFLM model: fields are
// located through the FlatBuffers tables themselves (field ids of the public TFLite schema).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstring>
#include <fstream>

#include <flatbuffers/flatbuffers.h>
#include <fmt/format.h>

#include "test_util.h"

using tinyc_test::read_text;
using tinyc_test::run_tinyc;
using tinyc_test::TempDir;
using tinyc_test::write_text;

namespace {

namespace fb = flatbuffers;
const std::string kDir = TINYC_SHARED_DIR "/data/tflite/";

// Field ids of the TFLite schema used below.
constexpr int kModelOperatorCodes = 1, kModelSubgraphs = 2, kModelBuffers = 4;
constexpr int kSubgraphTensors = 0, kSubgraphOperators = 3;
constexpr int kTensorShape = 0, kTensorBuffer = 2;
constexpr int kOperatorOpcodeIndex = 0, kOperatorInputs = 1;
constexpr int kOpcodeDeprecatedBuiltin = 0, kOpcodeBuiltin = 3;

fb::voffset_t field(int id) { return static_cast<fb::voffset_t>(4 + 2 * id); }

// A model's bytes with accessors that give the file offset of a field, for patching.
struct Patcher {
  std::string bytes;
  const fb::Table* root() const { return fb::GetRoot<fb::Table>(bytes.data()); }
  template <typename T>
  const fb::Vector<T>* vec(const fb::Table* t, int id) const {
    return t->GetPointer<const fb::Vector<T>*>(field(id));
  }
  const fb::Table* table_at(const fb::Table* t, int id, fb::uoffset_t i) const {
    return vec<fb::Offset<fb::Table>>(t, id)->Get(i);
  }
  const fb::Table* subgraph() const { return table_at(root(), kModelSubgraphs, 0); }
  size_t offset_of(const void* p) const {
    return static_cast<size_t>(static_cast<const char*>(p) - bytes.data());
  }
  size_t scalar(const fb::Table* t, int id) const {
    const uint8_t* p = t->GetAddressOf(field(id));
    REQUIRE(p != nullptr);
    return offset_of(p);
  }
  std::string with(size_t at, int32_t v, size_t width = 4) const {
    std::string copy = bytes;
    std::memcpy(&copy[at], &v, width);  // little-endian host, as the format
    return copy;
  }
};

}  // namespace

TEST_CASE("a corpus of malformed .tflite files exits 2, unsupported ones exit 4",
          "[e2e][tflite][corrupt]") {
  if (!std::ifstream(kDir + "hello_world_int8.tflite").good()) {
    WARN("hello_world_int8.tflite not found; skipping");
    return;
  }
  Patcher p{read_text(kDir + "hello_world_int8.tflite")};
  const fb::Table* sg = p.subgraph();
  const auto* tensors = p.vec<fb::Offset<fb::Table>>(sg, kSubgraphTensors);
  const fb::Table* op0 = p.table_at(sg, kSubgraphOperators, 0);
  const fb::Table* opcode0 = p.table_at(p.root(), kModelOperatorCodes, 0);
  // Operator 0 (FULLY_CONNECTED 1 -> 16): its input, weights and output tensors.
  const auto* op0_inputs = p.vec<int32_t>(op0, kOperatorInputs);
  const fb::Table* weights = tensors->Get(static_cast<fb::uoffset_t>(op0_inputs->Get(1)));
  const auto* weight_shape = p.vec<int32_t>(weights, kTensorShape);

  struct Entry {
    std::string name, bytes;
    int exit_code;
    std::string says;
  };
  std::vector<Entry> corpus = {
      {"empty", "", 2, "not a .tflite file"},
      {"header_only", p.bytes.substr(0, 8), 2, ""},
      {"wrong_identifier", p.bytes.substr(0, 4) + "TFL2" + p.bytes.substr(8), 2, "TFL3"},
      {"root_offset_outside", p.with(0, 0x7ffffff0), 2, ""},
      {"subgraphs_offset_outside",
       p.with(p.scalar(p.root(), kModelSubgraphs), static_cast<int32_t>(p.bytes.size())), 2, ""},
      {"buffers_offset_outside",
       p.with(p.scalar(p.root(), kModelBuffers), 0x40000000), 2, ""},
      {"weight_shape_disagrees_with_data",
       p.with(p.offset_of(weight_shape->Data()), weight_shape->Get(0) + 1), 2, "data bytes"},
      {"weight_shape_disagrees_with_op",
       p.with(p.offset_of(weight_shape->Data() + 4), 2), 2, ""},
      {"tensor_buffer_out_of_range", p.with(p.scalar(weights, kTensorBuffer), 999), 2, "buffer 999"},
      {"op_input_out_of_range", p.with(p.offset_of(op0_inputs->Data()), 555), 2, "tensor 555"},
  };
  // An operator that stores its opcode index (a default 0 may be left out of the file).
  const auto* ops = p.vec<fb::Offset<fb::Table>>(sg, kSubgraphOperators);
  for (fb::uoffset_t i = 0; i < ops->size(); ++i) {
    if (ops->Get(i)->GetAddressOf(field(kOperatorOpcodeIndex)) == nullptr) continue;
    corpus.push_back({"opcode_index_out_of_range",
                      p.with(p.scalar(ops->Get(i), kOperatorOpcodeIndex), 77), 2, "opcode index 77"});
    break;
  }
  for (size_t cut : {p.bytes.size() / 2, p.bytes.size() - 1, size_t{100}, size_t{20}}) {
    corpus.push_back({fmt::format("truncated_{}", cut), p.bytes.substr(0, cut), 2, ""});
  }
  // Every tensor shape off by one in its last dimension: the op's shape inference or the data
  // size check refuses each one.
  for (fb::uoffset_t t = 0; t < tensors->size(); ++t) {
    const auto* shape = p.vec<int32_t>(tensors->Get(t), kTensorShape);
    if (shape == nullptr || shape->size() == 0) continue;
    const fb::uoffset_t last = shape->size() - 1;
    corpus.push_back({fmt::format("tensor{}_shape", t),
                      p.with(p.offset_of(shape->Data() + 4 * last), shape->Get(last) + 1), 2, ""});
  }
  // An op tinyc does not run (FLOOR, builtin code 8): exit 4 naming it, its index, the op list.
  // The opcode is stored in builtin_code, deprecated_builtin_code or both: patch each present.
  std::string floor = p.bytes;
  if (opcode0->GetAddressOf(field(kOpcodeBuiltin)) != nullptr) {
    floor = p.with(p.scalar(opcode0, kOpcodeBuiltin), 8);
  }
  if (opcode0->GetAddressOf(field(kOpcodeDeprecatedBuiltin)) != nullptr) {
    floor = Patcher{floor}.with(p.scalar(opcode0, kOpcodeDeprecatedBuiltin), 8, 1);
  }
  corpus.push_back({"unsupported_floor", floor, 4, "operator 0 (FLOOR)"});

  TempDir dir;
  for (const Entry& e : corpus) {
    INFO(e.name);
    const std::string file = dir.file(e.name + ".tflite");
    write_text(file, e.bytes);
    const auto r = run_tinyc("import " + file + " -o " + dir.file("out.tinyc"));
    CHECK(r.exit_code == e.exit_code);
    CHECK_THAT(r.err, Catch::Contains(e.name + ".tflite"));
    CHECK_THAT(r.err, Catch::Contains(e.says));
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK_FALSE(std::ifstream(dir.file("out.tinyc")).good());
  }
  // The unsupported op's message lists the model's ops.
  const auto r = run_tinyc("predict " + dir.file("unsupported_floor.tflite") + " --input-bin " +
                           kDir + "hello_world_int8.inputs.bin");
  CHECK(r.exit_code == 4);
  CHECK_THAT(r.err, Catch::Contains("model ops: [FLOOR"));
}
