#include "layers/activation_fn.h"

#include <cmath>

#include "tinyc/error.h"

namespace tinyc {

const char* act_name(ActKind kind) {
  switch (kind) {
    case ActKind::kNone: return "none";
    case ActKind::kRelu: return "relu";
    case ActKind::kRelu6: return "relu6";
    case ActKind::kSigmoid: return "sigmoid";
    case ActKind::kTanh: return "tanh";
  }
  return "none";
}

bool parse_act(const std::string& name, ActKind* kind) {
  if (name == "linear") {
    *kind = ActKind::kNone;
    return true;
  }
  for (ActKind k : {ActKind::kNone, ActKind::kRelu, ActKind::kRelu6, ActKind::kSigmoid,
                    ActKind::kTanh}) {
    if (name == act_name(k)) {
      *kind = k;
      return true;
    }
  }
  return false;
}

ActKind op_activation(const Op& op, bool fusable_only) {
  const std::string name = op.get_str("activation", "none");
  ActKind kind;
  if (!parse_act(name, &kind)) {
    bad_input("layer '{}': unknown activation '{}' (expected none, relu, relu6, sigmoid, tanh)",
              op.name, name);
  }
  if (fusable_only && kind != ActKind::kNone && kind != ActKind::kRelu &&
      kind != ActKind::kRelu6) {
    bad_input("layer '{}': activation '{}' cannot be fused (use a separate activation layer)",
              op.name, name);
  }
  return kind;
}

void act_forward(ActKind kind, float* y, int64_t count) {
  switch (kind) {
    case ActKind::kNone:
      return;
    case ActKind::kRelu:
      for (int64_t i = 0; i < count; ++i) y[i] = y[i] > 0.0f ? y[i] : 0.0f;
      return;
    case ActKind::kRelu6:
      for (int64_t i = 0; i < count; ++i) y[i] = std::fmin(std::fmax(y[i], 0.0f), 6.0f);
      return;
    case ActKind::kSigmoid:
      for (int64_t i = 0; i < count; ++i) y[i] = 1.0f / (1.0f + std::exp(-y[i]));
      return;
    case ActKind::kTanh:
      for (int64_t i = 0; i < count; ++i) y[i] = std::tanh(y[i]);
      return;
  }
}

void act_backward(ActKind kind, const float* y, float* dy, int64_t count) {
  switch (kind) {
    case ActKind::kNone:
      return;
    case ActKind::kRelu:
      for (int64_t i = 0; i < count; ++i) dy[i] = y[i] > 0.0f ? dy[i] : 0.0f;
      return;
    case ActKind::kRelu6:
      for (int64_t i = 0; i < count; ++i) dy[i] = (y[i] > 0.0f && y[i] < 6.0f) ? dy[i] : 0.0f;
      return;
    case ActKind::kSigmoid:
      for (int64_t i = 0; i < count; ++i) dy[i] *= y[i] * (1.0f - y[i]);
      return;
    case ActKind::kTanh:
      for (int64_t i = 0; i < count; ++i) dy[i] *= 1.0f - y[i] * y[i];
      return;
  }
}

}  // namespace tinyc
