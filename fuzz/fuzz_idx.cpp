// IDX directory loader. The input is split into the images file and the labels file at the
// offset given by its first two bytes (little endian), written into a private directory.
#include <unistd.h>

#include <cstdio>
#include <string>

#include "fuzz/fuzz_common.h"
#include "tinyc/data.h"
#include "tinyc/error.h"
#include "tinyc/fileio.h"

namespace {
std::string g_dir;

void put(const std::string& path, const std::string& bytes) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) std::abort();
  std::fwrite(bytes.data(), 1, bytes.size(), f);
  std::fclose(f);
}
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  tinyc_fuzz::init_limits();
  char tmpl[] = "/tmp/tinyc_fuzz_idx_XXXXXX";
  if (mkdtemp(tmpl) == nullptr) std::abort();
  g_dir = tmpl;
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const size_t cut = std::min<size_t>(size - 2, size_t{data[0]} | (size_t{data[1]} << 8));
  const std::string rest = tinyc_fuzz::bytes_of(data + 2, size - 2);
  put(g_dir + "/train-images-idx3-ubyte", rest.substr(0, cut));
  put(g_dir + "/train-labels-idx1-ubyte", rest.substr(cut));
  try {
    const tinyc::Dataset d = tinyc::load_idx_dir(g_dir);
    (void)d.fingerprint();
  } catch (const tinyc::Error&) {
  }
  return 0;
}
