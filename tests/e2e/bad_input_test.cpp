// The bad-input corpus (issue 7): every file under tests/corpus/<kind>/ is fed to the command
// that reads that kind, and must give the exit code and message listed in
// tests/corpus/cases.txt, on one line, leaving no output file. Fuzzer findings are added there
// too (fuzz/README.md). Generated damage (every byte flip of a model, out-of-range offsets,
// gzip bombs) is built here.
#include <catch2/catch.hpp>

#include <zlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "test_util.h"

using tinyc_test::count_entries;
using tinyc_test::read_text;
using tinyc_test::run_tinyc;
using tinyc_test::TempDir;
using tinyc_test::write_text;

namespace {

const std::string kCorpus = TINYC_SOURCE_DIR "/tests/corpus/";
const std::string kSpec = kCorpus + "ok/spec.json";
const std::string kData = kCorpus + "ok/data.csv";

struct Case {
  int exit_code = 0;
  std::string needle;  // must appear in the message: the place (file, line, JSON path ...)
};

// cases.txt: "<path> <exit code> <needle...>" per line; '#' starts a comment.
std::map<std::string, Case> read_cases() {
  std::map<std::string, Case> cases;
  std::istringstream in(read_text(kCorpus + "cases.txt"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    std::string path;
    Case c;
    fields >> path >> c.exit_code;
    std::getline(fields >> std::ws, c.needle);
    cases[path] = c;
  }
  return cases;
}

// The command that reads a corpus entry of `kind`, writing into `out`.
std::string command_for(const std::string& kind, const std::string& input, const std::string& out) {
  if (kind == "csv" || kind == "idx") return "train " + kSpec + " --data " + input + " -o " + out;
  if (kind == "spec") return "train " + input + " --data " + kData + " -o " + out;
  if (kind == "model") {
    // ok/<name>.csv, when it exists, is data that fits that model's input.
    const std::string stem = std::filesystem::path(input).stem().string();
    const std::string fitting = kCorpus + "ok/" + stem + ".csv";
    return "predict " + input + " --data " + (std::filesystem::exists(fitting) ? fitting : kData);
  }
  if (kind == "tflite") return "import " + input + " -o " + out;
  if (kind == "checkpoint") {
    return "train " + kSpec + " --data " + kData + " -o " + out + " --threads 1 --resume " + input;
  }
  FAIL("unknown corpus kind " << kind);
  return "";
}

void check_error(const tinyc_test::RunResult& r, int exit_code, const std::string& needle) {
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == exit_code);
  CHECK(r.err.rfind("tinyc: error: ", 0) == 0);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  CHECK(r.err.find(needle) != std::string::npos);
  CHECK(r.err.find("internal") == std::string::npos);
}

}  // namespace

TEST_CASE("bad-input corpus: documented exit code, one line naming the place, no output",
          "[e2e][corpus]") {
  const auto cases = read_cases();
  REQUIRE(cases.size() > 50);
  size_t seen = 0;
  for (const char* kind : {"csv", "idx", "spec", "model", "tflite", "checkpoint"}) {
    std::vector<std::string> entries;
    for (const auto& e : std::filesystem::directory_iterator(kCorpus + kind)) {
      entries.push_back(e.path().filename().string());
    }
    std::sort(entries.begin(), entries.end());
    for (const std::string& name : entries) {
      const std::string key = std::string(kind) + "/" + name;
      SECTION(key) {
        const auto it = cases.find(key);
        INFO(key << " (each corpus file needs a line in tests/corpus/cases.txt)");
        REQUIRE(it != cases.end());
        TempDir dir;
        const auto r = run_tinyc(command_for(kind, kCorpus + key, dir.file("out")));
        check_error(r, it->second.exit_code, it->second.needle);
        CHECK(count_entries(dir.path()) == 0);
      }
      ++seen;
    }
  }
  CHECK(seen == cases.size());  // no stale lines in cases.txt
}

TEST_CASE("bad input: every single-byte flip of a model file exits 2", "[e2e][corpus]") {
  TempDir dir;
  const std::string model = dir.file("m.tinyc");
  REQUIRE(run_tinyc("train " + kSpec + " --data " + kData + " -o " + model + " -q").exit_code == 0);
  const std::string bytes = read_text(model);
  REQUIRE(bytes.size() < 4096);  // small, so that one process per byte stays fast
  const std::string bad = dir.file("bad.tinyc");
  int wrong = 0;
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::string flipped = bytes;
    flipped[i] = static_cast<char>(flipped[i] ^ 0x5a);
    write_text(bad, flipped);
    const auto r = run_tinyc("info " + bad);
    if (r.exit_code != 2 || std::count(r.err.begin(), r.err.end(), '\n') != 1 ||
        r.err.find(bad) == std::string::npos) {
      UNSCOPED_INFO("byte " << i << ": exit " << r.exit_code << ": " << r.err);
      ++wrong;
    }
  }
  CHECK(wrong == 0);
}

TEST_CASE("bad input: .tflite offsets out of range exit 2", "[e2e][corpus]") {
  const std::string good = read_text(TINYC_SHARED_DIR "/data/tflite/hello_world_int8.tflite");
  REQUIRE(good.size() > 1000);
  TempDir dir;
  const std::string bad = dir.file("bad.tflite"), out = dir.file("out.tinyc");
  auto put_u32 = [](std::string* s, size_t at, uint32_t v) {
    for (int k = 0; k < 4; ++k) (*s)[at + k] = static_cast<char>((v >> (8 * k)) & 0xff);
  };
  // The root table offset past the end, and pointing at the last byte.
  for (uint32_t root : {0x7ffffff0u, static_cast<uint32_t>(good.size() - 1)}) {
    std::string s = good;
    put_u32(&s, 0, root);
    write_text(bad, s);
    check_error(run_tinyc("import " + bad + " -o " + out), 2, bad);
  }
  // Truncated files: the flatbuffer's offsets then point past the end.
  for (size_t keep : {size_t{8}, good.size() / 2, good.size() - 1}) {
    write_text(bad, good.substr(0, keep));
    check_error(run_tinyc("import " + bad + " -o " + out), 2, bad);
  }
  CHECK(count_entries(dir.path()) == 1);  // only bad.tflite
}

TEST_CASE("memory limit: refused before allocating, exit 4 naming the place", "[e2e][limits]") {
  TempDir dir;
  const std::string out = dir.file("out.tinyc");
  // 2 -> 2000 -> 3 dense: 4 (2 + 2000 x 3) floats of weights, about 32 KB, trained.
  const std::string spec = dir.file("wide.json");
  write_text(spec, read_text(kSpec).replace(read_text(kSpec).find("\"units\": 4"), 10,
                                             "\"units\": 2000"));
  auto r = run_tinyc("train " + spec + " --data " + kData + " -o " + out + " --memory-limit 16K");
  check_error(r, 4, "memory limit");
  CHECK(r.err.find("$.layers[") != std::string::npos);
  r = run_tinyc("--memory-limit 200K train " + spec + " --data " + kData + " -o " + out);
  check_error(r, 4, "training model");
  r = run_tinyc("train " + spec + " --data " + kData + " -o " + out + " --memory-limit lots");
  CHECK(r.exit_code == 1);
  r = run_tinyc("train " + kSpec + " --data " + kData + " -o " + out + " --memory-limit 64M -q");
  CHECK(r.exit_code == 0);
  std::filesystem::remove(out);
  // The environment variable; data sets are checked as well.
  setenv("TINYC_MEMORY_LIMIT", "300", 1);  // smaller than data.csv itself
  r = run_tinyc("train " + kSpec + " --data " + kData + " -o " + out);
  unsetenv("TINYC_MEMORY_LIMIT");
  check_error(r, 4, "data.csv");
  CHECK(count_entries(dir.path()) == 1);  // only wide.json
}

TEST_CASE("memory limit: a gzip bomb stops at the limit", "[e2e][limits]") {
  TempDir dir;
  const std::string bomb = dir.file("bomb.csv.gz");
  gzFile f = gzopen(bomb.c_str(), "wb9");
  REQUIRE(f != nullptr);
  std::string rows;
  for (int i = 0; i < 4096; ++i) rows += "0.5,0.25,1\n";
  for (int i = 0; i < 1200; ++i) REQUIRE(gzwrite(f, rows.data(), static_cast<unsigned>(rows.size())) > 0);
  gzclose(f);  // 54 MB of CSV in well under 1 MB
  REQUIRE(std::filesystem::file_size(bomb) < (1u << 20));
  const auto r = run_tinyc("train " + kSpec + " --data " + bomb + " -o " + dir.file("o") +
                           " --memory-limit 8M");
  check_error(r, 4, "bomb.csv.gz: reading the file");
  CHECK(count_entries(dir.path()) == 1);
}

TEST_CASE("memory limit: int8 activations are refused before allocating like float ones",
          "[e2e][limits]") {
  TempDir dir;
  // 2 -> 2000 -> 3 dense: a chunk of activations is about 2 MB as float, 0.5 MB as int8.
  const std::string spec = dir.file("wide.json");
  write_text(spec, read_text(kSpec).replace(read_text(kSpec).find("\"units\": 4"), 10,
                                             "\"units\": 2000"));
  const std::string f32 = dir.file("wide.tinyc"), q8 = dir.file("wide_int8.tinyc");
  REQUIRE(run_tinyc("train " + spec + " --data " + kData + " -o " + f32 + " -q").exit_code == 0);
  REQUIRE(run_tinyc("compress " + f32 + " --data " + kData + " -o " + q8 + " --quantize int8")
              .exit_code == 0);
  check_error(run_tinyc("predict " + f32 + " --data " + kData + " --memory-limit 256K"), 4,
              "running model 'corpus' (activations) needs");
  for (const char* cmd : {"predict ", "eval "}) {
    check_error(run_tinyc(cmd + q8 + " --data " + kData + " --memory-limit 256K"), 4,
                "running model 'corpus' (int8 activations) needs");
  }
  CHECK(run_tinyc("predict " + q8 + " --data " + kData + " --memory-limit 1M").exit_code == 0);
}

TEST_CASE("predict --data on models that float rows cannot feed: exit 4 and no misread buffer",
          "[e2e][corpus]") {
  TempDir dir;
  const auto rows_of = [&](int features) {
    const std::string csv = dir.file(std::to_string(features) + ".csv");
    std::string text;
    for (int r = 0; r < 2; ++r) {
      for (int i = 0; i < features; ++i) text += std::to_string((i * 7 + r) % 11) + ",";
      text += "0\n";
    }
    write_text(csv, text);
    return csv;
  };
  const std::string tflite = TINYC_SHARED_DIR "/data/tflite/";
  // keyword_scrambled reads int16 cases: float rows have no int16 form (--input-bin has).
  check_error(run_tinyc("predict " + tflite + "keyword_scrambled.tflite --data " + rows_of(96)), 4,
              "graph input 'tensor_52' is int16");
  // simple_add_model adds two 128x128 inputs; a row fits the first only (fuzzer finding: the
  // executor read both from it).
  for (const char* cmd : {"predict ", "eval "}) {
    check_error(run_tinyc(cmd + tflite + "simple_add_model.tflite --data " + rows_of(16384)), 4,
                "model 'simple_add_model' has 2 graph inputs");
  }
}
