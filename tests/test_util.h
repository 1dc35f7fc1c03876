// Helpers shared by the test suites: temporary directories and running the CLI.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tinyc/data.h"

namespace tinyc_test {

// A fresh directory under /tmp, removed when the object goes out of scope.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

struct RunResult {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

// Runs the tinyc binary with `args` (a shell-quoted string), capturing stdout and stderr.
RunResult run_tinyc(const std::string& args);
// The same with another tinyc binary (the Release build that trains the sanitizer suite's
// reference models, emit_harness.h).
RunResult run_tinyc_binary(const std::string& binary, const std::string& args);

void write_text(const std::string& path, const std::string& text);
std::string read_text(const std::string& path);
// Number of entries in a directory (to check that no temporary file was left behind).
int count_entries(const std::string& dir);

// The training rows of `data` under the default split with `seed` (what a trainer with that
// seed and no split options trains on), gathered into x and y; returns their count.
int64_t training_rows(const tinyc::Dataset& data, uint64_t seed, std::vector<float>* x,
                      std::vector<float>* y);

}  // namespace tinyc_test
