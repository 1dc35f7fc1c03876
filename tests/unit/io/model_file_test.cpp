// The .tinyc model file: lossless round trip, deterministic bytes, and every kind of damage
// rejected with exit code 2 (DESIGN.md §4).
#include <zlib.h>

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>

#include "test_util.h"
#include "tinyc/error.h"
#include "tinyc/fileio.h"
#include "tinyc/model_file.h"

using tinyc::DType;
using tinyc::Error;
using tinyc::ExitCode;
using tinyc::Model;
using tinyc::Tensor;
using tinyc::TensorRole;
using tinyc_test::TempDir;

namespace {

Tensor make_tensor(const std::string& name, DType dtype, tinyc::Shape shape, TensorRole role) {
  Tensor t;
  t.name = name;
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.role = role;
  return t;
}

// x(1,4) -> dense_1 (W(3,4), b(3), relu) -> y(1,3), plus unreferenced int8/int16/int32 weights.
Model small_model() {
  Model m;
  m.name = "tiny";
  m.task = tinyc::Task::kClassification;
  m.producer = "tinyc 0.1.0";
  m.seed = 7;
  m.spec_json = R"({"name":"tiny","input":[4],"layers":[{"type":"dense","units":3}]})";

  const int x = m.add_tensor(make_tensor("x", DType::kFloat32, {1, 4}, TensorRole::kInput));
  Tensor w = make_tensor("dense_1/W", DType::kFloat32, {3, 4}, TensorRole::kWeight);
  w.f32 = {0.5f, -1.25f, 3.0f, 0.0f, -0.0f, 1e-30f, -7.5f, 2.0f, 0.125f, 100.0f, -3.0f, 1.0f};
  const int wi = m.add_tensor(w);
  Tensor b = make_tensor("dense_1/b", DType::kFloat32, {3}, TensorRole::kWeight);
  b.f32 = {0.1f, -0.2f, 0.3f};
  const int bi = m.add_tensor(b);
  const int y = m.add_tensor(make_tensor("y", DType::kFloat32, {1, 3}, TensorRole::kOutput));

  Tensor q = make_tensor("q8", DType::kInt8, {3, 4}, TensorRole::kWeight);
  q.ints = {-128, 127, 0, 1, -1, 5, -5, 100, -100, 64, -64, 127};
  q.quant.scale = {0.5f, 0.25f, 0.125f};
  q.quant.zero_point = {0, 0, 0};
  q.quant.axis = 0;
  m.add_tensor(q);
  Tensor i32 = make_tensor("bias32", DType::kInt32, {3}, TensorRole::kWeight);
  i32.ints = {std::numeric_limits<int32_t>::min(), -1, std::numeric_limits<int32_t>::max()};
  i32.quant.scale = {0.001f};
  i32.quant.zero_point = {0};
  m.add_tensor(i32);
  Tensor i16 = make_tensor("s16", DType::kInt16, {2}, TensorRole::kWeight);
  i16.ints = {-32768, 32767};
  m.add_tensor(i16);

  tinyc::Op op;
  op.type = tinyc::OpType::kDense;
  op.name = "dense_1";
  op.inputs = {x, wi, bi};
  op.outputs = {y};
  op.set_int("units", 3);
  op.set_str("activation", "relu");
  m.ops.push_back(op);
  m.inputs = {x};
  m.outputs = {y};

  m.preprocess.kind = tinyc::NormKind::kStandard;
  m.preprocess.offset = {1.0f, 2.0f, 3.0f, 4.0f};
  m.preprocess.scale = {0.5f, 0.25f, 2.0f, 1.0f};
  m.labels = {"cat", "dog", "bird"};

  tinyc::EpochRecord e1;
  e1.epoch = 1;
  e1.train_loss = 1.5f;
  e1.train_metric = 0.4f;
  e1.lr = 0.01f;
  tinyc::EpochRecord e2;
  e2.epoch = 2;
  e2.train_loss = 0.75f;
  e2.train_metric = 0.8f;
  e2.has_val = true;
  e2.val_loss = 0.9f;
  e2.val_metric = -0.0f;
  e2.lr = 0.005f;
  m.history = {e1, e2};

  m.split.defined = true;
  m.split.seed = 0xfedcba9876543210ull;
  m.split.val = 0.1;
  m.split.test = 0.2;
  m.split.stratify = false;
  m.split.data_fingerprint = 0x0123456789abcdefull;
  m.split.data_rows = 1000;
  return m;
}

// The exit code of the Error thrown by `f`, kOk when it returns; other exceptions fail the test.
ExitCode code_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.code();
  }
  return ExitCode::kOk;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// Replaces the CRC trailer with the CRC of the (modified) payload.
std::string fix_crc(std::string bytes) {
  const size_t n = bytes.size() - 4;
  const uint32_t crc = tinyc::crc32_of(bytes.data(), n);
  for (int i = 0; i < 4; ++i) bytes[n + i] = static_cast<char>((crc >> (8 * i)) & 0xff);
  return bytes;
}

// Minimal FlatBuffers navigation, to damage chosen fields of a serialized model.
struct Fb {
  std::string& b;
  uint32_t u32(size_t p) const {
    uint32_t v;
    std::memcpy(&v, b.data() + p, 4);
    return v;
  }
  uint16_t u16(size_t p) const {
    uint16_t v;
    std::memcpy(&v, b.data() + p, 2);
    return v;
  }
  size_t root() const { return u32(0); }
  // Position of field `id` of the table at `table`; 0 when absent.
  size_t field(size_t table, int id) const {
    int32_t soff;
    std::memcpy(&soff, b.data() + table, 4);
    const size_t vt = table - static_cast<size_t>(static_cast<int64_t>(soff));
    const size_t slot = 4 + 2 * static_cast<size_t>(id);
    if (slot >= u16(vt)) return 0;
    const uint16_t off = u16(vt + slot);
    return off == 0 ? 0 : table + off;
  }
  size_t deref(size_t p) const { return p + u32(p); }
  // The table element `i` of the vector whose offset field is at `p`.
  size_t element(size_t p, size_t i) const {
    const size_t vec = deref(p);
    return deref(vec + 4 + 4 * i);
  }
};

constexpr int kModelVersionField = 0;
constexpr int kModelTensorsField = 4;
constexpr int kTensorDtypeField = 1;
constexpr int kTensorShapeField = 2;

}  // namespace

TEST_CASE("model file: round trip is lossless", "[io][model_file]") {
  const Model m = small_model();
  REQUIRE_NOTHROW(tinyc::validate_model(m));
  const std::string bytes = tinyc::serialize_model(m);
  const Model back = tinyc::deserialize_model(bytes, "mem.tinyc");
  CHECK(back == m);
  // Model::operator== cannot see the sign of zero; the bits survive too.
  CHECK(std::signbit(back.tensors[1].f32[4]));
  CHECK(std::signbit(back.history[1].val_metric));
  CHECK(back.tensors[1].f32[5] == 1e-30f);
  CHECK(back.split.stratify == false);
  CHECK(back.ops[0].get_str("activation", "") == "relu");

  TempDir dir;
  const std::string path = dir.file("m.tinyc");
  tinyc::save_model(m, path);
  CHECK(tinyc::load_model(path) == m);
}

TEST_CASE("model file: default-valued model round-trips", "[io][model_file]") {
  Model m = small_model();
  m.labels.clear();
  m.history.clear();
  m.split = tinyc::SplitDefinition{};
  m.spec_json.clear();
  m.producer.clear();
  m.seed = 0;
  m.preprocess = tinyc::Preprocess{};
  m.task = tinyc::Task::kRegression;
  m.tensors.resize(4);  // drop the unreferenced weights
  CHECK(tinyc::deserialize_model(tinyc::serialize_model(m), "mem") == m);
}

TEST_CASE("model file: int8 extremes round-trip", "[io][model_file]") {
  const Model m = small_model();
  const Model back = tinyc::deserialize_model(tinyc::serialize_model(m), "mem");
  const Tensor& q = back.tensors[4];
  REQUIRE(q.dtype == DType::kInt8);
  REQUIRE(q.ints.size() == 12);
  CHECK(q.ints[0] == -128);
  CHECK(q.ints[1] == 127);
  CHECK(q.ints[11] == 127);
  CHECK(q.quant.axis == 0);
  CHECK(q.quant.scale == std::vector<float>{0.5f, 0.25f, 0.125f});
  CHECK(back.tensors[5].ints[0] == std::numeric_limits<int32_t>::min());
  CHECK(back.tensors[5].ints[2] == std::numeric_limits<int32_t>::max());
  CHECK(back.tensors[6].ints == std::vector<int32_t>{-32768, 32767});
}

TEST_CASE("model file: serialization is deterministic", "[io][model_file]") {
  const Model m = small_model();
  const std::string a = tinyc::serialize_model(m);
  CHECK(a == tinyc::serialize_model(m));
  CHECK(a == tinyc::serialize_model(tinyc::deserialize_model(a, "mem")));

  TempDir dir;
  tinyc::save_model(m, dir.file("a.tinyc"));
  const std::string first = tinyc_test::read_text(dir.file("a.tinyc"));
  tinyc::save_model(m, dir.file("a.tinyc"));
  CHECK(tinyc_test::read_text(dir.file("a.tinyc")) == first);
  CHECK(first == a);
}

TEST_CASE("model file: weight data is 16-byte aligned in the buffer", "[io][model_file]") {
  std::string bytes = tinyc::serialize_model(small_model());
  Fb fb{bytes};
  const size_t tensors = fb.field(fb.root(), kModelTensorsField);
  for (size_t i : {1, 2, 4, 5, 6}) {
    const size_t data_field = fb.field(fb.element(tensors, i), 5);
    REQUIRE(data_field != 0);
    CHECK((fb.deref(data_field) + 4) % 16 == 0);
  }
}

TEST_CASE("model file: every flipped byte is rejected", "[io][model_file]") {
  const std::string good = tinyc::serialize_model(small_model());
  int accepted = 0, wrong_code = 0;
  size_t first_bad = good.size();
  for (size_t i = 0; i < good.size(); ++i) {
    for (unsigned mask : {0xffu, 0x01u}) {
      std::string bad = good;
      bad[i] = static_cast<char>(static_cast<unsigned char>(bad[i]) ^ mask);
      const ExitCode code = code_of([&] { tinyc::deserialize_model(bad, "flip.tinyc"); });
      if (code == ExitCode::kBadInput) continue;
      (code == ExitCode::kOk ? accepted : wrong_code)++;
      if (first_bad == good.size()) first_bad = i;
    }
  }
  INFO("file size " << good.size() << ", first bad offset " << first_bad);
  CHECK(accepted == 0);
  CHECK(wrong_code == 0);
}

TEST_CASE("model file: damage behind a matching CRC never crashes", "[io][model_file]") {
  // The CRC stops random damage; this checks the layers behind it (identifier, verifier,
  // semantic checks) on buffers that pass the CRC.
  const std::string good = tinyc::serialize_model(small_model());
  int wrong_code = 0;
  for (size_t i = 0; i + 4 < good.size(); ++i) {
    for (unsigned mask : {0xffu, 0x01u, 0x80u}) {
      std::string bad = good;
      bad[i] = static_cast<char>(static_cast<unsigned char>(bad[i]) ^ mask);
      const ExitCode code = code_of([&] { tinyc::deserialize_model(fix_crc(bad), "flip.tinyc"); });
      if (code != ExitCode::kOk && code != ExitCode::kBadInput) ++wrong_code;
    }
  }
  CHECK(wrong_code == 0);
}

TEST_CASE("model file: every truncation is rejected", "[io][model_file]") {
  const std::string good = tinyc::serialize_model(small_model());
  int not_rejected = 0;
  for (size_t n = 0; n < good.size(); ++n) {
    const ExitCode code =
        code_of([&] { tinyc::deserialize_model(good.substr(0, n), "short.tinyc"); });
    if (code != ExitCode::kBadInput) ++not_rejected;
  }
  CHECK(not_rejected == 0);
  const std::string msg =
      error_of([&] { tinyc::deserialize_model(good.substr(0, 100), "s.tinyc"); });
  CHECK(msg.rfind("s.tinyc: ", 0) == 0);
}

TEST_CASE("model file: wrong identifier or foreign file is not a tinyc model", "[io][model_file]") {
  std::string bytes = tinyc::serialize_model(small_model());
  bytes.replace(4, 4, "XXXX");
  const std::string fixed = fix_crc(bytes);
  CHECK(code_of([&] { tinyc::deserialize_model(fixed, "m.tinyc"); }) == ExitCode::kBadInput);
  CHECK(error_of([&] { tinyc::deserialize_model(fixed, "m.tinyc"); }) ==
        "m.tinyc: not a tinyc model file");

  const std::string csv = "x,y,label\n1,2,0\n3,4,1\n5,6,0\n";
  CHECK(error_of([&] { tinyc::deserialize_model(csv, "data.csv"); }) ==
        "data.csv: not a tinyc model file");
  CHECK(code_of([&] { tinyc::deserialize_model("", "empty"); }) == ExitCode::kBadInput);
}

TEST_CASE("model file: CRC mismatch message", "[io][model_file]") {
  std::string bytes = tinyc::serialize_model(small_model());
  bytes[bytes.size() / 2] ^= 0x10;
  CHECK(error_of([&] { tinyc::deserialize_model(bytes, "m.tinyc"); }) ==
        "m.tinyc: corrupt model file (CRC mismatch); re-create it with tinyc train");
}

TEST_CASE("model file: newer schema version asks for an upgrade", "[io][model_file]") {
  std::string bytes = tinyc::serialize_model(small_model());
  Fb fb{bytes};
  const size_t version = fb.field(fb.root(), kModelVersionField);
  REQUIRE(version != 0);
  REQUIRE(fb.u32(version) == tinyc::kModelSchemaVersion);
  const uint32_t newer = tinyc::kModelSchemaVersion + 1;
  std::memcpy(&bytes[version], &newer, 4);
  const std::string fixed = fix_crc(bytes);
  CHECK(code_of([&] { tinyc::deserialize_model(fixed, "m.tinyc"); }) == ExitCode::kBadInput);
  const std::string msg = error_of([&] { tinyc::deserialize_model(fixed, "m.tinyc"); });
  CHECK(msg.find("newer") != std::string::npos);
  CHECK(msg.find("upgrade tinyc") != std::string::npos);
}

TEST_CASE("model file: semantic damage is named", "[io][model_file]") {
  const std::string good = tinyc::serialize_model(small_model());

  SECTION("unknown op type") {
    std::string bytes = good;
    const std::string needle("\x05\0\0\0dense\0", 10);
    const size_t at = bytes.find(needle);
    REQUIRE(at != std::string::npos);
    bytes[at + 5] = 'x';  // "dxnse"
    const std::string msg = error_of([&] { tinyc::deserialize_model(fix_crc(bytes), "m.tinyc"); });
    CHECK(msg.find("m.tinyc: ") == 0);
    CHECK(msg.find("'dxnse'") != std::string::npos);
    CHECK(msg.find("dense_1") != std::string::npos);
  }
  SECTION("dtype out of range") {
    std::string bytes = good;
    Fb fb{bytes};
    const size_t t0 = fb.element(fb.field(fb.root(), kModelTensorsField), 0);
    const size_t dtype = fb.field(t0, kTensorDtypeField);
    REQUIRE(dtype != 0);
    bytes[dtype] = 9;
    const std::string msg = error_of([&] { tinyc::deserialize_model(fix_crc(bytes), "m.tinyc"); });
    CHECK(msg.find("dtype") != std::string::npos);
    CHECK(msg.find("'x'") != std::string::npos);
  }
  SECTION("data length does not match the shape") {
    std::string bytes = good;
    Fb fb{bytes};
    const size_t w = fb.element(fb.field(fb.root(), kModelTensorsField), 1);
    const size_t shape = fb.deref(fb.field(w, kTensorShapeField));
    REQUIRE(fb.u32(shape) == 2);
    REQUIRE(fb.u32(shape + 8) == 4);
    bytes[shape + 8] = 5;  // W (3, 4) -> (3, 5)
    const std::string msg = error_of([&] { tinyc::deserialize_model(fix_crc(bytes), "m.tinyc"); });
    CHECK(msg.find("dense_1/W") != std::string::npos);
    CHECK(msg.find("data bytes") != std::string::npos);
  }
  SECTION("validate_model errors name the file") {
    Model m = small_model();
    m.ops[0].set_int("units", 4);  // weights have 3 rows
    const std::string msg =
        error_of([&] { tinyc::deserialize_model(tinyc::serialize_model(m), "m.tinyc"); });
    CHECK(msg.find("m.tinyc: ") == 0);
    CHECK(msg.find("dense_1") != std::string::npos);
  }
}

TEST_CASE("model file: values that do not fit the dtype are not saved", "[io][model_file]") {
  Model m = small_model();
  m.tensors[4].ints[3] = 200;  // int8
  CHECK(code_of([&] { tinyc::serialize_model(m); }) == ExitCode::kBadInput);
  m = small_model();
  m.tensors[4].f32 = {1.0f};  // float data in an int8 tensor
  CHECK(code_of([&] { tinyc::serialize_model(m); }) == ExitCode::kBadInput);
}

TEST_CASE("model file: save and load on disk", "[io][model_file]") {
  TempDir dir;
  const Model m = small_model();

  SECTION("no temporary files are left behind") {
    tinyc::save_model(m, dir.file("a.tinyc"));
    tinyc::save_model(m, dir.file("a.tinyc"));
    tinyc::save_model(m, dir.file("b.tinyc"));
    CHECK(tinyc_test::count_entries(dir.path()) == 2);
  }
  SECTION("saving into a missing directory fails and leaves nothing") {
    const std::string path = dir.file("missing/m.tinyc");
    CHECK(code_of([&] { tinyc::save_model(m, path); }) == ExitCode::kBadInput);
    CHECK(tinyc_test::count_entries(dir.path()) == 0);
  }
  SECTION("a missing file is bad input naming the path") {
    const std::string path = dir.file("nope.tinyc");
    CHECK(code_of([&] { tinyc::load_model(path); }) == ExitCode::kBadInput);
    CHECK(error_of([&] { tinyc::load_model(path); }).find(path) != std::string::npos);
  }
  SECTION("a damaged file on disk is rejected") {
    const std::string path = dir.file("m.tinyc");
    tinyc::save_model(m, path);
    std::string bytes = tinyc_test::read_text(path);
    bytes[bytes.size() - 20] ^= 0x01;
    tinyc_test::write_text(path, bytes);
    CHECK(error_of([&] { tinyc::load_model(path); }).find("CRC mismatch") != std::string::npos);
  }
  SECTION("a gzip-compressed model loads") {
    const std::string bytes = tinyc::serialize_model(m);
    const std::string path = dir.file("m.tinyc.gz");
    gzFile f = gzopen(path.c_str(), "wb");
    REQUIRE(f != nullptr);
    REQUIRE(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())) ==
            static_cast<int>(bytes.size()));
    REQUIRE(gzclose(f) == Z_OK);
    CHECK(tinyc::load_model(path) == m);
  }
  SECTION("a .tflite path goes to the importer (tests/unit/io/tflite_import_test.cpp)") {
    // A .tinyc file under a .tflite name lacks TFLite's identifier: bad input.
    tinyc::save_model(m, dir.file("m.tflite"));
    CHECK(code_of([&] { tinyc::load_model(dir.file("m.tflite")); }) == ExitCode::kBadInput);
  }
}
