// Losses: value and gradient with respect to the prediction, for a slice of a batch.
#pragma once

#include <cstdint>

namespace tinyc {

enum class LossKind : uint8_t { kMse, kCrossEntropy };

struct LossSums {
  double loss = 0.0;    // summed over the slice's rows
  int64_t correct = 0;  // classification: rows whose argmax is the label
};

// pred: (n, k) — logits for cross-entropy (softmax fused in, computed stably through
// log-sum-exp), outputs for MSE. y: n class indices (cross-entropy) or n x k targets (MSE).
// grad: (n, k) = d(batch mean loss)/d(pred), i.e. scaled by inv_batch = 1 / rows in the batch.
LossSums loss_and_grad(LossKind kind, const float* pred, const float* y, int64_t n, int64_t k,
                       float inv_batch, float* grad);

}  // namespace tinyc
