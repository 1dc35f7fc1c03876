// The CLI contract of DESIGN.md §3, run as users and their CI pipelines run it: JSON keys,
// exit codes, one-line errors, and no output file left behind on failure.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <cstring>
#include <vector>

#include "test_util.h"

using nlohmann::json;
using tinyc_test::read_text;
using tinyc_test::run_tinyc;
using tinyc_test::TempDir;
using tinyc_test::write_text;

namespace {

const std::string kModels = TINYC_SOURCE_DIR "/models/";
const std::string kTasks = TINYC_SHARED_DIR "/data/tasks/";

// Errors are exactly one line on stderr.
void check_one_line_error(const tinyc_test::RunResult& r, const std::string& needle) {
  INFO("stderr: " << r.err);
  CHECK(r.err.find("error") != std::string::npos);
  CHECK(r.err.find(needle) != std::string::npos);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
}

}  // namespace

TEST_CASE("data, train, eval, predict and info on sine", "[e2e]") {
  TempDir dir;
  const std::string csv = dir.file("sine.csv"), model = dir.file("sine.tinyc");
  REQUIRE(run_tinyc("data sine -o " + csv + " --seed 3").exit_code == 0);
  const auto train = run_tinyc("train " + kModels + "sine.json --data " + csv + " -o " + model +
                               " --epochs 60 --json");
  REQUIRE(train.exit_code == 0);
  const json t = json::parse(train.out);
  CHECK(t["task"] == "regression");
  CHECK(t["epochs_run"] == 60);
  CHECK(t["train_seconds"].get<double>() > 0);
  CHECK(t["samples_per_second"].get<double>() > 0);
  for (const char* split : {"train", "val", "test"}) {
    CHECK(t["metrics"][split].contains("loss"));
    CHECK(t["metrics"][split].contains("mse"));
  }
  // eval --split test re-creates the test split and reproduces train's numbers.
  const auto eval = run_tinyc("eval " + model + " --data " + csv + " --split test --json");
  REQUIRE(eval.exit_code == 0);
  const json e = json::parse(eval.out);
  CHECK(e["samples"] == 200);
  CHECK(e["metrics"]["mse"].get<double>() == Approx(t["metrics"]["test"]["mse"].get<double>()));
  CHECK(e["metrics"]["loss"].get<double>() == Approx(t["metrics"]["test"]["loss"].get<double>()));
  const auto all = run_tinyc("eval " + model + " --data " + csv + " --json");
  CHECK(json::parse(all.out)["samples"] == 1000);

  const auto predict = run_tinyc("predict " + model + " --data " + csv + " --limit 5 --json");
  REQUIRE(predict.exit_code == 0);
  const json p = json::parse(predict.out);
  REQUIRE(p["outputs"].size() == 5);
  CHECK(p["outputs"][0].size() == 1);

  const auto info = run_tinyc("info " + model + " --json");
  REQUIRE(info.exit_code == 0);
  const json i = json::parse(info.out);
  CHECK(i["params"] == 16 * 1 + 16 + 16 * 16 + 16 + 16 + 1);
  CHECK(i["nonzero_params"].get<int>() <= i["params"].get<int>());
  CHECK(i["weights_bytes"] == 4 * i["params"].get<int>());
  CHECK(i["macs"] == 16 + 256 + 16);
  CHECK(i["quantization"] == "float32");
  REQUIRE(i["layers"].size() == 3);
  CHECK(i["layers"][0]["type"] == "dense");
  CHECK(i["layers"][0]["output_shape"] == json::array({16}));
  CHECK(i["layers"][1]["params"] == 272);
  CHECK(i["layers"][2]["macs"] == 16);
}

TEST_CASE("predict --input-bin reads and writes raw float32 cases", "[e2e]") {
  TempDir dir;
  const std::string model = dir.file("lin.tinyc");
  REQUIRE(run_tinyc("train " + kModels + "linear.json --data " + kTasks + "linear.csv -o " + model +
                    " -q").exit_code == 0);
  const float in[3] = {0.0f, 1.0f, 10.0f};
  write_text(dir.file("in.bin"), std::string(reinterpret_cast<const char*>(in), sizeof in));
  const auto r = run_tinyc("predict " + model + " --input-bin " + dir.file("in.bin") +
                           " --output-bin " + dir.file("out.bin"));
  REQUIRE(r.exit_code == 0);
  const std::string bytes = read_text(dir.file("out.bin"));
  REQUIRE(bytes.size() == sizeof in);
  float out[3];
  std::memcpy(out, bytes.data(), sizeof out);
  CHECK(out[0] == Approx(-0.991686).margin(1e-4));
  CHECK(out[1] == Approx(1.997318 - 0.991686).margin(1e-4));
  CHECK(out[2] == Approx(19.97318 - 0.991686).margin(1e-3));
}

TEST_CASE("classification end to end on digits", "[e2e]") {
  TempDir dir;
  const std::string model = dir.file("digits.tinyc");
  const auto train = run_tinyc("train " + kModels + "digits_mlp.json --data " + kTasks +
                               "digits.csv -o " + model + " --epochs 20 --json");
  REQUIRE(train.exit_code == 0);
  const json t = json::parse(train.out);
  CHECK(t["task"] == "classification");
  CHECK(t["metrics"]["test"]["accuracy"].get<double>() > 0.9);
  const auto predict = run_tinyc("predict " + model + " --data " + kTasks + "digits.csv --limit 3 --json");
  const json p = json::parse(predict.out);
  REQUIRE(p["outputs"].size() == 3);
  REQUIRE(p["outputs"][0].size() == 10);
  double sum = 0;
  for (double v : p["outputs"][0]) sum += v;
  CHECK(sum == Approx(1.0).epsilon(1e-5));  // probabilities
}

TEST_CASE("the raw scikit-learn digits file trains as it is", "[e2e]") {
  const std::string raw = "/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz";
  if (read_text(raw).empty()) {
    WARN("python3-sklearn is not installed; skipping");
    return;
  }
  TempDir dir;
  const auto r = run_tinyc("train " + kModels + "digits_mlp.json --data " + raw + " -o " +
                           dir.file("m.tinyc") + " --json");
  REQUIRE(r.exit_code == 0);
  const json t = json::parse(r.out);
  // 20 % of 1797, rounded per class by the stratified split.
  CHECK(std::abs(t["metrics"]["test"]["samples"].get<int>() - 360) <= 5);
  CHECK(t["metrics"]["test"]["accuracy"].get<double>() >= 0.95);
}

TEST_CASE("bad input gives one line, the documented exit code and no output file", "[e2e]") {
  TempDir dir;
  const std::string out = dir.file("m.tinyc");
  const std::string sine = kModels + "sine.json";
  auto no_output = [&] { CHECK(tinyc_test::count_entries(dir.path()) == 1 + 0); };
  write_text(dir.file("bad.csv"), "x,y\n1,2\n3,oops\n");
  // (the data file itself is the one entry in the directory)

  SECTION("malformed CSV") {
    const auto r = run_tinyc("train " + sine + " --data " + dir.file("bad.csv") + " -o " + out);
    CHECK(r.exit_code == 2);
    check_one_line_error(r, "bad.csv:3:");
    no_output();
  }
  SECTION("wrong feature count") {
    write_text(dir.file("bad.csv"), "a,b,y\n1,2,3\n4,5,6\n");
    const auto r = run_tinyc("train " + sine + " --data " + dir.file("bad.csv") + " -o " + out);
    CHECK(r.exit_code == 2);
    check_one_line_error(r, "2 features");
    no_output();
  }
  SECTION("unknown layer type names the JSON path") {
    write_text(dir.file("bad.csv"), "x,y\n1,2\n3,4\n5,6\n7,8\n9,10\n");
    const std::string spec = dir.file("spec.json");
    write_text(spec, R"({"input": [1], "layers": [{"type": "dense", "units": 4}, {"type": "conv9"}]})");
    const auto r = run_tinyc("train " + spec + " --data " + dir.file("bad.csv") + " -o " + out);
    CHECK(r.exit_code == 2);
    check_one_line_error(r, "$.layers[1].type");
    CHECK(tinyc_test::count_entries(dir.path()) == 2);
  }
  SECTION("unknown spec key") {
    const std::string spec = dir.file("spec.json");
    write_text(spec, R"({"input": [1], "layers": [{"type": "dense", "units": 1}], "trian": {}})");
    const auto r = run_tinyc("train " + spec + " --data " + dir.file("bad.csv") + " -o " + out);
    CHECK(r.exit_code == 2);
    check_one_line_error(r, "$.trian");
  }
  SECTION("missing files") {
    auto r = run_tinyc("train " + sine + " --data " + dir.file("nope.csv") + " -o " + out);
    CHECK(r.exit_code == 2);
    check_one_line_error(r, "nope.csv");
    r = run_tinyc("train " + dir.file("nope.json") + " --data " + dir.file("bad.csv") + " -o " + out);
    CHECK(r.exit_code == 2);
    check_one_line_error(r, "nope.json");
    r = run_tinyc("eval " + dir.file("nope.tinyc") + " --data " + dir.file("bad.csv"));
    CHECK(r.exit_code == 2);
    check_one_line_error(r, "nope.tinyc");
    no_output();
  }
  SECTION("usage errors exit 1") {
    CHECK(run_tinyc("train").exit_code == 1);
    CHECK(run_tinyc("frobnicate").exit_code == 1);
    CHECK(run_tinyc("train " + sine + " --data x.csv -o m.tinyc --epochs -3").exit_code == 1);
    CHECK(run_tinyc("data cosine -o " + dir.file("c.csv")).exit_code == 1);
    no_output();
  }
  SECTION("divergence exits 3 and writes nothing") {
    const auto r = run_tinyc("train " + kModels + "linear.json --data " + kTasks +
                             "linear.csv -o " + out + " --lr 1000");
    CHECK(r.exit_code == 3);
    CHECK(r.err.find("learning rate") != std::string::npos);
    no_output();
  }
}

TEST_CASE("a corrupted model file is refused by every command", "[e2e]") {
  TempDir dir;
  const std::string model = dir.file("lin.tinyc");
  REQUIRE(run_tinyc("train " + kModels + "linear.json --data " + kTasks + "linear.csv -o " +
                    model + " -q").exit_code == 0);
  std::string bytes = read_text(model);
  bytes[bytes.size() / 2] ^= 0x10;  // one flipped bit in the middle (a weight or the graph)
  write_text(model, bytes);
  const std::vector<std::string> commands = {
      "info " + model, "eval " + model + " --data " + kTasks + "linear.csv",
      "predict " + model + " --data " + kTasks + "linear.csv"};
  for (const std::string& cmd : commands) {
    const auto r = run_tinyc(cmd);
    CHECK(r.exit_code == 2);
    check_one_line_error(r, "lin.tinyc");
  }
}

TEST_CASE("same seed and threads give the same model bytes", "[e2e][determinism]") {
  TempDir dir;
  for (const char* name : {"a", "b"}) {
    REQUIRE(run_tinyc("train " + kModels + "digits_mlp.json --data " + kTasks + "digits.csv -o " +
                      dir.file(name) + " --epochs 4 --threads 2 --seed 9 -q").exit_code == 0);
  }
  CHECK(read_text(dir.file("a")) == read_text(dir.file("b")));
}
