// Shared by the emitter's parts: the state of one emission and the per-op kernel writers.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "emit/code_writer.h"
#include "layers/activation_fn.h"
#include "tinyc/model.h"
#include "tinyc/quant_math.h"
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
  std::map<std::string, std::string> shared_kernels;  // a shared kernel's text -> its name

  EmitContext(const Model& m, const Target& t) : model(m), target(t) {}

  // Writes `alignas(16) static const float NAME[d0][d1] = {...};` for a constant tensor (once)
  // and returns its identifier (named after the tensor, e.g. dense_1_weights). `rows` > 0
  // chooses d0 (a divisor of the size); by default a tensor of rank >= 2 keeps its first
  // dimension as rows and anything else is flat.
  const std::string& constant_array(int tensor, int64_t rows = 0);
};

// How the memory planner may treat an op's output.
enum class OpStorage : uint8_t {
  kNew,       // needs its own buffer (reads its input while writing)
  kInPlace,   // may overwrite its input when nothing else reads it later: the kernel writes
              // each output value only after reading every input value that it and the
              // outputs after it need (element-wise ops; pools without top/left padding)
  kView,      // same data as its input (flatten, dropout at inference, reshape): no code
};

// Float kernels (kernels_float.cpp, window ops in kernels_float_cnn.cpp). Each writes the op's
// constants and one static function `void fn(const float* x, float* y)` (x == y allowed for
// kInPlace ops). Throws Error(kUnsupported) naming the op and target for op types it cannot
// emit. Same storage for float and int8 kernels.
OpStorage op_storage(const Model& m, const Op& op);
void emit_float_kernel(EmitContext& ctx, const Op& op, const std::string& fn);
// conv2d, depthwise_conv2d, max_pool2d, avg_pool2d, global_avg_pool2d and batch_norm (the
// ones emit could not fold into the op before them).
void emit_float_cnn_kernel(EmitContext& ctx, const Op& op, const std::string& fn);
// True when a pool over `op`'s input never reads an input value that an earlier output
// position already overwrote in place (no top or left padding).
bool pool_in_place(const Model& m, const Op& op);
// The activation applied to `v`, an expression of type float.
std::string float_activation_expr(ActKind kind, const std::string& v);
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
// conv2d, depthwise_conv2d and the pools (kernels_int8_cnn.cpp): portable loops.
void emit_int8_cnn_kernel(EmitContext& ctx, const Op& op, const std::string& fn);
// conv2d (and depthwise_conv2d with one input channel) on DSP targets (kernels_int8_dsp.cpp):
// writes the SMLAD kernel and returns true, or returns false where it does not apply. Its
// int16 scratch: dsp_conv_scratch_bytes (0 where it does not apply).
bool emit_int8_conv_dsp(EmitContext& ctx, const Op& op, const std::string& fn);
int64_t dsp_conv_scratch_bytes(const Target& target, const Model& m, const Op& op);
// depthwise_conv2d with multiplier 1 over a multiple of 4 channels on DSP targets
// (kernels_int8_dsp_depthwise.cpp): writes its kernel and returns true, else returns false.
bool emit_int8_depthwise_dsp(EmitContext& ctx, const Op& op, const std::string& fn);
// depthwise_conv2d over one input channel on DSP targets, and conv2d over one with a window
// of more than 3 rows or 4 columns, without scratch (kernels_int8_dsp_rows.cpp): where
// dsp_rows_applies, emit_int8_conv_dsp writes this kernel.
bool dsp_rows_applies(const Target& target, const Model& m, const Op& op);
void emit_int8_conv_dsp_rows(EmitContext& ctx, const Op& op, const std::string& fn);
// Writes `int32_t name(const int8_t* row, int ix)`: bytes ix..ix + 3 of an input row of in_w
// bytes as a word, the zero point where they lie outside the row.
void emit_edge_word(CodeWriter& src, const std::string& name, int in_w, int32_t zero_point);
// Writes `const int32_t offset`: minus the zero point in both halves, for SXTAB16.
void emit_offset(CodeWriter& src, int32_t zero_point);
// Whether a conv2d window over one channel fits the registers of the DSP kernel that keeps a
// pixel's taps in them (kernels_int8_dsp.cpp); larger ones take the rows kernel.
bool few_taps_window(int k_h, int k_w);
// Writes `alignas(16) static const TYPE id[rows][cols]` (rows 0: flat) after a comment line
// and returns the identifier (made unique from `name`); counts the bytes as weights.
std::string int_array(EmitContext& ctx, const std::string& name, const char* type, int type_bytes,
                      const std::vector<int64_t>& values, int64_t rows, const std::string& comment);
void emit_int8_copy(EmitContext& ctx, const std::string& fn, int64_t count);
// add, mul, concatenation and pad (kernels_tfops.cpp), float or int8: `void fn(const T* x1,
// const T* x2, ..., T* y)` with one parameter per non-constant input, in input order.
void emit_elementwise_kernel(EmitContext& ctx, const Op& op, const std::string& fn, bool int8);
// lstm (kernels_recurrent.cpp): `void fn(const T* x, T* y, T* h, C* c)` with the layer's state h
// and c (int8: int8_t h, int32_t c holding int16 values; float: float both).
void emit_lstm_kernel(EmitContext& ctx, const Op& op, const std::string& fn, bool int8);
// svdf (kernels_recurrent.cpp): `void fn(const T* x, T* y, S* state)` (S: float; int8_t for an
// int8 state; int32_t holding an int16 state).
void emit_svdf_kernel(EmitContext& ctx, const Op& op, const std::string& fn, bool int8);
// A layer's per-channel requantization constants as arrays (named from `name`), and the
// epilogue call that uses them: output_int8_hi (one 64-bit multiply-accumulate) where every
// multiplier is >= 0 and every shift in [-31, -2], else output_int8.
struct RequantArrays {
  std::string multiplier, rounding, shift;  // identifiers; rounding empty for output_int8
};
RequantArrays requant_arrays(EmitContext& ctx, const std::string& name,
                             const std::vector<QuantizedMultiplier>& q);
// Per-filter bias and requantization constants of an int8 DSP kernel. Folded (one int32 row
// per filter: bias, multiplier, k_hi, shift_hi, for output_int8_folded: about 4 instructions
// fewer per output than output_int8_hi) where every multiplier is >= 0 and every shift in
// [-22, -2]; otherwise a bias array and RequantArrays.
struct FilterConstants {
  bool folded = true;
  bool doubled = false;  // doubled_constants: rows for output_int8_doubled
  std::string channels;  // folded: the [filters][4] array
  std::string bias;      // not folded
  RequantArrays requant;  // not folded
};
FilterConstants filter_constants(EmitContext& ctx, const std::string& name,
                                 const std::vector<QuantizedMultiplier>& q,
                                 const std::vector<int64_t>& bias, int32_t out_zero_point);
// The same rows for output_int8_doubled (bias doubled; multiplier, 2^(e-1) + zero point 2^e,
// e) where a kernel accumulates doubled inputs 2 (x - zx) with `weights` (one row per filter,
// zero-padded): every multiplier >= 0, every shift in [-22, -1] and twice each filter's
// accumulator bound within int32, not counting filters whose output cannot vary (their
// constant goes into their row); otherwise doubled false and nothing is written.
FilterConstants doubled_constants(EmitContext& ctx, const std::string& name,
                                  const std::vector<QuantizedMultiplier>& q,
                                  const std::vector<int64_t>& bias, int32_t out_zero_point,
                                  const ActivationRange& range, const std::vector<int64_t>& weights,
                                  int32_t in_zero_point);
// doubled_constants' rows alone, 4 per filter, without writing them; false where
// doubled_constants would write nothing.
bool doubled_rows(const std::vector<QuantizedMultiplier>& q, const std::vector<int64_t>& bias,
                  int32_t out_zero_point, const ActivationRange& range,
                  const std::vector<int64_t>& weights, int32_t in_zero_point,
                  std::vector<int64_t>* rows);
// `output_int8...(acc, ...[index], ...)` clamped to [lo, hi].
std::string requant_call(const RequantArrays& r, const std::string& acc, const std::string& index,
                         int32_t zero_point, int32_t lo, int32_t hi);
// The static fixed-point helper functions the int8 kernels call (empty when none is needed).
std::string int8_helpers(bool requantize, bool softmax, bool dsp);

}  // namespace tinyc
