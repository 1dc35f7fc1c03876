// Stateful recurrent models in firmware (issue 6): each LSTM model of ../shared/data/tflite,
// emitted for cortex-m4 and run in QEMU (mps2-an386), reproduces TFLM's outputs case after
// case (state carried in the arena), and again after NAME_reset().
#include <catch2/catch.hpp>

#include <cstring>
#include <fstream>

#include "emit_harness.h"
#include "tinyc/target.h"

using tinyc_test::require_command;
using tinyc_test::run_command;
using tinyc_test::run_tinyc;
using tinyc_test::TempDir;

namespace {

const std::string kDir = TINYC_SHARED_DIR "/data/tflite/";
const std::string kBoard = TINYC_SOURCE_DIR "/cmake/firmware";

// A firmware main: the raw input bytes of every case through NET_invoke (float) or
// NET_invoke_int8, printing each output as hex bytes ("case 3: 80 7f ..."); then net_reset()
// and the same cases again ("again 3: ...").
std::string rnn_main(const std::string& inputs, bool float32, bool raw) {
  std::string bytes;
  for (size_t i = 0; i < inputs.size(); ++i) {
    bytes += fmt::format("{}{},", i % 24 == 0 ? "\n  " : "",
                         static_cast<unsigned>(static_cast<unsigned char>(inputs[i])));
  }
  return fmt::format(R"(#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "net.h"

static const uint8_t kInputs[{0}] = {{{1}
}};
{2}

static int run(const char* tag) {{
  for (unsigned c = 0; c < sizeof kInputs / sizeof input; ++c) {{
    memcpy(input, kInputs + c * sizeof input, sizeof input);
    if ({3}(input, output) != 0) return 2;
    printf("%s %u:", tag, c);
    const uint8_t* b = (const uint8_t*)output;
    for (unsigned i = 0; i < sizeof output; ++i) printf(" %02x", (unsigned)b[i]);
    printf("\n");
  }}
  return 0;
}}

int main(void) {{
  if (run("case") != 0) return 2;
  net_reset();
  if (run("again") != 0) return 2;
  printf("done\n");
  return 0;
}}
)", inputs.size(), bytes,
                     raw ? "static int16_t input[NET_INPUT_SIZE];\nstatic int32_t output[NET_OUTPUT_SIZE];"
                         : fmt::format("static {0} input[NET_INPUT_SIZE];\nstatic {0} output[NET_OUTPUT_SIZE];",
                                       float32 ? "float" : "int8_t"),
                     float32 ? "net_invoke" : raw ? "net_invoke_raw" : "net_invoke_int8");
}

// The bytes printed on lines starting with `tag`, in order.
std::string parse_bytes(const std::string& out, const std::string& tag) {
  std::string bytes;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(tag + " ", 0) != 0) continue;
    std::istringstream fields(line.substr(line.find(':') + 1));
    std::string hex;
    while (fields >> hex) bytes += static_cast<char>(std::stoul(hex, nullptr, 16));
  }
  return bytes;
}

// Elements that differ: float32 beyond 1e-5 relative (DESIGN.md §7), other dtypes by byte.
int64_t count_diff(const std::string& got, const std::string& want, bool float32) {
  int64_t bad = 0;
  if (!float32) {
    for (size_t i = 0; i < got.size(); ++i) bad += got[i] != want[i];
    return bad;
  }
  for (size_t i = 0; i + 4 <= got.size(); i += 4) {
    float a, b;
    std::memcpy(&a, got.data() + i, 4);
    std::memcpy(&b, want.data() + i, 4);
    bad += !(std::fabs(a - b) <= 1e-5f * std::max(1.0f, std::fabs(b)));
  }
  return bad;
}

}  // namespace

TEST_CASE("firmware: LSTM models keep state on cortex-m4 and match TFLM", "[firmware][rnn]") {
  for (const char* tool : {"arm-none-eabi-gcc", "arm-none-eabi-g++", "qemu-system-arm"}) {
    INFO(tool << " is missing: scripts/install-deps.sh installs the firmware toolchain");
    REQUIRE(tinyc_test::have_program(tool));
  }
  const tinyc::Target& t = tinyc::target_by_name("cortex-m4");
  struct Case {
    const char* name;
    bool float32;
    bool raw;  // int16 input, int32 output through NET_invoke_raw
  };
  for (const Case c : {Case{"trained_lstm", true, false}, Case{"trained_lstm_int8", false, false},
                       Case{"dtln_noise_suppression", false, false},
                       Case{"keyword_scrambled", false, true},
                       Case{"keyword_scrambled_8bit", false, true}}) {
    if (!std::ifstream(kDir + c.name + ".tflite").good()) {
      WARN(std::string(c.name) + " not found; skipping");
      continue;
    }
    DYNAMIC_SECTION(c.name) {
      TempDir dir;
      const std::string d = dir.path();
      const auto emit = run_tinyc(fmt::format("emit {}{}.tflite --target {} -o {} --name net",
                                              kDir, c.name, t.name, d));
      INFO(emit.err);
      REQUIRE(emit.exit_code == 0);
      tinyc_test::write_text(d + "/main.c",
                             rnn_main(tinyc_test::read_text(kDir + c.name + ".inputs.bin"), c.float32,
                                      c.raw));
      const std::string cflags = t.cflags;
      require_command(fmt::format("arm-none-eabi-g++ {} -std=c++17 -O2 {} -fno-exceptions "
                                  "-fno-rtti -ffunction-sections -fdata-sections -c {}/net.cpp "
                                  "-o {}/net.o", cflags, tinyc_test::kStrictWarnings, d, d));
      require_command(fmt::format("arm-none-eabi-gcc {} -std=c11 -O2 -Wall -Wextra -Werror -I{} "
                                  "-c {}/main.c -o {}/main.o", cflags, d, d, d));
      require_command(fmt::format(
          "arm-none-eabi-gcc {} -O2 --specs=rdimon.specs -nostartfiles -L{} -T{} {}/startup.c "
          "{}/main.o {}/net.o -lm -Wl,--gc-sections -o {}/fw.elf",
          cflags, kBoard, t.board_ld, kBoard, d, d, d));
      const auto run = run_command(fmt::format(
          "timeout 120 {} -M {} -nographic -monitor none -semihosting-config "
          "enable=on,target=native -kernel {}/fw.elf </dev/null", t.qemu_system, t.qemu_machine, d));
      REQUIRE(run.exit_code == 0);
      REQUIRE(run.out.find("done") != std::string::npos);
      const std::string want = tinyc_test::read_text(kDir + c.name + ".outputs.bin");
      const std::string got = parse_bytes(run.out, "case");
      REQUIRE(got.size() == want.size());
      CHECK(count_diff(got, want, c.float32) == 0);
      CHECK(parse_bytes(run.out, "again") == got);
    }
  }
}
