#include "train/loss.h"

#include <cmath>

namespace tinyc {

LossSums loss_and_grad(LossKind kind, const float* pred, const float* y, int64_t n, int64_t k,
                       float inv_batch, float* grad) {
  LossSums sums;
  if (kind == LossKind::kMse) {
    // L = mean over rows and outputs of (p - y)^2
    const float scale = 2.0f * inv_batch / static_cast<float>(k);
    for (int64_t i = 0; i < n * k; ++i) {
      const float d = pred[i] - y[i];
      sums.loss += static_cast<double>(d) * d / static_cast<double>(k);
      grad[i] = scale * d;
    }
    return sums;
  }
  // L = log sum exp(z) - z[label];  dL/dz = softmax(z) - onehot(label)
  for (int64_t r = 0; r < n; ++r) {
    const float* z = pred + r * k;
    float* g = grad + r * k;
    const auto label = static_cast<int64_t>(y[r]);
    int64_t best = 0;
    for (int64_t i = 1; i < k; ++i) best = z[i] > z[best] ? i : best;
    const float m = z[best];
    float sum = 0.0f;
    for (int64_t i = 0; i < k; ++i) sum += (g[i] = std::exp(z[i] - m));
    const float log_sum = std::log(sum);
    const float inv_sum = inv_batch / sum;
    for (int64_t i = 0; i < k; ++i) g[i] *= inv_sum;
    g[label] -= inv_batch;
    sums.loss += static_cast<double>(log_sum + m - z[label]);
    sums.correct += best == label;
  }
  return sums;
}

}  // namespace tinyc
