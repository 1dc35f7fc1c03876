// The reference executor (float): runs a model's graph forward on raw inputs, applying the
// model's preprocessing first. Used by eval, predict and the trainer's evaluation.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tinyc/model.h"

namespace tinyc {

// Runs `rows` samples of raw input (rows x input sample size) and returns rows x output sample
// size values (graph output 0).
std::vector<float> run_model(const Model& model, const float* raw_input, int64_t rows);

struct Metrics {
  bool present = false;
  int64_t samples = 0;
  double loss = 0.0;
  double metric = 0.0;  // accuracy (classification) or mse (regression)
};

// Loss and metric of model outputs against targets (class index or value per row).
Metrics score_outputs(Task task, const std::vector<float>& outputs, const float* targets,
                      int64_t rows, int64_t width);
// run_model + score_outputs.
Metrics evaluate(const Model& model, const float* raw_input, const float* targets, int64_t rows);

// Checks that every target is a class index in [0, classes) (classification) and finite;
// errors name the data row through `where` (e.g. "data.csv line 12").
void check_targets(Task task, int64_t classes, const float* targets, int64_t rows,
                   const std::function<std::string(int64_t)>& where);

}  // namespace tinyc
