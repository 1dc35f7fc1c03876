// The .tinyc model file (DESIGN.md §4): FlatBuffers bytes (schemas/tinyc.fbs) followed by a
// 4-byte little-endian CRC-32 of all preceding bytes. The CRC catches what the FlatBuffers
// verifier cannot (a flipped weight); the verifier makes every access of the decoder safe.
#include "tinyc/model_file.h"

#include <cstdint>
#include <cstring>
#include <memory>

#include "tinyc/error.h"
#include "tinyc/fileio.h"
#include "tinyc/int8_bounds.h"
#include "tinyc/tflite.h"
#include "tinyc_generated.h"

namespace tinyc {
namespace {

namespace fbs = flatbuffers;

constexpr size_t kCrcBytes = 4;
// A FlatBuffer holds at least its root offset and its file identifier.
constexpr size_t kMinFileBytes = 8 + kCrcBytes;
// Tensor data sits 16-byte aligned in the buffer, so readers may map it in place.
constexpr size_t kDataAlignment = 16;
// Deepest legitimate nesting: Model > tensors > Tensor > Quantization > scale.
constexpr fbs::uoffset_t kMaxDepth = 16;

void put_le32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

uint32_t get_le32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
         static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
}

// ---------------------------------------------------------------------------------------------
// Writing

// Rough upper bound of the serialized size, to refuse models FlatBuffers cannot address
// (2 GiB) before the builder overflows.
uint64_t estimate_bytes(const Model& model) {
  constexpr uint64_t kItem = 64;  // table, vtable and padding overhead per item
  uint64_t n = 1024 + model.spec_json.size() + model.name.size() + model.producer.size();
  for (const Tensor& t : model.tensors) {
    n += kItem + t.name.size() + 4 * t.shape.size() + 4 * t.quant.scale.size() +
         8 * t.quant.zero_point.size() + kDataAlignment + 4 * t.f32.size() + 4 * t.ints.size();
  }
  for (const Op& op : model.ops) {
    n += kItem + op.name.size() + 4 * (op.inputs.size() + op.outputs.size());
    for (const auto& [key, attr] : op.attrs) {
      n += kItem + key.size() + attr.str.size() + 8 * attr.ints.size() + 4 * attr.floats.size();
    }
  }
  for (const std::string& label : model.labels) n += kItem + label.size();
  n += kItem * model.history.size() + 4 * (model.inputs.size() + model.outputs.size()) +
       4 * (model.preprocess.offset.size() + model.preprocess.scale.size());
  return n;
}

template <typename T>
fbs::Offset<fbs::Vector<T>> vector_or_null(fbs::FlatBufferBuilder& fbb, const std::vector<T>& v) {
  return v.empty() ? 0 : fbb.CreateVector(v);
}

fbs::Offset<fbs::String> string_or_null(fbs::FlatBufferBuilder& fbb, const std::string& s) {
  return s.empty() ? 0 : fbb.CreateString(s);
}

// The tensor's constant data in its own dtype, little-endian; null when it has none.
fbs::Offset<fbs::Vector<uint8_t>> tensor_data(fbs::FlatBufferBuilder& fbb, const Tensor& t) {
  const bool is_float = t.dtype == DType::kFloat32;
  if ((is_float && !t.ints.empty()) || (!is_float && !t.f32.empty())) {
    bad_input("cannot save tensor '{}': {} tensor holds {} data", t.name, dtype_name(t.dtype),
              is_float ? "integer" : "float32");
  }
  const size_t count = is_float ? t.f32.size() : t.ints.size();
  if (count == 0) return 0;
  const size_t width = static_cast<size_t>(dtype_bytes(t.dtype));
  int64_t lo = INT32_MIN, hi = INT32_MAX;
  if (t.dtype == DType::kInt8) lo = INT8_MIN, hi = INT8_MAX;
  if (t.dtype == DType::kInt16) lo = INT16_MIN, hi = INT16_MAX;

  fbb.ForceVectorAlignment(count * width, 1, kDataAlignment);
  uint8_t* out = nullptr;
  const auto offset = fbb.CreateUninitializedVector<uint8_t>(count * width, &out);
  for (size_t i = 0; i < count; ++i) {
    uint32_t bits = 0;
    if (is_float) {
      std::memcpy(&bits, &t.f32[i], 4);
    } else {
      const int32_t v = t.ints[i];
      if (v < lo || v > hi) {
        bad_input("cannot save tensor '{}': value {} at index {} does not fit {}", t.name, v, i,
                  dtype_name(t.dtype));
      }
      bits = static_cast<uint32_t>(v);  // two's complement; the low `width` bytes are kept
    }
    for (size_t b = 0; b < width; ++b) out[i * width + b] = static_cast<uint8_t>(bits >> (8 * b));
  }
  return offset;
}

fbs::Offset<fb::Tensor> write_tensor(fbs::FlatBufferBuilder& fbb, const Tensor& t) {
  const auto data = tensor_data(fbb, t);
  const auto name = string_or_null(fbb, t.name);
  const auto shape = vector_or_null(fbb, t.shape);
  fbs::Offset<fb::Quantization> quant = 0;
  if (!t.quant.scale.empty() || !t.quant.zero_point.empty() || t.quant.axis != -1) {
    const auto scale = vector_or_null(fbb, t.quant.scale);
    const auto zero_point = vector_or_null(fbb, t.quant.zero_point);
    quant = fb::CreateQuantization(fbb, scale, zero_point, t.quant.axis);
  }
  return fb::CreateTensor(fbb, name, static_cast<fb::DType>(t.dtype), shape,
                          static_cast<fb::TensorRole>(t.role), quant, data);
}

fbs::Offset<fb::Op> write_op(fbs::FlatBufferBuilder& fbb, const Op& op) {
  std::vector<fbs::Offset<fb::Attr>> attrs;
  for (const auto& [key, attr] : op.attrs) {  // std::map: sorted, so deterministic
    const auto k = fbb.CreateString(key);
    const auto ints = vector_or_null(fbb, attr.ints);
    const auto floats = vector_or_null(fbb, attr.floats);
    const auto str = string_or_null(fbb, attr.str);
    attrs.push_back(fb::CreateAttr(fbb, k, ints, floats, str));
  }
  const auto attr_vec = attrs.empty() ? 0 : fbb.CreateVector(attrs);
  const auto type = fbb.CreateString(op_type_name(op.type));
  const auto name = string_or_null(fbb, op.name);
  const auto inputs = vector_or_null(fbb, op.inputs);
  const auto outputs = vector_or_null(fbb, op.outputs);
  return fb::CreateOp(fbb, type, name, inputs, outputs, attr_vec);
}

// ---------------------------------------------------------------------------------------------
// Reading: every function below runs on a verified buffer and names `source` in its errors.

template <typename T, typename U>
std::vector<T> read_vector(const fbs::Vector<U>* v) {
  if (v == nullptr) return {};
  // The verifier checks the alignment of a vector's length, not of 8-byte elements: a crafted
  // file can misalign them, so elements are copied bytewise, never loaded in place.
  std::vector<T> out(v->size());
  const uint8_t* p = v->Data();
  for (size_t i = 0; i < out.size(); ++i) {
    U u;
    std::memcpy(&u, p + i * sizeof(U), sizeof(U));
    out[i] = static_cast<T>(u);
  }
  return out;
}

std::string read_string(const fbs::String* s) { return s == nullptr ? std::string() : s->str(); }

// Element count of `shape`, or -1 when a dimension is negative or the count exceeds `limit`.
int64_t bounded_count(const Shape& shape, int64_t limit) {
  int64_t n = 1;
  for (int d : shape) {
    if (d < 0) return -1;
    if (d == 0) return 0;
    if (n > limit / d) return -1;
    n *= d;
  }
  return n;
}

void read_data(const fbs::Vector<uint8_t>* data, Tensor& t, const std::string& source) {
  const size_t bytes = data == nullptr ? 0 : data->size();
  const auto width = static_cast<size_t>(dtype_bytes(t.dtype));
  // Activations carry no data; weights and state always do (validate_model checks counts).
  const bool needs_data = t.role == TensorRole::kWeight || t.role == TensorRole::kState;
  if (bytes == 0 && !needs_data) return;
  const int64_t count = bounded_count(t.shape, static_cast<int64_t>(bytes));
  if (count < 0 || static_cast<size_t>(count) * width != bytes) {
    const std::string needed =
        count < 0 ? std::string("more") : std::to_string(count * static_cast<int64_t>(width));
    bad_input("{}: tensor '{}' has {} data bytes where shape {} of {} needs {}; the file is "
              "corrupt",
              source, t.name, bytes, shape_str(t.shape), dtype_name(t.dtype), needed);
  }
  const uint8_t* p = data == nullptr ? nullptr : data->data();
  const auto n = static_cast<size_t>(count);
  switch (t.dtype) {
    case DType::kFloat32:
      t.f32.resize(n);
      for (size_t i = 0; i < n; ++i) {
        const uint32_t bits = get_le32(p + 4 * i);
        std::memcpy(&t.f32[i], &bits, 4);
      }
      break;
    case DType::kInt8:
      t.ints.resize(n);
      for (size_t i = 0; i < n; ++i) t.ints[i] = p[i] < 128 ? p[i] : p[i] - 256;
      break;
    case DType::kInt16:
      t.ints.resize(n);
      for (size_t i = 0; i < n; ++i) {
        const int32_t v = p[2 * i] | p[2 * i + 1] << 8;
        t.ints[i] = v < 32768 ? v : v - 65536;
      }
      break;
    case DType::kInt32:
      t.ints.resize(n);
      for (size_t i = 0; i < n; ++i) {
        const uint32_t bits = get_le32(p + 4 * i);
        std::memcpy(&t.ints[i], &bits, 4);
      }
      break;
  }
}

Tensor read_tensor(const fb::Tensor& ft, size_t index, const std::string& source) {
  Tensor t;
  t.name = read_string(ft.name());
  const auto dtype = static_cast<unsigned>(ft.dtype());
  if (dtype > static_cast<unsigned>(fb::DType_MAX)) {
    bad_input("{}: tensor {} ('{}') has unknown dtype value {}; the file is corrupt or from a "
              "newer tinyc",
              source, index, t.name, dtype);
  }
  t.dtype = static_cast<DType>(dtype);
  const auto role = static_cast<unsigned>(ft.role());
  if (role > static_cast<unsigned>(fb::TensorRole_MAX)) {
    bad_input("{}: tensor {} ('{}') has unknown role value {}; the file is corrupt or from a "
              "newer tinyc",
              source, index, t.name, role);
  }
  t.role = static_cast<TensorRole>(role);
  t.shape = read_vector<int>(ft.shape());
  if (const fb::Quantization* q = ft.quantization()) {
    t.quant.scale = read_vector<float>(q->scale());
    t.quant.zero_point = read_vector<int64_t>(q->zero_point());
    t.quant.axis = q->axis();
  }
  read_data(ft.data(), t, source);
  return t;
}

Op read_op(const fb::Op& fop, size_t index, const std::string& source) {
  Op op;
  op.name = read_string(fop.name());
  const std::string type = read_string(fop.type());
  if (!parse_op_type(type, &op.type)) {
    bad_input("{}: op {} ('{}') has unknown type '{}'; it may come from a newer tinyc "
              "(upgrade tinyc)",
              source, index, op.name, type);
  }
  op.inputs = read_vector<int>(fop.inputs());
  op.outputs = read_vector<int>(fop.outputs());
  if (const auto* attrs = fop.attrs()) {
    for (const fb::Attr* fa : *attrs) {
      const std::string key = read_string(fa->key());
      Attr attr;
      attr.ints = read_vector<int64_t>(fa->ints());
      attr.floats = read_vector<float>(fa->floats());
      attr.str = read_string(fa->str());
      if (!op.attrs.emplace(key, std::move(attr)).second) {
        bad_input("{}: op '{}' has attribute '{}' twice; the file is corrupt", source, op.name,
                  key);
      }
    }
  }
  return op;
}

Model decode(const fb::Model& fm, const std::string& source) {
  Model m;
  m.producer = read_string(fm.producer());
  m.name = read_string(fm.name());
  const auto task = static_cast<unsigned>(fm.task());
  if (task > static_cast<unsigned>(fb::Task_MAX)) {
    bad_input("{}: unknown task value {}; the file is corrupt or from a newer tinyc", source,
              task);
  }
  m.task = static_cast<Task>(task);
  if (const auto* tensors = fm.tensors()) {
    m.tensors.reserve(tensors->size());
    for (const fb::Tensor* ft : *tensors) {
      m.tensors.push_back(read_tensor(*ft, m.tensors.size(), source));
    }
  }
  if (const auto* ops = fm.ops()) {
    m.ops.reserve(ops->size());
    for (const fb::Op* fop : *ops) m.ops.push_back(read_op(*fop, m.ops.size(), source));
  }
  m.inputs = read_vector<int>(fm.inputs());
  m.outputs = read_vector<int>(fm.outputs());
  if (const fb::Preprocess* p = fm.preprocess()) {
    const std::string kind = p->kind() == nullptr ? "none" : p->kind()->str();
    if (!parse_norm_kind(kind, &m.preprocess.kind)) {
      bad_input("{}: unknown preprocessing '{}'; it may come from a newer tinyc (upgrade tinyc)",
                source, kind);
    }
    m.preprocess.offset = read_vector<float>(p->offset());
    m.preprocess.scale = read_vector<float>(p->scale());
  }
  if (const auto* labels = fm.labels()) {
    for (const fbs::String* s : *labels) m.labels.push_back(s->str());
  }
  if (const auto* history = fm.history()) {
    for (const fb::EpochRecord* fr : *history) {
      EpochRecord r;
      r.epoch = fr->epoch();
      r.train_loss = fr->train_loss();
      r.train_metric = fr->train_metric();
      r.has_val = fr->has_val();
      r.val_loss = fr->val_loss();
      r.val_metric = fr->val_metric();
      r.lr = fr->lr();
      m.history.push_back(r);
    }
  }
  if (const fb::SplitDefinition* s = fm.split()) {
    m.split.defined = s->defined();
    m.split.seed = s->seed();
    m.split.val = s->val();
    m.split.test = s->test();
    m.split.stratify = s->stratify();
    m.split.data_fingerprint = s->data_fingerprint();
    m.split.data_rows = s->data_rows();
  }
  m.spec_json = read_string(fm.spec_json());
  m.seed = fm.seed();
  if (const fb::Compression* c = fm.compression()) {
    CompressionRecord& r = m.compression;
    r.present = true;
    r.steps = read_string(c->steps());
    r.before_params = c->before_params();
    r.before_nonzero = c->before_nonzero();
    r.before_bytes = c->before_bytes();
    r.after_params = c->after_params();
    r.after_nonzero = c->after_nonzero();
    r.after_bytes = c->after_bytes();
    r.samples = c->samples();
    r.before_loss = c->before_loss();
    r.before_metric = c->before_metric();
    r.after_loss = c->after_loss();
    r.after_metric = c->after_metric();
  }
  return m;
}

}  // namespace

std::string serialize_model(const Model& model) {
  const uint64_t estimate = estimate_bytes(model);
  if (estimate >= FLATBUFFERS_MAX_BUFFER_SIZE) {
    unsupported("model '{}' is too large for a .tinyc file (about {} MiB, the limit is 2 GiB)",
                model.name, estimate >> 20);
  }
  fbs::FlatBufferBuilder fbb(static_cast<size_t>(estimate));
  // Every scalar is stored, defaults included: -0.0 survives and readers never depend on
  // schema defaults. Constant for every write, so the bytes stay deterministic.
  fbb.ForceDefaults(true);

  std::vector<fbs::Offset<fb::Tensor>> tensors;
  tensors.reserve(model.tensors.size());
  for (const Tensor& t : model.tensors) tensors.push_back(write_tensor(fbb, t));
  const auto tensor_vec = tensors.empty() ? 0 : fbb.CreateVector(tensors);

  std::vector<fbs::Offset<fb::Op>> ops;
  ops.reserve(model.ops.size());
  for (const Op& op : model.ops) ops.push_back(write_op(fbb, op));
  const auto op_vec = ops.empty() ? 0 : fbb.CreateVector(ops);

  const auto inputs = vector_or_null(fbb, model.inputs);
  const auto outputs = vector_or_null(fbb, model.outputs);

  const Preprocess& pre = model.preprocess;
  const auto kind = fbb.CreateString(norm_kind_name(pre.kind));
  const auto offset = vector_or_null(fbb, pre.offset);
  const auto scale = vector_or_null(fbb, pre.scale);
  const auto preprocess = fb::CreatePreprocess(fbb, kind, offset, scale);

  const auto labels = model.labels.empty() ? 0 : fbb.CreateVectorOfStrings(model.labels);

  std::vector<fbs::Offset<fb::EpochRecord>> history;
  history.reserve(model.history.size());
  for (const EpochRecord& r : model.history) {
    history.push_back(fb::CreateEpochRecord(fbb, r.epoch, r.train_loss, r.train_metric,
                                            r.has_val, r.val_loss, r.val_metric, r.lr));
  }
  const auto history_vec = history.empty() ? 0 : fbb.CreateVector(history);

  const SplitDefinition& s = model.split;
  const auto split = fb::CreateSplitDefinition(fbb, s.defined, s.seed, s.val, s.test, s.stratify,
                                               s.data_fingerprint, s.data_rows);
  const auto spec_json = string_or_null(fbb, model.spec_json);
  const auto producer = string_or_null(fbb, model.producer);
  const auto name = string_or_null(fbb, model.name);
  fbs::Offset<fb::Compression> compression = 0;
  if (const CompressionRecord& c = model.compression; c.present) {
    compression = fb::CreateCompression(
        fbb, string_or_null(fbb, c.steps), c.before_params, c.before_nonzero, c.before_bytes,
        c.after_params, c.after_nonzero, c.after_bytes, c.samples, c.before_loss,
        c.before_metric, c.after_loss, c.after_metric);
  }

  const auto root = fb::CreateModel(fbb, kModelSchemaVersion, producer, name,
                                    static_cast<fb::Task>(model.task), tensor_vec, op_vec, inputs,
                                    outputs, preprocess, labels, history_vec, split, spec_json,
                                    model.seed, compression);
  fb::FinishModelBuffer(fbb, root);

  std::string bytes(reinterpret_cast<const char*>(fbb.GetBufferPointer()), fbb.GetSize());
  const uint32_t crc = crc32_of(bytes.data(), bytes.size());
  bytes.resize(bytes.size() + kCrcBytes);
  put_le32(&bytes[bytes.size() - kCrcBytes], crc);
  return bytes;
}

Model deserialize_model(const std::string& bytes, const std::string& source) {
  if (bytes.size() < kMinFileBytes) {
    bad_input("{}: not a tinyc model file (only {} bytes)", source, bytes.size());
  }
  const size_t size = bytes.size() - kCrcBytes;
  if (size >= FLATBUFFERS_MAX_BUFFER_SIZE) {
    bad_input("{}: not a tinyc model file (larger than 2 GiB)", source);
  }
  // Scalars are read in place: make sure the buffer is aligned for them.
  const auto* buf = reinterpret_cast<const uint8_t*>(bytes.data());
  std::unique_ptr<uint64_t[]> aligned;
  if (reinterpret_cast<uintptr_t>(buf) % alignof(uint64_t) != 0) {
    aligned.reset(new uint64_t[size / sizeof(uint64_t) + 1]);
    std::memcpy(aligned.get(), buf, size);
    buf = reinterpret_cast<const uint8_t*>(aligned.get());
  }
  const bool has_identifier = fb::ModelBufferHasIdentifier(buf);
  if (crc32_of(buf, size) != get_le32(reinterpret_cast<const uint8_t*>(bytes.data()) + size)) {
    // A file that does not even carry the identifier is something else, not a damaged model.
    if (!has_identifier) bad_input("{}: not a tinyc model file", source);
    bad_input("{}: corrupt model file (CRC mismatch); re-create it with tinyc train", source);
  }
  if (!has_identifier) bad_input("{}: not a tinyc model file", source);

  // Every table takes at least 4 bytes, so a legitimate file holds fewer than size / 4.
  fbs::Verifier::Options options;
  options.max_depth = kMaxDepth;
  options.max_tables = static_cast<fbs::uoffset_t>(size / 4 + 16);
  fbs::Verifier verifier(buf, size, options);
  if (!fb::VerifyModelBuffer(verifier)) {
    bad_input("{}: corrupt model file (FlatBuffers verification failed); re-create it with "
              "tinyc train",
              source);
  }
  const fb::Model& fm = *fb::GetModel(buf);
  const uint32_t version = fm.schema_version();
  if (version > kModelSchemaVersion) {
    bad_input("{}: model file schema version {} is newer than this tinyc supports ({}); "
              "upgrade tinyc",
              source, version, kModelSchemaVersion);
  }
  if (version == 0) bad_input("{}: model file has no schema version; the file is corrupt", source);

  Model model = decode(fm, source);
  try {
    validate_model(model);
    if (model.is_quantized()) check_int8_accumulators(model);
  } catch (const Error& e) {
    throw Error(e.code(), source + ": " + e.what());
  }
  return model;
}

void save_model(const Model& model, const std::string& path) {
  std::string bytes;
  try {
    bytes = serialize_model(model);
  } catch (const Error& e) {
    throw Error(e.code(), path + ": " + e.what());
  }
  write_file_atomic(path, bytes);
}

Model load_model(const std::string& path) {
  if (is_tflite_path(path)) return load_tflite(path);
  return deserialize_model(read_file(path), path);
}

}  // namespace tinyc
