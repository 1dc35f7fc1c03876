// Overlapping buffers in real emitted code: an int8 CNN whose 1x1 conv2d (growing channels)
// and depthwise_conv2d write over their inputs runs bit-exact on the host (ASan/UBSan), and
// the same code with that output moved one pixel closer to its input (delta + one pixel)
// computes wrong outputs -- the computed overlap is tight, not merely safe. Also the RAM of
// the .tflite models the issue names.
#include <catch2/catch.hpp>

#include <regex>

#include <nlohmann/json.hpp>

#include "emit/buffer_overlap.h"
#include "emit_harness.h"
#include "tinyc/emit.h"
#include "tinyc/quantize.h"
#include "tinyc/rng.h"
#include "tinyc/spec.h"

using tinyc_test::TempDir;

namespace {

const tinyc::EmitArenaBuffer& arena_buffer(const tinyc::EmitReport& r, const std::string& tensor) {
  for (const auto& b : r.arena) {
    if (b.label == tensor) return b;
  }
  FAIL("no arena buffer for " << tensor);
  return r.arena.front();
}

}  // namespace

TEST_CASE("overlap: emitted CNN is bit-exact, and one pixel more overlap breaks it",
          "[emit][host][int8][overlap]") {
  const tinyc::Model f = tinyc::build_model(tinyc::parse_spec(R"({"name": "ovl", "input": [6, 5, 2],
    "task": "classification",
    "layers": [{"type": "conv2d", "filters": 4, "kernel": 3, "padding": "same", "activation": "relu"},
               {"type": "conv2d", "filters": 10, "kernel": 1},
               {"type": "depthwise_conv2d", "kernel": 3, "padding": "same"},
               {"type": "flatten"},
               {"type": "dense", "units": 5, "activation": "softmax"}],
    "train": {"loss": "cross_entropy"}})", "test spec"), 11);
  const int64_t rows = 64, cases = 16, width = 6 * 5 * 2;
  tinyc::Rng rng(5);
  std::vector<float> calib(static_cast<size_t>(rows * width));
  for (float& v : calib) v = rng.uniform(-2.0f, 2.0f);
  tinyc::QuantizeReport qr;
  const tinyc::Model q = tinyc::quantize_model(f, calib.data(), nullptr, rows, {}, &qr);
  std::vector<float> x(static_cast<size_t>(cases * width));
  for (float& v : x) v = rng.uniform(-3.0f, 3.0f);
  const tinyc_test::Int8Expected ref = tinyc_test::int8_reference(q, x, cases);

  TempDir dir;
  tinyc::EmitOptions o;
  o.out_dir = dir.path();
  o.name = "net";
  const tinyc::EmitReport r = tinyc::emit_model(q, o);
  // The 1x1 conv2d's output starts exactly its delta (aligned down to 4) before its input.
  const tinyc::Op& pointwise = q.ops[1];
  REQUIRE(pointwise.type == tinyc::OpType::kConv2d);
  const std::string in_name = q.tensor(pointwise.inputs[0]).name;
  const std::string out_name = q.tensor(pointwise.outputs[0]).name;
  const int64_t delta = *tinyc::op_overlap_delta(q, pointwise, 1);
  CHECK(delta == -(10 - 4) * 30 - 4);  // (Cout - Cin) * pixels + Cin
  const auto& in_buf = arena_buffer(r, in_name);
  const auto& out_buf = arena_buffer(r, out_name);
  const int64_t aligned = (delta - 3) / 4 * 4;
  CHECK(out_buf.offset - in_buf.offset == aligned);
  CHECK(r.arena_bytes < 4 * 30 + 10 * 30 + 10 * 30);  // less than without overlap
  CHECK(r.arena_bytes >= r.arena_lower_bound);

  std::vector<std::vector<int>> got_int8;
  const auto got = tinyc_test::run_on_host(dir.path(), "net", x, width, true, &got_int8);
  tinyc_test::check_exact(got, ref.outputs, got_int8, ref.outputs_int8);

  // The same code with the pointwise output one pixel (10 bytes) closer to its input.
  std::string src = tinyc_test::read_text(dir.path() + "/net.cpp");
  const std::regex decl("(int8_t\\* const \\w+ = reinterpret_cast<int8_t\\*>\\(net_arena\\) \\+ )(" +
                        std::to_string(out_buf.offset) + ")(;  // " + out_name + " )");
  std::smatch m;
  REQUIRE(std::regex_search(src, m, decl));
  src = m.prefix().str() + m[1].str() + std::to_string(out_buf.offset + 10) + m[3].str() +
        m.suffix().str();
  // Room for the moved buffer at the arena's end.
  src = std::regex_replace(src, std::regex("(static int32_t net_arena\\[)(\\d+)\\]"), "$1$2 + 4]");
  tinyc_test::write_text(dir.path() + "/net.cpp", src);
  std::vector<std::vector<int>> bad_int8;
  tinyc_test::run_on_host(dir.path(), "net", x, width, true, &bad_int8);
  CHECK(bad_int8 != ref.outputs_int8);
}

TEST_CASE("overlap: RAM of person_detect and micro_speech on cortex-m4", "[emit][overlap]") {
  const std::string dir = TINYC_SHARED_DIR "/data/tflite/";
  TempDir out;
  auto emit = [&](const std::string& model) {
    const auto r = tinyc_test::run_tinyc("emit " + dir + model + ".tflite --target cortex-m4 -o " +
                                         out.path() + " --json");
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    return nlohmann::json::parse(r.out);
  };
  // Issue 6: RAM <= 0.75x TFLM's 82,308 B arena; the planner within 10% of its lower bound.
  const auto pd = emit("person_detect");
  CHECK(pd["ram_bytes"].get<int64_t>() <= 82308 * 3 / 4);
  CHECK(pd["arena_bytes"].get<int64_t>() <= pd["arena_lower_bound"].get<int64_t>() * 11 / 10);
  // micro_speech: its arena is its lower bound (one conv output and the conv's scratch).
  const auto ms = emit("micro_speech_quantized");
  CHECK(ms["arena_bytes"] == ms["arena_lower_bound"]);
}
