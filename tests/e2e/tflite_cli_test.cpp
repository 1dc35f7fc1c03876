// The .tflite path through the CLI (issue 6): `predict M.tflite --input-bin --output-bin`
// reproduces TFLite Micro's outputs (int8 byte for byte, float within 1e-5 relative), `import`
// writes a .tinyc that predicts the same, `emit --target host` code compiled with g++ does too,
// refusals exit 4 naming the op, corrupt files exit 2.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include <fmt/format.h>

#include "test_util.h"

using tinyc_test::read_text;
using tinyc_test::run_tinyc;
using tinyc_test::TempDir;
using tinyc_test::write_text;

namespace {

const std::string kDir = TINYC_SHARED_DIR "/data/tflite/";

bool have(const std::string& name) {
  if (std::ifstream(kDir + name + ".tflite").good()) return true;
  WARN("../shared/data/tflite/" + name + ".tflite not found; skipping");
  return false;
}

// Float32 outputs agree within 1e-5 relative (DESIGN.md §7); other dtypes byte for byte.
void check_same(const std::string& got, const std::string& want, bool float32) {
  REQUIRE(got.size() == want.size());
  if (!float32) {
    CHECK(got == want);
    return;
  }
  int64_t bad = 0;
  for (size_t i = 0; i + 4 <= got.size(); i += 4) {
    float a, b;
    std::memcpy(&a, got.data() + i, 4);
    std::memcpy(&b, want.data() + i, 4);
    bad += std::fabs(a - b) > 1e-5f * std::max(1.0f, std::fabs(b));
  }
  CHECK(bad == 0);
}

}  // namespace

TEST_CASE("predict on .tflite models reproduces TFLM and import keeps it", "[e2e][tflite]") {
  struct Case {
    const char* name;
    bool float32;
  };
  for (const Case c : {Case{"hello_world_int8", false}, Case{"hello_world_float", true},
                       Case{"micro_speech_quantized", false},
                       Case{"network_tester_model", false}, Case{"person_detect", false},
                       Case{"simple_add_model", false}, Case{"test_conv_model", true}}) {
    if (!have(c.name)) continue;
    INFO(c.name);
    TempDir dir;
    const std::string model = kDir + c.name + ".tflite", in = kDir + c.name + ".inputs.bin";
    const std::string want = read_text(kDir + c.name + ".outputs.bin");
    const auto r = run_tinyc("predict " + model + " --input-bin " + in + " --output-bin " +
                             dir.file("out.bin"));
    REQUIRE(r.exit_code == 0);
    check_same(read_text(dir.file("out.bin")), want, c.float32);

    const auto imp = run_tinyc("import " + model + " -o " + dir.file("m.tinyc"));
    REQUIRE(imp.exit_code == 0);
    const auto r2 = run_tinyc("predict " + dir.file("m.tinyc") + " --input-bin " + in +
                              " --output-bin " + dir.file("out2.bin"));
    REQUIRE(r2.exit_code == 0);
    CHECK(read_text(dir.file("out2.bin")) == read_text(dir.file("out.bin")));
  }
}

TEST_CASE("import refuses unsupported and custom ops with exit 4", "[e2e][tflite]") {
  TempDir dir;
  if (have("audio_preprocessor_int8")) {
    const auto r = run_tinyc("predict " + kDir + "audio_preprocessor_int8.tflite --input-bin " +
                             kDir + "hello_world_int8.inputs.bin");
    CHECK(r.exit_code == 4);
    CHECK_THAT(r.err, Catch::Contains("CUSTOM:SignalWindow") &&
                          Catch::Contains("CUSTOM:SignalFilterBank"));
  }
}

TEST_CASE("corrupt .tflite files exit 2", "[e2e][tflite]") {
  if (!have("hello_world_int8")) return;
  TempDir dir;
  const std::string good = read_text(kDir + "hello_world_int8.tflite");
  write_text(dir.file("cut.tflite"), good.substr(0, good.size() / 3));
  std::string wrong = good;
  wrong[5] = 'Q';
  write_text(dir.file("id.tflite"), wrong);
  write_text(dir.file("empty.tflite"), "");
  for (const char* f : {"cut.tflite", "id.tflite", "empty.tflite"}) {
    INFO(f);
    const auto r = run_tinyc("import " + dir.file(f) + " -o " + dir.file("m.tinyc"));
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains(f));
  }
}

namespace {

// A host main for emitted code: cases from argv[1] through NET_invoke(_int8) to argv[2].
std::string emit_main(bool float32) {
  const char* type = float32 ? "float" : "int8_t";
  const char* invoke = float32 ? "net_invoke" : "net_invoke_int8";
  return fmt::format(R"(#include <stdio.h>
#include "net.h"
static {0} in[NET_INPUT_SIZE], out[NET_OUTPUT_SIZE];
int main(int argc, char** argv) {{
  if (argc != 3) return 2;
  FILE* fi = fopen(argv[1], "rb");
  FILE* fo = fopen(argv[2], "wb");
  if (fi == NULL || fo == NULL) return 2;
  while (fread(in, sizeof in, 1, fi) == 1) {{
    if ({1}(in, out) != 0) return 3;
    fwrite(out, sizeof out, 1, fo);
  }}
  fclose(fo);
  fclose(fi);
  return 0;
}}
)", type, invoke);
}

}  // namespace

TEST_CASE("emitted code of imported .tflite models reproduces TFLM on the host",
          "[e2e][tflite][emit]") {
  if (std::system("command -v g++ >/dev/null 2>&1") != 0) {
    WARN("g++ not found; skipping");
    return;
  }
  struct Case {
    const char* name;
    bool float32;
  };
  for (const Case c : {Case{"hello_world_int8", false}, Case{"hello_world_float", true},
                       Case{"micro_speech_quantized", false},
                       Case{"network_tester_model", false}, Case{"person_detect", false},
                       Case{"simple_add_model", false}, Case{"test_conv_model", true}}) {
    if (!have(c.name)) continue;
    INFO(c.name);
    TempDir dir;
    const auto e = run_tinyc("emit " + kDir + c.name + ".tflite --target host -o " + dir.path() +
                             " --name net");
    REQUIRE(e.exit_code == 0);
    write_text(dir.file("main.cpp"), emit_main(c.float32));
    const std::string build =
        fmt::format("cd {0} && g++ -std=c++11 -O1 -Wall -Wextra -Werror -fno-exceptions "
                    "-fno-rtti -fsanitize=address,undefined -fno-sanitize-recover=all "
                    "main.cpp net.cpp -o run > build.log 2>&1",
                    dir.path());
    const int built = std::system(build.c_str());
    INFO(read_text(dir.file("build.log")));
    REQUIRE(built == 0);
    const std::string run = fmt::format("{}/run {}{}.inputs.bin {}/out.bin", dir.path(), kDir,
                                        c.name, dir.path());
    REQUIRE(std::system(run.c_str()) == 0);
    check_same(read_text(dir.file("out.bin")), read_text(kDir + c.name + ".outputs.bin"),
               c.float32);
  }
}
