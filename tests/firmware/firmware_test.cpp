// Firmware tests (DESIGN.md §7): emit each reference model for every Arm target of the table
// that QEMU runs, cross-compile it with arm-none-eabi-gcc and the board support of
// cmake/firmware/ (vector table, reset handler, linker script, semihosting), run it in
// qemu-system-arm and compare its outputs with `tinyc predict`.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "emit_harness.h"
#include "tinyc/emit.h"
#include "tinyc/executor.h"
#include "tinyc/quantize.h"
#include "tinyc/rng.h"
#include "tinyc/spec.h"
#include "tinyc/target.h"

using tinyc_test::require_command;
using tinyc_test::run_command;
using tinyc_test::run_tinyc;
using tinyc_test::TempDir;

namespace {

const std::string kBoard = TINYC_SOURCE_DIR "/cmake/firmware";

void require_toolchain() {
  for (const char* tool : {"arm-none-eabi-gcc", "arm-none-eabi-g++", "arm-none-eabi-nm",
                           "arm-none-eabi-size", "qemu-system-arm"}) {
    INFO(tool << " is missing: scripts/install-deps.sh installs the firmware toolchain");
    REQUIRE(tinyc_test::have_program(tool));
  }
}

// Undefined symbols of the emitted object: only libm and memory functions, no C++ runtime,
// no static constructors, no double-precision helpers on targets with a single-precision FPU.
void check_symbols(const tinyc::Target& t, const std::string& object) {
  const std::string undefined = require_command("arm-none-eabi-nm -u " + object);
  const std::string all = require_command("arm-none-eabi-nm " + object);
  INFO("undefined symbols of " << object << ":\n" << undefined);
  CHECK(all.find("_GLOBAL__sub_I") == std::string::npos);
  CHECK(undefined.find(" _Z") == std::string::npos);
  CHECK(undefined.find("__cxa") == std::string::npos);
  CHECK(undefined.find("__gxx") == std::string::npos);
  if (t.fpu) CHECK(undefined.find("__aeabi_d") == std::string::npos);
}

// .text and .rodata of an object (arm-none-eabi-size -A).
std::pair<long, long> section_sizes(const std::string& object) {
  const std::string out = require_command("arm-none-eabi-size -A " + object);
  long text = 0, rodata = 0;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string name;
    long size = 0;
    if (!(fields >> name >> size)) continue;
    if (name.rfind(".text", 0) == 0) text += size;
    if (name.rfind(".rodata", 0) == 0) rodata += size;
  }
  return {text, rodata};
}

// Cross-compiles d/net.cpp (emitted with --name net) and d/main.c for target `t` at -O2 (and
// net.cpp at -Os too, into net_os.o, for its size), links them with the board support and
// runs the firmware in QEMU.
tinyc_test::CommandResult build_and_run(const tinyc::Target& t, const std::string& d) {
  const std::string cflags = t.cflags;
  const std::string cxx = fmt::format("arm-none-eabi-g++ {} -std=c++17 {} -fno-exceptions "
                                      "-fno-rtti -ffunction-sections -fdata-sections",
                                      cflags, tinyc_test::kStrictWarnings);
  require_command(fmt::format("{} -O2 -c {}/net.cpp -o {}/net.o", cxx, d, d));
  require_command(fmt::format("{} -Os -c {}/net.cpp -o {}/net_os.o", cxx, d, d));
  require_command(fmt::format("arm-none-eabi-gcc {} -std=c11 -O2 -Wall -Wextra -Werror -I{} "
                              "-c {}/main.c -o {}/main.o", cflags, d, d, d));
  // Linked by gcc, not g++: the emitted object needs no C++ runtime.
  require_command(fmt::format(
      "arm-none-eabi-gcc {} -O2 -Wall -Wextra -Werror --specs=rdimon.specs -nostartfiles "
      "-L{} -T{} {}/startup.c {}/main.o {}/net.o -lm -Wl,--gc-sections -o {}/fw.elf",
      cflags, kBoard, t.board_ld, kBoard, d, d, d));
  check_symbols(t, d + "/net.o");
  const auto run = run_command(fmt::format(
      "timeout 60 {} -M {} -nographic -monitor none -semihosting-config "
      "enable=on,target=native -kernel {}/fw.elf </dev/null", t.qemu_system, t.qemu_machine, d));
  INFO("qemu output:\n" << run.out);
  REQUIRE(run.exit_code == 0);
  return run;
}

}  // namespace

TEST_CASE("firmware: reference models run in QEMU and agree with tinyc predict", "[firmware]") {
  require_toolchain();
  for (const auto& m : tinyc_test::reference_models()) {
    for (const tinyc::Target& t : tinyc::all_targets()) {
      if (t.arch != tinyc::TargetArch::kArm || *t.qemu_machine == '\0') continue;
      // The CNNs' float arenas do not fit the M0's 16 KiB of RAM (emitter_test checks the error).
      if (m.cnn && !m.int8 && std::string(t.name) == "cortex-m0plus") continue;
      DYNAMIC_SECTION(m.name << (m.int8 ? " int8" : " float32") << " on " << t.name << " ("
                              << t.qemu_machine << ")") {
        TempDir dir;
        const std::string d = dir.path();
        const auto inputs = tinyc_test::csv_inputs(m.data, 8);
        std::vector<std::vector<float>> expected;
        std::vector<std::vector<int>> expected_int8;
        if (m.int8) {
          tinyc_test::predict_int8(m.path, m.data, 8, &expected, &expected_int8);
        } else {
          expected = tinyc_test::predict_outputs(m.path, inputs, d);
        }
        const int64_t input_size = static_cast<int64_t>(inputs.size()) / static_cast<int64_t>(expected.size());
        const auto emit = run_tinyc(fmt::format("emit {} --target {} -o {} --name net --json",
                                                m.path, t.name, d));
        INFO(emit.err);
        REQUIRE(emit.exit_code == 0);
        const auto report = nlohmann::json::parse(emit.out);
        CHECK(report["target"] == t.name);
        tinyc_test::write_text(d + "/main.c", tinyc_test::harness_main("net", inputs, input_size, m.int8));

        const auto run = build_and_run(t, d);
        const auto outputs = tinyc_test::parse_harness_output(run.out);
        REQUIRE(!outputs.empty());
        if (m.int8) {
          tinyc_test::check_exact(outputs, expected, tinyc_test::parse_harness_int8(run.out),
                                  expected_int8);
        } else {
          tinyc_test::check_float_agreement(outputs, expected);
        }
        const auto [text, rodata] = section_sizes(d + "/net_os.o");  // built by build_and_run
        std::printf("firmware %-10s %-7s %-13s .text %5ld B (-Os), .rodata %6ld B, weights %6lld B, "
                    "arena %5lld B (lower bound %lld B), RAM %lld B\n",
                    m.name.c_str(), m.int8 ? "int8" : "float32", t.name, text, rodata,
                    report["weights_bytes"].get<long long>(), report["arena_bytes"].get<long long>(),
                    report["arena_lower_bound"].get<long long>(), report["ram_bytes"].get<long long>());
      }
    }
  }
}

TEST_CASE("firmware: int8 dense with ragged sizes is bit-exact on DSP and plain targets",
          "[firmware][int8]") {
  require_toolchain();
  // 13 -> 11 -> 9 -> 7: inputs not a multiple of 4 (the SMLAD kernels' scalar tails) and
  // outputs not a multiple of 4 (their single-row remainder).
  const tinyc::Model f = tinyc::build_model(tinyc::parse_spec(R"({"name": "ragged", "input": [13],
    "task": "classification",
    "layers": [{"type": "dense", "units": 11, "activation": "relu6"},
               {"type": "dense", "units": 9, "activation": "tanh"},
               {"type": "dense", "units": 7, "activation": "softmax"}],
    "train": {"loss": "cross_entropy"}})", "test spec"), 5);
  const int64_t rows = 100, cases = 12;
  std::vector<float> calib(static_cast<size_t>(rows * 13));
  tinyc::Rng rng(8);
  for (float& v : calib) v = rng.uniform(-2.0f, 2.0f);
  tinyc::QuantizeReport qr;
  const tinyc::Model q = tinyc::quantize_model(f, calib.data(), nullptr, rows, {}, &qr);
  const std::vector<float> x(calib.begin(), calib.begin() + cases * 13);
  const tinyc_test::Int8Expected ref = tinyc_test::int8_reference(q, x, cases);
  const auto& expected = ref.outputs;
  const auto& expected_int8 = ref.outputs_int8;
  for (const char* target : {"cortex-m4", "cortex-m0plus"}) {
    DYNAMIC_SECTION(target) {
      const tinyc::Target& t = tinyc::target_by_name(target);
      TempDir dir;
      tinyc::EmitOptions o;
      o.target = target;
      o.out_dir = dir.path();
      o.name = "net";
      tinyc::emit_model(q, o);
      tinyc_test::write_text(dir.file("main.c"), tinyc_test::harness_main("net", x, 13, true));
      const auto run = build_and_run(t, dir.path());
      tinyc_test::check_exact(tinyc_test::parse_harness_output(run.out), expected,
                              tinyc_test::parse_harness_int8(run.out), expected_int8);
    }
  }
}

// The Quick start's last step: scripts/firmware_demo.py builds, runs and compares a model.
TEST_CASE("firmware: the quick start's demo script runs the int8 sine model in QEMU", "[firmware]") {
  require_toolchain();
  for (const auto& m : tinyc_test::reference_models()) {
    if (m.name != "sine" || !m.int8) continue;
    const auto run = run_command(fmt::format("python3 {}/scripts/firmware_demo.py {} --data {} "
                                             "--target cortex-m4 --tinyc {} 2>&1",
                                             TINYC_SOURCE_DIR, m.path, m.data, TINYC_BINARY));
    INFO(run.out);
    REQUIRE(run.exit_code == 0);
    CHECK(run.out.find("bit-exact with the reference executor") != std::string::npos);
    CHECK(run.out.find("flash: ") != std::string::npos);
  }
}

TEST_CASE("firmware: int8 CNN kernels with odd channel counts and padding are bit-exact",
          "[firmware][int8]") {
  require_toolchain();
  // conv2d over 3 channels with same padding (the DSP kernel's scalar gather), a depthwise over
  // 8 channels with padding (4 channels per step), conv2d over 8 channels with padding and
  // stride 2 (the word gather), 1x1 over 5 (rows of taps padded to 4), a
  // depthwise 3x4 over one channel with multiplier 3 (a conv2d on DSP targets, its window rows
  // gathered a word at a time), one over 3 channels (portable) and a 2x3 conv2d over 3 (taps
  // one by one); 7 x 9 pixels and the strided ones are not multiples of the pixel block.
  const char* specs[] = {
      R"({"name": "odd_conv", "input": [7, 9, 3], "task": "classification",
          "layers": [{"type": "conv2d", "filters": 8, "kernel": 3, "padding": "same", "activation": "relu"},
                     {"type": "depthwise_conv2d", "kernel": 3, "padding": "same", "activation": "relu"},
                     {"type": "conv2d", "filters": 5, "kernel": 3, "stride": 2, "padding": "same"},
                     {"type": "conv2d", "filters": 7, "kernel": 1, "activation": "relu6"},
                     {"type": "flatten"},
                     {"type": "dense", "units": 3, "activation": "softmax"}],
          "train": {"loss": "cross_entropy"}})",
      R"({"name": "odd_depthwise", "input": [9, 11, 1], "task": "classification",
          "layers": [{"type": "depthwise_conv2d", "kernel": [3, 4], "depth_multiplier": 3, "stride": 2,
                      "padding": "same", "activation": "relu"},
                     {"type": "depthwise_conv2d", "kernel": 3, "padding": "valid"},
                     {"type": "conv2d", "filters": 6, "kernel": [2, 3]},
                     {"type": "flatten"},
                     {"type": "dense", "units": 4, "activation": "softmax"}],
          "train": {"loss": "cross_entropy"}})"};
  for (const char* spec : specs) {
    const tinyc::Model f = tinyc::build_model(tinyc::parse_spec(spec, "test spec"), 3);
    const int64_t in = f.input().sample_size(), rows = 64, cases = 6;
    std::vector<float> calib(static_cast<size_t>(rows * in));
    tinyc::Rng rng(11);
    for (float& v : calib) v = rng.uniform(-1.0f, 3.0f);  // a nonzero input zero point
    tinyc::QuantizeReport qr;
    const tinyc::Model q = tinyc::quantize_model(f, calib.data(), nullptr, rows, {}, &qr);
    const std::vector<float> x(calib.begin(), calib.begin() + cases * in);
    const tinyc_test::Int8Expected ref = tinyc_test::int8_reference(q, x, cases);
    for (const char* target : {"cortex-m4", "cortex-m33", "cortex-m0plus"}) {
      DYNAMIC_SECTION(f.name << " on " << target) {
        const tinyc::Target& t = tinyc::target_by_name(target);
        TempDir dir;
        tinyc::EmitOptions o;
        o.target = target;
        o.out_dir = dir.path();
        o.name = "net";
        tinyc::emit_model(q, o);
        tinyc_test::write_text(dir.file("main.c"), tinyc_test::harness_main("net", x, in, true));
        const auto run = build_and_run(t, dir.path());
        tinyc_test::check_exact(tinyc_test::parse_harness_output(run.out), ref.outputs,
                                tinyc_test::parse_harness_int8(run.out), ref.outputs_int8);
      }
    }
  }
}
