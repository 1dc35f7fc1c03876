#include "train/optimizer.h"

#include <cmath>

#include "tinyc/error.h"

namespace tinyc {

Optimizer::Optimizer(const TrainConfig& config, int64_t params)
    : lr_(config.lr),
      momentum_(config.momentum),
      beta1_(config.beta1),
      beta2_(config.beta2),
      epsilon_(config.epsilon),
      weight_decay_(config.weight_decay) {
  kind_ = config.optimizer == "sgd" ? Kind::kSgd
          : config.optimizer == "momentum" ? Kind::kMomentum
                                           : Kind::kAdam;
  if (kind_ != Kind::kSgd) m_.assign(static_cast<size_t>(params), 0.0f);
  if (kind_ == Kind::kAdam) v_.assign(static_cast<size_t>(params), 0.0f);
}

void Optimizer::restore(const State& state) {
  if (state.m.size() != m_.size() || state.v.size() != v_.size() || state.step < 0) {
    bad_input("checkpoint: optimizer state of {} + {} values does not fit this {} optimizer "
              "({} + {})", state.m.size(), state.v.size(),
              kind_ == Kind::kSgd ? "sgd" : kind_ == Kind::kMomentum ? "momentum" : "adam",
              m_.size(), v_.size());
  }
  step_ = state.step;
  m_ = state.m;
  v_ = state.v;
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

// The loops below take plain restrict pointers (no functors, no vectors) so that GCC
// vectorizes them; the gradient is g0[i] (+ g1[i] when two threads' buffers are summed)
// + wd x w[i] (L2 weight decay; wd is 0 where it does not apply).

void sgd(float* __restrict w, const float* __restrict g0, const float* __restrict g1, int64_t lo,
         int64_t hi, float lr, float wd) {
  for (int64_t i = lo; i < hi; ++i) w[i] -= lr * ((g1 == nullptr ? g0[i] : g0[i] + g1[i]) + wd * w[i]);
}

// v = mu v + g;  w -= lr v
void momentum(float* __restrict w, const float* __restrict g0, const float* __restrict g1,
              float* __restrict m, int64_t lo, int64_t hi, float lr, float mu, float wd) {
  for (int64_t i = lo; i < hi; ++i) {
    m[i] = mu * m[i] + (g1 == nullptr ? g0[i] : g0[i] + g1[i]) + wd * w[i];
    w[i] -= lr * m[i];
  }
}

// m, v: moment estimates; w -= lr/(1-b1^t) m / (sqrt(v)/sqrt(1-b2^t) + eps)
template <bool kTwo>
void adam(float* __restrict w, const float* __restrict g0, const float* __restrict g1,
          float* __restrict m, float* __restrict v, int64_t lo, int64_t hi, float b1, float b2,
          float step, float inv_sqrt_bias2, float eps, float wd) {
  for (int64_t i = lo; i < hi; ++i) {
    const float g = (kTwo ? g0[i] + g1[i] : g0[i]) + wd * w[i];
    m[i] = b1 * m[i] + (1.0f - b1) * g;
    v[i] = b2 * v[i] + (1.0f - b2) * g * g;
    w[i] -= step * m[i] / (std::sqrt(v[i]) * inv_sqrt_bias2 + eps);
  }
}

}  // namespace

void Optimizer::update(float* w, const float* const* grads, int threads, int64_t lo, int64_t hi,
                       bool decay) {
  const float wd = decay ? weight_decay_ : 0.0f;
  // Everything is addressed from `lo`, so the loops run over [0, n).
  const int64_t n = hi - lo;
  const float* g0 = grads[0] + lo;
  const float* g1 = threads > 1 ? grads[1] + lo : nullptr;
  std::vector<float> folded;  // more than two threads: fold the extra buffers first (rare)
  if (threads > 2) {
    folded.assign(g1, g1 + n);
    for (int t = 2; t < threads; ++t) {
      for (int64_t i = 0; i < n; ++i) folded[static_cast<size_t>(i)] += grads[t][lo + i];
    }
    g1 = folded.data();
  }
  w += lo;
  switch (kind_) {
    case Kind::kSgd:
      return sgd(w, g0, g1, 0, n, lr_, wd);
    case Kind::kMomentum:
      return momentum(w, g0, g1, m_.data() + lo, 0, n, lr_, momentum_, wd);
    case Kind::kAdam:
      if (g1 == nullptr) {
        return adam<false>(w, g0, g1, m_.data() + lo, v_.data() + lo, 0, n, beta1_, beta2_,
                           step_size_, inv_sqrt_bias2_, epsilon_, wd);
      }
      return adam<true>(w, g0, g1, m_.data() + lo, v_.data() + lo, 0, n, beta1_, beta2_,
                        step_size_, inv_sqrt_bias2_, epsilon_, wd);
  }
}

}  // namespace tinyc
