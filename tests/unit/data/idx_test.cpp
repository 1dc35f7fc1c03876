#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "data_test_util.h"
#include "test_util.h"
#include "tinyc/data.h"
#include "tinyc/error.h"
#include "tinyc/fileio.h"

using tinyc::Dataset;
using tinyc::ExitCode;
using tinyc::SplitTag;
using tinyc_test::expect_error;
using tinyc_test::idx_images;
using tinyc_test::idx_labels;
using tinyc_test::TempDir;
using tinyc_test::write_bytes;

namespace {

// Writes a train pair of 3 images and (optionally) a t10k pair of 2 images, 2x3 pixels.
void write_idx_dir(const TempDir& dir, bool gz, bool with_test = true) {
  const std::string ext = gz ? ".gz" : "";
  write_bytes(dir.file("train-images-idx3-ubyte" + ext), idx_images(3, 2, 3), gz);
  write_bytes(dir.file("train-labels-idx1-ubyte" + ext), idx_labels(3), gz);
  if (with_test) {
    write_bytes(dir.file("t10k-images-idx3-ubyte" + ext), idx_images(2, 2, 3), gz);
    write_bytes(dir.file("t10k-labels-idx1-ubyte" + ext), idx_labels(2), gz);
  }
}

void check_small_idx(const Dataset& d, bool with_test) {
  const int64_t rows = with_test ? 5 : 3;
  CHECK(d.rows == rows);
  CHECK(d.features == 6);
  CHECK(d.sample_shape == std::vector<int>{2, 3});
  REQUIRE(d.x.size() == static_cast<size_t>(rows * 6));
  REQUIRE(d.y.size() == static_cast<size_t>(rows));
  REQUIRE(d.split.size() == static_cast<size_t>(rows));
  // Train image 1, pixel 4: (1 * 7 + 4) % 256.
  CHECK(d.x[1 * 6 + 4] == 11.0f);
  CHECK(d.y == (with_test ? std::vector<float>{0, 1, 2, 0, 1} : std::vector<float>{0, 1, 2}));
  for (int64_t r = 0; r < rows; ++r) {
    CHECK(d.split[static_cast<size_t>(r)] == (r < 3 ? SplitTag::kNone : SplitTag::kTest));
  }
  if (with_test) CHECK(d.x[3 * 6 + 0] == 0.0f);  // first t10k image starts again at 0
  CHECK(d.source_line.empty());
  CHECK(d.feature_names.empty());
}

}  // namespace

TEST_CASE("idx directory, plain and gzip", "[data][idx]") {
  for (const bool gz : {false, true}) {
    TempDir dir;
    write_idx_dir(dir, gz);
    INFO("gz " << gz);
    const Dataset d = tinyc::load_data(dir.path());
    check_small_idx(d, true);
    CHECK(d.source == dir.path());
    CHECK(d.where(4) == dir.path() + " row 4");
  }
}

TEST_CASE("idx directory without t10k files is all train", "[data][idx]") {
  TempDir dir;
  write_idx_dir(dir, false, false);
  check_small_idx(tinyc::load_idx_dir(dir.path()), false);
}

TEST_CASE("idx directory with the dotted file names", "[data][idx]") {
  TempDir dir;
  write_bytes(dir.file("train-images.idx3-ubyte"), idx_images(3, 2, 3), false);
  write_bytes(dir.file("train-labels.idx1-ubyte"), idx_labels(3), false);
  check_small_idx(tinyc::load_idx_dir(dir.path()), false);
}

TEST_CASE("idx errors name the file", "[data][idx]") {
  TempDir dir;
  SECTION("not an IDX directory") {
    expect_error([&] { tinyc::load_data(dir.path()); }, ExitCode::kBadInput,
                 "no train-images-idx3-ubyte[.gz] found (an IDX directory holds "
                 "train-images-idx3-ubyte[.gz] and train-labels-idx1-ubyte[.gz]");
  }
  SECTION("labels missing") {
    write_bytes(dir.file("train-images-idx3-ubyte"), idx_images(3, 2, 3), false);
    expect_error([&] { tinyc::load_idx_dir(dir.path()); }, ExitCode::kBadInput,
                 "no train-labels-idx1-ubyte[.gz] found");
  }
  SECTION("t10k images without labels") {
    write_idx_dir(dir, false, false);
    write_bytes(dir.file("t10k-images-idx3-ubyte"), idx_images(2, 2, 3), false);
    expect_error([&] { tinyc::load_idx_dir(dir.path()); }, ExitCode::kBadInput,
                 "t10k-images-idx3-ubyte found without t10k-labels-idx1-ubyte[.gz]");
  }
  SECTION("bad magic") {
    write_idx_dir(dir, false);
    write_bytes(dir.file("train-images-idx3-ubyte"), idx_labels(3), false);
    expect_error([&] { tinyc::load_idx_dir(dir.path()); }, ExitCode::kBadInput,
                 dir.file("train-images-idx3-ubyte") +
                     ": bad magic number 0x00000801, expected 0x00000803 for IDX images (this is "
                     "a labels file)");
    write_bytes(dir.file("train-images-idx3-ubyte"), idx_images(3, 2, 3), false);
    write_bytes(dir.file("train-labels-idx1-ubyte"), idx_labels(3, 0x12345678), false);
    expect_error([&] { tinyc::load_idx_dir(dir.path()); }, ExitCode::kBadInput,
                 dir.file("train-labels-idx1-ubyte") + ": bad magic number 0x12345678");
  }
  SECTION("truncated images") {
    write_idx_dir(dir, false);
    std::string bytes = idx_images(3, 2, 3);
    bytes.pop_back();
    write_bytes(dir.file("train-images-idx3-ubyte"), bytes, false);
    expect_error([&] { tinyc::load_idx_dir(dir.path()); }, ExitCode::kBadInput,
                 dir.file("train-images-idx3-ubyte") +
                     ": 33 bytes, expected 34 for 3 images of 2x3 (the file is truncated)");
    write_bytes(dir.file("train-images-idx3-ubyte"), bytes.substr(0, 10), false);
    expect_error([&] { tinyc::load_idx_dir(dir.path()); }, ExitCode::kBadInput,
                 "too short for an IDX images header");
  }
  SECTION("truncated gzip labels") {
    write_idx_dir(dir, true);
    std::string bytes = tinyc::read_file(dir.file("t10k-labels-idx1-ubyte.gz"));
    bytes.pop_back();
    write_bytes(dir.file("t10k-labels-idx1-ubyte.gz"), bytes, true);
    expect_error([&] { tinyc::load_idx_dir(dir.path()); }, ExitCode::kBadInput,
                 dir.file("t10k-labels-idx1-ubyte.gz") + ": 9 bytes, expected 10");
  }
  SECTION("count mismatch") {
    write_idx_dir(dir, false);
    write_bytes(dir.file("train-labels-idx1-ubyte"), idx_labels(4), false);
    expect_error([&] { tinyc::load_idx_dir(dir.path()); }, ExitCode::kBadInput,
                 ": 3 images but " + dir.file("train-labels-idx1-ubyte") + " has 4 labels");
  }
  SECTION("t10k image size differs") {
    write_idx_dir(dir, false);
    write_bytes(dir.file("t10k-images-idx3-ubyte"), idx_images(2, 3, 2), false);
    expect_error([&] { tinyc::load_idx_dir(dir.path()); }, ExitCode::kBadInput,
                 "images are 3x2, but the train images are 2x3");
  }
  SECTION("--label with a directory is a usage error") {
    write_idx_dir(dir, false);
    tinyc::CsvOptions options;
    options.label = "y";
    expect_error([&] { tinyc::load_data(dir.path(), options); }, ExitCode::kUsage,
                 "--label applies to CSV files");
  }
}

TEST_CASE("idx Fashion-MNIST", "[data][idx][real]") {
  const std::string dir = "/usr/share/datasets/fashion-mnist";
  if (!tinyc::is_directory(dir)) {
    WARN("skipped: " << dir << " is not installed");
    return;
  }
  const auto start = std::chrono::steady_clock::now();
  const Dataset d = tinyc::load_data(dir);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  CHECK(seconds < 5.0);  // about 0.3 s on a laptop; generous for loaded CI machines
  CHECK(d.rows == 70000);
  CHECK(d.features == 784);
  CHECK(d.sample_shape == std::vector<int>{28, 28});
  std::vector<int64_t> train_per_class(10, 0);
  int64_t test = 0;
  for (int64_t r = 0; r < d.rows; ++r) {
    const SplitTag tag = d.split[static_cast<size_t>(r)];
    if (r < 60000) {
      REQUIRE(tag == SplitTag::kNone);
      ++train_per_class[static_cast<size_t>(d.y[static_cast<size_t>(r)])];
    } else {
      REQUIRE(tag == SplitTag::kTest);
      ++test;
    }
  }
  CHECK(test == 10000);
  CHECK(train_per_class == std::vector<int64_t>(10, 6000));
  float lo = 255, hi = 0;
  for (const float v : d.x) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  CHECK(lo == 0.0f);
  CHECK(hi == 255.0f);
}
