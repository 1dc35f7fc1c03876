// `tinyc report` and `--report` on train/compress/emit: the SVG content of each section, the
// same bytes twice, and the fashion_cnn report rendered in headless Chromium (no console
// messages, a screenshot that shows the charts).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>

#include <fmt/format.h>

#include "png_check.h"
#include "test_util.h"
#include "tinyc/data.h"

using tinyc_test::read_text;
using tinyc_test::run_tinyc;
using tinyc_test::TempDir;

namespace {

const std::string kFashion = "/usr/share/datasets/fashion-mnist";

int count(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
  return n;
}

// A CSV of Fashion-MNIST: `train` training images tagged train/val (every tenth is val) and
// `test` t10k images tagged test, so the report's curves have validation points.
void fashion_subset_csv(const std::string& path, int64_t train, int64_t test) {
  const tinyc::Dataset d = tinyc::load_idx_dir(kFashion);
  std::string csv;
  for (int i = 0; i < d.features; ++i) csv += fmt::format("p{},", i);
  csv += "label,split\n";
  int64_t want_train = train, want_test = test, taken = 0;
  for (int64_t r = 0; r < d.rows; ++r) {
    const bool is_test = d.split[static_cast<size_t>(r)] == tinyc::SplitTag::kTest;
    int64_t& want = is_test ? want_test : want_train;
    if (want == 0) continue;
    --want;
    for (int64_t i = 0; i < d.features; ++i) {
      csv += fmt::format("{},", static_cast<int>(d.x[static_cast<size_t>(r * d.features + i)]));
    }
    const char* tag = is_test ? "test" : (taken++ % 10 == 9 ? "val" : "train");
    csv += fmt::format("{},{}\n", static_cast<int>(d.y[static_cast<size_t>(r)]), tag);
  }
  tinyc_test::write_text(path, csv);
}

// Every "true T, predicted P: N" cell of the confusion matrix, summed.
int64_t confusion_total(const std::string& html, int* cells) {
  const std::regex cell("<title>true [^,<]+, predicted [^:<]+: ([0-9]+)</title>");
  int64_t total = 0;
  *cells = 0;
  for (auto it = std::sregex_iterator(html.begin(), html.end(), cell); it != std::sregex_iterator(); ++it) {
    total += std::stoll((*it)[1]);
    ++*cells;
  }
  return total;
}

void check_self_contained(const std::string& html) {
  CHECK(html.rfind("<!DOCTYPE html>", 0) == 0);
  CHECK(html.find("<script") == std::string::npos);
  CHECK(html.find("http://") == html.find("http://www.w3.org/2000/svg"));  // namespaces only
  CHECK(html.find("https://") == std::string::npos);
  CHECK(html.find("src=") == std::string::npos);
  CHECK(html.find("NaN") == std::string::npos);
  for (const char* bad : {">inf<", "\"inf", "-inf", ">nan"}) CHECK(html.find(bad) == std::string::npos);
}

}  // namespace

TEST_CASE("report: a regression model shows curves, scatter, layers and arena", "[e2e][report]") {
  TempDir dir;
  const std::string csv = dir.file("sine.csv"), model = dir.file("sine.tinyc");
  REQUIRE(run_tinyc("data sine -o " + csv + " --samples 400").exit_code == 0);
  const auto t = run_tinyc("train " TINYC_SOURCE_DIR "/models/sine.json --data " + csv + " -o " +
                           model + " --epochs 5 --val-split 0.1 -q --report " + dir.file("train.html"));
  INFO(t.err);
  REQUIRE(t.exit_code == 0);
  const std::string html = read_text(dir.file("train.html"));
  check_self_contained(html);
  // Loss and metric charts (train + val lines), scatter, three bar charts, arena timeline.
  CHECK(count(html, "<svg ") == 7);
  CHECK(count(html, "class=\"series\"") == 4);
  CHECK(html.find("Predicted vs true") != std::string::npos);
  CHECK(count(html, "class=\"point\"") == 80);  // the test split: 20% of 400 rows
  CHECK(count(html, "class=\"bar\"") == 3 * 3);  // sine.json: three dense layers
  CHECK(count(html, "class=\"buffer\"") >= 1);
  CHECK(html.find("Compression") == std::string::npos);

  // `tinyc report` on the saved model with the same data gives the same page but the footer.
  const std::string out = dir.file("r.html");
  const auto r = run_tinyc("report " + model + " --data " + csv + " -o " + out);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const std::string again = read_text(out);
  CHECK(again.substr(0, again.find("Written by")) == html.substr(0, html.find("Written by")));
  REQUIRE(run_tinyc("report " + model + " --data " + csv + " -o " + dir.file("r2.html")).exit_code == 0);
  CHECK(read_text(dir.file("r2.html")) == again);

  // Without data: the evaluation section says how to get it; bad inputs exit 2 or 1, no file.
  REQUIRE(run_tinyc("report " + model + " -o " + dir.file("nodata.html")).exit_code == 0);
  CHECK(read_text(dir.file("nodata.html")).find("No data given") != std::string::npos);
  const auto bad = run_tinyc("report " + csv + " -o " + dir.file("bad.html"));
  CHECK(bad.exit_code == 2);
  CHECK(!std::filesystem::exists(dir.file("bad.html")));
  CHECK(run_tinyc("report " + model + " --target nosuch -o " + dir.file("bad.html")).exit_code == 4);
  CHECK(!std::filesystem::exists(dir.file("bad.html")));
  // A classifier given data whose labels are not its classes: exit 2 naming the line.
  const std::string cls = dir.file("cls.tinyc"), labels = dir.file("labels.csv");
  tinyc_test::write_text(labels, "a,b,label\n0,1,0\n1,0,1\n1,1,0\n0,0,1\n");
  tinyc_test::write_text(dir.file("cls.json"), R"({"name": "cls", "input": [2], "task": "classification",
    "split": {"val": 0.0, "test": 0.0}, "layers": [{"type": "dense", "units": 2}],
    "train": {"loss": "cross_entropy", "optimizer": "sgd", "lr": 0.1, "batch": 2, "epochs": 1}})");
  REQUIRE(run_tinyc("train " + dir.file("cls.json") + " --data " + labels + " -o " + cls + " -q").exit_code == 0);
  tinyc_test::write_text(labels, "a,b,label\n0,1,0\n1,0,7\n");
  const auto wrong = run_tinyc("report " + cls + " --data " + labels + " -o " + dir.file("bad.html"));
  CHECK(wrong.exit_code == 2);
  CHECK(wrong.err.find("line 3") != std::string::npos);
  CHECK(!std::filesystem::exists(dir.file("bad.html")));
}

TEST_CASE("report: fashion_cnn renders in headless Chromium with every chart", "[e2e][report][browser]") {
  if (!std::filesystem::exists(kFashion)) {
    WARN("skipped: no Fashion-MNIST at " << kFashion);
    return;
  }
  TempDir dir;
  const std::string csv = dir.file("fashion.csv"), model = dir.file("fashion.tinyc"),
                    q = dir.file("fashion_int8.tinyc"), html_path = dir.file("report.html");
  fashion_subset_csv(csv, 1000, 300);
  const auto t = run_tinyc("train " TINYC_SOURCE_DIR "/models/fashion_cnn.json --data " + csv +
                           " -o " + model + " --epochs 2 --threads 2 -q");
  INFO(t.err);
  REQUIRE(t.exit_code == 0);
  const auto c = run_tinyc("compress " + model + " --data " + csv + " -o " + q +
                           " --quantize int8 --calibration 200 --report " + html_path);
  INFO(c.err);
  REQUIRE(c.exit_code == 0);
  const std::string html = read_text(html_path);
  check_self_contained(html);
  // Curves (train and val), confusion matrix, three layer bars, arena, compression.
  CHECK(count(html, "<svg ") == 8);
  CHECK(count(html, "class=\"series\"") == 4);
  int cells = 0;
  CHECK(confusion_total(html, &cells) == 300);  // the 300 test rows
  CHECK(cells == 100);
  CHECK(html.find("Ankle boot") != std::string::npos);
  CHECK(count(html, "class=\"bar\"") == 3 * 7 + 6);  // seven ops; 3 before/after pairs
  CHECK(count(html, "class=\"buffer\"") >= 2);
  CHECK(html.find("Compression: quantize int8") != std::string::npos);
  // The emit target changes the arena section only.
  REQUIRE(run_tinyc("report " + q + " --data " + csv + " --target cortex-m4 -o " +
                    dir.file("m4.html")).exit_code == 0);
  CHECK(read_text(dir.file("m4.html")).find("Arena (cortex-m4)") != std::string::npos);

  if (std::system("command -v chromium >/dev/null 2>&1") != 0) {
    WARN("skipped the browser check: chromium is not installed (scripts/install-deps.sh installs it)");
    return;
  }
  // --enable-logging=stderr --v=0 prints every console message as "...:CONSOLE...": the page
  // has no script, so any such line is an error (an invalid SVG attribute, a blocked load).
  const std::string png = dir.file("shot.png"), log = dir.file("chromium.log");
  const std::string cmd = fmt::format(
      "timeout 120 chromium --headless --no-sandbox --disable-gpu --no-first-run "
      "--user-data-dir={} --enable-logging=stderr --v=0 --window-size=1100,4000 "
      "--screenshot={} file://{} >{} 2>&1", dir.file("profile"), png, html_path, log);
  INFO(cmd);
  const int rc = std::system(cmd.c_str());
  const std::string console = read_text(log);
  INFO("chromium log:\n" << console);
  REQUIRE(rc == 0);
  CHECK(console.find(":CONSOLE") == std::string::npos);
  const tinyc_test::PngStats s = tinyc_test::png_stats(png);
  INFO(s.error);
  REQUIRE(s.error.empty());
  CHECK(s.width == 1100);
  CHECK(s.height == 4000);
  // Charts: a good share of non-white pixels, many colours, and the palette's blue and orange.
  CHECK(s.non_white > s.width * s.height / 50);
  CHECK(s.colors > 50);
  CHECK(s.has_blue);
  CHECK(s.has_orange);
}
