#include <algorithm>
#include <map>
#include <numeric>
#include <vector>

#include <catch2/catch.hpp>

#include "data_test_util.h"
#include "tinyc/data.h"
#include "tinyc/error.h"

using tinyc::Dataset;
using tinyc::ExitCode;
using tinyc::SplitIndices;
using tinyc::SplitSpec;
using tinyc::SplitTag;
using tinyc_test::labelled_dataset;

namespace {

// 50 rows of class 0, 100 of class 1, 30 of class 2, interleaved.
Dataset three_classes() {
  std::vector<float> labels;
  for (int i = 0; i < 100; ++i) {
    if (i < 50) labels.push_back(0);
    labels.push_back(1);
    if (i < 30) labels.push_back(2);
  }
  return labelled_dataset(labels);
}

std::map<float, int64_t> count_by_label(const Dataset& d, const std::vector<int64_t>& rows) {
  std::map<float, int64_t> counts;
  for (const int64_t r : rows) ++counts[d.y[static_cast<size_t>(r)]];
  return counts;
}

// Every row appears in exactly one split, and each split is ascending.
void check_partition(const SplitIndices& s, int64_t rows) {
  for (const auto* part : {&s.train, &s.val, &s.test}) {
    CHECK(std::is_sorted(part->begin(), part->end()));
  }
  std::vector<int64_t> all = s.train;
  all.insert(all.end(), s.val.begin(), s.val.end());
  all.insert(all.end(), s.test.begin(), s.test.end());
  std::sort(all.begin(), all.end());
  std::vector<int64_t> expected(static_cast<size_t>(rows));
  std::iota(expected.begin(), expected.end(), 0);
  CHECK(all == expected);
}

}  // namespace

TEST_CASE("split is stratified by class", "[data][split]") {
  const Dataset d = three_classes();
  SplitSpec spec;
  spec.val = 0.1;
  spec.test = 0.2;
  spec.seed = 7;
  const SplitIndices s = tinyc::make_split(d, spec);
  check_partition(s, d.rows);
  CHECK(count_by_label(d, s.test) == std::map<float, int64_t>{{0, 10}, {1, 20}, {2, 6}});
  CHECK(count_by_label(d, s.val) == std::map<float, int64_t>{{0, 5}, {1, 10}, {2, 3}});
  CHECK(count_by_label(d, s.train) == std::map<float, int64_t>{{0, 35}, {1, 70}, {2, 21}});
}

TEST_CASE("split is deterministic for a seed", "[data][split]") {
  const Dataset d = three_classes();
  SplitSpec spec;
  spec.seed = 3;
  for (const bool stratify : {true, false}) {
    spec.stratify = stratify;
    const SplitIndices a = tinyc::make_split(d, spec);
    const SplitIndices b = tinyc::make_split(d, spec);
    CHECK(a.train == b.train);
    CHECK(a.test == b.test);
    spec.seed = 4;
    const SplitIndices c = tinyc::make_split(d, spec);
    CHECK(c.test != a.test);
    CHECK(c.test.size() == a.test.size());
    spec.seed = 3;
  }
}

TEST_CASE("unstratified split takes rounded fractions of all rows", "[data][split]") {
  const Dataset d = labelled_dataset(std::vector<float>(37, 0.5f));
  SplitSpec spec;
  spec.stratify = false;
  spec.val = 0.25;
  spec.test = 0.2;
  const SplitIndices s = tinyc::make_split(d, spec);
  check_partition(s, d.rows);
  CHECK(s.test.size() == 7);  // round(7.4)
  CHECK(s.val.size() == 9);   // round(9.25)
  CHECK(s.train.size() == 21);
  // Defaults: test 0.2, no val.
  const SplitIndices t = tinyc::make_split(d, {});
  CHECK(t.test.size() == 7);
  CHECK(t.val.empty());
  CHECK(t.train.size() == 30);
}

TEST_CASE("split tags fixed by the data", "[data][split]") {
  SECTION("every row tagged: fractions ignored") {
    Dataset d = labelled_dataset({0, 1, 0, 1, 0});
    d.split = {SplitTag::kTrain, SplitTag::kTest, SplitTag::kVal, SplitTag::kTrain,
               SplitTag::kTest};
    SplitSpec spec;
    spec.val = 0.5;
    spec.test = 0.4;
    const SplitIndices s = tinyc::make_split(d, spec);
    CHECK(s.train == std::vector<int64_t>{0, 3});
    CHECK(s.val == std::vector<int64_t>{2});
    CHECK(s.test == std::vector<int64_t>{1, 4});
  }
  SECTION("IDX style: tagged test rows, untagged rows divided into train/val") {
    std::vector<float> labels;
    for (int i = 0; i < 120; ++i) labels.push_back(static_cast<float>(i % 2));
    Dataset d = labelled_dataset(labels);
    for (size_t r = 100; r < 120; ++r) d.split[r] = SplitTag::kTest;
    SplitSpec spec;
    spec.val = 0.1;
    spec.test = 0.3;  // ignored: the data has its own test rows
    const SplitIndices s = tinyc::make_split(d, spec);
    check_partition(s, d.rows);
    std::vector<int64_t> tagged(20);
    std::iota(tagged.begin(), tagged.end(), 100);
    CHECK(s.test == tagged);
    CHECK(count_by_label(d, s.val) == std::map<float, int64_t>{{0, 5}, {1, 5}});
    CHECK(s.train.size() == 90);
    for (const int64_t r : s.val) CHECK(r < 100);
  }
  SECTION("untagged rows when only train/val tags exist get test too") {
    Dataset d = labelled_dataset(std::vector<float>(12, 1.0f));
    d.split[0] = SplitTag::kVal;
    d.split[1] = SplitTag::kTrain;
    SplitSpec spec;
    spec.test = 0.5;
    const SplitIndices s = tinyc::make_split(d, spec);
    check_partition(s, d.rows);
    CHECK(s.test.size() == 5);
    CHECK(s.val == std::vector<int64_t>{0});
  }
  SECTION("an empty split vector means untagged") {
    Dataset d = labelled_dataset(std::vector<float>(10, 1.0f));
    d.split.clear();
    const SplitIndices s = tinyc::make_split(d, {});
    check_partition(s, d.rows);
    CHECK(s.test.size() == 2);
  }
}

TEST_CASE("split rejects impossible fractions", "[data][split]") {
  const Dataset d = three_classes();
  SplitSpec spec;
  spec.val = 0.5;
  spec.test = 0.5;
  tinyc_test::expect_error([&] { tinyc::make_split(d, spec); }, ExitCode::kUsage,
                           "split fractions val 0.5 and test 0.5");
  spec.val = -0.1;
  spec.test = 0.2;
  tinyc_test::expect_error([&] { tinyc::make_split(d, spec); }, ExitCode::kUsage,
                           "must be >= 0");
}

TEST_CASE("fingerprint, where and gather_rows", "[data][split]") {
  Dataset d = labelled_dataset({0, 1, 2});
  const uint64_t f = d.fingerprint();
  CHECK(f == labelled_dataset({0, 1, 2}).fingerprint());
  d.x[3] = 9.0f;
  CHECK(d.fingerprint() != f);
  d = labelled_dataset({0, 1, 2});
  d.y[2] = 5.0f;
  CHECK(d.fingerprint() != f);
  d = labelled_dataset({0, 1, 2});
  d.sample_shape = {1, 2};
  CHECK(d.fingerprint() != f);

  CHECK(d.where(2) == "mem row 2");
  d.source_line = {2, 3, 5};
  CHECK(d.where(2) == "mem line 5");

  std::vector<float> x, y;
  tinyc::gather_rows(d, {2, 0}, &x, &y);
  CHECK(x == std::vector<float>{2, 2, 0, 0});
  CHECK(y == std::vector<float>{2, 0});
  tinyc::gather_rows(d, {}, &x, nullptr);
  CHECK(x.empty());
}
