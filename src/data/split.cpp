// Train/val/test splits, data fingerprints and row gathering.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "tinyc/data.h"
#include "tinyc/error.h"
#include "tinyc/fileio.h"
#include "tinyc/rng.h"

namespace tinyc {
namespace {

// Seed streams, so that the split never shares random numbers with training.
constexpr uint64_t kShuffleStream = 0x53504c4954000001ull;  // "SPLIT" 1: unstratified
constexpr uint64_t kClassStream = 0x53504c4954000002ull;    // "SPLIT" 2: one per class

uint32_t float_bits(float v) {
  if (v == 0.0f) v = 0.0f;  // -0 and +0 are the same class
  uint32_t bits = 0;
  std::memcpy(&bits, &v, sizeof bits);
  return bits;
}

int64_t fraction_of(int64_t n, double fraction) {
  return static_cast<int64_t>(std::llround(static_cast<double>(n) * fraction));
}

// Deals a shuffled group of rows: the first n_test to test, the next n_val to val, the rest
// to train.
void deal(const std::vector<int64_t>& rows, Rng* rng, double val, double test,
          SplitIndices* out) {
  const auto n = static_cast<int64_t>(rows.size());
  const int64_t n_test = std::min(n, fraction_of(n, test));
  const int64_t n_val = std::min(n - n_test, fraction_of(n, val));
  const std::vector<int64_t> order = rng->permutation(n);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t row = rows[static_cast<size_t>(order[static_cast<size_t>(i)])];
    if (i < n_test) {
      out->test.push_back(row);
    } else if (i < n_test + n_val) {
      out->val.push_back(row);
    } else {
      out->train.push_back(row);
    }
  }
}

}  // namespace

SplitIndices make_split(const Dataset& data, const SplitSpec& spec) {
  SplitIndices out;
  std::vector<int64_t> untagged;
  bool any_test_tag = false;
  for (int64_t r = 0; r < data.rows; ++r) {
    // A dataset built in code may leave `split` empty: every row is then untagged.
    const SplitTag tag = data.split.empty() ? SplitTag::kNone : data.split[static_cast<size_t>(r)];
    switch (tag) {
      case SplitTag::kTrain: out.train.push_back(r); break;
      case SplitTag::kVal: out.val.push_back(r); break;
      case SplitTag::kTest:
        out.test.push_back(r);
        any_test_tag = true;
        break;
      case SplitTag::kNone: untagged.push_back(r); break;
    }
  }
  if (untagged.empty()) return out;  // the data fixes every row: fractions do not apply

  // Rows with a fixed test split (IDX t10k) leave only train/val to divide.
  const double test = any_test_tag ? 0.0 : spec.test;
  const double val = spec.val;
  if (!(val >= 0.0 && test >= 0.0 && val + test < 1.0)) {
    fail(ExitCode::kUsage,
         "split fractions val {} and test {} must be >= 0 with val + test < 1 (leave rows to "
         "train on)",
         val, test);
  }

  if (spec.stratify) {
    // std::map orders the classes, so the result does not depend on row order within a class
    // beyond the seeded shuffle.
    std::map<float, std::vector<int64_t>> by_label;
    for (const int64_t r : untagged) by_label[data.y[static_cast<size_t>(r)]].push_back(r);
    for (const auto& [label, rows] : by_label) {
      Rng rng(mix_seed(spec.seed, kClassStream ^ float_bits(label)));
      deal(rows, &rng, val, test, &out);
    }
  } else {
    Rng rng(mix_seed(spec.seed, kShuffleStream));
    deal(untagged, &rng, val, test, &out);
  }
  std::sort(out.train.begin(), out.train.end());
  std::sort(out.val.begin(), out.val.end());
  std::sort(out.test.begin(), out.test.end());
  return out;
}

uint64_t Dataset::fingerprint() const {
  uint64_t hash = fnv1a64(nullptr, 0);
  for (const int dim : sample_shape) {
    const auto d = static_cast<int32_t>(dim);
    hash = fnv1a64(&d, sizeof d, hash);
  }
  hash = fnv1a64(x.data(), x.size() * sizeof(float), hash);
  hash = fnv1a64(y.data(), y.size() * sizeof(float), hash);
  return hash;
}

// CSV rows are named by their line in the file, which is what an editor shows; other rows
// by their 0-based index, the same index `predict` output uses.
std::string Dataset::where(int64_t row) const {
  if (row >= 0 && static_cast<size_t>(row) < source_line.size()) {
    return fmt::format("{} line {}", source, source_line[static_cast<size_t>(row)]);
  }
  return fmt::format("{} row {}", source, row);
}

void gather_rows(const Dataset& data, const std::vector<int64_t>& rows, std::vector<float>* x,
                 std::vector<float>* y) {
  const auto features = static_cast<size_t>(data.features);
  if (x) {
    x->resize(rows.size() * features);
    float* dst = x->data();
    for (const int64_t r : rows) {
      std::memcpy(dst, data.x.data() + static_cast<size_t>(r) * features,
                  features * sizeof(float));
      dst += features;
    }
  }
  if (y) {
    y->resize(rows.size());
    for (size_t i = 0; i < rows.size(); ++i) (*y)[i] = data.y[static_cast<size_t>(rows[i])];
  }
}

}  // namespace tinyc
