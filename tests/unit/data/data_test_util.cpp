#include "data_test_util.h"

#include <zlib.h>

#include <stdexcept>

#include "test_util.h"

namespace tinyc_test {
namespace {

void put_be32(std::string* out, uint32_t v) {
  out->push_back(static_cast<char>(v >> 24));
  out->push_back(static_cast<char>(v >> 16));
  out->push_back(static_cast<char>(v >> 8));
  out->push_back(static_cast<char>(v));
}

}  // namespace

std::string idx_images(uint32_t count, uint32_t rows, uint32_t cols, uint32_t magic) {
  std::string out;
  put_be32(&out, magic);
  put_be32(&out, count);
  put_be32(&out, rows);
  put_be32(&out, cols);
  for (uint32_t n = 0; n < count; ++n) {
    for (uint32_t i = 0; i < rows * cols; ++i) out.push_back(static_cast<char>((n * 7 + i) % 256));
  }
  return out;
}

std::string idx_labels(uint32_t count, uint32_t magic) {
  std::string out;
  put_be32(&out, magic);
  put_be32(&out, count);
  for (uint32_t n = 0; n < count; ++n) out.push_back(static_cast<char>(n % 10));
  return out;
}

void write_bytes(const std::string& path, const std::string& bytes, bool gz) {
  if (!gz) {
    write_text(path, bytes);
    return;
  }
  gzFile f = gzopen(path.c_str(), "wb");
  if (f == nullptr) throw std::runtime_error("gzopen failed: " + path);
  const auto size = static_cast<unsigned>(bytes.size());
  if (size > 0 && gzwrite(f, bytes.data(), size) != static_cast<int>(size)) {
    gzclose(f);
    throw std::runtime_error("gzwrite failed: " + path);
  }
  gzclose(f);
}

}  // namespace tinyc_test
