#include "train/checkpoint.h"

#include <cstring>
#include <type_traits>

#include "tinyc/error.h"
#include "tinyc/fileio.h"

namespace tinyc {
namespace {

constexpr char kMagic[8] = {'T', 'I', 'N', 'Y', 'C', 'K', 'P', 'T'};
constexpr uint32_t kVersion = 1;
constexpr size_t kCrcBytes = 4;

class Writer {
 public:
  template <typename T>
  void put(T v) {
    static_assert(std::is_trivially_copyable_v<T>);
    char b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));
    out_.append(b, sizeof(T));  // tinyc runs on little-endian hosts (x86-64, arm64)
  }
  void put(const std::vector<float>& v) {
    put(static_cast<uint64_t>(v.size()));
    out_.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
  }
  void put(const std::vector<std::vector<float>>& vs) {
    put(static_cast<uint64_t>(vs.size()));
    for (const auto& v : vs) put(v);
  }
  std::string& bytes() { return out_; }

 private:
  std::string out_;
};

// Every read is bounds-checked against the payload: a damaged file fails with the offset.
class Reader {
 public:
  Reader(const std::string& bytes, size_t end, const std::string& source)
      : b_(bytes), end_(end), source_(source) {}
  template <typename T>
  T get() {
    need(sizeof(T));
    T v;
    std::memcpy(&v, b_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::vector<float> floats() {
    const auto n = get<uint64_t>();
    if (n > (end_ - pos_) / sizeof(float)) truncated();
    std::vector<float> v(static_cast<size_t>(n));
    if (n > 0) std::memcpy(v.data(), b_.data() + pos_, v.size() * sizeof(float));  // data() may be null
    pos_ += v.size() * sizeof(float);
    return v;
  }
  std::vector<std::vector<float>> float_lists() {
    const auto n = get<uint64_t>();
    if (n > (end_ - pos_) / sizeof(uint64_t)) truncated();
    std::vector<std::vector<float>> v;
    for (uint64_t i = 0; i < n; ++i) v.push_back(floats());
    return v;
  }
  size_t pos() const { return pos_; }
  [[noreturn]] void truncated() const {
    bad_input("{}: corrupt checkpoint (field at byte {} runs past the end)", source_, pos_);
  }

 private:
  void need(size_t n) const {
    if (n > end_ - pos_) truncated();
  }
  const std::string& b_;
  size_t end_;
  size_t pos_ = 0;
  const std::string& source_;
};

}  // namespace

std::string encode_checkpoint(const TrainCheckpoint& c) {
  Writer w;
  w.bytes().append(kMagic, sizeof kMagic);
  w.put(kVersion);
  w.put(c.identity);
  w.put(c.epochs_done);
  w.put(c.train_seconds);
  w.put(c.params);
  w.put(c.optimizer_step);
  w.put(c.optimizer_m);
  w.put(c.optimizer_v);
  w.put(c.state);
  w.put(c.best_val);
  w.put(c.since_best);
  w.put(c.best_epoch);
  w.put(c.best_params);
  w.put(c.best_state);
  w.put(static_cast<uint64_t>(c.history.size()));
  for (const EpochRecord& r : c.history) {
    w.put(static_cast<int32_t>(r.epoch));
    w.put(r.train_loss);
    w.put(r.train_metric);
    w.put(static_cast<uint8_t>(r.has_val));
    w.put(r.val_loss);
    w.put(r.val_metric);
    w.put(r.lr);
  }
  w.put(crc32_of(w.bytes().data(), w.bytes().size()));
  return w.bytes();
}

TrainCheckpoint decode_checkpoint(const std::string& bytes, const std::string& source) {
  if (bytes.size() < sizeof kMagic + sizeof(uint32_t) + kCrcBytes ||
      std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0) {
    bad_input("{}: not a tinyc training checkpoint (written by train --checkpoint-every)", source);
  }
  const size_t end = bytes.size() - kCrcBytes;
  uint32_t crc = 0;
  std::memcpy(&crc, bytes.data() + end, sizeof crc);
  if (crc32_of(bytes.data(), end) != crc) {
    bad_input("{}: corrupt checkpoint (CRC mismatch); resume from another one or retrain", source);
  }
  Reader r(bytes, end, source);
  for (size_t i = 0; i < sizeof kMagic; ++i) (void)r.get<char>();
  const auto version = r.get<uint32_t>();
  if (version != kVersion) {
    bad_input("{}: checkpoint format version {}, this tinyc reads version {}", source, version,
              kVersion);
  }
  TrainCheckpoint c;
  c.identity = r.get<uint64_t>();
  c.epochs_done = r.get<int32_t>();
  c.train_seconds = r.get<double>();
  c.params = r.floats();
  c.optimizer_step = r.get<int64_t>();
  c.optimizer_m = r.floats();
  c.optimizer_v = r.floats();
  c.state = r.float_lists();
  c.best_val = r.get<double>();
  c.since_best = r.get<int32_t>();
  c.best_epoch = r.get<int32_t>();
  c.best_params = r.floats();
  c.best_state = r.float_lists();
  const auto records = r.get<uint64_t>();
  if (records > (end - r.pos()) / 25) r.truncated();  // 25 bytes per record
  for (uint64_t i = 0; i < records; ++i) {
    EpochRecord e;
    e.epoch = r.get<int32_t>();
    e.train_loss = r.get<float>();
    e.train_metric = r.get<float>();
    e.has_val = r.get<uint8_t>() != 0;
    e.val_loss = r.get<float>();
    e.val_metric = r.get<float>();
    e.lr = r.get<float>();
    c.history.push_back(e);
  }
  if (r.pos() != end) bad_input("{}: corrupt checkpoint ({} trailing bytes)", source, end - r.pos());
  if (c.epochs_done < 1 || c.history.size() != static_cast<size_t>(c.epochs_done)) {
    bad_input("{}: corrupt checkpoint ({} epochs done but {} history records)", source,
              c.epochs_done, c.history.size());
  }
  return c;
}

void save_checkpoint(const TrainCheckpoint& c, const std::string& path) {
  write_file_atomic(path, encode_checkpoint(c));
}

TrainCheckpoint load_checkpoint(const std::string& path) {
  return decode_checkpoint(read_file(path), path);
}

}  // namespace tinyc
