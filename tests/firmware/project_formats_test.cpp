// `tinyc emit --format`: every project layout is generated and its sources compiled with
// arm-none-eabi-g++ for cortex-m4 (the Arduino sketch against a stub Arduino.h); the cmake
// project is consumed by a host CMake project that links and runs it against `tinyc predict`;
// the Zephyr module's CMakeLists.txt is built with stand-ins for Zephyr's CMake functions.
#include <catch2/catch.hpp>

#include <filesystem>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "emit_harness.h"
#include "test_util.h"
#include "tinyc/model_file.h"
#include "tinyc/target.h"

using tinyc_test::have_program;
using tinyc_test::read_text;
using tinyc_test::require_command;
using tinyc_test::run_tinyc;
using tinyc_test::TempDir;

namespace {

constexpr const char* kArduinoStub = R"(// Just enough of the Arduino core for the generated sketch to compile.
#pragma once
#include <stdint.h>
struct StubSerial {
  void begin(unsigned long) {}
  void print(const char*) {}
  void print(int) {}
  void print(unsigned long) {}
  void println(const char*) {}
  void println(double, int) {}
};
extern StubSerial Serial;
unsigned long micros(void);
void delay(unsigned long);
)";

// write_text into a folder that may not exist yet.
void write_text(const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  tinyc_test::write_text(path, text);
}

// Compiles every .cpp under `dir` (and `extra` sources) for cortex-m4 with `includes`.
void cross_compile(const std::string& dir, const std::string& includes, const std::string& extra = "") {
  const tinyc::Target& t = tinyc::target_by_name("cortex-m4");
  std::string sources;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (e.path().extension() == ".cpp") sources += " " + e.path().string();
  }
  REQUIRE(!sources.empty());
  for (const std::string& src : {sources, extra}) {
    if (src.empty()) continue;
    require_command(fmt::format("cd {} && arm-none-eabi-g++ {} -std=c++17 {} -fno-exceptions -fno-rtti "
                                "-O2 {} -c {}", dir, t.cflags, tinyc_test::kStrictWarnings, includes, src));
  }
}

}  // namespace

TEST_CASE("emit --format: every project layout builds", "[firmware][formats]") {
  for (const char* tool : {"arm-none-eabi-g++", "cmake", "gcc"}) {
    if (!have_program(tool)) {
      WARN("skipped: " << tool << " not installed (scripts/install-deps.sh installs it)");
      return;
    }
  }
  // One int8 sine model for every section (Catch2 re-enters the test case per section).
  static TempDir dir;
  const std::string csv = dir.file("sine.csv"), model = dir.file("sine.tinyc"),
                    q = dir.file("sine_int8.tinyc");
  if (!std::filesystem::exists(q)) {
    REQUIRE(run_tinyc("data sine -o " + csv + " --samples 300").exit_code == 0);
    REQUIRE(run_tinyc("train " TINYC_SOURCE_DIR "/models/sine.json --data " + csv + " -o " +
                      model + " --epochs 5 -q").exit_code == 0);
    REQUIRE(run_tinyc("compress " + model + " --data " + csv + " -o " + q + " --quantize int8")
                .exit_code == 0);
  }
  auto emit = [&](const std::string& format, const std::string& target) {
    const std::string out = dir.file(format + "_" + target);
    const auto r = run_tinyc(fmt::format("emit {} --target {} --name sine --format {} -o {} --json",
                                         q, target, format, out));
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    const auto j = nlohmann::json::parse(r.out);
    CHECK(j["format"] == format);
    REQUIRE(j["arena"].is_array());  // the memory plan: int8 sine needs arena buffers
    for (const auto& b : j["arena"]) CHECK(b["offset"].get<int64_t>() + b["bytes"].get<int64_t>() <= j["arena_bytes"].get<int64_t>());
    for (const auto& f : j["files"]) CHECK(std::filesystem::exists(f.get<std::string>()));
    return out;
  };

  SECTION("plain") {
    const std::string d = emit("plain", "cortex-m4");
    CHECK(tinyc_test::count_entries(d) == 2);
    cross_compile(d, "-I" + d);
  }
  SECTION("arduino: library.properties, src/, an example sketch") {
    const std::string d = emit("arduino", "cortex-m4");
    const std::string props = read_text(d + "/library.properties");
    for (const char* key : {"name=sine\n", "version=", "sentence=", "architectures=*\n",
                            "includes=sine.h\n"}) {
      CHECK(props.find(key) != std::string::npos);
    }
    const std::string sketch = d + "/examples/sine_demo/sine_demo.ino";
    REQUIRE(std::filesystem::exists(sketch));
    write_text(dir.file("stub/Arduino.h"), kArduinoStub);
    cross_compile(d, "-I" + d + "/src -I" + dir.file("stub"), "-x c++ " + sketch);
  }
  SECTION("platformio: library.json") {
    const std::string d = emit("platformio", "cortex-m4");
    const auto j = nlohmann::json::parse(read_text(d + "/library.json"));
    CHECK(j["name"] == "sine");
    CHECK(j["build"]["srcDir"] == "src");
    CHECK(j["build"]["includeDir"] == "src");
    cross_compile(d, "-I" + d + "/" + j["build"]["includeDir"].get<std::string>());
  }
  SECTION("cmake: a consumer project links target sine and matches tinyc predict") {
    const std::string d = emit("cmake", "host");
    cross_compile(d, "-I" + d);  // the same sources build for the MCU too
    const std::string app = dir.file("consumer");
    const std::vector<float> inputs = tinyc_test::csv_inputs(csv, 16);
    write_text(app + "/main.c", tinyc_test::harness_main("sine", inputs, 1, true));
    write_text(app + "/CMakeLists.txt", fmt::format(R"(cmake_minimum_required(VERSION 3.13)
project(consumer C CXX)
add_subdirectory({} sine)
add_executable(app main.c)
target_link_libraries(app PRIVATE sine m)
)", d));
    require_command(fmt::format("cmake -S {0} -B {0}/build -DCMAKE_BUILD_TYPE=Release >/dev/null && "
                                "cmake --build {0}/build >/dev/null", app));
    const std::string out = require_command(app + "/build/app");
    const auto actual = tinyc_test::parse_harness_output(out);
    const tinyc::Model m = tinyc::load_model(q);
    const tinyc_test::Int8Expected expected = tinyc_test::int8_reference(m, inputs, 16);
    tinyc_test::check_exact(actual, expected.outputs, tinyc_test::parse_harness_int8(out),
                            expected.outputs_int8);
  }
  SECTION("zephyr: module.yml, Kconfig, and a CMakeLists.txt that builds") {
    const std::string d = emit("zephyr", "cortex-m4");
    const std::string yml = read_text(d + "/zephyr/module.yml");
    CHECK(yml.find("name: sine\n") != std::string::npos);
    CHECK(yml.find("cmake: .\n") != std::string::npos);
    CHECK(yml.find("kconfig: Kconfig\n") != std::string::npos);
    const std::string kconfig = read_text(d + "/Kconfig");
    CHECK(kconfig.find("config TINYC_SINE\n") != std::string::npos);
    cross_compile(d, "-I" + d + "/include");
    // Zephyr's own CMake functions, reduced to what they mean for this module, building the
    // module emitted for the host (the cortex-m4 code uses ARM intrinsics).
    const std::string host = emit("zephyr", "host");
    const std::string app = dir.file("zephyr_app");
    write_text(app + "/main.c", "#include \"sine.h\"\nint main(void) {\n  float in[SINE_INPUT_SIZE] = {0};\n"
                                "  float out[SINE_OUTPUT_SIZE];\n  return sine_invoke(in, out);\n}\n");
    write_text(app + "/CMakeLists.txt", fmt::format(R"(cmake_minimum_required(VERSION 3.13)
project(zephyr_stand_in C CXX)
set(CONFIG_TINYC_SINE y)
macro(zephyr_library_named name)
  set(ZEPHYR_CURRENT_LIBRARY ${{name}})
  add_library(${{name}} STATIC)
  target_link_libraries(zephyr_interface INTERFACE ${{name}})
endmacro()
function(zephyr_library_sources)
  target_sources(${{ZEPHYR_CURRENT_LIBRARY}} PRIVATE ${{ARGN}})
endfunction()
function(zephyr_include_directories)
  foreach(d ${{ARGN}})
    get_filename_component(abs ${{d}} ABSOLUTE)
    target_include_directories(zephyr_interface INTERFACE ${{abs}})
    target_include_directories(${{ZEPHYR_CURRENT_LIBRARY}} PRIVATE ${{abs}})
  endforeach()
endfunction()
add_library(zephyr_interface INTERFACE)
add_subdirectory({} module)
add_executable(app main.c)
target_link_libraries(app PRIVATE zephyr_interface m)
)", host));
    require_command(fmt::format("cmake -S {0} -B {0}/build >/dev/null && cmake --build {0}/build "
                                ">/dev/null && {0}/build/app", app));
  }
  SECTION("an unknown format is a usage error and writes nothing") {
    const auto r = run_tinyc("emit " + q + " --target host --format keil -o " + dir.file("keil"));
    CHECK(r.exit_code == 1);
    CHECK(!std::filesystem::exists(dir.file("keil")));
  }
}
