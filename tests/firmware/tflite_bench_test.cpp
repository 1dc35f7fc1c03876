// bench/tflite_bench.py end to end on two small models (issue 6 item 5): it emits, builds and
// counts them in QEMU, checks case 0 against TFLM's golden, writes its own BENCHMARKS.md
// section, and refuses to report a build whose outputs differ from the golden.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "emit_harness.h"

using tinyc_test::run_command;
using tinyc_test::TempDir;

namespace {

const std::string kShared = TINYC_SHARED_DIR;
const std::string kScript = TINYC_SOURCE_DIR "/bench/tflite_bench.py";

std::vector<nlohmann::json> json_lines(const std::string& out) {
  std::vector<nlohmann::json> rows;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] == '{') rows.push_back(nlohmann::json::parse(line));
  }
  return rows;
}

void require_tools() {
  for (const char* tool : {"python3", "gcc", "arm-none-eabi-gcc", "qemu-system-arm"}) {
    INFO(tool << " is missing: scripts/install-deps.sh installs it");
    REQUIRE(tinyc_test::have_program(tool));
  }
}

}  // namespace

TEST_CASE("tflite_bench: counts, checks against the golden and writes its section",
          "[firmware][tflite][bench]") {
  require_tools();
  TempDir dir;
  const std::string md = dir.file("BENCHMARKS.md");
  tinyc_test::write_text(md, "# Benchmarks\n\nkept above\n\n<!-- tflite:begin -->\nold\n"
                             "<!-- tflite:end -->\n\nkept below\n");
  const auto r = run_command(fmt::format(
      "python3 {} --tinyc {} --shared {} --work {} --out {} "
      "--models hello_world_int8,trained_lstm_int8", kScript, TINYC_BINARY, kShared,
      dir.file("work"), md));
  INFO(r.out);
  REQUIRE(r.exit_code == 0);
  const auto rows = json_lines(r.out);
  REQUIRE(rows.size() == 4);  // two models, -O2 and -Os
  for (const auto& row : rows) {
    CHECK(row["golden_case0"] == "bit-exact");
    CHECK(row["instructions"].get<int64_t>() > 0);
    CHECK(row["code_bytes"].get<int64_t>() > 0);
    CHECK(row["weights_bytes"].get<int64_t>() > 0);
    CHECK(row["stack_bytes"].get<int64_t>() > 0);
    CHECK(row["ram_bytes"] == row["arena_bytes"].get<int64_t>() +
                                   row["input_bytes"].get<int64_t>() +
                                   row["output_bytes"].get<int64_t>());
    const bool hello = row["model"] == "hello_world_int8";
    CHECK(row["stateful"] == !hello);
    CHECK(row.contains("tflm_cmsis_nn_ratios") == hello);
    if (hello) {
      const double want = row["instructions"].get<double>() /
                          row["tflm_cmsis_nn"]["instructions"].get<double>();
      CHECK(row["tflm_cmsis_nn_ratios"]["instructions"].get<double>() ==
            Approx(want).margin(1e-3));
    }
  }
  const std::string text = tinyc_test::read_text(md);
  CHECK(text.find("kept above") != std::string::npos);
  CHECK(text.find("kept below") != std::string::npos);
  CHECK(text.find("\nold\n") == std::string::npos);
  CHECK(text.find("| trained_lstm_int8 * | -O2 |") != std::string::npos);
  CHECK(text.find("hello_world_int8 code <= 0.25x TFLM lib: met") != std::string::npos);
}

TEST_CASE("tflite_bench: a build whose case 0 differs from the golden fails the model",
          "[firmware][tflite][bench]") {
  require_tools();
  TempDir dir;
  namespace fs = std::filesystem;
  const std::string shared = dir.file("shared");
  fs::create_directories(shared + "/data/tflite");
  fs::create_directories(shared + "/reference");
  fs::copy_file(kShared + "/reference/tflm-cortex-m4.md", shared + "/reference/tflm-cortex-m4.md");
  const std::string from = kShared + "/data/tflite/hello_world_int8";
  const std::string to = shared + "/data/tflite/hello_world_int8";
  for (const char* ext : {".tflite", ".json", ".inputs.bin"}) fs::copy_file(from + ext, to + ext);
  std::string golden = tinyc_test::read_text(from + ".outputs.bin");
  REQUIRE(!golden.empty());
  golden[0] = static_cast<char>(golden[0] ^ 1);  // case 0, output 0, one bit off
  tinyc_test::write_text(to + ".outputs.bin", golden);
  const std::string md = dir.file("BENCHMARKS.md");
  const auto r = run_command(fmt::format("python3 {} --tinyc {} --shared {} --work {} --out {}",
                                         kScript, TINYC_BINARY, shared, dir.file("work"), md));
  INFO(r.out);
  CHECK(r.exit_code == 2);
  CHECK(r.out.find("differ from TFLM's golden") != std::string::npos);
  CHECK(json_lines(r.out).empty());
  CHECK(!fs::exists(md));
}

TEST_CASE("tflite_bench: int16 in, int32 out through net_invoke_raw (keyword_scrambled_8bit)",
          "[firmware][tflite][bench]") {
  require_tools();
  TempDir dir;
  const auto r = run_command(fmt::format(
      "python3 {} --tinyc {} --shared {} --work {} --no-write --models keyword_scrambled_8bit",
      kScript, TINYC_BINARY, kShared, dir.file("work")));
  INFO(r.out);
  REQUIRE(r.exit_code == 0);
  const auto rows = json_lines(r.out);
  REQUIRE(rows.size() == 2);
  for (const auto& row : rows) {
    CHECK(row["golden_case0"] == "bit-exact");
    CHECK(row["stateful"] == true);
    CHECK(row["invoke"] == "net_invoke_raw");
    CHECK(row["io"] == "int16_t -> int32_t");
    CHECK(row["instructions"].get<int64_t>() > 0);
    CHECK(row["code_bytes"].get<int64_t>() > 0);
    CHECK(row["weights_bytes"].get<int64_t>() > 0);
    // The caller's int16 input (96 values) and int32 output (2 values) count as RAM too.
    CHECK(row["raw_io_bytes"] == 96 * 2 + 2 * 4);
    CHECK(row["ram_bytes"] == row["arena_bytes"].get<int64_t>() +
                                   row["input_bytes"].get<int64_t>() +
                                   row["output_bytes"].get<int64_t>() + 200);
  }
}
