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

namespace {

// The summed gradient of parameter i over the threads' buffers. Specialized on the thread
// count so that the update loops vectorize.
template <int kThreads>
struct GradSum {
  const float* const* g;
  float operator()(int64_t i) const {
    float s = g[0][i];
    for (int t = 1; t < kThreads; ++t) s += g[t][i];
    return s;
  }
};

struct GradSumN {
  const float* const* g;
  int threads;
  float operator()(int64_t i) const {
    float s = g[0][i];
    for (int t = 1; t < threads; ++t) s += g[t][i];
    return s;
  }
};

}  // namespace

template <typename Grad>
void Optimizer::apply(float* __restrict w, Grad grad, int64_t lo, int64_t hi) {
  float* __restrict m = m_.data();
  float* __restrict v = v_.data();
  switch (kind_) {
    case Kind::kSgd:
      for (int64_t i = lo; i < hi; ++i) w[i] -= lr_ * grad(i);
      return;
    case Kind::kMomentum:
      // v = mu v + g;  w -= lr v
      for (int64_t i = lo; i < hi; ++i) {
        m[i] = momentum_ * m[i] + grad(i);
        w[i] -= lr_ * m[i];
      }
      return;
    case Kind::kAdam: {
      // m, v: moment estimates; w -= lr/(1-b1^t) m / (sqrt(v)/sqrt(1-b2^t) + eps)
      const float b1 = beta1_, b2 = beta2_, step = step_size_, inv_b2 = inv_sqrt_bias2_, eps = epsilon_;
      for (int64_t i = lo; i < hi; ++i) {
        const float g = grad(i);
        m[i] = b1 * m[i] + (1.0f - b1) * g;
        v[i] = b2 * v[i] + (1.0f - b2) * g * g;
        w[i] -= step * m[i] / (std::sqrt(v[i]) * inv_b2 + eps);
      }
      return;
    }
  }
}

void Optimizer::update(float* w, const float* const* grads, int threads, int64_t lo, int64_t hi) {
  if (threads == 1) return apply(w, GradSum<1>{grads}, lo, hi);
  if (threads == 2) return apply(w, GradSum<2>{grads}, lo, hi);
  apply(w, GradSumN{grads, threads}, lo, hi);
}

}  // namespace tinyc
