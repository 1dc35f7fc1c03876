// The CNN path through the CLI: `tinyc data kws`, train models/kws_like.json, info lists every
// layer with output shape, parameters and MACs, eval --split test reproduces train's numbers.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "test_util.h"

using nlohmann::json;
using tinyc_test::run_tinyc;
using tinyc_test::TempDir;

TEST_CASE("kws data, kws_like train, info and eval", "[e2e][cnn]") {
  TempDir dir;
  const std::string csv = dir.file("kws.csv"), model = dir.file("kws.tinyc");
  REQUIRE(run_tinyc("data kws -o " + csv + " --samples 600 --seed 2").exit_code == 0);
  const auto train = run_tinyc("train " TINYC_SOURCE_DIR "/models/kws_like.json --data " + csv +
                               " -o " + model + " --epochs 3 --json");
  REQUIRE(train.exit_code == 0);
  const json t = json::parse(train.out);
  CHECK(t["task"] == "classification");
  CHECK(t["metrics"]["test"]["accuracy"].get<double>() > 0.25);  // above chance after 3 epochs

  const auto eval = run_tinyc("eval " + model + " --data " + csv + " --split test --json");
  REQUIRE(eval.exit_code == 0);
  const json e = json::parse(eval.out);
  CHECK(e["samples"] == 120);
  CHECK(e["metrics"]["accuracy"].get<double>() == Approx(t["metrics"]["test"]["accuracy"].get<double>()));
  CHECK(e["metrics"]["loss"].get<double>() == Approx(t["metrics"]["test"]["loss"].get<double>()));

  const auto info = run_tinyc("info " + model + " --json");
  REQUIRE(info.exit_code == 0);
  const json i = json::parse(info.out);
  const json& layers = i["layers"];
  REQUIRE(layers.size() == 8);
  CHECK(layers[0]["type"] == "conv2d");
  CHECK(layers[0]["output_shape"] == json::array({25, 5, 8}));
  CHECK(layers[0]["params"] == 8 * 10 * 4 * 1 + 8);
  CHECK(layers[0]["macs"] == 25 * 5 * 8 * 40);
  CHECK(layers[1]["type"] == "depthwise_conv2d");
  CHECK(layers[1]["params"] == 9 * 8 + 8);
  CHECK(layers[1]["macs"] == 25 * 5 * 8 * 9);
  CHECK(layers[2]["macs"] == 25 * 5 * 16 * 8);
  CHECK(layers[5]["type"] == "global_avg_pool2d");
  CHECK(layers[5]["output_shape"] == json::array({16}));
  CHECK(layers[6]["output_shape"] == json::array({4}));
  int64_t macs = 0, params = 0;
  for (const json& l : layers) {
    macs += l["macs"].get<int64_t>();
    params += l["params"].get<int64_t>();
  }
  CHECK(i["macs"] == macs);
  CHECK(i["params"] == params);
}
