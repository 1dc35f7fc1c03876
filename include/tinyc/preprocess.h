// Input preprocessing fitted at training time and stored in the model; every executor
// (reference, emitted code) applies it to raw inputs: x' = (x - offset[i]) * scale[i].
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tinyc {

enum class NormKind : uint8_t { kNone, kStandard, kMinMax, kScale };

const char* norm_kind_name(NormKind kind);
// Parses "none"|"standard"|"minmax"|"scale"; returns false for anything else.
bool parse_norm_kind(const std::string& name, NormKind* kind);

struct Preprocess {
  NormKind kind = NormKind::kNone;
  // Each is empty (identity), of size 1 (same for every feature) or of size `features`.
  std::vector<float> offset;
  std::vector<float> scale;

  bool is_identity() const { return offset.empty() && scale.empty(); }
  // Applies in place to `rows` samples of `features` values each.
  void apply(float* x, int64_t rows, int64_t features) const;
};

}  // namespace tinyc
