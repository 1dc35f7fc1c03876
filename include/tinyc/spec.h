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
