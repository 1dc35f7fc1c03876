// `tinyc emit`: standalone C++ source for a model (DESIGN.md §5): NAME.h (API, sizes) and
// NAME.cpp (weights as static const arrays, one static function per layer, one static arena
// laid out by a lifetime-based memory planner). No heap, no exceptions, no libstdc++.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tinyc/model.h"

namespace tinyc {

struct EmitOptions {
  std::string target = "host";  // a name from the target table (`tinyc targets`)
  std::string out_dir;          // where NAME.h and NAME.cpp go (created if missing)
  std::string name;             // C identifier prefixing the API; empty: from the model name
  // Recorded in the provenance comment (e.g. "tinyc emit m.tinyc --target cortex-m4 -o out").
  // Same model and options, same bytes: nothing else that varies (time, paths) is written.
  std::string command_line;
  // Memory limits checked instead of the target table's (--flash, --ram); -1 keeps the
  // table's, 0 means no limit.
  int64_t flash_limit = -1;
  int64_t ram_limit = -1;
  // Project layout around the two files (README "emit --format"): plain (just NAME.h and
  // NAME.cpp), arduino, platformio, cmake or zephyr.
  std::string format = "plain";
};

// One buffer of the static arena as the memory planner placed it: the arena timeline of
// `tinyc report`. Steps: 0 is the preprocessing, op i is step i + 1.
struct EmitArenaBuffer {
  std::string label;      // tensor names sharing it, "scratch of OP" or "preprocessed input"
  int64_t offset = 0;     // bytes from the arena's start
  int64_t bytes = 0;
  int first_step = 0;     // step that writes it
  int last_step = 0;      // last step that reads it
};

struct EmitLayerReport {
  std::string name;          // op name ("dense_1")
  std::string type;          // op type ("dense")
  std::string function;      // emitted function ("layer0_dense_1"); empty when the op is free
  int64_t macs = 0;
  int64_t weights_bytes = 0;
  std::string output;        // "arena", "input", "output" (the caller's buffers) or "alias"
  int64_t output_offset = 0; // byte offset in the arena (output == "arena")
  int64_t output_bytes = 0;
  // int8 dense layers: the weights' layout ("dense" | "sparse"; empty for other layers), the
  // bytes each would take and why the smaller was chosen.
  std::string weights_layout;
  int64_t dense_weights_bytes = 0;
  int64_t sparse_weights_bytes = 0;
  std::string layout_reason;
  // int8 layers that accumulate: worst-case |int32 accumulator| over all inputs (emit refuses
  // a layer where it exceeds 2^31 - 1); 0 for others.
  int64_t accumulator_bound = 0;
};

struct EmitReport {
  std::string name;                 // the C identifier used
  std::string target;
  std::vector<std::string> files;   // paths written (header first)
  int64_t weights_bytes = 0;        // constant data: weights, biases, preprocessing
  int64_t arena_bytes = 0;          // NAME_ARENA_BYTES: exactly the static arena
  int64_t arena_lower_bound = 0;    // largest sum of simultaneously live arena tensors
  int64_t input_bytes = 0;
  int64_t output_bytes = 0;
  int64_t ram_bytes = 0;            // arena + input + output (what TFLM's arena holds)
  int64_t code_bytes_estimate = 0;  // rough .text estimate used for the flash check
  int64_t flash_bytes = 0;          // weights + code estimate
  int64_t flash_limit = 0;          // checked against: the target's or --flash (0: none)
  int64_t ram_limit = 0;            // checked against: the target's or --ram (0: none)
  int64_t macs = 0;
  std::string quantization;         // "float32" | "int8"
  std::vector<EmitLayerReport> layers;
  std::vector<EmitArenaBuffer> arena;  // every arena buffer, in planning order
  std::vector<std::string> notes;   // e.g. float model on a target without FPU
};

struct EmittedCode {
  std::string header;  // NAME.h
  std::string source;  // NAME.cpp
};

// Generates the code in memory. Throws Error(kUnsupported) for an op or target it cannot emit
// and for a model that does not fit the target's flash or RAM (the message gives the numbers),
// Error(kUsage) for a name that is not a C identifier.
EmittedCode emit_code(const Model& model, const EmitOptions& options, EmitReport* report);

// emit_code, then writes out_dir/NAME.h and out_dir/NAME.cpp (atomically), inside the project
// layout of options.format (Error(kUsage) for an unknown format).
EmitReport emit_model(const Model& model, const EmitOptions& options);

// The names accepted by EmitOptions::format.
const std::vector<std::string>& emit_formats();

}  // namespace tinyc
