// `tinyc compress --quantize int8` on a CNN: kws_like (conv2d, depthwise_conv2d, 1x1 conv2d,
// global_avg_pool2d, dense) trained on `tinyc data kws`; int8 accuracy within 2 points of
// float on the test split, eval, predict and info on the int8 model; --structured pruning
// before quantization.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "test_util.h"

using nlohmann::json;
using tinyc_test::run_tinyc;
using tinyc_test::TempDir;

TEST_CASE("compress --quantize int8 on kws_like, then eval, predict and info",
          "[e2e][compress][cnn]") {
  TempDir dir;
  const std::string csv = dir.file("kws.csv"), model = dir.file("kws.tinyc"),
                    q = dir.file("kws_int8.tinyc");
  REQUIRE(run_tinyc("data kws -o " + csv + " --samples 1500 --seed 3").exit_code == 0);
  REQUIRE(run_tinyc("train " TINYC_SOURCE_DIR "/models/kws_like.json --data " + csv + " -o " +
                    model + " --epochs 6 -q")
              .exit_code == 0);
  const auto c = run_tinyc("compress " + model + " --data " + csv + " -o " + q +
                           " --quantize int8 --calibration 300 --json");
  INFO(c.err);
  REQUIRE(c.exit_code == 0);
  const json j = json::parse(c.out);
  const double before = j["before"]["metrics"]["accuracy"],
               after = j["after"]["metrics"]["accuracy"];
  INFO("float " << before << ", int8 " << after);
  CHECK(before > 0.6);
  CHECK(after >= before - 0.02);
  CHECK(j["before"]["metrics"]["samples"] == 300);
  CHECK(j["after"]["weights_bytes"].get<double>() <
        0.4 * j["before"]["weights_bytes"].get<double>());

  const auto e = run_tinyc("eval " + q + " --data " + csv + " --split test --json");
  REQUIRE(e.exit_code == 0);
  CHECK(json::parse(e.out)["metrics"]["accuracy"].get<double>() == Approx(after));

  const auto i = run_tinyc("info " + q + " --json");
  REQUIRE(i.exit_code == 0);
  const json ij = json::parse(i.out);
  CHECK(ij["quantization"] == "int8");
  CHECK(ij["layers"].size() == 8);
  CHECK(run_tinyc("info " + q).exit_code == 0);

  const auto p = run_tinyc("predict " + q + " --data " + csv + " --limit 5 --json");
  INFO(p.err);
  REQUIRE(p.exit_code == 0);

  // Structured pruning, then int8: conv2d_3 loses half its filters (global_avg_pool2d and
  // dense shrink with it); the other convolutions feed depthwise layers and stay.
  const std::string s = dir.file("kws_s.tinyc");
  const auto sp = run_tinyc("compress " + model + " --data " + csv + " -o " + s +
                            " --prune 0.5 --structured --finetune-epochs 2 --quantize int8 --json");
  INFO(sp.err);
  REQUIRE(sp.exit_code == 0);
  const json sj = json::parse(sp.out);
  CHECK(sj["stages"][0]["structured"] == true);
  CHECK(sj["stages"][0]["removed_units"] == 8);
  CHECK(sj["after"]["params"].get<int64_t>() == j["before"]["params"].get<int64_t>() - 8 * 16 - 8 - 4 * 8);
  CHECK(sj["after"]["metrics"]["accuracy"].get<double>() >= before - 0.05);
}
