// Synthetic data sets for demos and tests (`tinyc data sine|linear`).
#include <cmath>
#include <string>
#include <vector>

#include "tinyc/data.h"
#include "tinyc/error.h"
#include "tinyc/rng.h"

namespace tinyc {
namespace {

constexpr double kTwoPi = 6.283185307179586;
// Keeps a typo in --samples from exhausting memory.
constexpr int64_t kMaxSamples = 100'000'000;

struct Generator {
  const char* name;
  int64_t default_samples;
  double default_noise;
  // Fills x (one feature per sample) and the noiseless y.
  void (*fill)(Rng* rng, int64_t samples, std::vector<float>* x, std::vector<float>* y);
};

// x ~ U[0, 2pi), y = sin x.
void fill_sine(Rng* rng, int64_t samples, std::vector<float>* x, std::vector<float>* y) {
  for (int64_t i = 0; i < samples; ++i) {
    const auto xi = static_cast<float>(kTwoPi * rng->uniform());
    x->push_back(xi);
    y->push_back(static_cast<float>(std::sin(static_cast<double>(xi))));
  }
}

// x = -1, 0, 1, 2, ...; y = 2x - 1. Exact in float, so a linear model can fit it exactly.
void fill_linear(Rng*, int64_t samples, std::vector<float>* x, std::vector<float>* y) {
  for (int64_t i = 0; i < samples; ++i) {
    const auto xi = static_cast<float>(i - 1);
    x->push_back(xi);
    y->push_back(2.0f * xi - 1.0f);
  }
}

// The one list of generators: names, defaults and --help all come from it.
constexpr Generator kGenerators[] = {
    {"sine", 1000, 0.1, fill_sine},
    {"linear", 6, 0.0, fill_linear},
};

std::string joined_names() {
  std::string out;
  for (const Generator& g : kGenerators) {
    if (!out.empty()) out += ", ";
    out += g.name;
  }
  return out;
}

}  // namespace

Dataset generate_data(const std::string& name, const GenerateOptions& options) {
  const Generator* gen = nullptr;
  for (const Generator& g : kGenerators) {
    if (name == g.name) gen = &g;
  }
  if (gen == nullptr) {
    fail(ExitCode::kUsage, "unknown generator '{}' (available: {})", name, joined_names());
  }
  const int64_t samples = options.samples == -1 ? gen->default_samples : options.samples;
  if (samples <= 0 || samples > kMaxSamples) {
    fail(ExitCode::kUsage, "--samples {} is out of range (use 1 to {})", options.samples,
         kMaxSamples);
  }
  const double noise = options.noise == -1.0 ? gen->default_noise : options.noise;
  if (!(noise >= 0.0) || !std::isfinite(noise)) {
    fail(ExitCode::kUsage, "--noise {} must be a finite value >= 0", options.noise);
  }

  Dataset data;
  data.source = name;
  data.sample_shape = {1};
  data.features = 1;
  data.rows = samples;
  data.feature_names = {"x"};
  data.label_name = "y";
  data.x.reserve(static_cast<size_t>(samples));
  data.y.reserve(static_cast<size_t>(samples));
  data.split.assign(static_cast<size_t>(samples), SplitTag::kNone);
  // One stream: the x values first, then the noise, so the x values of a seed do not depend
  // on the noise level.
  Rng rng(options.seed);
  gen->fill(&rng, samples, &data.x, &data.y);
  if (noise > 0.0) {
    for (float& y : data.y) y = static_cast<float>(y + noise * rng.normal());
  }
  return data;
}

std::vector<std::string> generator_names() {
  std::vector<std::string> names;
  for (const Generator& g : kGenerators) names.emplace_back(g.name);
  return names;
}

}  // namespace tinyc
