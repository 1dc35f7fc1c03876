#include "emit/emit_api.h"

#include <cctype>

#include <fmt/format.h>

#include "tinyc/target.h"

namespace tinyc {
namespace {

std::string c_string_literal(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u >= 0x7f) {
      out += fmt::format("\\{:03o}", u);
    } else {
      out += c;
    }
  }
  return out + "\"";
}

}  // namespace

std::string macro_prefix(const std::string& name) {
  std::string s = name;
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

std::string emit_header(const Model& m, const Target& target, const ApiDesc& api) {
  const std::string& name = api.name;
  const std::string NAME = macro_prefix(name);
  CodeWriter h;
  h.raw(fmt::format("// {}.h: C API of model '{}' for {}.\n", name, m.name, target.name));
  h.raw(api.provenance);
  h.line("//");
  h.linef("//   float in[{0}_INPUT_SIZE], out[{0}_OUTPUT_SIZE];", NAME);
  h.linef("//   if ({}_invoke(in, out) != 0) {{ /* a null buffer */ }}", name);
  h.line("//");
  h.line("// Inputs are raw values: the preprocessing fitted at training time is applied inside.");
  if (api.int8) {
    h.linef("// The model is int8: {0}_invoke = {0}_quantize_input, {0}_invoke_int8,", name);
    h.linef("// {}_dequantize_output; {}_invoke_int8 alone skips the float conversions.", name, name);
  }
  h.line("// Not reentrant: one static arena serves every call.");
  h.linef("#ifndef TINYC_{}_H_", NAME);
  h.linef("#define TINYC_{}_H_", NAME);
  h.line();
  if (api.int8) {
    h.line("#include <stdint.h>");
    h.line();
  }
  h.linef("#define {}_INPUT_SIZE {}  // values", NAME, api.input_size);
  h.linef("#define {}_OUTPUT_SIZE {}  // values", NAME, api.output_size);
  if (api.input_offset.size() > 1) {
    for (size_t k = 0; k < api.input_offset.size(); ++k) {
      h.linef("#define {}_INPUT{}_OFFSET {}", NAME, k, api.input_offset[k]);
      h.linef("#define {}_INPUT{}_SIZE {}", NAME, k, api.input_sizes[k]);
    }
  }
  if (api.output_offset.size() > 1) {
    for (size_t k = 0; k < api.output_offset.size(); ++k) {
      h.linef("#define {}_OUTPUT{}_OFFSET {}", NAME, k, api.output_offset[k]);
      h.linef("#define {}_OUTPUT{}_SIZE {}", NAME, k, api.output_sizes[k]);
    }
  }
  h.linef("#define {}_ARENA_BYTES {}  // the static arena inside {}.cpp", NAME, api.arena_bytes, name);
  h.linef("#define {}_WEIGHTS_BYTES {}  // constant data in flash", NAME, api.weights_bytes);
  if (api.int8) {
    h.line("// int8 input and output: real = scale * (q - zero_point).");
    h.linef("#define {}_INPUT_SCALE {}", NAME, float_literal(api.input_scale, "input scale"));
    h.linef("#define {}_INPUT_ZERO_POINT {}", NAME, api.input_zero_point);
    h.linef("#define {}_OUTPUT_SCALE {}", NAME, float_literal(api.output_scale, "output scale"));
    h.linef("#define {}_OUTPUT_ZERO_POINT {}", NAME, api.output_zero_point);
    for (size_t k = 0; api.input_scales.size() > 1 && k < api.input_scales.size(); ++k) {
      h.linef("#define {}_INPUT{}_SCALE {}", NAME, k, float_literal(api.input_scales[k], "input scale"));
      h.linef("#define {}_INPUT{}_ZERO_POINT {}", NAME, k, api.input_zero_points[k]);
    }
  }
  if (!m.labels.empty()) h.linef("#define {}_NUM_LABELS {}", NAME, m.labels.size());
  h.line();
  h.line("#ifdef __cplusplus");
  h.line("extern \"C\" {");
  h.line("#endif");
  h.line();
  h.linef("// Runs one inference: `input` holds {}_INPUT_SIZE raw values, `output` receives", NAME);
  h.linef("// {}_OUTPUT_SIZE values. Returns 0 on success, -1 for a null buffer.", NAME);
  h.linef("int {}_invoke(const float* input, float* output);", name);
  if (api.int8) {
    h.line();
    h.line("// The int8 graph alone: quantized input in, quantized output out.");
    h.linef("int {}_invoke_int8(const int8_t* input, int8_t* output);", name);
    h.line("// Preprocessing and quantization of raw inputs; dequantization of outputs.");
    h.linef("void {}_quantize_input(const float* raw, int8_t* q);", name);
    h.linef("void {}_dequantize_output(const int8_t* q, float* out);", name);
    h.raw(api.raw_declaration);
  }
  if (api.stateful) {
    h.line();
    h.line("// The model keeps state (recurrent layers) from one invoke to the next, in the");
    h.line("// arena. Sets it back to its initial value, as before the first invoke.");
    h.linef("void {}_reset(void);", name);
  }
  if (!m.labels.empty()) {
    h.line();
    h.line("// Class names, indexed like the outputs.");
    h.linef("extern const char* const {0}_labels[{1}_NUM_LABELS];", name, NAME);
  }
  h.line();
  h.line("#ifdef __cplusplus");
  h.line("}  // extern \"C\"");
  h.line("#endif");
  h.line();
  h.linef("#endif  // TINYC_{}_H_", NAME);
  return h.str();
}

std::string emit_labels(const Model& m, const ApiDesc& api) {
  if (m.labels.empty()) return "";
  std::vector<std::string> items;
  for (const std::string& l : m.labels) items.push_back(c_string_literal(l));
  return fmt::format("extern \"C\" const char* const {}_labels[{}_NUM_LABELS] = {};\n\n", api.name,
                     macro_prefix(api.name), initializer(items, 0, 0));
}

void emit_int8_api(EmitContext& ctx, const ApiDesc& api) {
  const std::string& name = api.name;
  const std::string NAME = macro_prefix(name);
  CodeWriter& s = ctx.src;
  s.line();
  const std::string x = preprocess_expr(ctx, "raw[i]", api.input_size);
  ctx.needs_math = true;
  s.line("// Preprocessing, then TFLite QUANTIZE: clamp(round(x / scale) + zero_point, -128, 127).");
  s.open(fmt::format("extern \"C\" void {}_quantize_input(const float* raw, int8_t* q)", name));
  // Several inputs: each with its own parameters, over its part of the buffer.
  const size_t inputs = api.input_scales.size() > 1 ? api.input_scales.size() : 1;
  for (size_t k = 0; k < inputs; ++k) {
    const std::string scale = inputs > 1 ? fmt::format("{}_INPUT{}_SCALE", NAME, k)
                                         : NAME + "_INPUT_SCALE";
    const std::string zp = inputs > 1 ? fmt::format("{}_INPUT{}_ZERO_POINT", NAME, k)
                                      : NAME + "_INPUT_ZERO_POINT";
    if (inputs > 1) {
      s.open(fmt::format("for (int i = {0}_INPUT{1}_OFFSET; i < {0}_INPUT{1}_OFFSET + {0}_INPUT{1}_SIZE; ++i)",
                         NAME, k));
    } else {
      s.open(fmt::format("for (int i = 0; i < {}; ++i)", api.input_size));
    }
    s.linef("const float r = roundf({} / {});", x == "raw[i]" ? x : "(" + x + ")", scale);
    s.line("// Clamped in float first, so that a huge value cannot overflow the conversion.");
    s.linef("const int32_t v = static_cast<int32_t>(fminf(fmaxf(r, -1e9f), 1e9f)) + ({});", zp);
    s.line("q[i] = static_cast<int8_t>(v < -128 ? -128 : (v > 127 ? 127 : v));");
    s.close();
  }
  s.close();
  s.line();
  s.line("// TFLite DEQUANTIZE: scale * (q - zero_point).");
  s.open(fmt::format("extern \"C\" void {}_dequantize_output(const int8_t* q, float* out)", name));
  s.linef("for (int i = 0; i < {0}; ++i) out[i] = {1}_OUTPUT_SCALE * static_cast<float>(q[i] - ({1}_OUTPUT_ZERO_POINT));",
          api.output_size, NAME);
  s.close();
  s.line();
  s.linef("// {}_invoke's quantized input and output (dropped by the linker when only", name);
  s.linef("// {}_invoke_int8 is used).", name);
  s.linef("static int8_t {}_input_q[{}];", name, api.input_size);
  s.linef("static int8_t {}_output_q[{}];", name, api.output_size);
  s.line();
  s.open(fmt::format("extern \"C\" int {}_invoke(const float* input, float* output)", name));
  s.line("if (input == nullptr || output == nullptr) return -1;");
  s.linef("{0}_quantize_input(input, {0}_input_q);", name);
  s.linef("const int status = {0}_invoke_int8({0}_input_q, {0}_output_q);", name);
  s.linef("{0}_dequantize_output({0}_output_q, output);", name);
  s.line("return status;");
  s.close();
}

}  // namespace tinyc
