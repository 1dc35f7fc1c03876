// Firmware tests (DESIGN.md §7): emit each reference model for the targets of the table that
// QEMU runs, cross-compile it (arm-none-eabi-gcc with the board support of cmake/firmware/:
// vector table, reset handler, linker script, semihosting; riscv64-unknown-elf-gcc with
// picolibc for rv32imc), run it in qemu-system-arm / qemu-system-riscv32 and compare its
// outputs with `tinyc predict`.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <thread>

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

std::string read_or_empty(const std::string& path) {
  return tinyc::file_exists(path) ? tinyc_test::read_text(path) : std::string();
}

void require_toolchain() {
  for (const char* tool : {"arm-none-eabi-gcc", "arm-none-eabi-g++", "arm-none-eabi-nm",
                           "arm-none-eabi-size", "qemu-system-arm", "riscv64-unknown-elf-gcc",
                           "riscv64-unknown-elf-g++", "qemu-system-riscv32"}) {
    INFO(tool << " is missing: scripts/install-deps.sh installs the firmware toolchain");
    REQUIRE(tinyc_test::have_program(tool));
  }
}

// Undefined symbols of the emitted object: only libm and memory functions, no C++ runtime,
// no static constructors, no double-precision helpers on targets with a single-precision FPU.
void check_symbols(const tinyc::Target& t, const std::string& object) {
  const std::string nm = t.arch == tinyc::TargetArch::kRiscv ? "riscv64-unknown-elf-nm" : "arm-none-eabi-nm";
  const std::string undefined = require_command(nm + " -u " + object);
  const std::string all = require_command(nm + " " + object);
  INFO("undefined symbols of " << object << ":\n" << undefined);
  CHECK(all.find("_GLOBAL__sub_I") == std::string::npos);
  CHECK(undefined.find(" _Z") == std::string::npos);
  CHECK(undefined.find("__cxa") == std::string::npos);
  CHECK(undefined.find("__gxx") == std::string::npos);
  if (t.fpu) CHECK(undefined.find("__aeabi_d") == std::string::npos);
}

// .text and .rodata of an object (SIZE -A).
std::pair<long, long> section_sizes(const std::string& object,
                                    const std::string& size = "arm-none-eabi-size") {
  const std::string out = require_command(size + " -A " + object);
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

// The shell commands that cross-compile d/net.cpp (emitted with --name net) and d/main.c for
// target `t` at -O2 (Arm: net.cpp at -Os too, into net_os.o, for its size), link them with the
// board support of cmake/firmware/ into d/fw.elf and run it in QEMU, its output in d/run.txt
// and its exit status in d/run_status.txt. Build output goes to d/build.log.
// `more_opts`: net.cpp also compiles at -O1, -Og (with a frame pointer: one register less for
// inline assembly) and -O3.
std::string build_script(const tinyc::Target& t, const std::string& d, const char* opt = "-O2",
                         bool more_opts = false) {
  const std::string cflags = t.cflags;
  std::vector<std::string> cmds;
  if (t.arch == tinyc::TargetArch::kRiscv) {
    // picolibc with semihosting: printf and exit go to the host, main's status becomes QEMU's.
    const std::string lib = "--specs=picolibc.specs";
    const std::string cxx = fmt::format("riscv64-unknown-elf-g++ {} {} -std=c++17 {} -fno-exceptions "
                                        "-fno-rtti -ffunction-sections -fdata-sections",
                                        cflags, lib, tinyc_test::kStrictWarnings);
    cmds.push_back(fmt::format("{} -O2 -c {}/net.cpp -o {}/net.o", cxx, d, d));
    cmds.push_back(fmt::format("riscv64-unknown-elf-gcc {} {} -std=c11 -O2 -Wall -Wextra -Werror "
                               "-I{} -c {}/main.c -o {}/main.o", cflags, lib, d, d, d));
    cmds.push_back(fmt::format(
        "riscv64-unknown-elf-gcc {} {} --oslib=semihost --crt0=semihost -L{} -T{} {}/main.o "
        "{}/net.o -lm -Wl,--gc-sections -o {}/fw.elf", cflags, lib, kBoard, t.board_ld, d, d, d));
  } else {
    const std::string cxx = fmt::format("arm-none-eabi-g++ {} -std=c++17 {} -fno-exceptions "
                                        "-fno-rtti -ffunction-sections -fdata-sections",
                                        cflags, tinyc_test::kStrictWarnings);
    cmds.push_back(fmt::format("{} {} -c {}/net.cpp -o {}/net.o", cxx, opt, d, d));
    cmds.push_back(fmt::format("{} -Os -c {}/net.cpp -o {}/net_os.o", cxx, d, d));
    if (more_opts) {
      for (const char* o : {"-O1 -fno-omit-frame-pointer", "-Og -fno-omit-frame-pointer", "-O3"}) {
        cmds.push_back(fmt::format("{} {} -c {}/net.cpp -o {}/net_more.o", cxx, o, d, d));
      }
    }
    cmds.push_back(fmt::format("arm-none-eabi-gcc {} -std=c11 -O2 -Wall -Wextra -Werror -I{} "
                               "-c {}/main.c -o {}/main.o", cflags, d, d, d));
    // Linked by gcc, not g++: the emitted object needs no C++ runtime.
    cmds.push_back(fmt::format(
        "arm-none-eabi-gcc {} -O2 -Wall -Wextra -Werror --specs=rdimon.specs -nostartfiles "
        "-L{} -T{} {}/startup.c {}/main.o {}/net.o -lm -Wl,--gc-sections -o {}/fw.elf",
        cflags, kBoard, t.board_ld, kBoard, d, d, d));
  }
  std::string script = "set -e\nexec >" + d + "/build.log 2>&1\n";
  for (const std::string& c : cmds) script += "echo '$ " + c + "'\n" + c + "\n";
  script += fmt::format("set +e\ntimeout 120 {} -M {}{} -nographic -monitor none -semihosting-config "
                        "enable=on,target=native -kernel {}/fw.elf </dev/null >{}/run.txt 2>&1\n"
                        "echo $? >{}/run_status.txt\n",
                        t.qemu_system, t.qemu_machine,
                        t.arch == tinyc::TargetArch::kRiscv ? " -bios none" : "", d, d, d);
  return script;
}

// Runs d/build.sh of every directory, as many at a time as there are cores.
void build_and_run_all(const std::vector<std::string>& dirs) {
  std::string list;
  for (const std::string& d : dirs) list += d + "/build.sh\n";
  const std::string file = dirs.empty() ? std::string() : dirs[0] + "/../scripts.txt";
  if (dirs.empty()) return;
  tinyc_test::write_text(file, list);
  const unsigned jobs = std::max(1u, std::thread::hardware_concurrency());
  tinyc_test::run_command(fmt::format("xargs -P {} -n 1 sh <{}", jobs, file));
}

// The outcome of d/build.sh: fails the test with the build log or QEMU's output.
std::string run_output(const std::string& d) {
  INFO("build log:\n" << read_or_empty(d + "/build.log"));
  REQUIRE(tinyc::file_exists(d + "/run_status.txt"));
  const std::string out = read_or_empty(d + "/run.txt");
  INFO("qemu output:\n" << out);
  REQUIRE(std::stoi(read_or_empty(d + "/run_status.txt")) == 0);
  return out;
}

// Builds and runs one firmware (emitted into d) for target `t`, its code compiled at `opt`;
// returns QEMU's output.
std::string build_and_run(const tinyc::Target& t, const std::string& d, const char* opt = "-O2",
                          bool more_opts = false) {
  tinyc_test::write_text(d + "/build.sh", build_script(t, d, opt, more_opts));
  tinyc_test::run_command("sh " + d + "/build.sh");
  const std::string out = run_output(d);
  check_symbols(t, d + "/net.o");
  return out;
}

// The firmware matrix (issue 5): the small models (sine, digits_mlp) on every target QEMU
// runs; the large ones on cortex-m4, and int8 also on riscv32 and on the M0 where they fit.
bool in_matrix(const tinyc_test::ReferenceModel& m, const tinyc::Target& t) {
  if (*t.qemu_machine == '\0') return false;
  if (m.name == "sine" || m.name == "digits_mlp") return true;
  const std::string name = t.name;
  return name == "cortex-m4" || (m.int8 && (name == "riscv32" || name == "cortex-m0plus"));
}

struct FirmwareCase {
  const tinyc_test::ReferenceModel* model;
  const tinyc::Target* target;
  std::string dir;
  nlohmann::json report;                        // emit --json
  std::vector<std::vector<float>> expected;     // tinyc predict
  std::vector<std::vector<int>> expected_int8;
};

// Emits every model of the matrix for its targets and builds and runs them all in parallel,
// once per process.
const std::vector<FirmwareCase>& firmware_cases() {
  static TempDir root;
  static const std::vector<FirmwareCase> cases = [] {
    std::vector<FirmwareCase> list;
    std::vector<std::string> dirs;
    for (const auto& m : tinyc_test::reference_models()) {
      const auto inputs = tinyc_test::csv_inputs(m.data, 8);
      std::vector<std::vector<float>> expected;
      std::vector<std::vector<int>> expected_int8;
      if (m.int8) {
        tinyc_test::predict_int8(m.path, m.data, 8, &expected, &expected_int8);
      } else {
        expected = tinyc_test::predict_outputs(m.path, inputs, root.path());
      }
      const int64_t input_size = static_cast<int64_t>(inputs.size()) / static_cast<int64_t>(expected.size());
      for (const tinyc::Target& t : tinyc::all_targets()) {
        if (!in_matrix(m, t)) continue;
        const std::string d = root.file(fmt::format("{}{}_{}", m.name, m.int8 ? "_int8" : "", t.name));
        const auto emit = run_tinyc(fmt::format("emit {} --target {} -o {} --name net --json",
                                                m.path, t.name, d));
        if (emit.exit_code == 4 && emit.err.find("does not fit") != std::string::npos) continue;
        if (emit.exit_code != 0) throw std::runtime_error("emit failed: " + emit.err);
        tinyc_test::write_text(d + "/main.c", tinyc_test::harness_main("net", inputs, input_size, m.int8));
        tinyc_test::write_text(d + "/build.sh", build_script(t, d));
        list.push_back({&m, &t, d, nlohmann::json::parse(emit.out), expected, expected_int8});
        dirs.push_back(d);
      }
    }
    build_and_run_all(dirs);
    return list;
  }();
  return cases;
}

}  // namespace

TEST_CASE("firmware: reference models run in QEMU and agree with tinyc predict", "[firmware]") {
  require_toolchain();
  for (const FirmwareCase& c : firmware_cases()) {
    const tinyc_test::ReferenceModel& m = *c.model;
    const tinyc::Target& t = *c.target;
    DYNAMIC_SECTION(m.name << (m.int8 ? " int8" : " float32") << " on " << t.name << " ("
                            << t.qemu_machine << ")") {
      CHECK(c.report["target"] == t.name);
      const std::string out = run_output(c.dir);
      const auto outputs = tinyc_test::parse_harness_output(out);
      REQUIRE(!outputs.empty());
      if (m.int8) {
        tinyc_test::check_exact(outputs, c.expected, tinyc_test::parse_harness_int8(out),
                                c.expected_int8);
      } else {
        tinyc_test::check_float_agreement(outputs, c.expected);
      }
      check_symbols(t, c.dir + "/net.o");
      const bool arm = t.arch == tinyc::TargetArch::kArm;
      const auto [text, rodata] = arm ? section_sizes(c.dir + "/net_os.o")
                                      : section_sizes(c.dir + "/net.o", "riscv64-unknown-elf-size");
      std::printf("firmware %-12s %-7s %-13s .text %5ld B (%s), .rodata %6ld B, weights %6lld B, "
                  "arena %5lld B (lower bound %lld B), RAM %lld B\n",
                  m.name.c_str(), m.int8 ? "int8" : "float32", t.name, text, arm ? "-Os" : "-O2",
                  rodata, c.report["weights_bytes"].get<long long>(), c.report["arena_bytes"].get<long long>(),
                  c.report["arena_lower_bound"].get<long long>(), c.report["ram_bytes"].get<long long>());
    }
  }
}

// Every reference model against every target's memory: emit succeeds exactly when the model
// fits the table's flash and RAM, and otherwise exits 4 giving the numbers; --flash/--ram
// replace the table's limits.
TEST_CASE("firmware: emit refuses exactly the models that do not fit a target", "[firmware]") {
  for (const auto& m : tinyc_test::reference_models()) {
    for (const tinyc::Target& t : tinyc::all_targets()) {
      if (t.flash_bytes == 0) continue;
      DYNAMIC_SECTION(m.name << (m.int8 ? " int8" : " float32") << " on " << t.name) {
        TempDir dir;
        // With no limits: the sizes it needs on this target.
        const auto sized = run_tinyc(fmt::format("emit {} --target {} -o {} --flash 0 --ram 0 --json",
                                                 m.path, t.name, dir.file("sized")));
        INFO(sized.err);
        REQUIRE(sized.exit_code == 0);
        const auto j = nlohmann::json::parse(sized.out);
        const int64_t flash = j["flash_bytes"], ram = j["ram_bytes"];
        const bool fits = flash <= t.flash_bytes && ram <= t.ram_bytes;
        const auto r = run_tinyc(fmt::format("emit {} --target {} -o {}", m.path, t.name,
                                             dir.file("out")));
        INFO(r.err);
        CHECK(r.exit_code == (fits ? 0 : 4));
        CHECK(tinyc::file_exists(dir.file("out")) == fits);
        if (fits) {
          // Same model, same options, emitted again into the same place: same bytes.
          const std::string base = dir.file("out") + "/" + j["name"].get<std::string>();
          const std::string h = tinyc_test::read_text(base + ".h");
          const std::string cpp = tinyc_test::read_text(base + ".cpp");
          REQUIRE(run_tinyc(fmt::format("emit {} --target {} -o {}", m.path, t.name,
                                        dir.file("out"))).exit_code == 0);
          CHECK(tinyc_test::read_text(base + ".h") == h);
          CHECK(tinyc_test::read_text(base + ".cpp") == cpp);
          continue;
        }
        CHECK(r.err.find(fmt::format("does not fit {}", t.name)) != std::string::npos);
        CHECK(r.err.find(fmt::format("needs {} B flash", flash)) != std::string::npos);
        CHECK(r.err.find(fmt::format("of {} B and {} B RAM", t.flash_bytes, ram)) != std::string::npos);
        CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
        // The user's part is larger: --flash/--ram at exactly the needs accept it, one byte less
        // of either refuses it.
        const std::string base = fmt::format("emit {} --target {} -o {} ", m.path, t.name,
                                             dir.file("custom"));
        CHECK(run_tinyc(base + fmt::format("--flash {} --ram {}", flash, ram)).exit_code == 0);
        const auto less = run_tinyc(base + fmt::format("--flash {} --ram {}", flash, ram - 1));
        CHECK(less.exit_code == 4);
        CHECK(less.err.find("--flash/--ram") != std::string::npos);
        CHECK(run_tinyc(base + fmt::format("--flash {} --ram {}", flash - 1, ram)).exit_code == 4);
      }
    }
  }
}

TEST_CASE("firmware: int8 dense with ragged sizes is bit-exact on DSP and plain targets",
          "[firmware][int8]") {
  require_toolchain();
  // 13 -> 11 -> 10 -> 9 -> 7: inputs not a multiple of 4 (the SMLAD kernels' scalar tails) and
  // outputs not a multiple of 4 (remainders of 3, 2 and 1 rows: a pair and a single word, a
  // pair, a single word).
  const tinyc::Model f = tinyc::build_model(tinyc::parse_spec(R"({"name": "ragged", "input": [13],
    "task": "classification",
    "layers": [{"type": "dense", "units": 11, "activation": "relu6"},
               {"type": "dense", "units": 10, "activation": "relu"},
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
  for (const char* target : {"cortex-m4", "cortex-m0plus", "riscv32"}) {
    DYNAMIC_SECTION(target) {
      const tinyc::Target& t = tinyc::target_by_name(target);
      TempDir dir;
      tinyc::EmitOptions o;
      o.target = target;
      o.out_dir = dir.path();
      o.name = "net";
      tinyc::emit_model(q, o);
      tinyc_test::write_text(dir.file("main.c"), tinyc_test::harness_main("net", x, 13, true));
      const std::string out = build_and_run(t, dir.path());
      tinyc_test::check_exact(tinyc_test::parse_harness_output(out), expected,
                              tinyc_test::parse_harness_int8(out), expected_int8);
    }
  }
}

// Sparse weights (issue 5 item 4): fashion_mlp pruned to 75% and 90% zeros (one-shot, then
// int8) emits its first dense layer in the sparse layout, runs bit-exact in QEMU on
// cortex-m4 (and at 90% on cortex-m0plus and riscv32), and takes less flash than the unpruned
// int8 model.
TEST_CASE("firmware: pruned fashion_mlp with sparse weights: bit-exact and smaller",
          "[firmware][sparse]") {
  require_toolchain();
  const auto& models = tinyc_test::reference_models();
  const auto mlp = std::find_if(models.begin(), models.end(), [](const auto& r) {
    return r.name == "fashion_mlp" && !r.int8;
  });
  if (mlp == models.end()) {
    WARN("Fashion-MNIST is not installed (dataset-fashion-mnist): skipped");
    return;
  }
  TempDir root;
  const tinyc::Target& t = tinyc::target_by_name("cortex-m4");
  const std::vector<std::string> variants = {"0", "0.75", "0.9"};
  std::vector<std::string> dirs;
  std::vector<nlohmann::json> reports;
  std::vector<tinyc_test::Int8Expected> expected(variants.size());
  const auto inputs = tinyc_test::csv_inputs(mlp->data, 8);
  const auto mlp_int8 = std::find_if(models.begin(), models.end(), [](const auto& r) {
    return r.name == "fashion_mlp" && r.int8;
  });
  REQUIRE(mlp_int8 != models.end());
  for (size_t v = 0; v < variants.size(); ++v) {
    std::string model = mlp_int8->path;  // unpruned
    if (variants[v] != "0") {
      model = root.file("p" + variants[v] + ".tinyc");
      const auto c = run_tinyc(fmt::format("compress {} --data {} -o {} --prune {} --finetune-epochs 0 "
                                           "--quantize int8 --calibration 256",
                                           mlp->path, mlp->data, model, variants[v]));
      INFO(c.err);
      REQUIRE(c.exit_code == 0);
    }
    tinyc_test::predict_int8(model, mlp->data, 8, &expected[v].outputs, &expected[v].outputs_int8);
    const std::string d = root.file("fw" + variants[v]);
    const auto emit = run_tinyc(fmt::format("emit {} --target {} -o {} --name net --json", model,
                                            t.name, d));
    INFO(emit.err);
    REQUIRE(emit.exit_code == 0);
    reports.push_back(nlohmann::json::parse(emit.out));
    tinyc_test::write_text(d + "/main.c", tinyc_test::harness_main("net", inputs, 784, true));
    tinyc_test::write_text(d + "/build.sh", build_script(t, d));
    dirs.push_back(d);
  }
  // The 90% model on the plain targets too (portable sparse loop; 24 KB fits the micro:bit).
  std::vector<std::string> plain_dirs;
  for (const char* name : {"cortex-m0plus", "riscv32"}) {
    const std::string d = root.file(std::string("fw0.9_") + name);
    const auto emit = run_tinyc(fmt::format("emit {} --target {} -o {} --name net", root.file("p0.9.tinyc"),
                                            name, d));
    INFO(emit.err);
    REQUIRE(emit.exit_code == 0);
    tinyc_test::write_text(d + "/main.c", tinyc_test::harness_main("net", inputs, 784, true));
    tinyc_test::write_text(d + "/build.sh", build_script(tinyc::target_by_name(name), d));
    plain_dirs.push_back(d);
  }
  std::vector<std::string> all = dirs;
  all.insert(all.end(), plain_dirs.begin(), plain_dirs.end());
  build_and_run_all(all);
  for (const std::string& d : plain_dirs) {
    INFO(d);
    const std::string out = run_output(d);
    tinyc_test::check_exact(tinyc_test::parse_harness_output(out), expected[2].outputs,
                            tinyc_test::parse_harness_int8(out), expected[2].outputs_int8);
  }
  std::vector<long> flash;
  for (size_t v = 0; v < variants.size(); ++v) {
    INFO("prune " << variants[v]);
    const std::string out = run_output(dirs[v]);
    tinyc_test::check_exact(tinyc_test::parse_harness_output(out), expected[v].outputs,
                            tinyc_test::parse_harness_int8(out), expected[v].outputs_int8);
    const auto& layers = reports[v]["layers"];
    const auto first = std::find_if(layers.begin(), layers.end(), [](const nlohmann::json& l) {
      return l.contains("weights_layout");
    });  // dense_1 (784 -> 128)
    REQUIRE(first != layers.end());
    CHECK((*first)["weights_layout"]["chosen"] == (variants[v] == "0" ? "dense" : "sparse"));
    CHECK((*first)["weights_layout"]["dense_bytes"] == 784 * 128);
    const auto [text, rodata] = section_sizes(dirs[v] + "/net_os.o");
    flash.push_back(text + rodata);
    std::printf("firmware fashion_mlp int8 pruned %-4s cortex-m4: dense_1 %s (%s), .text %ld B, "
                ".rodata %ld B, flash %ld B\n", variants[v].c_str(),
                (*first)["weights_layout"]["chosen"].get<std::string>().c_str(),
                (*first)["weights_layout"]["why"].get<std::string>().c_str(), text, rodata,
                text + rodata);
  }
  // 2 bytes per stored weight plus row ends: about half the flash at 75% zeros, a fifth at 90%.
  CHECK(flash[1] < flash[0] * 6 / 10);
  CHECK(flash[2] < flash[0] * 3 / 10);
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

// `q` with every scale rounded to a power of two (biases: input scale times weight scale):
// every requantization multiplier is then one too, and many accumulators fall exactly halfway
// between two outputs, where TFLite rounds away from zero (the kernels' negative ties).
tinyc::Model power_of_two_scales(tinyc::Model q) {
  for (tinyc::Tensor& t : q.tensors) {
    for (float& s : t.quant.scale) s = std::exp2(std::round(std::log2(s)));
  }
  for (const tinyc::Op& op : q.ops) {
    if ((op.type != tinyc::OpType::kConv2d && op.type != tinyc::OpType::kDense) ||
        op.inputs.size() < 3 || op.inputs[2] < 0) {
      continue;
    }
    const float sx = q.tensor(op.inputs[0]).quant.scale.at(0);
    const std::vector<float> sw = q.tensor(op.inputs[1]).quant.scale;
    std::vector<float>& sb = q.tensor(op.inputs[2]).quant.scale;
    for (size_t i = 0; i < sb.size(); ++i) sb[i] = sx * sw[sw.size() == 1 ? 0 : i];
  }
  return q;
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
          "train": {"loss": "cross_entropy"}})",
      // The shared DSP depthwise kernels (4 channels per step): 12 channels (not a multiple of
      // 8), odd widths, stride 1 and 2, same and valid padding, 1 and 3 output columns, a
      // 2x3 window; one output row is entirely border.
      R"({"name": "dsp_depthwise", "input": [7, 9, 12], "task": "classification",
          "layers": [{"type": "depthwise_conv2d", "kernel": 3, "padding": "same", "activation": "relu6"},
                     {"type": "depthwise_conv2d", "kernel": 3, "stride": 2, "padding": "same"},
                     {"type": "depthwise_conv2d", "kernel": [2, 3], "padding": "valid", "activation": "relu"},
                     {"type": "depthwise_conv2d", "kernel": 3, "stride": 2, "padding": "valid"},
                     {"type": "flatten"},
                     {"type": "dense", "units": 3, "activation": "softmax"}],
          "train": {"loss": "cross_entropy"}})",
      // One input channel read row by row without scratch on DSP targets: multiplier 6 (a group
      // of 4 filters and one of 2), rows of 5 taps (2 words, the last one 1 tap), a 13-wide
      // image whose words cross both edges, and a 1-wide one (narrower than a word).
      R"({"name": "rows_depthwise", "input": [9, 13, 1], "task": "classification",
          "layers": [{"type": "depthwise_conv2d", "kernel": [4, 5], "depth_multiplier": 6, "stride": [1, 2],
                      "padding": "same", "activation": "relu"},
                     {"type": "conv2d", "filters": 1, "kernel": [3, 5], "stride": [2, 3], "padding": "valid"},
                     {"type": "depthwise_conv2d", "kernel": [2, 3], "depth_multiplier": 5, "padding": "same"},
                     {"type": "flatten"},
                     {"type": "dense", "units": 3, "activation": "softmax"}],
          "train": {"loss": "cross_entropy"}})",
      // The shared pointwise kernels (1x1 over a multiple of 8 channels, 8 or 16 taps per loop
      // iteration): blocks of 7 and 6 pixels (54 pixels), two of 7 and one of 1 (15 pixels) or
      // one of 5 (after a max pool: 5 pixels), without activation (rounding of negative ties),
      // with ReLU and with ReLU6.
      R"({"name": "pointwise_mix", "input": [6, 9, 8], "task": "classification",
          "layers": [{"type": "conv2d", "filters": 16, "kernel": 1},
                     {"type": "conv2d", "filters": 8, "kernel": 1, "activation": "relu6"},
                     {"type": "flatten"},
                     {"type": "dense", "units": 3, "activation": "softmax"}],
          "train": {"loss": "cross_entropy"}})",
      R"({"name": "pointwise_tail", "input": [3, 5, 16], "task": "classification",
          "layers": [{"type": "conv2d", "filters": 24, "kernel": 1, "activation": "relu"},
                     {"type": "conv2d", "filters": 8, "kernel": 1},
                     {"type": "max_pool2d", "pool": [3, 1]},
                     {"type": "conv2d", "filters": 4, "kernel": 1, "activation": "relu"},
                     {"type": "flatten"},
                     {"type": "dense", "units": 3, "activation": "softmax"}],
          "train": {"loss": "cross_entropy"}})",
      // The DSP conv2d kernel's assembly loop (taps a word at a time, a multiple of 8): 45
      // pixels (6 blocks of 7 and one of 3); 72 taps (8 per iteration) with inputs doubled after
      // the loop, 16 taps (16 per iteration, 16 filters) doubled in the gather, 144 taps with
      // stride 2. At -O0 (below) all of it runs in C.
      R"({"name": "conv_asm", "input": [5, 9, 8], "task": "classification",
          "layers": [{"type": "conv2d", "filters": 8, "kernel": 3, "padding": "same", "activation": "relu"},
                     {"type": "conv2d", "filters": 16, "kernel": [1, 2], "padding": "same"},
                     {"type": "conv2d", "filters": 5, "kernel": 3, "stride": 2, "padding": "same",
                      "activation": "relu6"},
                     {"type": "flatten"},
                     {"type": "dense", "units": 3, "activation": "softmax"}],
          "train": {"loss": "cross_entropy"}})",
      // Conv2d over one input channel, a window row per word (emit_few_taps_conv): windows
      // across every edge with stride 2 and no activation (negative ties), a 3x2 window, and
      // an image narrower than a word.
      R"({"name": "one_channel_strided", "input": [7, 10, 1], "task": "classification",
          "layers": [{"type": "conv2d", "filters": 5, "kernel": 3, "stride": 2, "padding": "same"},
                     {"type": "flatten"},
                     {"type": "dense", "units": 3, "activation": "softmax"}],
          "train": {"loss": "cross_entropy"}})",
      R"({"name": "one_channel_tall", "input": [6, 9, 1], "task": "classification",
          "layers": [{"type": "conv2d", "filters": 3, "kernel": [3, 2], "activation": "relu"},
                     {"type": "flatten"},
                     {"type": "dense", "units": 3, "activation": "softmax"}],
          "train": {"loss": "cross_entropy"}})",
      R"({"name": "one_channel_narrow", "input": [5, 3, 1], "task": "classification",
          "layers": [{"type": "conv2d", "filters": 4, "kernel": 3, "padding": "same", "activation": "relu6"},
                     {"type": "flatten"},
                     {"type": "dense", "units": 3, "activation": "softmax"}],
          "train": {"loss": "cross_entropy"}})",
      // Larger windows over one channel take the rows kernel: 5x3 with stride 2 across the
      // edges, 2x6 (a row of 2 words).
      R"({"name": "rows_tall", "input": [9, 7, 1], "task": "classification",
          "layers": [{"type": "conv2d", "filters": 6, "kernel": [5, 3], "stride": [2, 1],
                      "padding": "same", "activation": "relu"},
                     {"type": "flatten"},
                     {"type": "dense", "units": 3, "activation": "softmax"}],
          "train": {"loss": "cross_entropy"}})",
      R"({"name": "rows_wide", "input": [4, 9, 1], "task": "classification",
          "layers": [{"type": "conv2d", "filters": 5, "kernel": [2, 6]},
                     {"type": "flatten"},
                     {"type": "dense", "units": 3, "activation": "softmax"}],
          "train": {"loss": "cross_entropy"}})"};
  for (const char* spec : specs) {
    const tinyc::Model f = tinyc::build_model(tinyc::parse_spec(spec, "test spec"), 3);
    const int64_t in = f.input().sample_size(), rows = 64, cases = 6;
    std::vector<float> calib(static_cast<size_t>(rows * in));
    tinyc::Rng rng(11);
    for (float& v : calib) v = rng.uniform(-1.0f, 3.0f);  // a nonzero input zero point
    tinyc::QuantizeReport qr;
    tinyc::Model q = tinyc::quantize_model(f, calib.data(), nullptr, rows, {}, &qr);
    // One dead filter per conv2d (all weights 0, as a ReLU that never fired leaves it): its
    // output is a constant, which the DSP kernels fold into its requantization row.
    for (const tinyc::Op& op : q.ops) {
      if (op.type != tinyc::OpType::kConv2d) continue;
      tinyc::Tensor& w = q.tensor(op.inputs[1]);
      std::fill(w.ints.begin(), w.ints.begin() + w.size() / w.shape[0], 0);
    }
    const std::vector<float> x(calib.begin(), calib.begin() + cases * in);
    // The DSP conv2d kernels in assembly: also in C (-O0 on cortex-m4: their assembly needs
    // optimization), and with rounding ties (power-of-two scales).
    const bool dsp_asm = f.name.rfind("pointwise", 0) == 0 || f.name.rfind("one_channel", 0) == 0 ||
                         f.name == "conv_asm";
    for (const char* target : {"cortex-m4", "cortex-m33", "cortex-m0plus", "cortex-m4 -O0",
                               "cortex-m4 ties"}) {
      const std::string name = target;
      const size_t space = name.find(' ');
      const std::string variant = space == std::string::npos ? "" : name.substr(space + 1);
      if (!variant.empty() && !dsp_asm) continue;
      DYNAMIC_SECTION(f.name << " on " << target) {
        const tinyc::Target& t = tinyc::target_by_name(name.substr(0, space));
        const tinyc::Model model = variant == "ties" ? power_of_two_scales(q) : q;
        const tinyc_test::Int8Expected ref = tinyc_test::int8_reference(model, x, cases);
        TempDir dir;
        tinyc::EmitOptions o;
        o.target = t.name;
        o.out_dir = dir.path();
        o.name = "net";
        tinyc::emit_model(model, o);
        tinyc_test::write_text(dir.file("main.c"), tinyc_test::harness_main("net", x, in, true));
        const std::string out = build_and_run(t, dir.path(), variant == "-O0" ? "-O0" : "-O2",
                                              variant.empty() && t.dsp);
        tinyc_test::check_exact(tinyc_test::parse_harness_output(out), ref.outputs,
                                tinyc_test::parse_harness_int8(out), ref.outputs_int8);
      }
    }
  }
}
