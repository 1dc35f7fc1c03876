// int16 / int32 graph I/O of imported int8 models (keyword_scrambled: an int16 input through
// QUANTIZE to int8; an int8 -> int16 SOFTMAX, then QUANTIZE to an int32 output). The emitted
// int8 graph keeps int8 I/O; the conversions at its edges move into
// `int NAME_invoke_raw(const void* input, void* output)` (DESIGN.md §5), which takes and gives
// the tensors in their own types and computes exactly what the reference executor does.
#include "emit/raw_io.h"

#include <algorithm>

#include <fmt/format.h>

#include "emit/emit_api.h"
#include "tinyc/error.h"
#include "tinyc/quant_math.h"

namespace tinyc {
namespace {

const char* c_type(DType d) {
  switch (d) {
    case DType::kInt8: return "int8_t";
    case DType::kInt16: return "int16_t";
    case DType::kInt32: return "int32_t";
    default: return "float";
  }
}

bool is_wide_int(DType d) { return d == DType::kInt16 || d == DType::kInt32; }

std::vector<size_t> readers(const Model& m, int t) {
  std::vector<size_t> r;
  for (size_t i = 0; i < m.ops.size(); ++i) {
    if (std::find(m.ops[i].inputs.begin(), m.ops[i].inputs.end(), t) != m.ops[i].inputs.end()) {
      r.push_back(i);
    }
  }
  return r;
}

// QUANTIZE between integer types: TFLM's Requantize, clamped to the output type.
void emit_requantize(EmitContext& ctx, const Model& m, const Op& op, const std::string& x,
                     const std::string& y, int64_t count) {
  const Tensor& xt = m.tensor(op.inputs[0]);
  const Tensor& yt = m.tensor(op.outputs[0]);
  const QuantizedMultiplier q = quantize_multiplier(static_cast<double>(xt.quant.scale.at(0)) /
                                                    static_cast<double>(yt.quant.scale.at(0)));
  const auto in_zp = static_cast<int64_t>(xt.quant.zero_point.at(0));
  const auto out_zp = static_cast<int64_t>(yt.quant.zero_point.at(0));
  const char* lo = yt.dtype == DType::kInt8 ? "INT8_MIN" : yt.dtype == DType::kInt16 ? "INT16_MIN" : "INT32_MIN";
  const char* hi = yt.dtype == DType::kInt8 ? "INT8_MAX" : yt.dtype == DType::kInt16 ? "INT16_MAX" : "INT32_MAX";
  ctx.needs_requantize = true;
  ctx.src.linef("// {} (quantize): {} (scale {}, zero point {}) -> {} (scale {}, zero point {}).",
                op.name, dtype_name(xt.dtype), xt.quant.scale[0], in_zp, dtype_name(yt.dtype),
                yt.quant.scale[0], out_zp);
  ctx.src.open(fmt::format("for (int i = 0; i < {}; ++i)", count));
  ctx.src.linef("const int64_t v = static_cast<int64_t>(requantize(static_cast<int32_t>({}[i]) - ({}), "
                "{}, {})) + ({});", x, in_zp, q.multiplier, q.shift, out_zp);
  ctx.src.linef("{}[i] = static_cast<{}>(v < {} ? {} : (v > {} ? {} : v));", y, c_type(yt.dtype),
                lo, lo, hi, hi);
  ctx.src.close();
}

}  // namespace

bool fold_raw_io(Model& m, RawIo* raw) {
  *raw = RawIo();
  bool any = false;
  for (int t : m.inputs) any = any || is_wide_int(m.tensor(t).dtype);
  for (int t : m.outputs) any = any || is_wide_int(m.tensor(t).dtype);
  if (!any || !m.is_quantized()) return false;
  std::vector<size_t> drop;
  std::vector<int> inputs = m.inputs, outputs = m.outputs;
  for (int& t : inputs) {
    std::vector<Op> chain;
    if (is_wide_int(m.tensor(t).dtype)) {
      const std::vector<size_t> r = readers(m, t);
      if (r.size() != 1 || m.ops[r[0]].type != OpType::kQuantize ||
          m.tensor(m.ops[r[0]].outputs[0]).dtype != DType::kInt8) {
        return false;
      }
      chain.push_back(m.ops[r[0]]);
      drop.push_back(r[0]);
      t = m.ops[r[0]].outputs[0];
    }
    raw->inputs.push_back(std::move(chain));
  }
  for (int& t : outputs) {
    std::vector<Op> chain;  // int8 -> ... -> the raw output, in order
    while (m.tensor(t).dtype != DType::kInt8) {
      const auto p = std::find_if(m.ops.begin(), m.ops.end(),
                                  [&](const Op& op) { return op.outputs[0] == t; });
      if (p == m.ops.end()) return false;
      const bool converts = p->type == OpType::kQuantize ||
                            (p->type == OpType::kSoftmax && m.tensor(t).dtype == DType::kInt16);
      const int x = p->inputs[0];
      if (!converts || !is_wide_int(m.tensor(t).dtype) || readers(m, x).size() != 1) return false;
      chain.insert(chain.begin(), *p);
      drop.push_back(static_cast<size_t>(p - m.ops.begin()));
      t = x;
    }
    raw->outputs.push_back(std::move(chain));
  }
  for (int t : m.inputs) raw->input_types.push_back(m.tensor(t).dtype);
  for (int t : m.outputs) raw->output_types.push_back(m.tensor(t).dtype);
  std::sort(drop.begin(), drop.end());
  drop.erase(std::unique(drop.begin(), drop.end()), drop.end());
  for (size_t k = drop.size(); k-- > 0;) m.ops.erase(m.ops.begin() + static_cast<std::ptrdiff_t>(drop[k]));
  for (int t : m.inputs) m.tensor(t).role = TensorRole::kIntermediate;
  for (int t : m.outputs) m.tensor(t).role = TensorRole::kIntermediate;
  m.inputs = inputs;
  m.outputs = outputs;
  for (int t : m.inputs) m.tensor(t).role = TensorRole::kInput;
  for (int t : m.outputs) m.tensor(t).role = TensorRole::kOutput;
  raw->folded = true;
  return true;
}

void emit_raw_api(EmitContext& ctx, const RawIo& raw, const std::vector<int64_t>& input_sizes,
                  const std::vector<int64_t>& output_sizes) {
  const Model& m = ctx.model;
  const std::string& name = ctx.name;
  CodeWriter& s = ctx.src;
  int64_t in_total = 0, out_total = 0;
  for (int64_t n : input_sizes) in_total += n;
  for (int64_t n : output_sizes) out_total += n;
  // The int8 step functions of the output chains (the int16 softmax), at file scope.
  std::vector<std::vector<std::string>> out_fns(raw.outputs.size());
  for (size_t k = 0; k < raw.outputs.size(); ++k) {
    for (const Op& op : raw.outputs[k]) {
      std::string fn;
      if (op.type == OpType::kSoftmax) {
        fn = unique_identifier(fmt::format("raw_{}", op.name), &ctx.ids);
        emit_int8_kernel(ctx, op, fn);
        s.line();
      }
      out_fns[k].push_back(fn);
    }
  }
  const std::string in_q = unique_identifier(name + "_raw_in", &ctx.ids);
  const std::string out_q = unique_identifier(name + "_raw_out", &ctx.ids);
  s.linef("// {}_invoke_raw's int8 graph input and output.", name);
  s.linef("static int8_t {}[{}];", in_q, in_total);
  s.linef("static int8_t {}[{}];", out_q, out_total);
  s.line();
  s.line("// The graph's I/O tensors in their own types, back to back: the conversions at the");
  s.linef("// edges of the int8 graph around {}_invoke_int8.", name);
  s.open(fmt::format("extern \"C\" int {}_invoke_raw(const void* input, void* output)", name));
  s.line("if (input == nullptr || output == nullptr) return -1;");
  s.line("const unsigned char* const in_bytes = static_cast<const unsigned char*>(input);");
  s.line("unsigned char* const out_bytes = static_cast<unsigned char*>(output);");
  int64_t byte_offset = 0, q_offset = 0;
  for (size_t k = 0; k < raw.inputs.size(); ++k) {
    const DType d = raw.input_types[k];
    const std::string src = fmt::format("reinterpret_cast<const {}*>(in_bytes + {})", c_type(d), byte_offset);
    const std::string dst = fmt::format("({} + {})", in_q, q_offset);
    if (raw.inputs[k].empty()) {
      s.linef("for (int i = 0; i < {}; ++i) {}[i] = {}[i];", input_sizes[k], dst, src);
    } else {
      s.open("");
      s.linef("const {}* const x = {};", c_type(d), src);
      emit_requantize(ctx, m, raw.inputs[k][0], "x", dst, input_sizes[k]);
      s.close();
    }
    byte_offset += input_sizes[k] * dtype_bytes(d);
    q_offset += input_sizes[k];
  }
  s.linef("const int status = {}_invoke_int8({}, {});", name, in_q, out_q);
  byte_offset = 0;
  q_offset = 0;
  for (size_t k = 0; k < raw.outputs.size(); ++k) {
    const DType d = raw.output_types[k];
    const int64_t n = output_sizes[k];
    s.open("");
    s.linef("const int8_t* const q = {} + {};", out_q, q_offset);
    s.linef("{}* const y = reinterpret_cast<{}*>(out_bytes + {});", c_type(d), c_type(d), byte_offset);
    std::string cur = "q";
    for (size_t j = 0; j < raw.outputs[k].size(); ++j) {
      const Op& op = raw.outputs[k][j];
      const bool last = j + 1 == raw.outputs[k].size();
      const DType yd = m.tensor(op.outputs[0]).dtype;
      const std::string next = last ? "y" : fmt::format("t{}", j);
      if (!last) s.linef("{} {}[{}];", c_type(yd), next, n);
      if (op.type == OpType::kSoftmax) {
        if (cur != "q") unsupported("{}_invoke_raw: softmax '{}' must read the int8 graph output", name, op.name);
        s.linef("{}({}, {});", out_fns[k][j], cur, next);
      } else {
        emit_requantize(ctx, m, op, cur, next, n);
      }
      cur = next;
    }
    if (raw.outputs[k].empty()) s.linef("for (int i = 0; i < {}; ++i) y[i] = q[i];", n);
    s.close();
    byte_offset += n * dtype_bytes(d);
    q_offset += n;
  }
  s.line("return status;");
  s.close();
}

std::string raw_header_lines(const RawIo& raw, const std::string& name) {
  std::string types;
  for (DType d : raw.input_types) types += std::string(types.empty() ? "" : ", ") + c_type(d);
  std::string out_types;
  for (DType d : raw.output_types) out_types += std::string(out_types.empty() ? "" : ", ") + c_type(d);
  return fmt::format(
      "\n// The graph's own I/O types: input {0} and output {1} (each tensor's values back to\n"
      "// back, {2}_INPUT_SIZE / {2}_OUTPUT_SIZE of them), converted at the edges of the int8\n"
      "// graph exactly as the model's QUANTIZE / SOFTMAX ops do. {3}_invoke_int8 (and the float\n"
      "// {3}_invoke) run only the int8 graph between those conversions.\n"
      "int {3}_invoke_raw(const void* input, void* output);\n",
      types, out_types, macro_prefix(name), name);
}

}  // namespace tinyc
