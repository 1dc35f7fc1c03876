// Element-wise activation functions shared by the fused epilogue of dense (and later conv)
// layers and the standalone `activation` layer. Derivatives are written in terms of the
// output y, so backward needs no copy of the pre-activation.
#pragma once

#include <cstdint>
#include <string>

#include "tinyc/model.h"

namespace tinyc {

enum class ActKind : uint8_t { kNone, kRelu, kRelu6, kSigmoid, kTanh };

const char* act_name(ActKind kind);
// "none"|"linear" -> kNone, "relu", "relu6", "sigmoid", "tanh"; false otherwise.
bool parse_act(const std::string& name, ActKind* kind);
// Reads op attribute "activation" (default none); errors name the op. `fusable_only` limits
// it to the activations that fold into an integer requantization clamp (none, relu, relu6).
ActKind op_activation(const Op& op, bool fusable_only);

// y = f(y) in place over `count` values.
void act_forward(ActKind kind, float* y, int64_t count);
// dy = dy * f'(x) in place, where f' is expressed through the output y.
void act_backward(ActKind kind, const float* y, float* dy, int64_t count);

}  // namespace tinyc
