// Data augmentation for image inputs, applied to training rows as the trainer gathers a batch.
#pragma once

#include "tinyc/model.h"
#include "tinyc/rng.h"
#include "tinyc/spec.h"

namespace tinyc {

// The seed of training row `row`'s augmentation in epoch `epoch` (1-based) of a run seeded
// with `seed`: one stream per (epoch, row), independent of batches and threads. Distillation
// reproduces the trainer's augmented inputs with it, so the teacher labels what the student sees.
uint64_t augment_seed(uint64_t seed, int epoch, int64_t row);

// Augments one sample of shape (H, W, C) in place, with randomness from `rng` (seeded per
// sample and epoch by the caller, so results do not depend on the thread split). `scratch`
// holds H x W x C floats.
void augment_sample(const AugmentConfig& config, const Shape& sample_shape, float* x,
                    float* scratch, Rng& rng);

}  // namespace tinyc
