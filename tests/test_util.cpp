#include "test_util.h"

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace tinyc_test {

TempDir::TempDir() {
  char tmpl[] = "/tmp/tinyc_test.XXXXXX";
  if (mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
}

std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

int count_entries(const std::string& dir) {
  int n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) ++n;
  return n;
}

RunResult run_tinyc(const std::string& args) { return run_tinyc_binary(TINYC_BINARY, args); }

RunResult run_tinyc_binary(const std::string& binary, const std::string& args) {
  TempDir io;
  const std::string out = io.file("out"), err = io.file("err");
  const std::string cmd = binary + " " + args + " >" + out + " 2>" + err + " </dev/null";
  const int status = std::system(cmd.c_str());
  RunResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = read_text(out);
  r.err = read_text(err);
  return r;
}

int64_t training_rows(const tinyc::Dataset& data, uint64_t seed, std::vector<float>* x,
                      std::vector<float>* y) {
  tinyc::SplitSpec split;
  split.seed = seed;
  const std::vector<int64_t> rows = tinyc::make_split(data, split).train;
  tinyc::gather_rows(data, rows, x, y);
  return static_cast<int64_t>(rows.size());
}

}  // namespace tinyc_test
