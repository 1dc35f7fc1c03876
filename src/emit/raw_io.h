// int16 / int32 graph I/O of imported int8 models: NAME_invoke_raw (raw_io.cpp).
#pragma once

#include <string>
#include <vector>

#include "emit/emit_internal.h"

namespace tinyc {

// The conversions folded out of the graph: per graph input the QUANTIZE from its raw type to
// int8 (empty: already int8); per output the ops from the int8 graph output to the raw type.
struct RawIo {
  bool folded = false;
  std::vector<std::vector<Op>> inputs, outputs;
  std::vector<DType> input_types, output_types;  // the original I/O tensors' types
};

// On a copy of a quantized model with int16/int32 graph I/O: makes the int8 tensors the
// graph's I/O and removes the conversions into `raw`. False (m unchanged in meaning) when the
// model has no such I/O or converts it some other way.
bool fold_raw_io(Model& m, RawIo* raw);
// NAME_invoke_raw, after NAME_invoke_int8 in ctx.src; sizes per graph input / output.
void emit_raw_api(EmitContext& ctx, const RawIo& raw, const std::vector<int64_t>& input_sizes,
                  const std::vector<int64_t>& output_sizes);
// The declaration and comment for NAME.h.
std::string raw_header_lines(const RawIo& raw, const std::string& name);

}  // namespace tinyc
