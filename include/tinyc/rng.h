// Deterministic random numbers. The standard library's distributions are
// implementation-defined, so tinyc draws everything from its own generator to keep
// model files byte-identical across compilers and machines.
#pragma once

#include <cstdint>
#include <vector>

namespace tinyc {

// xoshiro256** seeded through splitmix64.
class Rng {
 public:
  explicit Rng(uint64_t seed);
  uint64_t next_u64();
  // Uniform in [0, 1) with 24 random bits.
  float uniform();
  // Uniform in [lo, hi).
  float uniform(float lo, float hi) { return lo + (hi - lo) * uniform(); }
  // Uniform integer in [0, n) without modulo bias; n > 0.
  uint64_t below(uint64_t n);
  // Standard normal (Box-Muller, double precision internally).
  float normal();
  // Fisher-Yates permutation of 0..n-1.
  std::vector<int64_t> permutation(int64_t n);

 private:
  uint64_t s_[4];
};

// Mixes several values into one seed (for per-epoch, per-sample streams).
uint64_t mix_seed(uint64_t a, uint64_t b);

}  // namespace tinyc
