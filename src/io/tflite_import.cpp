// .tflite -> Model (include/tinyc/tflite.h). Check once, then decode: the identifier and the
// FlatBuffers verifier make every access safe; indices, buffer sizes and options are checked
// here with messages naming the op or tensor; validate_model does shape inference last.
#include "tinyc/tflite.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <memory>

#include "io/tflite_importer.h"
#include "io/tflite_ops.h"
#include "tinyc/int8_bounds.h"
#include "tflite_subset_generated.h"
#include "tinyc/error.h"
#include "tinyc/executor.h"
#include "tinyc/fileio.h"
#include "tinyc/version.h"

namespace tinyc {
namespace tflite_import_detail {

Model Importer::run() {
  if (sg.operators() == nullptr || sg.operators()->size() == 0) {
    bad_input("{}: the subgraph has no operators", source);
  }
  name_ops();
  mapped.assign(static_cast<size_t>(tensor_count()), -1);
  for (fbs::uoffset_t i = 0; i < sg.operators()->size(); ++i) add_op(i, *sg.operators()->Get(i));
  auto io = [&](const fbs::Vector<int32_t>* v, const char* what, TensorRole role) {
    std::vector<int> result;
    if (v == nullptr || v->size() == 0) bad_input("{}: the subgraph has no {}", source, what);
    for (int t : *v) {
      if (t < 0 || t >= tensor_count()) {
        bad_input("{}: subgraph {} refer to tensor {}, outside [0, {})", source, what, t,
                  tensor_count());
      }
      const int k = tensor(t);
      if (m.tensor(k).is_constant()) bad_input("{}: subgraph {} include a constant", source, what);
      m.tensor(k).role = role;
      result.push_back(k);
    }
    return result;
  };
  m.inputs = io(sg.inputs(), "inputs", TensorRole::kInput);
  m.outputs = io(sg.outputs(), "outputs", TensorRole::kOutput);
  // One kind of arithmetic per model: every activation float32, or int8 (with float32 or
  // int16 I/O tensors converted by QUANTIZE / DEQUANTIZE, checked by check_int8_model).
  bool any_int8 = false;
  for (const Tensor& t : m.tensors) any_int8 = any_int8 || (!t.is_constant() && t.dtype == DType::kInt8);
  for (const Tensor& t : m.tensors) {
    if (any_int8) break;
    const bool weight_or_state = t.is_constant() || t.role == TensorRole::kState;
    if (!weight_or_state && t.dtype != DType::kFloat32) {
      unsupported("{}: activation tensor '{}' is {} (tinyc runs float32 or int8 graphs); model "
                  "ops: {}", source, t.name, dtype_name(t.dtype), op_list());
    }
    if (weight_or_state && t.dtype != DType::kFloat32) {
      unsupported("{}: float model with {} weight tensor '{}' (hybrid quantization); model ops: "
                  "{}", source, dtype_name(t.dtype), t.name, op_list());
    }
  }
  if (!m.ops.empty() && m.ops.back().type == OpType::kSoftmax) m.task = Task::kClassification;
  m.producer = fmt::format("tinyc {} (imported from TFLite schema version {})", kVersion,
                           fm.version());
  try {
    validate_model(m);
    if (any_int8) {
      check_int8_model(m);
      check_int8_accumulators(m);
    }
  } catch (const Error& e) {
    throw Error(e.code(), source + ": " + e.what());
  }
  return std::move(m);
}

}  // namespace tflite_import_detail

using tflite_import_detail::Importer;
using tflite_import_detail::kMaxDepth;
namespace fbs = flatbuffers;

bool is_tflite_path(const std::string& path) {
  const std::string suffix = ".tflite";
  return path.size() >= suffix.size() &&
         path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0;
}

Model import_tflite(const std::string& bytes, const std::string& source) {
  if (bytes.size() < 8) bad_input("{}: not a .tflite file (only {} bytes)", source, bytes.size());
  if (bytes.size() >= FLATBUFFERS_MAX_BUFFER_SIZE) {
    bad_input("{}: not a .tflite file (larger than 2 GiB)", source);
  }
  // Scalars are read in place: copy into an aligned buffer.
  std::unique_ptr<uint64_t[]> aligned(new uint64_t[bytes.size() / sizeof(uint64_t) + 1]);
  std::memcpy(aligned.get(), bytes.data(), bytes.size());
  const auto* buf = reinterpret_cast<const uint8_t*>(aligned.get());
  if (!tfl::ModelBufferHasIdentifier(buf)) {
    bad_input("{}: not a .tflite file (file identifier is not TFL3)", source);
  }
  fbs::Verifier::Options options;
  options.max_depth = kMaxDepth;
  options.max_tables = static_cast<fbs::uoffset_t>(bytes.size() / 4 + 16);
  fbs::Verifier verifier(buf, bytes.size(), options);
  if (!tfl::VerifyModelBuffer(verifier)) {
    bad_input("{}: corrupt .tflite file (FlatBuffers verification failed)", source);
  }
  const tfl::Model& fm = *tfl::GetModel(buf);
  if (fm.version() != 3) {
    unsupported("{}: TFLite schema version {} (tinyc reads version 3)", source, fm.version());
  }
  const auto* subgraphs = fm.subgraphs();
  if (subgraphs == nullptr || subgraphs->size() == 0) bad_input("{}: no subgraph", source);
  if (subgraphs->size() > 1) {
    unsupported("{}: {} subgraphs (tinyc imports models with one subgraph)", source,
                subgraphs->size());
  }
  Importer importer(fm, *subgraphs->Get(0), source);
  std::string name = source;
  const size_t slash = name.find_last_of('/');
  if (slash != std::string::npos) name = name.substr(slash + 1);
  if (is_tflite_path(name)) name.resize(name.size() - 7);
  importer.m.name = name;
  return importer.run();
}

Model load_tflite(const std::string& path) { return import_tflite(read_file(path), path); }

}  // namespace tinyc
