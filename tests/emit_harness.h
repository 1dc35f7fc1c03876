// Test harness for emitted code, shared by test_emit (host build under ASan/UBSan) and
// test_firmware (cross-compiled, run in QEMU): trained reference models, test inputs, the
// reference outputs of `tinyc predict`, a generated test main, and the float agreement check
// of DESIGN.md §7.
#pragma once

#include <fcntl.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "test_util.h"
#include "tinyc/data.h"
#include "tinyc/executor.h"
#include "tinyc/fileio.h"

namespace tinyc_test {

struct CommandResult {
  int exit_code = -1;
  std::string out;  // stdout and stderr together
};

// Runs a shell command, capturing its output.
inline CommandResult run_command(const std::string& cmd) {
  CommandResult r;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

inline bool have_program(const std::string& name) {
  return run_command("command -v " + name + " >/dev/null").exit_code == 0;
}

struct ReferenceModel {
  std::string name;     // "sine"
  std::string path;     // the trained .tinyc
  std::string data;     // its CSV or IDX directory
  bool int8 = false;    // quantized
  bool cnn = false;     // a CNN
};

// Fashion-MNIST (Debian's dataset-fashion-mnist): fashion_cnn is a reference model where it is.
constexpr const char* kFashionDir = "/usr/share/datasets/fashion-mnist";

// `tinyc predict M --data CSV --limit N --json` of an int8 model: float outputs (dequantized)
// and int8 outputs.
inline void predict_int8(const std::string& model, const std::string& csv, int64_t cases,
                         std::vector<std::vector<float>>* outputs,
                         std::vector<std::vector<int>>* outputs_int8) {
  const RunResult r = run_tinyc(fmt::format("predict {} --data {} --limit {} --json", model, csv, cases));
  if (r.exit_code != 0) throw std::runtime_error("predict failed: " + r.err);
  const auto j = nlohmann::json::parse(r.out);
  *outputs = j["outputs"].get<std::vector<std::vector<float>>>();
  *outputs_int8 = j["outputs_int8"].get<std::vector<std::vector<int>>>();
}

// Bit-exact: same bytes (int8) and the same floats (their dequantization).
inline void check_exact(const std::vector<std::vector<float>>& actual,
                        const std::vector<std::vector<float>>& expected,
                        const std::vector<std::vector<int>>& actual_int8,
                        const std::vector<std::vector<int>>& expected_int8) {
  CHECK(actual_int8 == expected_int8);
  REQUIRE(actual.size() == expected.size());
  for (size_t c = 0; c < actual.size(); ++c) {
    INFO("case " << c);
    CHECK(actual[c] == expected[c]);
  }
}

// The int8 reference executor's outputs for `cases` raw input rows of a quantized model, one
// vector per case: dequantized, and the raw int8 values.
struct Int8Expected {
  std::vector<std::vector<float>> outputs;
  std::vector<std::vector<int>> outputs_int8;
};
inline Int8Expected int8_reference(const tinyc::Model& q, const std::vector<float>& x,
                                   int64_t cases) {
  const auto xq = tinyc::quantize_inputs(q, x.data(), cases);
  const auto yq = tinyc::run_model_int8(q, xq.data(), cases);
  const auto y = tinyc::dequantize_outputs(q, yq.data(), static_cast<int64_t>(yq.size()));
  const int64_t width = q.output().sample_size();
  Int8Expected e;
  for (int64_t c = 0; c < cases; ++c) {
    e.outputs.emplace_back(y.begin() + c * width, y.begin() + (c + 1) * width);
    e.outputs_int8.emplace_back(yq.begin() + c * width, yq.begin() + (c + 1) * width);
  }
  return e;
}

// The reference models the emit tests use, in `dir`, trained for a few epochs when `train`
// (the tests check agreement, not accuracy): the dense ones float and int8, then the float
// CNNs (kws_like on `tinyc data kws`, fashion_cnn one epoch on Fashion-MNIST, when installed),
// fashion_mlp (one epoch) and the committed fashion_tiny, then their int8 versions.
inline std::vector<ReferenceModel> reference_model_list(const std::string& dir, bool train,
                                                        const std::string& trainer = TINYC_BINARY) {
  const auto file = [&](const std::string& name) { return dir + "/" + name; };
  const auto run = [&](const std::string& what, const std::string& args) {
    if (!train) return;
    const RunResult r = run_tinyc_binary(trainer, args);
    if (r.exit_code != 0) throw std::runtime_error(what + " failed: " + r.err);
  };
  const std::string tasks = TINYC_SHARED_DIR "/data/tasks/";
  std::vector<ReferenceModel> list = {{"sine", file("sine.tinyc"), tasks + "sine.csv"},
                                      {"digits_mlp", file("digits_mlp.tinyc"), tasks + "digits.csv"}};
  const std::map<std::string, int> epochs = {{"sine", 20}, {"digits_mlp", 3}};
  for (const ReferenceModel& m : list) {
    run("training " + m.name, fmt::format("train {}/models/{}.json --data {} -o {} --epochs {}",
                                          TINYC_SOURCE_DIR, m.name, m.data, m.path, epochs.at(m.name)));
  }
  // Their int8 versions (post-training quantization, calibrated on the same data).
  for (size_t i = 0, n = list.size(); i < n; ++i) {
    ReferenceModel q = list[i];
    q.path = file(q.name + "_int8.tinyc");
    q.int8 = true;
    run("quantizing " + q.name, fmt::format("compress {} --data {} -o {} --quantize int8",
                                            list[i].path, q.data, q.path));
    list.push_back(q);
  }
  std::vector<ReferenceModel> cnns = {{"kws_like", file("kws_like.tinyc"), file("kws.csv")}};
  run("tinyc data kws", "data kws --seed 1 -o " + cnns[0].data);
  if (tinyc::file_exists(kFashionDir)) {
    cnns.push_back({"fashion_cnn", file("fashion_cnn.tinyc"), kFashionDir});
    // The 100k-weight MLP (one epoch) and the committed, fully trained fashion_tiny CNN.
    cnns.push_back({"fashion_mlp", file("fashion_mlp.tinyc"), kFashionDir});
    cnns.push_back({"fashion_tiny", TINYC_SOURCE_DIR "/models/fashion_tiny.tinyc", kFashionDir});
  }
  for (ReferenceModel& m : cnns) {
    m.cnn = m.name != "fashion_mlp";
    if (m.name != "fashion_tiny") {
      run("training " + m.name, fmt::format("train {}/models/{}.json --data {} -o {} --epochs {} "
                                            "--threads 2", TINYC_SOURCE_DIR, m.name, m.data,
                                            m.path, m.name == "kws_like" ? 3 : 1));
    }
    list.push_back(m);
  }
  for (const ReferenceModel& m : cnns) {
    ReferenceModel q = m;
    q.path = file(q.name + "_int8.tinyc");
    q.int8 = true;
    run("quantizing " + q.name, fmt::format("compress {} --data {} -o {} --quantize int8",
                                            m.path, m.data, q.path));
    list.push_back(q);
  }
  return list;
}

// reference_model_list, trained once per build rather than once per test process (CTest runs
// every test case in its own process): in the build tree's test-cache/, under a name keyed by
// the tinyc binary, the specs and fashion_tiny.tinyc, so any change to them trains afresh.
// Processes take a lock; a new set appears by an atomic rename of its complete directory.
// TINYC_TEST_TRAINER names another tinyc binary (the Release build's) that trains them, into
// its own build tree's cache: the sanitizer suite reuses the Release suite's models instead of
// training them again under ASan (the sanitizers guard the code that reads and emits them).
inline const std::vector<ReferenceModel>& reference_models() {
  static const std::vector<ReferenceModel> models = [] {
    const char* trainer = std::getenv("TINYC_TEST_TRAINER");
    std::string binary = trainer != nullptr && *trainer != '\0' ? trainer : TINYC_BINARY;
    if (!tinyc::file_exists(binary)) throw std::runtime_error("TINYC_TEST_TRAINER: no " + binary);
    const std::string root = binary.substr(0, binary.rfind('/')) + "/test-cache";
    uint64_t hash = tinyc::fnv1a64(nullptr, 0);
    for (const std::string& f : {binary, std::string(TINYC_SOURCE_DIR "/models/fashion_tiny.tinyc")}) {
      const std::string bytes = read_text(f);
      hash = tinyc::fnv1a64(bytes.data(), bytes.size(), hash);
    }
    for (const char* spec : {"sine", "digits_mlp", "kws_like", "fashion_cnn", "fashion_mlp"}) {
      const std::string bytes = read_text(fmt::format("{}/models/{}.json", TINYC_SOURCE_DIR, spec));
      hash = tinyc::fnv1a64(bytes.data(), bytes.size(), hash);
    }
    const bool fashion = tinyc::file_exists(kFashionDir);
    hash = tinyc::fnv1a64(&fashion, 1, hash);
    const std::string cache = fmt::format("{}/reference-models-{:016x}", root, hash);
    std::filesystem::create_directories(root);
    const int lock = ::open((root + "/lock").c_str(), O_RDWR | O_CREAT, 0644);
    if (lock < 0 || ::flock(lock, LOCK_EX) != 0) throw std::runtime_error("cannot lock " + root);
    try {
      if (!tinyc::file_exists(cache)) {
        // Sets of older binaries are of no more use.
        for (const auto& e : std::filesystem::directory_iterator(root)) {
          if (e.path().filename().string().rfind("reference-models-", 0) == 0) {
            std::filesystem::remove_all(e.path());
          }
        }
        const std::string tmp = fmt::format("{}.tmp{}", cache, ::getpid());
        std::filesystem::create_directories(tmp);
        reference_model_list(tmp, true, binary);
        std::filesystem::rename(tmp, cache);
      }
    } catch (...) {
      ::close(lock);
      throw;
    }
    ::close(lock);
    return reference_model_list(cache, false);
  }();
  return models;
}

// The first `cases` (at most 64) rows of a data set's features, row-major: the rows that
// `tinyc predict --data` reads (every row of a CSV, the t10k rows of an IDX directory); each
// data set is read once per process.
inline std::vector<float> csv_inputs(const std::string& data, int64_t cases) {
  static std::map<std::string, std::pair<std::vector<float>, int64_t>> first_rows;
  auto it = first_rows.find(data);
  if (it == first_rows.end()) {
    const tinyc::Dataset d = tinyc::load_data(data);
    const bool idx = d.source_line.empty() &&
                     std::find(d.split.begin(), d.split.end(), tinyc::SplitTag::kTest) != d.split.end();
    std::vector<float> x;
    for (int64_t r = 0; r < d.rows && static_cast<int64_t>(x.size()) < 64 * d.features; ++r) {
      if (idx && d.split[static_cast<size_t>(r)] != tinyc::SplitTag::kTest) continue;
      x.insert(x.end(), d.x.begin() + r * d.features, d.x.begin() + (r + 1) * d.features);
    }
    it = first_rows.emplace(data, std::make_pair(std::move(x), d.features)).first;
  }
  const std::vector<float>& x = it->second.first;
  const int64_t features = it->second.second;
  cases = std::min(cases, static_cast<int64_t>(x.size()) / features);
  return std::vector<float>(x.begin(), x.begin() + cases * features);
}

// `tinyc predict M --input-bin` on `inputs`: one output vector per case.
inline std::vector<std::vector<float>> predict_outputs(const std::string& model,
                                                       const std::vector<float>& inputs,
                                                       const std::string& work_dir) {
  const std::string bin = work_dir + "/inputs.bin";
  write_text(bin, std::string(reinterpret_cast<const char*>(inputs.data()), inputs.size() * 4));
  const RunResult r = run_tinyc("predict " + model + " --input-bin " + bin + " --json");
  if (r.exit_code != 0) throw std::runtime_error("predict failed: " + r.err);
  return nlohmann::json::parse(r.out)["outputs"].get<std::vector<std::vector<float>>>();
}

// A C test main for emitted model NAME: runs every case through NAME_invoke and prints the
// outputs' bit patterns ("case 3: 3f800000 ..."), exact and independent of printf's float
// formatting; for int8 models also NAME_quantize_input + NAME_invoke_int8 ("int8 3: -128 5
// ..."); "done" at the end.
inline std::string harness_main(const std::string& name, const std::vector<float>& inputs,
                                int64_t input_size, bool int8 = false) {
  std::string upper = name;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  const int64_t cases = static_cast<int64_t>(inputs.size()) / input_size;
  std::string bits;
  for (size_t i = 0; i < inputs.size(); ++i) {
    uint32_t b;
    std::memcpy(&b, &inputs[i], 4);
    bits += fmt::format("{}0x{:08x}u,", i % 8 == 0 ? "\n  " : " ", b);
  }
  return fmt::format(R"(// Generated by the tinyc emit tests.
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "{0}.h"

#define CASES {2}
static const uint32_t kInputBits[CASES * {1}_INPUT_SIZE] = {{{3}
}};

int main(void) {{
  static float input[{1}_INPUT_SIZE];
  static float output[{1}_OUTPUT_SIZE];
  for (int c = 0; c < CASES; ++c) {{
    memcpy(input, &kInputBits[c * {1}_INPUT_SIZE], sizeof input);
    if ({0}_invoke(input, output) != 0) {{
      printf("case %d: invoke failed\n", c);
      return 2;
    }}
    printf("case %d:", c);
    for (int i = 0; i < {1}_OUTPUT_SIZE; ++i) {{
      uint32_t b;
      memcpy(&b, &output[i], sizeof b);
      printf(" %08lx", (unsigned long)b);
    }}
    printf("\n");{4}
  }}
  printf("done\n");
  return 0;
}}
)", name, upper, cases, bits, int8 ? fmt::format(R"(
    static int8_t input_q[{1}_INPUT_SIZE];
    static int8_t output_q[{1}_OUTPUT_SIZE];
    {0}_quantize_input(input, input_q);
    if ({0}_invoke_int8(input_q, output_q) != 0) return 2;
    printf("int8 %d:", c);
    for (int i = 0; i < {1}_OUTPUT_SIZE; ++i) printf(" %d", output_q[i]);
    printf("\n");)", name, upper) : std::string());
}

// Parses the harness main's output; empty when "done" is missing.
inline std::vector<std::vector<float>> parse_harness_output(const std::string& out) {
  std::vector<std::vector<float>> rows;
  std::istringstream in(out);
  std::string line;
  bool done = false;
  while (std::getline(in, line)) {
    if (line == "done") done = true;
    if (line.rfind("case ", 0) != 0) continue;
    std::istringstream fields(line.substr(line.find(':') + 1));
    std::vector<float> row;
    std::string hex;
    while (fields >> hex) {
      const auto b = static_cast<uint32_t>(std::stoul(hex, nullptr, 16));
      float v;
      std::memcpy(&v, &b, 4);
      row.push_back(v);
    }
    rows.push_back(row);
  }
  return done ? rows : std::vector<std::vector<float>>{};
}

// The "int8 N:" lines of the harness main's output.
inline std::vector<std::vector<int>> parse_harness_int8(const std::string& out) {
  std::vector<std::vector<int>> rows;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("int8 ", 0) != 0) continue;
    std::istringstream fields(line.substr(line.find(':') + 1));
    std::vector<int> row;
    int v;
    while (fields >> v) row.push_back(v);
    rows.push_back(row);
  }
  return rows;
}

// DESIGN.md §7 float agreement: |a - b| <= 1e-5 x max(1, |b|) per element.
inline void check_float_agreement(const std::vector<std::vector<float>>& actual,
                                  const std::vector<std::vector<float>>& expected) {
  REQUIRE(actual.size() == expected.size());
  for (size_t c = 0; c < actual.size(); ++c) {
    REQUIRE(actual[c].size() == expected[c].size());
    for (size_t i = 0; i < actual[c].size(); ++i) {
      const double a = actual[c][i], b = expected[c][i];
      INFO("case " << c << " output " << i << ": emitted " << a << ", reference " << b);
      CHECK(std::fabs(a - b) <= 1e-5 * std::max(1.0, std::fabs(b)));
    }
  }
}

// Warnings the emitted code must be clean under (on top of -Wall -Wextra -Werror).
constexpr const char* kStrictWarnings = "-Wall -Wextra -Werror -Wshadow -Wdouble-promotion -Wconversion";

// Runs one build or run step; fails the test with its output when it fails.
inline std::string require_command(const std::string& cmd) {
  const CommandResult r = run_command(cmd);
  INFO("command: " << cmd << "\noutput:\n" << r.out);
  REQUIRE(r.exit_code == 0);
  return r.out;
}

// Builds emitted model `name` in `dir` with the harness main on the host under ASan and
// UBSan (the emitted file as C++11, the main as C11, linked by gcc: no libstdc++), runs it and
// returns its outputs.
inline std::vector<std::vector<float>> run_on_host(const std::string& dir, const std::string& name,
                                                   const std::vector<float>& inputs,
                                                   int64_t input_size, bool int8 = false,
                                                   std::vector<std::vector<int>>* outputs_int8 = nullptr) {
  write_text(dir + "/main.c", harness_main(name, inputs, input_size, int8));
  const std::string san =
      "-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer";
  require_command(fmt::format("g++ -std=c++11 -O2 {} -fno-exceptions -fno-rtti {} -c {}/{}.cpp -o {}/{}.o",
                              kStrictWarnings, san, dir, name, dir, name));
  require_command(fmt::format("gcc -std=c11 -O2 -Wall -Wextra -Werror {} -I{} -c {}/main.c -o {}/main.o",
                              san, dir, dir, dir));
  require_command(fmt::format("gcc {} {}/main.o {}/{}.o -lm -o {}/run", san, dir, dir, name, dir));
  const std::string out = require_command(dir + "/run");
  const auto outputs = parse_harness_output(out);
  REQUIRE(!outputs.empty());
  if (outputs_int8 != nullptr) *outputs_int8 = parse_harness_int8(out);
  return outputs;
}

}  // namespace tinyc_test
