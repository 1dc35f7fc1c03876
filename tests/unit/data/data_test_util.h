// Helpers for the data tests: expecting a tinyc::Error, building small datasets and IDX files.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "tinyc/data.h"
#include "tinyc/error.h"

namespace tinyc_test {

// Runs `body`, which must throw tinyc::Error with `code`, a one-line message containing
// `fragment`.
template <typename Body>
void expect_error(Body&& body, tinyc::ExitCode code, const std::string& fragment) {
  try {
    body();
  } catch (const tinyc::Error& e) {
    const std::string message = e.what();
    INFO("message: " << message);
    CHECK(static_cast<int>(e.code()) == static_cast<int>(code));
    CHECK(message.find(fragment) != std::string::npos);
    CHECK(message.find('\n') == std::string::npos);
    return;
  }
  FAIL("expected a tinyc::Error containing '" << fragment << "'");
}

// A dataset of `labels.size()` rows with two features (row index, label) and the given labels.
inline tinyc::Dataset labelled_dataset(const std::vector<float>& labels) {
  tinyc::Dataset d;
  d.source = "mem";
  d.sample_shape = {2};
  d.features = 2;
  d.rows = static_cast<int64_t>(labels.size());
  for (size_t i = 0; i < labels.size(); ++i) {
    d.x.push_back(static_cast<float>(i));
    d.x.push_back(labels[i]);
  }
  d.y = labels;
  d.split.assign(labels.size(), tinyc::SplitTag::kNone);
  return d;
}

// IDX bytes: big-endian header then unsigned bytes. Pixel i of image n is (n * 7 + i) % 256,
// label n is n % 10.
std::string idx_images(uint32_t count, uint32_t rows, uint32_t cols, uint32_t magic = 0x803);
std::string idx_labels(uint32_t count, uint32_t magic = 0x801);
// Writes `bytes` to `path`, gzip-compressed when `gz`.
void write_bytes(const std::string& path, const std::string& bytes, bool gz);

}  // namespace tinyc_test
