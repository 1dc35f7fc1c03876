#include <cmath>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "data_test_util.h"
#include "test_util.h"
#include "tinyc/data.h"
#include "tinyc/error.h"

using tinyc::Dataset;
using tinyc::ExitCode;
using tinyc::GenerateOptions;

TEST_CASE("generator names", "[data][generators]") {
  CHECK(tinyc::generator_names() == std::vector<std::string>{"sine", "linear", "kws"});
}

TEST_CASE("linear generator: exact defaults", "[data][generators]") {
  const Dataset d = tinyc::generate_data("linear", {});
  CHECK(d.rows == 6);
  CHECK(d.features == 1);
  CHECK(d.sample_shape == std::vector<int>{1});
  CHECK(d.x == std::vector<float>{-1, 0, 1, 2, 3, 4});
  CHECK(d.y == std::vector<float>{-3, -1, 1, 3, 5, 7});
  CHECK(d.feature_names == std::vector<std::string>{"x"});
  CHECK(d.label_name == "y");
  CHECK(d.split == std::vector<tinyc::SplitTag>(6, tinyc::SplitTag::kNone));

  GenerateOptions options;
  options.samples = 3;
  options.noise = 0.5;
  options.seed = 11;
  const Dataset n = tinyc::generate_data("linear", options);
  CHECK(n.x == std::vector<float>{-1, 0, 1});
  CHECK(n.y != std::vector<float>{-3, -1, 1});
  CHECK(n.y == tinyc::generate_data("linear", options).y);
}

TEST_CASE("sine generator", "[data][generators]") {
  const Dataset d = tinyc::generate_data("sine", {});
  REQUIRE(d.rows == 1000);
  REQUIRE(d.x.size() == 1000);
  double sq = 0;
  for (size_t i = 0; i < 1000; ++i) {
    CHECK((d.x[i] >= 0.0f && d.x[i] <= 6.2831855f));
    const double e = d.y[i] - std::sin(static_cast<double>(d.x[i]));
    sq += e * e;
  }
  CHECK(std::sqrt(sq / 1000) == Approx(0.1).epsilon(0.15));  // default noise 0.1

  GenerateOptions options;
  options.noise = 0.0;
  options.samples = 50;
  options.seed = 5;
  const Dataset clean = tinyc::generate_data("sine", options);
  for (size_t i = 0; i < 50; ++i) {
    CHECK(clean.y[i] == static_cast<float>(std::sin(static_cast<double>(clean.x[i]))));
  }
  // Same seed, same data; the noise level does not move the x values.
  CHECK(tinyc::generate_data("sine", options).y == clean.y);
  options.noise = 0.3;
  CHECK(tinyc::generate_data("sine", options).x == clean.x);
  options.seed = 6;
  CHECK(tinyc::generate_data("sine", options).x != clean.x);
}

TEST_CASE("generator errors are usage errors", "[data][generators]") {
  tinyc_test::expect_error([] { tinyc::generate_data("cosine", {}); }, ExitCode::kUsage,
                           "unknown generator 'cosine' (available: sine, linear, kws)");
  GenerateOptions options;
  for (const int64_t samples : {int64_t{0}, int64_t{-5}}) {
    options.samples = samples;
    tinyc_test::expect_error([&] { tinyc::generate_data("sine", options); }, ExitCode::kUsage,
                             "--samples " + std::to_string(samples) + " is out of range");
  }
  options.samples = 10;
  options.noise = -0.5;
  tinyc_test::expect_error([&] { tinyc::generate_data("linear", options); }, ExitCode::kUsage,
                           "--noise -0.5 must be");
}

TEST_CASE("generated data round-trips through CSV", "[data][generators][csv]") {
  tinyc_test::TempDir dir;
  const Dataset d = tinyc::generate_data("sine", {});
  const std::string path = dir.file("sine.csv");
  tinyc::write_csv(d, path);
  CHECK(tinyc_test::read_text(path).rfind("x,y\n", 0) == 0);
  const Dataset e = tinyc::load_csv(path);
  CHECK(e.label_name == "y");
  CHECK(e.feature_names == std::vector<std::string>{"x"});
  CHECK(e.x == d.x);
  CHECK(e.y == d.y);
  CHECK(e.fingerprint() == d.fingerprint());
}

TEST_CASE("kws generator: seeded 49x10x1 spectrograms of 4 balanced classes", "[data][generators]") {
  GenerateOptions options;
  options.samples = 200;
  options.seed = 3;
  const Dataset d = tinyc::generate_data("kws", options);
  CHECK(d.rows == 200);
  CHECK(d.features == 490);
  CHECK(d.sample_shape == std::vector<int>{49, 10, 1});
  REQUIRE(d.x.size() == 200 * 490);
  for (int64_t i = 0; i < d.rows; ++i) CHECK(d.y[static_cast<size_t>(i)] == static_cast<float>(i % 4));
  CHECK(tinyc::generate_data("kws", options).x == d.x);
  options.seed = 4;
  CHECK(tinyc::generate_data("kws", options).x != d.x);
  // Without noise, silence is all zeros and every word has energy.
  options.noise = 0.0;
  const Dataset clean = tinyc::generate_data("kws", options);
  for (int64_t i = 0; i < 8; ++i) {
    double energy = 0.0;
    for (int64_t k = 0; k < 490; ++k) energy += std::fabs(clean.x[static_cast<size_t>(i * 490 + k)]);
    if (i % 4 == 0) {
      CHECK(energy == 0.0);
    } else {
      CHECK(energy > 10.0);
    }
  }
}
