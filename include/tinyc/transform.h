// Graph rewrites that keep a model's outputs (up to float rounding), applied before
// compression and emission.
#pragma once

#include "tinyc/model.h"

namespace tinyc {

// Folds each batch_norm into the conv2d, depthwise_conv2d or dense op that produces its input,
// when that op has no fused activation, feeds only the batch_norm, and alone uses its float
// weights and bias. Per output channel c, with s = gamma / sqrt(moving_var + epsilon):
//   w'[c] = w[c] * s,   b'[c] = (b[c] - moving_mean[c]) * s + beta[c];
// the producer takes over the batch_norm's activation and output tensor, and tensors left
// unused are removed. Other batch_norm ops stay (the executors run them with their moving
// statistics). Returns the number of batch_norm ops folded.
int fold_batch_norm(Model& model);

// Removes tensors that no op, graph input or graph output refers to; renumbers the rest.
void remove_unused_tensors(Model& model);

}  // namespace tinyc
