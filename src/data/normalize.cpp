// Fits the input normalization stored in a model, on the training rows only (so that no
// statistic of the val/test rows leaks into training).
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "tinyc/data.h"
#include "tinyc/error.h"

namespace tinyc {
namespace {

// Below this a column counts as constant: dividing by its spread would blow up noise.
constexpr double kMinSpread = 1e-12;

void require_rows(const Dataset& data, const std::vector<int64_t>& rows, NormKind kind) {
  if (rows.empty()) {
    bad_input("{}: no training rows to fit '{}' normalization on (check the split)", data.source,
              norm_kind_name(kind));
  }
}

// Per-feature mean and population standard deviation; two passes in double, which stays
// accurate when the mean is large against the spread (raw pixels, sensor offsets).
Preprocess fit_standard(const Dataset& data, const std::vector<int64_t>& rows) {
  const auto f = static_cast<size_t>(data.features);
  std::vector<double> mean(f, 0.0), var(f, 0.0);
  for (const int64_t r : rows) {
    const float* row = data.x.data() + static_cast<size_t>(r) * f;
    for (size_t i = 0; i < f; ++i) mean[i] += row[i];
  }
  const double n = static_cast<double>(rows.size());
  for (double& m : mean) m /= n;
  for (const int64_t r : rows) {
    const float* row = data.x.data() + static_cast<size_t>(r) * f;
    for (size_t i = 0; i < f; ++i) {
      const double d = row[i] - mean[i];
      var[i] += d * d;
    }
  }
  Preprocess p;
  p.kind = NormKind::kStandard;
  p.offset.resize(f);
  p.scale.resize(f);
  for (size_t i = 0; i < f; ++i) {
    const double sd = std::sqrt(var[i] / n);
    p.offset[i] = static_cast<float>(mean[i]);
    p.scale[i] = sd < kMinSpread ? 1.0f : static_cast<float>(1.0 / sd);
  }
  return p;
}

// x' = (x - min) / (max - min). A constant column is left unscaled (offset 0, scale 1):
// its raw value passes through rather than dividing by zero.
Preprocess fit_minmax(const Dataset& data, const std::vector<int64_t>& rows) {
  const auto f = static_cast<size_t>(data.features);
  std::vector<float> lo(f, std::numeric_limits<float>::infinity());
  std::vector<float> hi(f, -std::numeric_limits<float>::infinity());
  for (const int64_t r : rows) {
    const float* row = data.x.data() + static_cast<size_t>(r) * f;
    for (size_t i = 0; i < f; ++i) {
      lo[i] = std::min(lo[i], row[i]);
      hi[i] = std::max(hi[i], row[i]);
    }
  }
  Preprocess p;
  p.kind = NormKind::kMinMax;
  p.offset.resize(f);
  p.scale.resize(f);
  for (size_t i = 0; i < f; ++i) {
    const double range = static_cast<double>(hi[i]) - lo[i];
    if (range < kMinSpread) {
      p.offset[i] = 0.0f;
      p.scale[i] = 1.0f;
    } else {
      p.offset[i] = lo[i];
      p.scale[i] = static_cast<float>(1.0 / range);
    }
  }
  return p;
}

}  // namespace

Preprocess fit_preprocess(const Dataset& data, const std::vector<int64_t>& rows, NormKind kind,
                          float factor) {
  switch (kind) {
    case NormKind::kNone: return Preprocess{};
    case NormKind::kStandard: require_rows(data, rows, kind); return fit_standard(data, rows);
    case NormKind::kMinMax: require_rows(data, rows, kind); return fit_minmax(data, rows);
    case NormKind::kScale: {
      if (!std::isfinite(factor) || factor == 0.0f) {
        bad_input("normalize 'scale' needs a finite, non-zero factor (got {})", factor);
      }
      Preprocess p;
      p.kind = NormKind::kScale;
      p.scale = {factor};
      return p;
    }
  }
  return Preprocess{};
}

}  // namespace tinyc
