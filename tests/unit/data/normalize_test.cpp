#include <cmath>
#include <vector>

#include <catch2/catch.hpp>

#include "data_test_util.h"
#include "tinyc/data.h"
#include "tinyc/error.h"
#include "tinyc/preprocess.h"

using tinyc::Dataset;
using tinyc::NormKind;
using tinyc::Preprocess;

namespace {

// Three features per row: a varying column, a constant column (5) and a large-offset column.
// Row 4 is an outlier that the fits below leave out.
Dataset columns() {
  Dataset d;
  d.source = "mem";
  d.sample_shape = {3};
  d.features = 3;
  d.rows = 5;
  d.x = {1, 5, 1e6f + 0, 2, 5, 1e6f + 1, 3, 5, 1e6f + 2, 4, 5, 1e6f + 3, 1000, 7, -50};
  d.y.assign(5, 0.0f);
  d.split.assign(5, tinyc::SplitTag::kNone);
  return d;
}

const std::vector<int64_t> kFitRows = {0, 1, 2, 3};

}  // namespace

TEST_CASE("standard normalization fits mean and population std", "[data][normalize]") {
  const Dataset d = columns();
  const Preprocess p = tinyc::fit_preprocess(d, kFitRows, NormKind::kStandard);
  CHECK(p.kind == NormKind::kStandard);
  REQUIRE(p.offset.size() == 3);
  REQUIRE(p.scale.size() == 3);
  const double sd = std::sqrt(1.25);
  CHECK(p.offset[0] == Approx(2.5));
  CHECK(p.scale[0] == Approx(1.0 / sd));
  CHECK(p.offset[1] == 5.0f);
  CHECK(p.scale[1] == 1.0f);  // constant column: no division by zero
  CHECK(p.offset[2] == Approx(1e6 + 1.5));
  CHECK(p.scale[2] == Approx(1.0 / sd).epsilon(1e-6));

  std::vector<float> x(d.x.begin(), d.x.begin() + 12);
  p.apply(x.data(), 4, 3);
  double mean = 0, sq = 0;
  for (int r = 0; r < 4; ++r) mean += x[static_cast<size_t>(r * 3)];
  for (int r = 0; r < 4; ++r) sq += x[static_cast<size_t>(r * 3)] * x[static_cast<size_t>(r * 3)];
  CHECK(mean == Approx(0.0).margin(1e-6));
  CHECK(sq / 4 == Approx(1.0));
  for (int r = 0; r < 4; ++r) CHECK(x[static_cast<size_t>(r * 3 + 1)] == 0.0f);
}

TEST_CASE("minmax normalization maps the train rows to [0, 1]", "[data][normalize]") {
  const Dataset d = columns();
  const Preprocess p = tinyc::fit_preprocess(d, kFitRows, NormKind::kMinMax);
  CHECK(p.kind == NormKind::kMinMax);
  REQUIRE(p.offset.size() == 3);
  CHECK(p.offset[0] == 1.0f);
  CHECK(p.scale[0] == Approx(1.0 / 3.0));
  // Constant column: left unscaled.
  CHECK(p.offset[1] == 0.0f);
  CHECK(p.scale[1] == 1.0f);
  CHECK(p.offset[2] == 1e6f);
  CHECK(p.scale[2] == Approx(1.0 / 3.0));
  std::vector<float> x(d.x.begin(), d.x.begin() + 12);
  p.apply(x.data(), 4, 3);
  CHECK(x[0] == 0.0f);
  CHECK(x[9] == Approx(1.0));
  CHECK(x[1] == 5.0f);
}

TEST_CASE("scale and none normalization", "[data][normalize]") {
  const Dataset d = columns();
  const Preprocess s = tinyc::fit_preprocess(d, kFitRows, NormKind::kScale, 1.0f / 255.0f);
  CHECK(s.kind == NormKind::kScale);
  CHECK(s.offset.empty());
  CHECK(s.scale == std::vector<float>{1.0f / 255.0f});
  const Preprocess n = tinyc::fit_preprocess(d, kFitRows, NormKind::kNone);
  CHECK(n.kind == NormKind::kNone);
  CHECK(n.is_identity());
  // Neither looks at the rows.
  CHECK(tinyc::fit_preprocess(d, {}, NormKind::kNone).is_identity());
  CHECK(tinyc::fit_preprocess(d, {}, NormKind::kScale, 2.0f).scale == std::vector<float>{2.0f});
}

TEST_CASE("normalization errors", "[data][normalize]") {
  const Dataset d = columns();
  tinyc_test::expect_error([&] { tinyc::fit_preprocess(d, {}, NormKind::kStandard); },
                           tinyc::ExitCode::kBadInput, "no training rows");
  tinyc_test::expect_error([&] { tinyc::fit_preprocess(d, {}, NormKind::kMinMax); },
                           tinyc::ExitCode::kBadInput, "no training rows");
  tinyc_test::expect_error([&] { tinyc::fit_preprocess(d, kFitRows, NormKind::kScale, 0.0f); },
                           tinyc::ExitCode::kBadInput, "non-zero factor");
}
