// Stateful recurrent .tflite models through the CLI (issue 6): `predict --input-bin` carries the
// LSTM state from case to case as TFLM's one interpreter did, and reproduces its outputs
// (int8 byte for byte, float32 within 1e-5 relative); `import` keeps that; each run starts from
// the initial state.
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

struct Case {
  const char* name;
  bool float32;
  bool raw = false;  // int16 input, int32 output: emitted code through NET_invoke_raw
};
const Case kCases[] = {{"trained_lstm", true}, {"trained_lstm_int8", false},
                       {"dtln_noise_suppression", false}, {"keyword_scrambled", false, true},
                       {"keyword_scrambled_8bit", false, true}};

}  // namespace

TEST_CASE("predict on LSTM .tflite models carries state and reproduces TFLM",
          "[e2e][tflite][rnn]") {
  for (const Case c : kCases) {
    if (!have(c.name)) continue;
    INFO(c.name);
    TempDir dir;
    const std::string model = kDir + c.name + ".tflite", in = kDir + c.name + ".inputs.bin";
    const std::string want = read_text(kDir + c.name + ".outputs.bin");
    const auto r = run_tinyc("predict " + model + " --input-bin " + in + " --output-bin " +
                             dir.file("out.bin"));
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    const std::string got = read_text(dir.file("out.bin"));
    REQUIRE(got.size() == want.size());
    CHECK(count_diff(got, want, c.float32) == 0);

    // The .tinyc keeps the state tensors and their initial values.
    const auto imp = run_tinyc("import " + model + " -o " + dir.file("m.tinyc"));
    REQUIRE(imp.exit_code == 0);
    const auto r2 = run_tinyc("predict " + dir.file("m.tinyc") + " --input-bin " + in +
                              " --output-bin " + dir.file("out2.bin"));
    REQUIRE(r2.exit_code == 0);
    CHECK(read_text(dir.file("out2.bin")) == got);

    // State really carries: each case run alone, from the initial state, gives TFLM's output
    // for the first case but not for all the others, which TFLM computed after earlier cases.
    const std::string inputs = read_text(in);
    const size_t in_case = inputs.size() / 16, out_case = want.size() / 16;
    int64_t cases_changed = 0;
    for (size_t k = 0; k < 16; ++k) {
      write_text(dir.file("one.bin"), inputs.substr(k * in_case, in_case));
      const auto p = run_tinyc("predict " + model + " --input-bin " + dir.file("one.bin") +
                               " --output-bin " + dir.file("one.out"));
      REQUIRE(p.exit_code == 0);
      const int64_t d = count_diff(read_text(dir.file("one.out")), want.substr(k * out_case, out_case),
                                   c.float32);
      if (k == 0) CHECK(d == 0);
      cases_changed += d > 0;
    }
    // The keyword_scrambled goldens are the same for every case (its softmax saturates), so
    // only the recurrent models with varying outputs can show the state here.
    if (!c.raw) CHECK(cases_changed > 0);
  }
}

namespace {

// A host main for emitted code: every case of argv[1] through NET_invoke(_int8) (or
// NET_invoke_raw with int16 in, int32 out) into argv[2], then net_reset() and every case
// again into argv[3].
std::string emit_main(const Case& c) {
  const char* type = c.float32 ? "float" : "int8_t";
  const char* invoke = c.float32 ? "net_invoke" : c.raw ? "net_invoke_raw" : "net_invoke_int8";
  const std::string buffers =
      c.raw ? "static int16_t in[NET_INPUT_SIZE];\nstatic int32_t out[NET_OUTPUT_SIZE];"
            : fmt::format("static {0} in[NET_INPUT_SIZE], out[NET_OUTPUT_SIZE];", type);
  return fmt::format(R"(#include <stdio.h>
#include "net.h"
{0}
static int pass(const char* from, const char* to) {{
  FILE* fi = fopen(from, "rb");
  FILE* fo = fopen(to, "wb");
  if (fi == NULL || fo == NULL) return 2;
  while (fread(in, sizeof in, 1, fi) == 1) {{
    if ({1}(in, out) != 0) return 3;
    fwrite(out, sizeof out, 1, fo);
  }}
  fclose(fo);
  fclose(fi);
  return 0;
}}
int main(int argc, char** argv) {{
  if (argc != 4) return 2;
  const int first = pass(argv[1], argv[2]);
  if (first != 0) return first;
  net_reset();
  return pass(argv[1], argv[3]);
}}
)", buffers, invoke);
}

}  // namespace

TEST_CASE("emitted LSTM code keeps state in its arena, reproduces TFLM and resets",
          "[e2e][tflite][rnn][emit]") {
  if (std::system("command -v g++ >/dev/null 2>&1") != 0) {
    WARN("g++ not found; skipping");
    return;
  }
  for (const Case c : kCases) {
    if (!have(c.name)) continue;
    INFO(c.name);
    TempDir dir;
    const auto e = run_tinyc("emit " + kDir + c.name + ".tflite --target host -o " + dir.path() +
                             " --name net");
    INFO(e.err);
    REQUIRE(e.exit_code == 0);
    CHECK_THAT(read_text(dir.file("net.h")), Catch::Contains("void net_reset(void);"));
    if (c.raw) {
      CHECK_THAT(read_text(dir.file("net.h")),
                 Catch::Contains("int net_invoke_raw(const void* input, void* output);"));
    }
    write_text(dir.file("main.cpp"), emit_main(c));
    // ASan and UBSan on the host (DESIGN.md: emitted code is sanitizer-clean).
    const std::string build = fmt::format(
        "cd {0} && g++ -std=c++11 -O1 -g -Wall -Wextra -Werror -fno-exceptions -fno-rtti "
        "-fsanitize=address,undefined -fno-sanitize-recover=all main.cpp net.cpp -o run "
        "> build.log 2>&1", dir.path());
    const int built = std::system(build.c_str());
    INFO(read_text(dir.file("build.log")));
    REQUIRE(built == 0);
    const std::string run = fmt::format("{0}/run {1}{2}.inputs.bin {0}/out.bin {0}/again.bin "
                                        "> {0}/run.log 2>&1", dir.path(), kDir, c.name);
    const int ran = std::system(run.c_str());
    INFO(read_text(dir.file("run.log")));
    REQUIRE(ran == 0);
    const std::string want = read_text(kDir + c.name + ".outputs.bin");
    const std::string got = read_text(dir.file("out.bin"));
    REQUIRE(got.size() == want.size());
    CHECK(count_diff(got, want, c.float32) == 0);
    // After net_reset the same cases give the same outputs: the state is back to its start.
    CHECK(read_text(dir.file("again.bin")) == got);
  }
}
