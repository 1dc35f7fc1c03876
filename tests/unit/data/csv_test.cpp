#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "data_test_util.h"
#include "test_util.h"
#include "tinyc/data.h"
#include "tinyc/error.h"
#include "tinyc/fileio.h"

using tinyc::CsvOptions;
using tinyc::Dataset;
using tinyc::ExitCode;
using tinyc::SplitTag;
using tinyc_test::expect_error;
using tinyc_test::TempDir;
using tinyc_test::write_text;

namespace {

Dataset load_text(const TempDir& dir, const std::string& text, const CsvOptions& options = {}) {
  const std::string path = dir.file("d.csv");
  write_text(path, text);
  return tinyc::load_csv(path, options);
}

void expect_bad_csv(const std::string& text, const std::string& fragment,
                    const CsvOptions& options = {}) {
  TempDir dir;
  const std::string path = dir.file("d.csv");
  write_text(path, text);
  INFO("csv: " << text);
  expect_error([&] { tinyc::load_csv(path, options); }, ExitCode::kBadInput, path + fragment);
}

}  // namespace

TEST_CASE("csv without header: label is the last column", "[data][csv]") {
  TempDir dir;
  const Dataset d = load_text(dir, "1,2,3\n4,5.5,6\n");
  CHECK(d.rows == 2);
  CHECK(d.features == 2);
  CHECK(d.sample_shape == std::vector<int>{2});
  CHECK(d.x == std::vector<float>{1, 2, 4, 5.5f});
  CHECK(d.y == std::vector<float>{3, 6});
  CHECK(d.feature_names.empty());
  CHECK(d.label_name.empty());
  CHECK(d.source_line == std::vector<int64_t>{1, 2});
  CHECK(d.split == std::vector<SplitTag>{SplitTag::kNone, SplitTag::kNone});
  CHECK(d.source == dir.file("d.csv"));
  CHECK(d.where(1) == dir.file("d.csv") + " line 2");
}

TEST_CASE("csv header: label column choice", "[data][csv]") {
  TempDir dir;
  SECTION("label column anywhere") {
    const Dataset d = load_text(dir, "a,label,b\n1,2,3\n4,5,6\n");
    CHECK(d.label_name == "label");
    CHECK(d.feature_names == std::vector<std::string>{"a", "b"});
    CHECK(d.x == std::vector<float>{1, 3, 4, 6});
    CHECK(d.y == std::vector<float>{2, 5});
    CHECK(d.source_line == std::vector<int64_t>{2, 3});
  }
  SECTION("target when there is no label") {
    const Dataset d = load_text(dir, "target,a,b\n1,2,3\n");
    CHECK(d.label_name == "target");
    CHECK(d.y == std::vector<float>{1});
    CHECK(d.x == std::vector<float>{2, 3});
  }
  SECTION("label wins over target") {
    const Dataset d = load_text(dir, "target,label,a\n1,2,3\n");
    CHECK(d.label_name == "label");
    CHECK(d.feature_names == std::vector<std::string>{"target", "a"});
    CHECK(d.y == std::vector<float>{2});
  }
  SECTION("else the last column") {
    const Dataset d = load_text(dir, "x,y\n-1,-3\n0,-1\n");
    CHECK(d.label_name == "y");
    CHECK(d.feature_names == std::vector<std::string>{"x"});
    CHECK(d.y == std::vector<float>{-3, -1});
  }
  SECTION("--label chooses") {
    CsvOptions options;
    options.label = "a";
    const Dataset d = load_text(dir, "a,label,b\n1,2,3\n", options);
    CHECK(d.label_name == "a");
    CHECK(d.feature_names == std::vector<std::string>{"label", "b"});
    CHECK(d.y == std::vector<float>{1});
    CHECK(d.x == std::vector<float>{2, 3});
  }
  SECTION("quoted header names") {
    const Dataset d = load_text(dir, "\"a\",\"b\"\n1,2\n");
    CHECK(d.feature_names == std::vector<std::string>{"a"});
    CHECK(d.label_name == "b");
  }
}

TEST_CASE("csv --label errors", "[data][csv]") {
  CsvOptions options;
  options.label = "zz";
  expect_bad_csv("a,b,c\n1,2,3\n", ":1:1: no column named 'zz' for the label (columns: a, b, c)",
                 options);
  expect_bad_csv("1,2,3\n", ":1:1: --label 'zz' needs a header row", options);
  options.label = "split";
  expect_bad_csv("a,b,split\n1,2,train\n", ":1:5: the split column cannot be the label", options);
}

TEST_CASE("csv split column", "[data][csv]") {
  TempDir dir;
  const Dataset d = load_text(dir, "a,b,split\n1,2,train\n3,4,val\n5,6,test\n7,8,\n");
  CHECK(d.rows == 4);
  CHECK(d.label_name == "b");
  CHECK(d.feature_names == std::vector<std::string>{"a"});
  CHECK(d.x == std::vector<float>{1, 3, 5, 7});
  CHECK(d.y == std::vector<float>{2, 4, 6, 8});
  CHECK(d.split == std::vector<SplitTag>{SplitTag::kTrain, SplitTag::kVal, SplitTag::kTest,
                                         SplitTag::kNone});
  // The split column may sit anywhere; the label stays the last other column.
  const Dataset e = load_text(dir, "split,a,b\ntest,1,2\n");
  CHECK(e.label_name == "b");
  CHECK(e.split == std::vector<SplitTag>{SplitTag::kTest});
}

TEST_CASE("csv tolerates CRLF, spaces, a BOM and blank lines", "[data][csv]") {
  TempDir dir;
  const Dataset d =
      load_text(dir, "\xEF\xBB\xBF a , b \r\n\r\n 1 ,\t2 \r\n3,4\r\n\r\n  \n\n");
  CHECK(d.feature_names == std::vector<std::string>{"a"});
  CHECK(d.label_name == "b");
  CHECK(d.x == std::vector<float>{1, 3});
  CHECK(d.y == std::vector<float>{2, 4});
  CHECK(d.source_line == std::vector<int64_t>{3, 4});
  // No final newline.
  const Dataset e = load_text(dir, "1,2");
  CHECK(e.rows == 1);
}

TEST_CASE("csv number formats", "[data][csv]") {
  TempDir dir;
  const Dataset d = load_text(dir, "1.5e-3,-2.25,+3,.5,-0,1e-50,123456789,0.1\n");
  REQUIRE(d.features == 7);
  CHECK(d.x[0] == 1.5e-3f);
  CHECK(d.x[1] == -2.25f);
  CHECK(d.x[2] == 3.0f);
  CHECK(d.x[3] == 0.5f);
  CHECK(d.x[4] == 0.0f);
  CHECK(d.x[5] == 0.0f);  // underflows to zero: not an error
  CHECK(d.x[6] == 123456792.0f);  // nearest float
  CHECK(d.y[0] == 0.1f);
}

TEST_CASE("csv errors name file:line:column", "[data][csv]") {
  expect_bad_csv("", ":1:1: empty file");
  expect_bad_csv("\n  \n\r\n", ":1:1: empty file");
  expect_bad_csv("a,b,label\n", ":2:1: no data rows after the header");
  expect_bad_csv("a,b,label\n\n\n", ":2:1: no data rows after the header");
  expect_bad_csv("a,b,c\n1,2,3\n4,5\n", ":3:4: row has 2 columns, expected 3");
  expect_bad_csv("a,b,c\n1,2,3\n4,5,6,7,8\n", ":3:7: row has 5 columns, expected 3");
  expect_bad_csv("1,2\n1,2,3\n", ":2:5: row has 3 columns, expected 2 (every row needs as many "
                 "values as the first row)");
  expect_bad_csv("a,b,c\n1,2,3\n4,abc,6\n", ":3:3: non-numeric value 'abc' in column 2 'b'");
  expect_bad_csv("1,2,3\n4,5,x\n", ":2:5: non-numeric value 'x' in column 3");
  expect_bad_csv("a,b,c\n1,,3\n", ":2:3: missing value in column 2 'b'");
  expect_bad_csv("a,b,c\n1,2,3\n1, nan,3\n", ":3:4: NaN value 'nan' in column 2 'b'");
  expect_bad_csv("1,NaN,3\n", ":1:3: NaN value 'NaN' in column 2");
  expect_bad_csv("a,b\n1,-inf\n", ":2:3: infinite value '-inf' in column 2 'b'");
  expect_bad_csv("a,b\n1,Infinity\n", ":2:3: infinite value 'Infinity'");
  expect_bad_csv("a,b\n1e999,1\n", ":2:1: infinite value '1e999'");
  expect_bad_csv("a,b,split\n1,2,train\n3,4,tset\n", ":3:5: split value 'tset' is not train, "
                 "val or test");
  expect_bad_csv("a\n1\n", ":1:1: found 1 column(s) but no feature column besides the label");
  expect_bad_csv("a;b\n1;2\n", ":1:1: found 1 column(s) but no feature column besides the "
                 "label (tinyc reads comma-separated values)");
  expect_bad_csv("split\ntrain\n", ":1:1: the header has no label column");
  expect_bad_csv("a,label,label\n1,2,3\n", ":1:9: column name 'label' appears twice");
}

TEST_CASE("csv missing file", "[data][csv]") {
  TempDir dir;
  const std::string path = dir.file("nope.csv");
  expect_error([&] { tinyc::load_csv(path); }, ExitCode::kBadInput, path);
  expect_error([&] { tinyc::load_data(path); }, ExitCode::kBadInput, path);
}

TEST_CASE("csv gzip", "[data][csv]") {
  TempDir dir;
  const std::string path = dir.file("d.csv.gz");
  tinyc_test::write_bytes(path, "a,b,label\n1,2,0\n3,4,1\n", true);
  const Dataset d = tinyc::load_data(path);
  CHECK(d.rows == 2);
  CHECK(d.x == std::vector<float>{1, 2, 3, 4});
  CHECK(d.y == std::vector<float>{0, 1});
  // Error positions are those of the inflated text.
  tinyc_test::write_bytes(path, "a,b,label\n1,2,0\n3,x,1\n", true);
  expect_error([&] { tinyc::load_csv(path); }, ExitCode::kBadInput, path + ":3:3: non-numeric");
}

TEST_CASE("csv write round-trips", "[data][csv]") {
  TempDir dir;
  Dataset d;
  d.source = "mem";
  d.sample_shape = {3};
  d.features = 3;
  d.rows = 3;
  d.x = {0.1f, -2.5e-8f, 3.4e38f, 1, 2, 3, 1.0f / 3.0f, 7e-45f, -0.0f};
  d.y = {0, 1, 2};
  d.split = {SplitTag::kTrain, SplitTag::kNone, SplitTag::kTest};
  const std::string path = dir.file("out.csv");

  SECTION("generic names, split column") {
    tinyc::write_csv(d, path);
    CHECK(tinyc_test::read_text(path).rfind("x0,x1,x2,label,split\n", 0) == 0);
    const Dataset e = tinyc::load_csv(path);
    CHECK(std::memcmp(e.x.data(), d.x.data(), d.x.size() * sizeof(float)) == 0);
    CHECK(e.y == d.y);
    CHECK(e.split == d.split);
    CHECK(e.fingerprint() == d.fingerprint());
    CHECK(tinyc_test::count_entries(dir.path()) == 1);  // no temporary left behind
  }
  SECTION("own names when they read back the same") {
    d.feature_names = {"a", "b", "c"};
    d.label_name = "y";
    d.split.assign(3, SplitTag::kNone);
    tinyc::write_csv(d, path);
    CHECK(tinyc_test::read_text(path).rfind("a,b,c,y\n", 0) == 0);
    const Dataset e = tinyc::load_csv(path);
    CHECK(e.feature_names == d.feature_names);
    CHECK(e.label_name == "y");
    CHECK(e.fingerprint() == d.fingerprint());
  }
  SECTION("names that would read back differently fall back to x0..") {
    d.feature_names = {"a", "label", "c"};
    d.label_name = "y";
    tinyc::write_csv(d, path);
    CHECK(tinyc_test::read_text(path).rfind("x0,x1,x2,label,split\n", 0) == 0);
    d.feature_names = {"1", "2", "3"};
    d.label_name = "4";
    tinyc::write_csv(d, path);
    CHECK(tinyc::load_csv(path).fingerprint() == d.fingerprint());
  }
}

TEST_CASE("csv sklearn digits (raw, no header)", "[data][csv][real]") {
  const std::string path = "/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz";
  if (!tinyc::file_exists(path)) {
    WARN("skipped: " << path << " is not installed");
    return;
  }
  const Dataset d = tinyc::load_csv(path);
  CHECK(d.rows == 1797);
  CHECK(d.features == 64);
  CHECK(d.feature_names.empty());
  CHECK(d.x[2] == 5.0f);   // first row: 0,0,5,13,9,1,...
  CHECK(d.x[3] == 13.0f);
  CHECK(d.y[0] == 0.0f);
  CHECK(d.y[1] == 1.0f);
  for (const float y : d.y) CHECK((y >= 0 && y <= 9 && y == static_cast<int>(y)));
}

TEST_CASE("csv shared digits task (header, split column)", "[data][csv][real]") {
  const std::string path = TINYC_SHARED_DIR "/data/tasks/digits.csv";
  if (!tinyc::file_exists(path)) {
    WARN("skipped: " << path << " is missing");
    return;
  }
  const Dataset d = tinyc::load_data(path);
  CHECK(d.rows == 1797);
  CHECK(d.features == 64);
  CHECK(d.label_name == "label");
  REQUIRE(d.feature_names.size() == 64);
  CHECK(d.feature_names.front() == "p0");
  CHECK(d.feature_names.back() == "p63");
  int64_t train = 0, test = 0;
  for (const SplitTag t : d.split) {
    train += t == SplitTag::kTrain;
    test += t == SplitTag::kTest;
  }
  CHECK(train == 1437);
  CHECK(test == 360);
  const tinyc::SplitIndices s = tinyc::make_split(d, {});
  CHECK(s.train.size() == 1437);
  CHECK(s.test.size() == 360);
  CHECK(s.val.empty());
}

// Hidden (run with "[perf]"): a Fashion-MNIST-sized CSV, 60000 x 785 integer cells.
TEST_CASE("csv large file load time", "[.][perf]") {
  TempDir dir;
  const std::string path = dir.file("big.csv");
  std::string text;
  text.reserve(200u << 20);
  for (int r = 0; r < 60000; ++r) {
    for (int c = 0; c < 784; ++c) {
      text += std::to_string((r * 31 + c * 7) % 256);
      text += ',';
    }
    text += std::to_string(r % 10);
    text += '\n';
  }
  write_text(path, text);
  const auto start = std::chrono::steady_clock::now();
  const Dataset d = tinyc::load_csv(path);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  WARN("60000x785 CSV (" << text.size() / 1e6 << " MB) loaded in " << seconds << " s");
  CHECK(d.rows == 60000);
  CHECK(d.features == 784);
}
