// The public face of emitted code: NAME.h (macros, prototypes) and the API functions at the
// end of NAME.cpp that wrap the graph's invoke (float models: NAME_invoke; int8 models:
// NAME_invoke_int8 plus NAME_quantize_input, NAME_dequantize_output and a float NAME_invoke).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "emit/emit_internal.h"

namespace tinyc {

struct ApiDesc {
  std::string name;         // C identifier prefix
  std::string provenance;   // comment lines
  bool int8 = false;
  int64_t input_size = 0, output_size = 0;       // elements, all inputs / outputs together
  std::vector<int64_t> input_offset, input_sizes, output_offset, output_sizes;
  int64_t arena_bytes = 0, weights_bytes = 0;
  float input_scale = 1.0f, output_scale = 1.0f;  // int8 models
  int32_t input_zero_point = 0, output_zero_point = 0;
  std::vector<float> input_scales;          // int8 models: per graph input
  std::vector<int32_t> input_zero_points;
  bool stateful = false;    // recurrent layers: NAME_reset
  std::string raw_declaration;  // int16/int32 graph I/O: NAME_invoke_raw (raw_io.h)
};

std::string macro_prefix(const std::string& name);  // digits_mlp -> DIGITS_MLP
std::string emit_header(const Model& m, const Target& target, const ApiDesc& api);
// The labels array (C linkage) at the top of NAME.cpp; empty without labels.
std::string emit_labels(const Model& m, const ApiDesc& api);
// int8 models: NAME_quantize_input, NAME_dequantize_output and the float NAME_invoke, written
// to ctx.src after NAME_invoke_int8.
void emit_int8_api(EmitContext& ctx, const ApiDesc& api);

}  // namespace tinyc
