// The instruction counter of the firmware benchmark (cmake/firmware/insn_count.c, a QEMU TCG
// plugin) against QEMU's own per-instruction trace (-singlestep -d exec,nochain) on a small
// int8 CNN for cortex-m4: the same count for the invoke and for every function.
#include <catch2/catch.hpp>

#include <map>
#include <regex>
#include <sstream>

#include "emit_harness.h"
#include "tinyc/emit.h"
#include "tinyc/quantize.h"
#include "tinyc/rng.h"
#include "tinyc/spec.h"

using tinyc_test::require_command;
using tinyc_test::TempDir;

namespace {

const std::string kBoard = TINYC_SOURCE_DIR "/cmake/firmware";

struct Function {
  uint64_t start = 0, end = 0;
  std::string name;
};

// The functions of an ELF from `nm -S` (Thumb bit cleared), named by their symbol.
std::vector<Function> elf_functions(const std::string& elf) {
  std::vector<Function> fs;
  std::istringstream in(require_command("arm-none-eabi-nm -S --defined-only " + elf));
  std::string line;
  const std::regex re("([0-9a-f]+) ([0-9a-f]+) [tTwW] (\\S+)");
  std::smatch m;
  while (std::getline(in, line)) {
    if (!std::regex_match(line, m, re)) continue;
    const uint64_t start = std::stoull(m[1], nullptr, 16) & ~uint64_t{1};
    fs.push_back({start, start + std::stoull(m[2], nullptr, 16), m[3]});
  }
  return fs;
}

const Function* function_at(const std::vector<Function>& fs, uint64_t pc) {
  for (const Function& f : fs) {
    if (pc >= f.start && pc < f.end) return &f;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("firmware: the instruction-counting plugin agrees with QEMU's instruction trace",
          "[firmware][bench]") {
  for (const char* tool : {"gcc", "arm-none-eabi-gcc", "arm-none-eabi-g++", "arm-none-eabi-nm",
                           "qemu-system-arm"}) {
    INFO(tool << " is missing: scripts/install-deps.sh installs the firmware toolchain");
    REQUIRE(tinyc_test::have_program(tool));
  }
  TempDir dir;
  const std::string d = dir.path();
  require_command(fmt::format("gcc -O2 -Wall -Wextra -Werror -shared -fPIC -o {}/insn_count.so "
                              "{}/insn_count.c", d, kBoard));
  // A small CNN (conv2d on the DSP kernel, a pool, dense): a few tens of thousands of
  // instructions, so that the per-instruction trace stays small.
  const tinyc::Model f = tinyc::build_model(tinyc::parse_spec(R"({"name": "tiny", "input": [6, 6, 2],
    "task": "classification",
    "layers": [{"type": "conv2d", "filters": 4, "kernel": 3, "padding": "same", "activation": "relu"},
               {"type": "max_pool2d", "pool": 2},
               {"type": "flatten"},
               {"type": "dense", "units": 3, "activation": "softmax"}],
    "train": {"loss": "cross_entropy"}})", "test spec"), 2);
  std::vector<float> calib(32 * 72);
  tinyc::Rng rng(4);
  for (float& v : calib) v = rng.uniform(-1.0f, 1.0f);
  tinyc::QuantizeReport qr;
  const tinyc::Model q = tinyc::quantize_model(f, calib.data(), nullptr, 32, {}, &qr);
  tinyc::EmitOptions o;
  o.target = "cortex-m4";
  o.out_dir = d;
  o.name = "net";
  tinyc::emit_model(q, o);
  tinyc_test::write_text(d + "/main.c", R"(#include <stdint.h>
#include "net.h"
__attribute__((noinline, noipa)) void bench_begin(void) { __asm__ volatile("nop"); }
__attribute__((noinline, noipa)) void bench_end(void) { __asm__ volatile("nop\n\tnop"); }
static int8_t input[NET_INPUT_SIZE], output[NET_OUTPUT_SIZE];
int main(void) {
  for (int i = 0; i < NET_INPUT_SIZE; ++i) input[i] = (int8_t)(i * 37);
  bench_begin();
  const int rc = net_invoke_int8(input, output);
  bench_end();
  return rc;
}
)");
  const std::string flags = "-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16";
  require_command(fmt::format("arm-none-eabi-g++ {} -O2 -std=c++17 -fno-exceptions -fno-rtti "
                              "-fno-inline-functions-called-once -fno-inline-small-functions "
                              "-fno-inline-functions -c {}/net.cpp -o {}/net.o",
                              flags, d, d));
  require_command(fmt::format(
      "arm-none-eabi-gcc {} -O2 --specs=rdimon.specs -nostartfiles -L{} -Tmps2.ld {}/startup.c "
      "-I{} {}/main.c {}/net.o -lm -Wl,--gc-sections -o {}/fw.elf", flags, kBoard, kBoard, d, d,
      d, d));
  const std::vector<Function> fs = elf_functions(d + "/fw.elf");
  std::map<std::string, uint64_t> address;
  std::string ranges;
  for (const Function& f : fs) {
    address[f.name] = f.start;
    ranges += fmt::format("{:x} {:x} {}\n", f.start, f.end, f.name);
  }
  tinyc_test::write_text(d + "/ranges.txt", ranges);
  REQUIRE(address.count("bench_begin") == 1);
  REQUIRE(address.count("bench_end") == 1);
  const std::string qemu = fmt::format("timeout 120 qemu-system-arm -M mps2-an386 -nographic "
                                       "-monitor none -semihosting-config enable=on,target=native "
                                       "-kernel {}/fw.elf", d);
  require_command(fmt::format("{} -plugin {}/insn_count.so,out={}/counts.txt,ranges={}/ranges.txt,"
                              "begin=0x{:x},end=0x{:x} </dev/null", qemu, d, d, d,
                              address["bench_begin"], address["bench_end"]));
  require_command(fmt::format("{} -singlestep -d exec,nochain -D {}/trace.log </dev/null", qemu, d));

  // The plugin's figures.
  std::map<std::string, uint64_t> plugin, plugin_layers;
  {
    std::istringstream in(tinyc_test::read_text(d + "/counts.txt"));
    std::string key, name;
    uint64_t n = 0;
    while (in >> key) {
      if (key == "range" || key == "layer") {
        in >> name >> n;
        (key == "range" ? plugin : plugin_layers)[name] += n;
      } else {
        in >> n;
        plugin[key] = n;
      }
    }
  }
  // The trace: one line per executed instruction, "Trace 0: HOST [CS_BASE/PC/FLAGS/CFLAGS] ...";
  // counted from the first instruction of bench_begin to the first of bench_end, as the plugin.
  // Layer contexts: from the first instruction of a layer function to the next layer's.
  std::map<std::string, uint64_t> trace, trace_layers;
  uint64_t window = 0;
  bool armed = false;
  const Function* context = nullptr;
  {
    std::istringstream in(tinyc_test::read_text(d + "/trace.log"));
    std::string line;
    const std::regex re("Trace \\d+: \\S+ \\[[0-9a-f]+/([0-9a-f]+)/.*");
    std::smatch m;
    while (std::getline(in, line)) {
      if (!std::regex_match(line, m, re)) continue;
      const uint64_t pc = std::stoull(m[1], nullptr, 16);
      if (pc == address["bench_end"]) armed = false;
      if (pc == address["bench_begin"]) armed = true;
      const Function* f = function_at(fs, pc);
      if (f != nullptr && f->start == pc && f->name.find("layer") != std::string::npos) context = f;
      if (!armed) continue;
      ++window;
      ++trace[f != nullptr ? f->name : "other"];
      if (context != nullptr) ++trace_layers[context->name];
    }
  }
  INFO("plugin counts:\n" << tinyc_test::read_text(d + "/counts.txt"));
  CHECK(window > 1000);
  CHECK(plugin["window"] == window);
  CHECK(plugin["total"] > window);
  for (const auto& [name, n] : trace) {
    INFO(name);
    CHECK(plugin[name] == n);
  }
  CHECK(trace_layers.size() >= 3);  // conv2d, max_pool2d, dense (softmax may be inlined)
  CHECK(plugin_layers == trace_layers);
  // The layers ran inside the window and kept their own functions (or the DSP kernels that
  // layers of the same shapes share, named after their op).
  uint64_t layers = 0;
  for (const auto& [name, n] : trace) {
    if (name.find("layer") != std::string::npos || name.find("conv2d_") != std::string::npos) {
      layers += n;
    }
  }
  CHECK(layers > window / 2);
}
