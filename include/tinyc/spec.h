// Model specs: the Keras-like JSON of DESIGN.md §4, parsed and validated, and the model built
// from one.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tinyc/model.h"
#include "tinyc/preprocess.h"

namespace tinyc {

// Augmentation of image inputs (H, W, C), drawn per sample and epoch from the seed and applied
// to the training split only, in the normalized space (shifted-in pixels are 0).
struct AugmentConfig {
  int shift = 0;                 // random translation of up to +-shift pixels in each direction
  bool flip_horizontal = false;  // mirror left-right with probability 1/2
  float noise = 0.0f;            // additive Gaussian noise of this standard deviation
  bool any() const { return shift > 0 || flip_horizontal || noise > 0.0f; }
};

struct TrainConfig {
  std::string loss;               // "mse" | "cross_entropy"
  std::string optimizer = "adam"; // "sgd" | "momentum" | "adam"
  float lr = 0.001f;
  int64_t batch = 32;
  int epochs = 10;
  int patience = 0;               // early stopping on validation loss; 0 = off
  bool shuffle = true;            // a new seeded permutation each epoch
  float momentum = 0.9f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float epsilon = 1e-8f;
  // Learning-rate schedule per epoch: "constant", "step" (lr x gamma every step_epochs) or
  // "cosine" (from lr down to min_lr over the epochs).
  std::string schedule = "constant";
  int step_epochs = 10;
  float gamma = 0.1f;
  float min_lr = 0.0f;
  float weight_decay = 0.0f;  // L2 on weight matrices and kernels (not biases or norm scales)
  AugmentConfig augment;      // from the spec's top-level "augment"
  // Checkpoints (command-line only, not spec keys): every `checkpoint_every` epochs the whole
  // training state goes to `checkpoint_path`; `resume_path` continues from such a file.
  int checkpoint_every = 0;
  std::string checkpoint_path;
  std::string resume_path;
};

struct ModelSpec {
  std::string source;             // file path, for messages
  std::string name;
  Shape input;                    // per-sample input shape
  Task task = Task::kRegression;
  NormKind normalize = NormKind::kNone;
  float factor = 1.0f;            // for normalize "scale"
  double val = 0.0;
  double test = 0.2;
  std::string init = "glorot";    // "glorot" | "he" | "zeros"
  nlohmann::json layers;          // validated layer objects
  std::vector<std::string> labels;
  TrainConfig train;
  std::string compact_json;       // the whole spec, compact, stored in the model
};

// Parses and validates a spec; unknown keys or values are Error(kBadInput) naming the JSON path
// (`models/sine.json: $.layers[1].units: ...`).
ModelSpec parse_spec(const std::string& text, const std::string& source);
ModelSpec load_spec(const std::string& path);

// Builds the graph and initializes its weights from `seed`. A classification model ends in
// softmax (declared or implied).
Model build_model(const ModelSpec& spec, uint64_t seed);

}  // namespace tinyc
