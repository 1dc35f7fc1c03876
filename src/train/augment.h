// Data augmentation for image inputs, applied to training rows as the trainer gathers a batch.
#pragma once

#include "tinyc/model.h"
#include "tinyc/rng.h"
#include "tinyc/spec.h"

namespace tinyc {

// Augments one sample of shape (H, W, C) in place, with randomness from `rng` (seeded per
// sample and epoch by the caller, so results do not depend on the thread split). `scratch`
// holds H x W x C floats.
void augment_sample(const AugmentConfig& config, const Shape& sample_shape, float* x,
                    float* scratch, Rng& rng);

}  // namespace tinyc
