// Knowledge distillation (Hinton, Vinyals & Dean 2015): trains a student model from its spec
// on the labels and on a teacher's outputs.
//
// Classification, per row with student logits z, label y and teacher probabilities p:
//   q = softmax(z_t / T) from the teacher's logits z_t (a float graph ending in softmax: run
//       without its softmax); an int8 teacher gives probabilities p only: q = softmax(log(p) / T)
//   L = alpha * CE(y, softmax(z)) + (1 - alpha) * T^2 * KL(q || softmax(z / T))
//   dL/dz = alpha * (softmax(z) - onehot(y)) + (1 - alpha) * T * (softmax(z / T) - q)
// Regression, with teacher output t: L = alpha * MSE(z, y) + (1 - alpha) * MSE(z, t).
// The teacher (float, int8 or imported .tflite) runs once over the training rows in the
// reference executor (in chunks, on the training threads); when the student's spec augments
// its inputs (transfer set), it labels each epoch's augmented copies instead. The student
// trains with its spec's train config (overrides in DistillOptions::train) through a
// TrainHook that replaces the loss.
#pragma once

#include <cstdint>
#include <vector>

#include "tinyc/data.h"
#include "tinyc/model.h"
#include "tinyc/spec.h"
#include "tinyc/train.h"

namespace tinyc {

// Defaults chosen for a 784-32-10 student of the fashion_tiny CNN without the test set: a
// teacher copy trained on train images 1-50000, students on the same images with seeds 10-13,
// scored on images 50001-60000. T 1 / alpha 0.5 won on all 4 seeds at 5, 10, 20 and 40
// epochs (+0.51 point mean at 20); T >= 2 lost or gained less (BENCHMARKS.md "Distillation").
constexpr float kDefaultTemperature = 1.0f;
constexpr float kDefaultAlpha = 0.5f;

// The classification loss above for one row of k logits; writes dL/dz (unscaled) to `grad`
// and returns L.
double distill_loss_row(const float* z, int64_t label, const float* q, int64_t k, float temperature,
                        float alpha, float* grad);

// q = softmax(log(p) / T) per row of k probabilities (zeros stay zero).
void soften_probabilities(float* p, int64_t rows, int64_t k, float temperature);

// The teacher's soft targets for `rows` raw inputs (rows x k): softmax(beta z / T) of its
// logits z when it is a float graph ending in softmax; otherwise (int8, other graphs)
// soften_probabilities of its outputs.
std::vector<float> teacher_soft_targets(const Model& teacher, const float* raw_input, int64_t rows,
                                        float temperature);

struct DistillOptions {
  float temperature = kDefaultTemperature;  // > 0
  float alpha = kDefaultAlpha;              // weight of the label loss, in [0, 1]
  // Test-time augmentation of the teacher: its targets are the mean of its targets for each
  // input and for its left-right mirror image (an image input (H, W, C) is required).
  bool teacher_flip = false;
  // Student training overrides and the split: split_seed (or seed), val_split and test_split
  // define the student's split exactly as `tinyc train` would (pass the teacher's to keep its
  // test rows out of training); seed also seeds the student's initialization and shuffling.
  TrainOptions train;
};

// The targets the student is trained on, one block of (training rows x output width) values:
// the teacher's soft targets (regression: its outputs) of the student's training rows, in the
// order of the split train_from_spec makes. When the student's spec augments its inputs
// (spec "augment": the transfer set), one block per epoch instead: the teacher's targets of
// the very augmented copies the trainer feeds the student in that epoch (same seed, epoch and
// row streams, on the student's normalized input, mapped back to raw values for the teacher).
// Errors as distill.
std::vector<float> distill_targets(const Model& teacher, const ModelSpec& student,
                                   const Dataset& data, const DistillOptions& options);

// Trains the student described by `student` on `data` distilled from `teacher`; the job's
// result scores the student on each split. Errors: teacher and student disagree on task,
// input size or output width (Error(kBadInput)).
TrainJob distill(const Model& teacher, const ModelSpec& student, const Dataset& data,
                 const DistillOptions& options);

}  // namespace tinyc
