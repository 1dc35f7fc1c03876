#include "train/optimizer.h"

#include <cmath>

namespace tinyc {

Optimizer::Optimizer(const TrainConfig& config, int64_t params)
    : lr_(config.lr),
      momentum_(config.momentum),
      beta1_(config.beta1),
      beta2_(config.beta2),
      epsilon_(config.epsilon) {
  kind_ = config.optimizer == "sgd" ? Kind::kSgd
          : config.optimizer == "momentum" ? Kind::kMomentum
                                           : Kind::kAdam;
  if (kind_ != Kind::kSgd) m_.assign(static_cast<size_t>(params), 0.0f);
  if (kind_ == Kind::kAdam) v_.assign(static_cast<size_t>(params), 0.0f);
}

void Optimizer::begin_step() {
  ++step_;
  if (kind_ == Kind::kAdam) {
    const double t = static_cast<double>(step_);
    step_size_ = static_cast<float>(lr_ / (1.0 - std::pow(static_cast<double>(beta1_), t)));
    inv_sqrt_bias2_ =
        static_cast<float>(1.0 / std::sqrt(1.0 - std::pow(static_cast<double>(beta2_), t)));
  }
}

void Optimizer::update(float* w, const float* const* grads, int threads, int64_t lo, int64_t hi) {
  auto grad = [&](int64_t i) {
    float g = grads[0][i];
    for (int t = 1; t < threads; ++t) g += grads[t][i];
    return g;
  };
  switch (kind_) {
    case Kind::kSgd:
      for (int64_t i = lo; i < hi; ++i) w[i] -= lr_ * grad(i);
      return;
    case Kind::kMomentum:
      // v = mu v + g;  w -= lr v
      for (int64_t i = lo; i < hi; ++i) {
        m_[i] = momentum_ * m_[i] + grad(i);
        w[i] -= lr_ * m_[i];
      }
      return;
    case Kind::kAdam:
      // m, v: moment estimates; w -= lr/(1-b1^t) m / (sqrt(v)/sqrt(1-b2^t) + eps)
      for (int64_t i = lo; i < hi; ++i) {
        const float g = grad(i);
        m_[i] = beta1_ * m_[i] + (1.0f - beta1_) * g;
        v_[i] = beta2_ * v_[i] + (1.0f - beta2_) * g * g;
        w[i] -= step_size_ * m_[i] / (std::sqrt(v_[i]) * inv_sqrt_bias2_ + epsilon_);
      }
      return;
  }
}

}  // namespace tinyc
