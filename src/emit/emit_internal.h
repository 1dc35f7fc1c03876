// Shared by the emitter's parts: the state of one emission and the per-op kernel writers.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "emit/code_writer.h"
#include "tinyc/model.h"
#include "tinyc/target.h"

namespace tinyc {

struct EmitContext {
  const Model& model;
  const Target& target;
  std::string name;               // C identifier prefix of the API
  CodeWriter src;                 // NAME.cpp body (after the includes)
  std::set<std::string> ids;      // identifiers taken at file scope
  std::map<int, std::string> arrays;  // constant tensor index -> its array's identifier
  int64_t weights_bytes = 0;      // constant data written so far
  bool needs_math = false;        // some kernel calls <math.h>
  bool needs_requantize = false;  // int8: the fixed-point helpers
  bool needs_softmax = false;     // int8: the reciprocal helpers of softmax
  bool needs_dsp = false;         // int8: <arm_acle.h> SIMD intrinsics

  EmitContext(const Model& m, const Target& t) : model(m), target(t) {}

  // Writes `alignas(16) static const float NAME[d0][d1] = {...};` for a constant tensor (once)
  // and returns its identifier (named after the tensor, e.g. dense_1_weights).
  const std::string& constant_array(int tensor);
};

// How the memory planner may treat an op's output.
enum class OpStorage : uint8_t {
  kNew,       // needs its own buffer (reads its input while writing)
  kInPlace,   // element-wise: may overwrite its input when nothing else reads it later
  kView,      // same data as its input (flatten, dropout at inference): no code at all
};

// Float kernels (kernels_float.cpp). Each writes the op's constants and one static function
// `void fn(const float* x, float* y)` (x == y allowed for kInPlace ops). Throws
// Error(kUnsupported) naming the op and target for op types it cannot emit.
// Same for float and int8 kernels.
OpStorage op_storage(const Op& op);
void emit_float_kernel(EmitContext& ctx, const Op& op, const std::string& fn);
// `void fn(const float* x, float* y)` copying `count` floats (a view that is a graph output).
void emit_float_copy(EmitContext& ctx, const std::string& fn, int64_t count);
// `void fn(const float* raw, float* x)`: the model's preprocessing over `features` values.
void emit_float_preprocess(EmitContext& ctx, const std::string& fn, int64_t features);
// The preprocessed value of `raw` (an expression indexed by `i`), exactly as the reference
// executor computes it; writes per-feature constant arrays when the model has them.
std::string preprocess_expr(EmitContext& ctx, const std::string& raw, int64_t features);

// int8 kernels (kernels_int8.cpp), the same contract with int8_t buffers; bit-exact with the
// int8 reference executor. An op with int8_scratch_bytes > 0 gets a third parameter,
// `int32_t* scratch`, word-aligned working memory in the arena while it runs.
int64_t int8_scratch_bytes(const Target& target, const Model& m, const Op& op);
void emit_int8_kernel(EmitContext& ctx, const Op& op, const std::string& fn);
void emit_int8_copy(EmitContext& ctx, const std::string& fn, int64_t count);
// The static fixed-point helper functions the int8 kernels call (empty when none is needed).
std::string int8_helpers(bool requantize, bool softmax, bool dsp);

}  // namespace tinyc
