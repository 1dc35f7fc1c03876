#include "tinyc/preprocess.h"

namespace tinyc {

const char* norm_kind_name(NormKind kind) {
  switch (kind) {
    case NormKind::kNone: return "none";
    case NormKind::kStandard: return "standard";
    case NormKind::kMinMax: return "minmax";
    case NormKind::kScale: return "scale";
  }
  return "none";
}

bool parse_norm_kind(const std::string& name, NormKind* kind) {
  for (NormKind k : {NormKind::kNone, NormKind::kStandard, NormKind::kMinMax, NormKind::kScale}) {
    if (name == norm_kind_name(k)) {
      *kind = k;
      return true;
    }
  }
  return false;
}

void Preprocess::apply(float* x, int64_t rows, int64_t features) const {
  if (is_identity()) return;
  const bool per_offset = offset.size() > 1;
  const bool per_scale = scale.size() > 1;
  for (int64_t r = 0; r < rows; ++r) {
    float* row = x + r * features;
    for (int64_t i = 0; i < features; ++i) {
      const float o = offset.empty() ? 0.0f : offset[per_offset ? static_cast<size_t>(i) : 0];
      const float s = scale.empty() ? 1.0f : scale[per_scale ? static_cast<size_t>(i) : 0];
      row[i] = (row[i] - o) * s;
    }
  }
}

}  // namespace tinyc
