// `tinyc compress --quantize int8` and the CLI on quantized models (DESIGN.md §3): JSON keys,
// accuracy against the float model, eval/predict/info, int8 raw I/O, refusals, determinism.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "test_util.h"

using nlohmann::json;
using tinyc_test::read_text;
using tinyc_test::run_tinyc;
using tinyc_test::TempDir;
using tinyc_test::write_text;

namespace {

const std::string kModels = TINYC_SOURCE_DIR "/models/";
const std::string kDigits = TINYC_SHARED_DIR "/data/tasks/digits.csv";

}  // namespace

TEST_CASE("compress --quantize int8 on digits_mlp, then eval, predict and info",
          "[e2e][compress]") {
  TempDir dir;
  const std::string model = dir.file("d.tinyc"), q = dir.file("dq.tinyc");
  REQUIRE(
      run_tinyc("train " + kModels + "digits_mlp.json --data " + kDigits + " -o " + model + " -q")
          .exit_code == 0);
  const auto c = run_tinyc("compress " + model + " --data " + kDigits + " -o " + q +
                           " --quantize int8 --calibration 500 --json");
  INFO(c.err);
  REQUIRE(c.exit_code == 0);
  const json j = json::parse(c.out);
  for (const char* side : {"before", "after"}) {
    for (const char* key : {"params", "nonzero_params", "weights_bytes", "metrics"}) {
      CHECK(j[side].contains(key));
    }
  }
  const double before = j["before"]["metrics"]["accuracy"],
               after = j["after"]["metrics"]["accuracy"];
  CHECK(after >= before - 0.015);
  CHECK(j["before"]["metrics"]["samples"] == 360);  // the stored 20% test split
  CHECK(j["after"]["params"] == j["before"]["params"]);
  CHECK(j["after"]["weights_bytes"].get<double>() <
        0.3 * j["before"]["weights_bytes"].get<double>());
  CHECK(j["stages"][0]["calibration_rows"] == 500);

  // eval --split test reproduces compress's "after" numbers.
  const auto e = run_tinyc("eval " + q + " --data " + kDigits + " --split test --json");
  REQUIRE(e.exit_code == 0);
  CHECK(json::parse(e.out)["metrics"]["accuracy"].get<double>() == Approx(after));

  const auto i = run_tinyc("info " + q + " --json");
  REQUIRE(i.exit_code == 0);
  CHECK(json::parse(i.out)["quantization"] == "int8");
  CHECK(run_tinyc("info " + q).exit_code == 0);

  const auto p = run_tinyc("predict " + q + " --data " + kDigits + " --limit 4 --json");
  REQUIRE(p.exit_code == 0);
  const json pj = json::parse(p.out);
  REQUIRE(pj["outputs_int8"].size() == 4);
  REQUIRE(pj["outputs_int8"][0].size() == 10);
  for (size_t r = 0; r < 4; ++r) {
    for (size_t k = 0; k < 10; ++k) {
      // Softmax outputs: real = (q + 128) / 256.
      const int v = pj["outputs_int8"][r][k];
      CHECK(pj["outputs"][r][k].get<double>() == Approx((v + 128) / 256.0));
    }
  }

  // --input-bin on an int8 model reads int8 cases and --output-bin writes int8 outputs.
  std::string cases(2 * 64, '\0');
  for (size_t k = 0; k < cases.size(); ++k)
    cases[k] = static_cast<char>(static_cast<int>(k * 37 % 256) - 128);
  write_text(dir.file("in.bin"), cases);
  const auto b = run_tinyc("predict " + q + " --input-bin " + dir.file("in.bin") +
                           " --output-bin " + dir.file("out.bin") + " --json");
  REQUIRE(b.exit_code == 0);
  const std::string out = read_text(dir.file("out.bin"));
  REQUIRE(out.size() == 2 * 10);
  const json bj = json::parse(b.out);
  for (size_t k = 0; k < 10; ++k)
    CHECK(bj["outputs_int8"][1][k] == static_cast<int8_t>(out[10 + k]));
  write_text(dir.file("odd.bin"), std::string(65, '\0'));
  CHECK(run_tinyc("predict " + q + " --input-bin " + dir.file("odd.bin")).exit_code == 2);

  // Quantizing twice is refused (exit 4, one line); the same command twice gives the same bytes.
  const auto twice = run_tinyc("compress " + q + " --data " + kDigits + " -o " +
                               dir.file("x.tinyc") + " --quantize int8");
  CHECK(twice.exit_code == 4);
  CHECK(twice.err.find("already int8") != std::string::npos);
  REQUIRE(run_tinyc("compress " + model + " --data " + kDigits + " -o " + dir.file("dq2.tinyc") +
                    " --quantize int8 --calibration 500")
              .exit_code == 0);
  CHECK(read_text(dir.file("dq2.tinyc")) == read_text(q));
  // Nothing to do is a usage error.
  CHECK(run_tinyc("compress " + model + " --data " + kDigits + " -o " + dir.file("y.tinyc"))
            .exit_code == 1);
}

TEST_CASE("compress --prune then --quantize: stages in order, zeros kept, refusals",
          "[e2e][compress]") {
  TempDir dir;
  const std::string model = dir.file("d.tinyc"), out = dir.file("pq.tinyc");
  REQUIRE(
      run_tinyc("train " + kModels + "digits_mlp.json --data " + kDigits + " -o " + model + " -q")
          .exit_code == 0);
  const auto c = run_tinyc("compress " + model + " --data " + kDigits + " -o " + out +
                           " --prune 0.5 --finetune-epochs 3 --quantize int8 --json");
  INFO(c.err);
  REQUIRE(c.exit_code == 0);
  const json j = json::parse(c.out);
  REQUIRE(j["stages"].size() == 2);
  CHECK(j["stages"][0]["stage"] == "prune");
  CHECK(j["stages"][0]["sparsity"].get<double>() == Approx(0.5).margin(0.01));
  CHECK(j["stages"][0]["schedule"].size() == 3);
  CHECK(j["stages"][1]["stage"] == "quantize");
  // Dense weights are 2048 + 320 of 2410 params: half of them are zero, biases are not.
  CHECK(j["after"]["nonzero_params"].get<int>() <= 2410 - 1184);
  CHECK(j["after"]["metrics"]["accuracy"].get<double>() >=
        j["before"]["metrics"]["accuracy"].get<double>() - 0.03);
  // Deterministic: the same command gives the same bytes.
  REQUIRE(run_tinyc("compress " + model + " --data " + kDigits + " -o " + dir.file("pq2.tinyc") +
                    " --prune 0.5 --finetune-epochs 3 --quantize int8")
              .exit_code == 0);
  CHECK(read_text(dir.file("pq2.tinyc")) == read_text(out));
  const json info = json::parse(run_tinyc("info " + out + " --json").out);
  CHECK(info["nonzero_params"] == j["after"]["nonzero_params"]);
  CHECK(info["quantization"] == "int8");
  // Pruning an int8 model is refused (exit 4).
  const auto again = run_tinyc("compress " + out + " --data " + kDigits + " -o " +
                               dir.file("x.tinyc") + " --prune 0.5");
  CHECK(again.exit_code == 4);
  CHECK(!again.err.empty());
  // Out-of-range sparsity is a usage error.
  CHECK(run_tinyc("compress " + model + " --data " + kDigits + " -o " + dir.file("y.tinyc") +
                  " --prune 1.5")
            .exit_code == 1);
}
