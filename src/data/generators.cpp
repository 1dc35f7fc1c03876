// Synthetic data sets for demos and tests (`tinyc data sine|linear|kws`).
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
  // Fills d->x, d->y, d->sample_shape, d->features and names for d->rows samples, noise
  // included, from one stream.
  void (*fill)(Rng* rng, double noise, Dataset* d);
};

// The regression generators: one feature x, a noiseless y, then Gaussian noise on y. One
// stream, the x values first, so the x values of a seed do not depend on the noise level.
void fill_xy(Rng* rng, double noise, Dataset* d,
             void (*xy)(Rng*, int64_t, std::vector<float>*, std::vector<float>*)) {
  d->sample_shape = {1};
  d->features = 1;
  d->feature_names = {"x"};
  d->label_name = "y";
  xy(rng, d->rows, &d->x, &d->y);
  if (noise > 0.0) {
    for (float& y : d->y) y = static_cast<float>(y + noise * rng->normal());
  }
}

// x ~ U[0, 2pi), y = sin x.
void sine_xy(Rng* rng, int64_t samples, std::vector<float>* x, std::vector<float>* y) {
  for (int64_t i = 0; i < samples; ++i) {
    const auto xi = static_cast<float>(kTwoPi * rng->uniform());
    x->push_back(xi);
    y->push_back(static_cast<float>(std::sin(static_cast<double>(xi))));
  }
}

// x = -1, 0, 1, 2, ...; y = 2x - 1. Exact in float, so a linear model can fit it exactly.
void linear_xy(Rng*, int64_t samples, std::vector<float>* x, std::vector<float>* y) {
  for (int64_t i = 0; i < samples; ++i) {
    const auto xi = static_cast<float>(i - 1);
    x->push_back(xi);
    y->push_back(2.0f * xi - 1.0f);
  }
}

void fill_sine(Rng* rng, double noise, Dataset* d) { fill_xy(rng, noise, d, sine_xy); }
void fill_linear(Rng* rng, double noise, Dataset* d) { fill_xy(rng, noise, d, linear_xy); }

// Keyword-spotting-like "spectrograms": 49 frames x 10 coefficients (the MFCC input of the
// DS-CNN keyword-spotting models), 4 classes in turn: 0 silence (noise only), 1 a ridge sweeping
// up the coefficients, 2 sweeping down, 3 two bursts in one band. Each word gets a random onset,
// length (18-31 frames), band, ridge width and loudness, so a model must find a shape anywhere
// in time: what the conv layers of a KWS model do. Gaussian noise (default 1.0) on every value.
constexpr int kKwsFrames = 49, kKwsBins = 10, kKwsClasses = 4;

void fill_kws(Rng* rng, double noise, Dataset* d) {
  d->sample_shape = {kKwsFrames, kKwsBins, 1};
  d->features = kKwsFrames * kKwsBins;
  d->label_name = "label";
  d->x.assign(static_cast<size_t>(d->rows * d->features), 0.0f);
  for (int64_t i = 0; i < d->rows; ++i) {
    const int label = static_cast<int>(i % kKwsClasses);
    float* x = d->x.data() + i * d->features;
    const int len = 18 + static_cast<int>(rng->below(14));
    const int onset = static_cast<int>(rng->below(static_cast<uint64_t>(kKwsFrames - len + 1)));
    const float amp = rng->uniform(1.0f, 2.0f);
    const float width = rng->uniform(0.7f, 1.3f);
    const float band = rng->uniform(2.0f, 7.0f);
    const float span = rng->uniform(5.0f, 8.0f);
    for (int t = onset; t < onset + len && label != 0; ++t) {
      const float u = static_cast<float>(t - onset) / static_cast<float>(len - 1);  // 0..1
      float center = band;
      if (label == 1) center = 0.5f + span * u;
      if (label == 2) center = 0.5f + span * (1.0f - u);
      if (label == 3 && u > 0.35f && u < 0.65f) continue;  // the gap between the bursts
      for (int b = 0; b < kKwsBins; ++b) {
        const float z = (static_cast<float>(b) - center) / width;
        x[t * kKwsBins + b] += amp * std::exp(-0.5f * z * z);
      }
    }
    d->y.push_back(static_cast<float>(label));
  }
  if (noise > 0.0) {
    for (float& v : d->x) v = static_cast<float>(v + noise * rng->normal());
  }
}

// The one list of generators: names, defaults and --help all come from it.
constexpr Generator kGenerators[] = {
    {"sine", 1000, 0.1, fill_sine},
    {"linear", 6, 0.0, fill_linear},
    {"kws", 2000, 1.0, fill_kws},
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
  data.rows = samples;
  data.y.reserve(static_cast<size_t>(samples));
  data.split.assign(static_cast<size_t>(samples), SplitTag::kNone);
  Rng rng(options.seed);
  gen->fill(&rng, noise, &data);
  return data;
}

std::vector<std::string> generator_names() {
  std::vector<std::string> names;
  for (const Generator& g : kGenerators) names.emplace_back(g.name);
  return names;
}

}  // namespace tinyc
