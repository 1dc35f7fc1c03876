// batch_norm: y = act(gamma * (x - mean) / sqrt(var + epsilon) + beta) per channel (the last
// dimension), for (1, C) and (1, H, W, C) activations alike. Inputs: x, gamma (C), beta (C),
// moving_mean (C), moving_var (C). Attributes: epsilon (default 1e-3), momentum (default 0.99),
// activation none|relu|relu6 (fused, so that conv -> batch_norm -> relu folds into one conv).
//
// Training normalizes with the statistics of the rows in the call (each thread's slice of the
// batch: "ghost" batch norm with data-parallel threads) and updates the moving statistics,
// moving = momentum * moving + (1 - momentum) * batch (unbiased variance). Inference uses the
// moving statistics. The moving statistics are tensors of role kState, not parameters: the
// optimizer never sees them. Contract with the executors: a kState input is bound to its
// tensor's own data (Tensor::f32), which forward updates in place when training. Only the
// slice holding the batch's first row (row0 == 0) updates them, so exactly one thread writes
// and the result does not depend on thread timing; a binding that points elsewhere (an
// executor that does not know kState) is never written to.
//
// batch_norm folds into a preceding conv2d, depthwise_conv2d or dense (tinyc/transform.h).
#include <algorithm>
#include <cmath>

#include "layers/activation_fn.h"
#include "layers/layer_util.h"

namespace tinyc {
namespace {

float bn_epsilon(const Op& op) { return op.get_float("epsilon", 1e-3f); }
float bn_momentum(const Op& op) { return op.get_float("momentum", 0.99f); }

// The parts of this op's scratch for one call: the normalized values xhat (positions, C), then
// five per-channel vectors.
struct BnViews {
  int64_t c = 0, positions = 0;
  float* xhat = nullptr;
  float* mean = nullptr;
  float* inv_std = nullptr;
  float* sum_dz = nullptr;
  float* sum_dz_xhat = nullptr;
  float* coef = nullptr;
};

BnViews views(const OpBinding& b) {
  BnViews v;
  v.c = b.in_tensors[1]->shape[0];
  v.positions = b.n * per_sample(b.out_tensors[0]->shape) / v.c;
  v.xhat = b.scratch;
  v.mean = b.scratch + v.c * v.positions;
  v.inv_std = v.mean + v.c;
  v.sum_dz = v.inv_std + v.c;
  v.sum_dz_xhat = v.sum_dz + v.c;
  v.coef = v.sum_dz_xhat + v.c;
  return v;
}

class BatchNormLayer : public Layer {
 public:
  std::vector<Shape> infer_shapes(const Op& op, const std::vector<Shape>& in) const override {
    require_arity(op, in, 5);
    require_batched(op, in[0]);
    op_activation(op, true);
    if (in[0].size() < 2) {
      bad_input("layer '{}' (batch_norm): input {} has no channel dimension", op.name,
                shape_str(in[0]));
    }
    const int channels = in[0].back();
    const char* names[] = {"gamma", "beta", "moving_mean", "moving_var"};
    for (size_t i = 1; i < 5; ++i) {
      if (in[i] != Shape{channels}) {
        bad_input("layer '{}' (batch_norm): {} {} does not match the {} channels of input {}",
                  op.name, names[i - 1], shape_str(in[i]), channels, shape_str(in[0]));
      }
    }
    const float eps = bn_epsilon(op), momentum = bn_momentum(op);
    if (!(eps > 0.0f && eps < 1.0f)) {
      bad_input("layer '{}' (batch_norm): epsilon {} must be in (0, 1)", op.name, eps);
    }
    if (!(momentum >= 0.0f && momentum < 1.0f)) {
      bad_input("layer '{}' (batch_norm): momentum {} must be in [0, 1)", op.name, momentum);
    }
    return {in[0]};
  }

  int64_t macs(const Op&, const std::vector<Shape>& in, const std::vector<Shape>&) const override {
    return per_sample(in[0]);
  }

  // Per row: xhat; the five per-channel vectors fit in the first row's share.
  int64_t scratch_floats(const OpBinding& b) const override {
    return per_sample(b.out_tensors[0]->shape) + 5 * b.in_tensors[1]->shape[0];
  }

  // x: (n * positions, C)  gamma, beta, moving_mean, moving_var: (C)  y: (n * positions, C)
  // Loops run over positions with the channels innermost (contiguous in memory), so every pass
  // reads the data once, in order, and vectorizes; Eigen's row-wise reductions of a
  // (C, positions) view would stride through it C times.
  void forward(const OpBinding& b) const override {
    const BnViews v = views(b);
    const float eps = bn_epsilon(*b.op);
    const int64_t c_n = v.c, count = v.positions;
    const float* __restrict x = b.in[0];
    const float* __restrict gamma = b.in[1];
    const float* __restrict beta = b.in[2];
    float* __restrict y = b.out[0];
    float* __restrict mean = v.mean;
    float* __restrict inv_std = v.inv_std;
    float* __restrict scale = v.coef;
    float* __restrict shift = v.sum_dz;
    if (!b.training) {
      for (int64_t c = 0; c < c_n; ++c) {
        inv_std[c] = 1.0f / std::sqrt(b.in[4][c] + eps);
        scale[c] = gamma[c] * inv_std[c];
        shift[c] = beta[c] - b.in[3][c] * scale[c];
      }
      for (int64_t p = 0; p < count; ++p) {
        for (int64_t c = 0; c < c_n; ++c) y[p * c_n + c] = x[p * c_n + c] * scale[c] + shift[c];
      }
    } else {
      float* __restrict xhat = v.xhat;
      float* __restrict var = v.sum_dz;
      std::fill(mean, mean + c_n, 0.0f);
      std::fill(var, var + c_n, 0.0f);
      for (int64_t p = 0; p < count; ++p) {
        for (int64_t c = 0; c < c_n; ++c) mean[c] += x[p * c_n + c];
      }
      const float inv_count = 1.0f / static_cast<float>(count);
      for (int64_t c = 0; c < c_n; ++c) mean[c] *= inv_count;
      for (int64_t p = 0; p < count; ++p) {
        for (int64_t c = 0; c < c_n; ++c) {
          const float d = x[p * c_n + c] - mean[c];
          xhat[p * c_n + c] = d;
          var[c] += d * d;
        }
      }
      for (int64_t c = 0; c < c_n; ++c) {
        var[c] *= inv_count;
        inv_std[c] = 1.0f / std::sqrt(var[c] + eps);
      }
      for (int64_t p = 0; p < count; ++p) {
        for (int64_t c = 0; c < c_n; ++c) {
          const float h = xhat[p * c_n + c] * inv_std[c];
          xhat[p * c_n + c] = h;
          y[p * c_n + c] = h * gamma[c] + beta[c];
        }
      }
      if (b.row0 == 0 && b.in[3] == b.in_tensors[3]->f32.data() &&
          b.in[4] == b.in_tensors[4]->f32.data()) {
        const float momentum = bn_momentum(*b.op);
        const float unbias = count > 1 ? static_cast<float>(count) / static_cast<float>(count - 1) : 1.0f;
        auto* moving_mean = const_cast<float*>(b.in[3]);
        auto* moving_var = const_cast<float*>(b.in[4]);
        for (int64_t c = 0; c < c_n; ++c) {
          moving_mean[c] = momentum * moving_mean[c] + (1.0f - momentum) * mean[c];
          moving_var[c] = momentum * moving_var[c] + (1.0f - momentum) * unbias * var[c];
        }
      }
    }
    act_forward(op_activation(*b.op, true), b.out[0], c_n * count);
  }

  // Training (the statistics depend on x):
  //   dz = dy * act'(y);  dbeta = sum dz;  dgamma = sum dz * xhat;
  //   dx = gamma * inv_std / count * (count * dz - dbeta - xhat * dgamma)
  // Inference (fixed statistics): dx = dz * gamma * inv_std, xhat from the moving statistics.
  void backward(const OpBinding& b) const override {
    const BnViews v = views(b);
    const int64_t c_n = v.c, count = v.positions;
    act_backward(op_activation(*b.op, true), b.out[0], b.dout[0], c_n * count);
    const float* __restrict dz = b.dout[0];
    const float* __restrict gamma = b.in[1];
    const float* __restrict inv_std = v.inv_std;
    float* __restrict xhat = v.xhat;
    float* __restrict sum_dz = v.sum_dz;
    float* __restrict sum_dz_xhat = v.sum_dz_xhat;
    float* __restrict coef = v.coef;
    if (!b.training) {
      // Forward left inv_std from the moving variance; rebuild xhat for dgamma.
      const float* __restrict x = b.in[0];
      const float* __restrict moving_mean = b.in[3];
      for (int64_t p = 0; p < count; ++p) {
        for (int64_t c = 0; c < c_n; ++c) xhat[p * c_n + c] = (x[p * c_n + c] - moving_mean[c]) * inv_std[c];
      }
    }
    std::fill(sum_dz, sum_dz + c_n, 0.0f);
    std::fill(sum_dz_xhat, sum_dz_xhat + c_n, 0.0f);
    for (int64_t p = 0; p < count; ++p) {
      for (int64_t c = 0; c < c_n; ++c) {
        sum_dz[c] += dz[p * c_n + c];
        sum_dz_xhat[c] += dz[p * c_n + c] * xhat[p * c_n + c];
      }
    }
    if (b.din[1] != nullptr) std::copy(sum_dz_xhat, sum_dz_xhat + c_n, b.din[1]);
    if (b.din[2] != nullptr) std::copy(sum_dz, sum_dz + c_n, b.din[2]);
    if (b.din[0] == nullptr) return;
    float* __restrict dx = b.din[0];
    if (!b.training) {
      for (int64_t c = 0; c < c_n; ++c) coef[c] = gamma[c] * inv_std[c];
      for (int64_t p = 0; p < count; ++p) {
        for (int64_t c = 0; c < c_n; ++c) dx[p * c_n + c] = dz[p * c_n + c] * coef[c];
      }
      return;
    }
    const auto fcount = static_cast<float>(count);
    for (int64_t c = 0; c < c_n; ++c) coef[c] = gamma[c] * inv_std[c] / fcount;
    for (int64_t p = 0; p < count; ++p) {
      for (int64_t c = 0; c < c_n; ++c) {
        const int64_t i = p * c_n + c;
        dx[i] = (fcount * dz[i] - sum_dz[c] - xhat[i] * sum_dz_xhat[c]) * coef[c];
      }
    }
  }
};

}  // namespace

const Layer& batch_norm_layer() {
  static const BatchNormLayer layer;
  return layer;
}

}  // namespace tinyc
