// `tinyc compress` with every stage: distill into a student, prune with fine-tuning, QAT,
// quantize; stage order and keys of the --json report, the human table, usage errors.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>

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

const char* kStudent = R"({"name": "digits_student", "input": [64], "task": "classification",
  "preprocess": {"normalize": "scale", "factor": 0.0625}, "split": {"val": 0.0, "test": 0.2},
  "layers": [{"type": "dense", "units": 12, "activation": "relu"},
             {"type": "dense", "units": 10, "activation": "softmax"}],
  "train": {"loss": "cross_entropy", "optimizer": "adam", "lr": 0.003, "batch": 32, "epochs": 10}})";

}  // namespace

TEST_CASE("compress --student --prune --quantize --qat-epochs: all stages in order",
          "[e2e][compress]") {
  TempDir dir;
  const std::string teacher = dir.file("t.tinyc"), student = dir.file("student.json");
  write_text(student, kStudent);
  REQUIRE(run_tinyc("train " + kModels + "digits_mlp.json --data " + kDigits + " -o " + teacher +
                    " -q --epochs 20")
              .exit_code == 0);
  const std::string args = " --data " + kDigits + " --student " + student +
                           " --prune 0.5 --finetune-epochs 2 --quantize int8 --qat-epochs 2"
                           " --threads 2";
  const auto c = run_tinyc("compress " + teacher + args + " -o " + dir.file("s.tinyc") + " --json");
  INFO(c.err);
  REQUIRE(c.exit_code == 0);
  const json j = json::parse(c.out);
  REQUIRE(j["stages"].size() == 4);
  CHECK(j["stages"][0]["stage"] == "distill");
  CHECK(j["stages"][0]["temperature"].get<double>() == 1.0);  // the defaults (README)
  CHECK(j["stages"][0]["alpha"].get<double>() == Approx(0.5));
  CHECK(j["stages"][0]["epochs"] == 10);
  CHECK(j["stages"][1]["stage"] == "prune");
  CHECK(j["stages"][2]["stage"] == "qat");
  CHECK(j["stages"][3]["stage"] == "quantize");
  CHECK(j["stages"][3]["calibration_method"] == "qat");
  CHECK(j["stages"][3]["ptq_metrics"].contains("accuracy"));
  // The student (64-12-10) replaces the teacher (64-32-10).
  CHECK(j["before"]["params"] == 2410);
  CHECK(j["stages"][0]["params"] == 64 * 12 + 12 + 12 * 10 + 10);
  CHECK(j["after"]["params"] == 64 * 12 + 12 + 12 * 10 + 10);
  CHECK(j["after"]["nonzero_params"].get<int>() <= 22 + (64 * 12 + 12 * 10) / 2 + 1);
  CHECK(j["after"]["metrics"]["accuracy"].get<double>() >= 0.85);
  const json info = json::parse(run_tinyc("info " + dir.file("s.tinyc") + " --json").out);
  CHECK(info["quantization"] == "int8");
  // Deterministic, and the human report is a table with one row per stage.
  const auto h = run_tinyc("compress " + teacher + args + " -o " + dir.file("s2.tinyc"));
  REQUIRE(h.exit_code == 0);
  CHECK(read_text(dir.file("s2.tinyc")) == read_text(dir.file("s.tinyc")));
  for (const char* row : {"before ", "distill ", "prune ", "qat ", "quantize ", "after "}) {
    CHECK(h.out.find(std::string("\n") + row) != std::string::npos);
  }
  // An int8 model may teach a student.
  const auto from_int8 = run_tinyc("compress " + dir.file("s.tinyc") + " --data " + kDigits +
                                   " --student " + student + " -o " + dir.file("s3.tinyc") +
                                   " --distill-epochs 2 --json");
  INFO(from_int8.err);
  CHECK(from_int8.exit_code == 0);
  // Usage errors: --distill-from without --student, --qat-epochs without --quantize.
  CHECK(run_tinyc("compress " + teacher + " --data " + kDigits + " -o " + dir.file("x.tinyc") +
                  " --distill-from " + teacher + " --prune 0.5")
            .exit_code == 1);
  CHECK(run_tinyc("compress " + teacher + " --data " + kDigits + " -o " + dir.file("x.tinyc") +
                  " --prune 0.5 --qat-epochs 2")
            .exit_code == 1);
  // A student that does not fit the teacher: bad input.
  write_text(dir.file("bad.json"), std::string(kStudent).replace(std::string(kStudent).find("[64]"), 4, "[8]"));
  const auto bad = run_tinyc("compress " + teacher + " --data " + kDigits + " -o " +
                             dir.file("x.tinyc") + " --student " + dir.file("bad.json"));
  CHECK(bad.exit_code == 2);
  CHECK(!bad.err.empty());
  // --teacher-flip needs an image teacher: bad input, one line, no output file.
  const auto flat = run_tinyc("compress " + teacher + " --data " + kDigits + " -o " +
                              dir.file("f.tinyc") + " --student " + student + " --teacher-flip");
  CHECK(flat.exit_code == 2);
  CHECK(flat.err.find("image input") != std::string::npos);
  CHECK(std::count(flat.err.begin(), flat.err.end(), '\n') == 1);
  CHECK(!std::filesystem::exists(dir.file("f.tinyc")));
}
