// The emitter: decides where every activation tensor lives (the caller's input or output
// buffer, or the static arena laid out by the memory planner), checks that the model fits the
// target, and writes NAME.h and NAME.cpp (DESIGN.md §5).
#include <algorithm>
#include <climits>
#include <functional>

#include "emit/accumulator_bound.h"
#include "emit/buffer_overlap.h"
#include "emit/emit_api.h"
#include "emit/emit_internal.h"
#include "emit/kernels_sparse.h"
#include "emit/memory_planner.h"
#include "emit/project_formats.h"
#include "emit/raw_io.h"
#include "tinyc/emit.h"
#include "tinyc/error.h"
#include "tinyc/executor.h"
#include "tinyc/fileio.h"
#include "tinyc/layer.h"
#include "tinyc/model_file.h"
#include "tinyc/transform.h"
#include "tinyc/version.h"

namespace tinyc {
namespace {

// Word alignment: enough for float and for the int8 kernels' 32-bit loads; more only wastes RAM.
constexpr int64_t kArenaAlignment = 4;
// Rough .text per op and for the API functions, for the flash check only; the firmware tests
// measure the real size.
constexpr int64_t kCodeBytesBase = 256;
constexpr int64_t kCodeBytesPerOp = 96;

// Where an activation tensor lives in the emitted code.
struct Slot {
  enum class Kind : uint8_t { kInput, kOutput, kArena } kind = Kind::kArena;
  int buffer = -1;          // arena buffer (kArena)
  int alias_of = -1;        // tensor whose data this is (views and in-place ops), or -1
  std::string var;          // the pointer's name inside NAME_invoke
};

struct Plan {
  std::vector<Slot> slots;              // per tensor (activations only)
  std::vector<PlanBuffer> buffers;
  std::vector<std::vector<int>> buffer_tensors;
  std::vector<int> input_offset, output_offset;  // per graph input/output, in floats
  int64_t input_size = 0, output_size = 0;
  bool preprocess = false;
  std::vector<int> scratch;             // per op: its scratch buffer, or -1
  MemoryPlan memory;
};

// The state of a recurrent layer (lstm, svdf): written by the kernel, kept across invokes.
// Other state tensors (batch_norm's moving statistics) are constants at inference.
bool is_recurrent_state(const Model& m, int t) {
  if (m.tensor(t).role != TensorRole::kState) return false;
  return std::any_of(m.ops.begin(), m.ops.end(), [&](const Op& op) {
    return (op.type == OpType::kLstm || op.type == OpType::kSvdf) &&
           std::find(op.inputs.begin(), op.inputs.end(), t) != op.inputs.end();
  });
}

bool is_graph_output(const Model& m, int t) {
  return std::find(m.outputs.begin(), m.outputs.end(), t) != m.outputs.end();
}

// Steps: 0 is the preprocessing, op i is step i + 1.
// `elem_bytes`: 4 (float) or 1 (int8). The preprocessed input of a float model lives in the
// arena; int8 models preprocess while quantizing, into the caller's int8 input.
// `scratch_bytes(op)`: private working memory of an op's kernel while it runs.
Plan plan_tensors(const Model& m, int64_t elem_bytes, bool preprocess_in_arena,
                  const std::function<int64_t(const Op&)>& scratch_bytes) {
  Plan p;
  p.slots.resize(m.tensors.size());
  p.scratch.assign(m.ops.size(), -1);
  std::vector<int> last_use(m.tensors.size(), -1);
  for (size_t i = 0; i < m.ops.size(); ++i) {
    for (int t : m.ops[i].inputs) {
      if (t >= 0 && !m.tensor(t).is_constant()) last_use[static_cast<size_t>(t)] = static_cast<int>(i) + 1;
    }
  }
  auto new_buffer = [&](int tensor, int step) {
    p.buffers.push_back(PlanBuffer{m.tensor(tensor).sample_size() * elem_bytes, step, step, -1});
    p.buffer_tensors.push_back({tensor});
    return static_cast<int>(p.buffers.size()) - 1;
  };
  auto buffer_last_use = [&](int buffer) {
    int last = -1;
    for (int t : p.buffer_tensors[static_cast<size_t>(buffer)]) last = std::max(last, last_use[static_cast<size_t>(t)]);
    return last;
  };
  for (size_t k = 0; k < m.inputs.size(); ++k) {
    const int t = m.inputs[k];
    p.input_offset.push_back(static_cast<int>(p.input_size));
    p.input_size += m.tensor(t).sample_size();
    Slot& s = p.slots[static_cast<size_t>(t)];
    if (k == 0 && preprocess_in_arena) {
      p.preprocess = true;
      s.buffer = new_buffer(t, 0);
    } else {
      s.kind = Slot::Kind::kInput;
    }
  }
  for (size_t k = 0; k < m.outputs.size(); ++k) {
    const int t = m.outputs[k];
    if (std::find(m.inputs.begin(), m.inputs.end(), t) != m.inputs.end()) {
      unsupported("model '{}': graph input '{}' is also a graph output", m.name, m.tensor(t).name);
    }
    p.output_offset.push_back(static_cast<int>(p.output_size));
    p.output_size += m.tensor(t).sample_size();
    p.slots[static_cast<size_t>(t)].kind = Slot::Kind::kOutput;
  }
  // State (recurrent layers) lives from the first invoke to the last: a buffer alive over
  // every step, which no other tensor shares. int8 models keep int16 state widened to words.
  for (size_t t = 0; t < m.tensors.size(); ++t) {
    const Tensor& st = m.tensors[t];
    if (!is_recurrent_state(m, static_cast<int>(t))) continue;
    const int64_t width = elem_bytes == 1 && st.dtype == DType::kInt8 ? 1 : 4;
    p.buffers.push_back(PlanBuffer{st.size() * width, 0, static_cast<int>(m.ops.size()) + 1, -1});
    p.buffer_tensors.push_back({static_cast<int>(t)});
    p.slots[t].buffer = static_cast<int>(p.buffers.size()) - 1;
  }
  for (size_t i = 0; i < m.ops.size(); ++i) {
    const Op& op = m.ops[i];
    const int step = static_cast<int>(i) + 1;
    if (op.outputs.size() != 1) {
      unsupported("layer '{}' ({}): ops with {} outputs cannot be emitted yet", op.name,
                  op_type_name(op.type), op.outputs.size());
    }
    for (int t : op.inputs) {
      if (t < 0 || m.tensor(t).is_constant() || is_recurrent_state(m, t)) continue;
      const Slot& s = p.slots[static_cast<size_t>(t)];
      if (s.buffer >= 0) {
        PlanBuffer& b = p.buffers[static_cast<size_t>(s.buffer)];
        b.last = std::max(b.last, step);
      }
    }
    if (const int64_t bytes = scratch_bytes(op); bytes > 0) {
      p.buffers.push_back(PlanBuffer{bytes, step, step, -1});
      p.buffer_tensors.emplace_back();
      p.scratch[i] = static_cast<int>(p.buffers.size()) - 1;
    }
    const int out = op.outputs[0];
    if (is_graph_output(m, out)) continue;
    const int in = op.inputs.empty() ? -1 : op.inputs[0];
    const Slot in_slot = in >= 0 ? p.slots[static_cast<size_t>(in)] : Slot{};
    Slot& s = p.slots[static_cast<size_t>(out)];
    const OpStorage storage = op_storage(m, op);
    if (storage == OpStorage::kView && in >= 0 && in_slot.kind != Slot::Kind::kOutput) {
      s = in_slot;
      s.alias_of = in;
    } else if (storage == OpStorage::kInPlace && in_slot.kind == Slot::Kind::kArena &&
               buffer_last_use(in_slot.buffer) == step) {
      s = in_slot;
      s.alias_of = in;
    } else {
      s.buffer = new_buffer(out, step);
      // Convolutions and pools may write over the input they read last (buffer_overlap.h).
      if (in_slot.kind == Slot::Kind::kArena && in_slot.buffer >= 0 &&
          buffer_last_use(in_slot.buffer) == step) {
        if (const std::optional<int64_t> delta = op_overlap_delta(m, op, elem_bytes)) {
          PlanBuffer& b = p.buffers[static_cast<size_t>(s.buffer)];
          b.overlaps = in_slot.buffer;
          b.overlap_delta = *delta;
        }
      }
      continue;
    }
    if (s.buffer >= 0) p.buffer_tensors[static_cast<size_t>(s.buffer)].push_back(out);
  }
  // A view's output may be read after its input's last reader: extend to the last use.
  for (size_t b = 0; b < p.buffers.size(); ++b) {
    p.buffers[b].last = std::max(p.buffers[b].last, buffer_last_use(static_cast<int>(b)));
  }
  p.memory = plan_memory(&p.buffers, kArenaAlignment);
  return p;
}

std::string provenance(const Model& m, const Target& target, const EmitOptions& o) {
  const std::string bytes = serialize_model(m);
  std::string s;
  s += fmt::format("// Generated by tinyc {} -- do not edit; re-run the command instead.\n", kVersion);
  if (!o.command_line.empty()) s += fmt::format("// Command: {}\n", o.command_line);
  s += fmt::format("// Model: '{}' ({}, {}), fnv1a64 {:016x} of its serialized form.\n", m.name,
                   task_name(m.task), m.is_quantized() ? "int8" : "float32",
                   fnv1a64(bytes.data(), bytes.size()));
  s += fmt::format("// Target: {} ({}{}{}).\n", target.name, target.isa,
                   *target.cflags ? ", " : "", target.cflags);
  return s;
}

// Float models: every tensor float32. int8 models: the representation of tinyc/quantize.h,
// checked by the reference executor's own check, with int8 graph inputs and outputs (float
// I/O converted by the graph was folded into the API by fold_io_conversions).
void check_model(const Model& m, const Target& target, bool int8) {
  if (int8) {
    check_int8_model(m);
    for (const std::vector<int>* io : {&m.inputs, &m.outputs}) {
      for (int t : *io) {
        if (m.tensor(t).dtype != DType::kInt8) {
          unsupported("model '{}': {} graph I/O tensor '{}' of an int8 model cannot be emitted "
                      "for target '{}' yet", m.name, dtype_name(m.tensor(t).dtype),
                      m.tensor(t).name, target.name);
        }
      }
    }
    return;
  }
  for (const Tensor& t : m.tensors) {
    if (t.dtype != DType::kFloat32) {
      unsupported("model '{}': tensor '{}' is {} in a float model; emit cannot mix types", m.name,
                  t.name, dtype_name(t.dtype));
    }
  }
}

// Model-level float I/O of an int8 graph (a .tflite whose float input goes through QUANTIZE
// and whose output comes from DEQUANTIZE): on a copy, the int8 tensors become the graph's
// I/O and the two ops go, so that NAME_quantize_input / NAME_dequantize_output do exactly
// their arithmetic and NAME_invoke keeps the model's float I/O. Only when every graph input
// (output) converts this way. Returns true when it folded anything.
bool fold_io_conversions(Model& m) {
  auto readers = [&](int t) {
    std::vector<size_t> r;
    for (size_t i = 0; i < m.ops.size(); ++i) {
      if (std::find(m.ops[i].inputs.begin(), m.ops[i].inputs.end(), t) != m.ops[i].inputs.end()) {
        r.push_back(i);
      }
    }
    return r;
  };
  std::vector<size_t> drop;
  std::vector<int> inputs = m.inputs, outputs = m.outputs;
  for (int& t : inputs) {
    const std::vector<size_t> r = readers(t);
    const bool converts = m.tensor(t).dtype == DType::kFloat32 && r.size() == 1 &&
                          m.ops[r[0]].type == OpType::kQuantize &&
                          m.tensor(m.ops[r[0]].outputs[0]).dtype == DType::kInt8 &&
                          !is_graph_output(m, m.ops[r[0]].outputs[0]);
    if (!converts) return false;
    drop.push_back(r[0]);
    t = m.ops[r[0]].outputs[0];
  }
  for (int& t : outputs) {
    auto producer = std::find_if(m.ops.begin(), m.ops.end(), [&](const Op& op) {
      return op.outputs[0] == t;
    });
    if (producer == m.ops.end() || producer->type != OpType::kDequantize ||
        m.tensor(t).dtype != DType::kFloat32 ||
        m.tensor(producer->inputs[0]).dtype != DType::kInt8 ||
        readers(producer->inputs[0]).size() != 1) {
      return false;
    }
    drop.push_back(static_cast<size_t>(producer - m.ops.begin()));
    t = producer->inputs[0];
  }
  std::sort(drop.begin(), drop.end());
  for (size_t k = drop.size(); k-- > 0;) m.ops.erase(m.ops.begin() + static_cast<std::ptrdiff_t>(drop[k]));
  for (int t : m.inputs) m.tensor(t).role = TensorRole::kIntermediate;
  for (int t : m.outputs) m.tensor(t).role = TensorRole::kIntermediate;
  m.inputs = inputs;
  m.outputs = outputs;
  for (int t : m.inputs) m.tensor(t).role = TensorRole::kInput;
  for (int t : m.outputs) m.tensor(t).role = TensorRole::kOutput;
  return true;
}

}  // namespace

const std::string& EmitContext::constant_array(int tensor, int64_t rows) {
  auto it = arrays.find(tensor);
  if (it != arrays.end()) return it->second;
  const Tensor& t = model.tensor(tensor);
  const std::string id = unique_identifier(t.name, &ids);
  std::vector<std::string> items;
  items.reserve(t.f32.size());
  for (float v : t.f32) items.push_back(float_literal(v, "tensor '" + t.name + "'"));
  // Matrices keep their rows (w[o][i] in the kernels), conv weights their filters; anything
  // else is flat unless the kernel asks for rows.
  if (rows <= 0) rows = t.shape.size() >= 2 ? t.shape[0] : 0;
  const std::string dims = rows > 0 ? fmt::format("[{}][{}]", rows, t.size() / rows)
                                    : fmt::format("[{}]", t.size());
  src.linef("// {}: {} float32, {} bytes", t.name, shape_str(t.shape), t.size() * 4);
  src.raw(fmt::format("alignas(16) static const float {}{} = {};\n", id, dims,
                      initializer(items, rows, 0)));
  weights_bytes += t.size() * 4;
  return arrays[tensor] = id;
}

EmittedCode emit_code(const Model& original, const EmitOptions& o, EmitReport* report) {
  const Target& target = target_by_name(o.target);
  // Float batch_norm folds into the conv2d, depthwise_conv2d or dense before it (on a copy):
  // no code and no arena buffer of its own. The others get a per-channel kernel.
  Model folded;
  const bool has_batch_norm = std::any_of(original.ops.begin(), original.ops.end(),
                                          [](const Op& op) { return op.type == OpType::kBatchNorm; });
  if (has_batch_norm && !original.is_quantized()) {
    folded = original;
    fold_batch_norm(folded);
  }
  Model io_folded;
  const bool has_io_conversion = original.is_quantized() &&
      std::any_of(original.ops.begin(), original.ops.end(), [](const Op& op) {
        return op.type == OpType::kQuantize || op.type == OpType::kDequantize;
      });
  if (has_io_conversion) {
    io_folded = original;
    if (!fold_io_conversions(io_folded)) io_folded = Model();
  }
  // int16 / int32 graph I/O (imported models): conversions move into NAME_invoke_raw.
  Model raw_folded;
  RawIo raw;
  if (io_folded.ops.empty() && original.is_quantized()) {
    raw_folded = original;
    if (!fold_raw_io(raw_folded, &raw)) raw_folded = Model();
  }
  const Model& m = has_batch_norm && !original.is_quantized() ? folded
                   : !io_folded.ops.empty()                   ? io_folded
                   : raw.folded                               ? raw_folded
                                                              : original;
  std::string name = o.name;
  if (name.empty()) {
    std::set<std::string> none;
    name = unique_identifier(m.name.empty() ? "model" : m.name, &none);
  }
  if (!is_c_identifier(name)) {
    throw Error(ExitCode::kUsage, fmt::format("--name '{}' is not a C identifier (letters, digits "
                                              "and '_', not starting with a digit)", name));
  }
  validate_model(m);
  const bool int8 = m.is_quantized();
  check_model(m, target, int8);
  const int64_t elem = int8 ? 1 : 4;
  const std::string type = int8 ? "int8_t" : "float";
  // int8 dense weights: dense or sparse layout, whichever is smaller (kernels_sparse.cpp).
  std::vector<WeightLayout> layouts(m.ops.size());
  if (int8) {
    for (size_t i = 0; i < m.ops.size(); ++i) layouts[i] = choose_int8_weight_layout(m, m.ops[i]);
  }
  Plan plan = plan_tensors(m, elem, !int8 && !m.preprocess.is_identity(), [&](const Op& op) {
    const bool sparse = layouts[static_cast<size_t>(&op - m.ops.data())].sparse;
    return int8 && !sparse ? int8_scratch_bytes(target, m, op) : int64_t{0};
  });

  EmitReport r;
  r.name = name;
  r.target = target.name;
  r.quantization = int8 ? "int8" : "float32";
  r.arena_bytes = plan.memory.arena_bytes;
  r.arena_lower_bound = plan.memory.lower_bound;
  r.input_bytes = plan.input_size * elem;
  r.output_bytes = plan.output_size * elem;
  r.ram_bytes = r.arena_bytes + r.input_bytes + r.output_bytes;
  for (size_t b = 0; b < plan.buffers.size(); ++b) {
    const PlanBuffer& pb = plan.buffers[b];
    std::string label;
    for (int t : plan.buffer_tensors[b]) {
      label += (label.empty() ? "" : ", ") +
               (plan.preprocess && t == m.inputs[0] ? std::string("preprocessed input") : m.tensor(t).name);
    }
    for (size_t i = 0; i < plan.scratch.size() && label.empty(); ++i) {
      if (plan.scratch[i] == static_cast<int>(b)) label = "scratch of " + m.ops[i].name;
    }
    r.arena.push_back(EmitArenaBuffer{label, pb.offset, pb.bytes, pb.first, pb.last});
  }

  EmitContext ctx(m, target);
  ctx.name = name;
  for (const char* reserved : {"input", "output", "x", "y"}) ctx.ids.insert(reserved);
  for (const char* api : {"_arena", "_invoke", "_invoke_int8", "_labels", "_quantize_input",
                          "_dequantize_output", "_input_q", "_output_q", "_invoke_raw"}) {
    ctx.ids.insert(name + api);
  }

  // Constants and one function per layer, in graph order.
  std::string preprocess_fn;
  if (plan.preprocess) {
    preprocess_fn = unique_identifier("preprocess_input", &ctx.ids);
    emit_float_preprocess(ctx, preprocess_fn, m.input().sample_size());
    ctx.src.line();
  }
  std::vector<std::string> fns(m.ops.size());
  for (size_t i = 0; i < m.ops.size(); ++i) {
    const Op& op = m.ops[i];
    const int out = op.outputs[0];
    const Slot& s = plan.slots[static_cast<size_t>(out)];
    EmitLayerReport lr;
    lr.name = op.name;
    lr.type = op_type_name(op.type);
    lr.macs = layer_for(op.type).macs(op, op_input_shapes(m, op), op_output_shapes(m, op));
    lr.output_bytes = m.tensor(out).sample_size() * elem;
    lr.output = s.kind == Slot::Kind::kOutput ? "output"
                : s.kind == Slot::Kind::kInput ? "input"
                                               : "arena";
    if (s.buffer >= 0) lr.output_offset = plan.buffers[static_cast<size_t>(s.buffer)].offset;
    const int64_t before = ctx.weights_bytes;
    const bool is_view = op_storage(m, op) == OpStorage::kView;
    if (s.alias_of >= 0 && is_view) {
      lr.output = "alias";
    } else {
      fns[i] = unique_identifier(fmt::format("layer{}_{}", i, op.name), &ctx.ids);
      const int64_t count = m.tensor(out).sample_size();
      if (op.type == OpType::kLstm) {
        emit_lstm_kernel(ctx, op, fns[i], int8);
      } else if (op.type == OpType::kSvdf) {
        emit_svdf_kernel(ctx, op, fns[i], int8);
      } else if (int8 && is_view) {
        emit_int8_copy(ctx, fns[i], count);
      } else if (int8) {
        // Refuses a layer whose int32 accumulator could overflow, before writing its code.
        const std::string bound = check_int8_accumulator(m, op, target.name);
        if (!bound.empty()) ctx.src.line(bound);
        lr.accumulator_bound = int8_accumulator_bound(m, op).worst;
        layouts[i].sparse ? emit_sparse_dense(ctx, op, fns[i]) : emit_int8_kernel(ctx, op, fns[i]);
      } else {
        is_view ? emit_float_copy(ctx, fns[i], count) : emit_float_kernel(ctx, op, fns[i]);
      }
      ctx.src.line();
    }
    lr.function = fns[i];
    if (layouts[i].applies) {
      lr.weights_layout = layouts[i].sparse ? "sparse" : "dense";
      lr.dense_weights_bytes = layouts[i].dense_bytes;
      lr.sparse_weights_bytes = layouts[i].sparse_bytes;
      lr.layout_reason = layouts[i].why;
    }
    lr.weights_bytes = ctx.weights_bytes - before;
    r.macs += lr.macs;
    r.layers.push_back(lr);
  }
  r.code_bytes_estimate = kCodeBytesBase + kCodeBytesPerOp * static_cast<int64_t>(m.ops.size());
  for (const Op& op : original.ops) {
    const bool kept = std::any_of(m.ops.begin(), m.ops.end(),
                                  [&](const Op& k) { return k.name == op.name; });
    if (!kept && raw.folded) {
      r.notes.push_back(fmt::format("{} '{}' converts graph I/O: in {}_invoke_raw",
                                    op_type_name(op.type), op.name, name));
    } else if (!kept) {
      r.notes.push_back(fmt::format("{} '{}' folded into the layer before it",
                                    op_type_name(op.type), op.name));
    }
  }
  if (raw.folded) {
    int64_t raw_in = 0, raw_out = 0;
    for (size_t k = 0; k < m.inputs.size(); ++k) {
      raw_in += m.tensor(m.inputs[k]).sample_size() * dtype_bytes(raw.input_types[k]);
    }
    for (size_t k = 0; k < m.outputs.size(); ++k) {
      raw_out += m.tensor(m.outputs[k]).sample_size() * dtype_bytes(raw.output_types[k]);
    }
    r.notes.push_back(fmt::format("{}_invoke_raw: caller's buffers {} B in, {} B out; {} B of "
                                  "static int8 I/O buffers beside the arena", name, raw_in,
                                  raw_out, r.input_bytes + r.output_bytes));
  }
  if (!target.fpu && !int8) {
    r.notes.push_back(fmt::format("{} has no FPU: float32 runs in software floating point; "
                                  "quantize to int8 for speed", target.name));
  }

  // NAME_invoke (float) or NAME_invoke_int8: pointers into the arena, then one call per layer.
  for (size_t k = 0; k < m.inputs.size(); ++k) {
    Slot& s = plan.slots[static_cast<size_t>(m.inputs[k])];
    if (s.kind == Slot::Kind::kInput) {
      s.var = plan.input_offset[k] > 0 ? fmt::format("input + {}", plan.input_offset[k]) : "input";
    }
  }
  for (size_t k = 0; k < m.outputs.size(); ++k) {
    plan.slots[static_cast<size_t>(m.outputs[k])].var =
        plan.output_offset[k] > 0 ? fmt::format("output + {}", plan.output_offset[k]) : "output";
  }
  ctx.src.linef("// The arena: {} bytes for intermediate tensors (lower bound {} bytes).",
                r.arena_bytes, r.arena_lower_bound);
  // int8 models: words, so that kernels may keep int32 scratch in it; tensors are viewed as
  // int8_t (a character type may view any object).
  const std::string arena = int8 ? fmt::format("reinterpret_cast<int8_t*>({}_arena)", name)
                                 : name + "_arena";
  if (r.arena_bytes > 0) {
    ctx.src.linef("alignas(16) static {} {}_arena[{}];", int8 ? "int32_t" : "float", name,
                  (r.arena_bytes + 3) / 4);
  }
  ctx.src.line();
  // Stateful models: NAME_reset sets every state tensor to its initial value; the first
  // invoke calls it, since the arena starts as zeros.
  std::vector<int> state_tensors;
  for (size_t t = 0; t < m.tensors.size(); ++t) {
    if (is_recurrent_state(m, static_cast<int>(t))) state_tensors.push_back(static_cast<int>(t));
  }
  auto state_ptr = [&](int t) {
    const Tensor& st = m.tensor(t);
    const int64_t offset = plan.buffers[static_cast<size_t>(plan.slots[static_cast<size_t>(t)].buffer)].offset;
    if (int8 && st.dtype == DType::kInt8) return fmt::format("{} + {}", arena, offset);
    return fmt::format("{}_arena + {}", name, offset / 4);
  };
  if (!state_tensors.empty()) {
    ctx.ids.insert(name + "_reset");
    ctx.ids.insert(name + "_state_ready");
    ctx.src.linef("static bool {}_state_ready = false;", name);
    ctx.src.line();
    ctx.src.line("// Every state tensor back to its initial value, as a fresh interpreter starts.");
    ctx.src.open(fmt::format("extern \"C\" void {}_reset(void)", name));
    for (int t : state_tensors) {
      const Tensor& st = m.tensor(t);
      const bool f = st.dtype == DType::kFloat32;
      const double v0 = f ? st.f32.at(0) : st.ints.at(0);
      for (int64_t k = 0; k < st.size(); ++k) {
        const double v = f ? st.f32[static_cast<size_t>(k)] : st.ints[static_cast<size_t>(k)];
        if (v != v0) unsupported("state tensor '{}': emit needs one initial value", st.name);
      }
      const char* ctype = f ? "float" : (int8 && st.dtype == DType::kInt8 ? "int8_t" : "int32_t");
      const std::string init = f ? float_literal(st.f32[0], st.name) : std::to_string(st.ints[0]);
      const std::string var = fmt::format("state{}", t);
      ctx.src.linef("{}* const {} = {};  // {} {}", ctype, var, state_ptr(t), st.name,
                    shape_str(st.shape));
      ctx.src.linef("for (int i = 0; i < {}; ++i) {}[i] = {};", st.size(), var, init);
    }
    ctx.src.linef("{}_state_ready = true;", name);
    ctx.src.close();
    ctx.src.line();
  }
  const std::string invoke = int8 ? name + "_invoke_int8" : name + "_invoke";
  ctx.src.open(fmt::format("extern \"C\" int {}(const {}* input, {}* output)", invoke, type, type));
  ctx.src.line("if (input == nullptr || output == nullptr) return -1;");
  if (!state_tensors.empty()) ctx.src.linef("if (!{0}_state_ready) {0}_reset();", name);
  std::set<std::string> locals = ctx.ids;
  auto declare = [&](int t) {
    Slot& s = plan.slots[static_cast<size_t>(t)];
    if (!s.var.empty()) return;
    const Tensor& tensor = m.tensor(t);
    const bool preprocessed = t == m.inputs[0];
    s.var = unique_identifier(preprocessed ? "x" : tensor.name, &locals);
    if (s.alias_of >= 0) {
      const char* constness = s.kind == Slot::Kind::kInput ? "const " : "";
      ctx.src.linef("{}{}* const {} = {};  // {} {}: same data as {}", constness, type, s.var,
                    plan.slots[static_cast<size_t>(s.alias_of)].var, tensor.name,
                    shape_str(tensor.sample_shape()), m.tensor(s.alias_of).name);
    } else {
      const PlanBuffer& b = plan.buffers[static_cast<size_t>(s.buffer)];
      ctx.src.linef("{}* const {} = {} + {};  // {} {}: bytes [{}, {}), steps {}-{}", type,
                    s.var, arena, b.offset / elem, preprocessed ? "preprocessed input" : tensor.name,
                    shape_str(tensor.sample_shape()), b.offset, b.offset + b.bytes, b.first, b.last);
      if (b.overlaps >= 0) {
        const PlanBuffer& in = plan.buffers[static_cast<size_t>(b.overlaps)];
        const int64_t lo = std::max(b.offset, in.offset);
        const int64_t hi = std::min(b.offset + b.bytes, in.offset + in.bytes);
        if (lo < hi) {
          ctx.src.linef("// (shares bytes [{}, {}) with its input: the kernel writes each pixel after "
                        "the reads that need them)", lo, hi);
        }
      }
    }
  };
  if (plan.preprocess) declare(m.inputs[0]);
  for (const Op& op : m.ops) declare(op.outputs[0]);
  if (plan.preprocess) {
    ctx.src.linef("{}(input, {});", preprocess_fn, plan.slots[static_cast<size_t>(m.inputs[0])].var);
  }
  for (size_t i = 0; i < m.ops.size(); ++i) {
    const Op& op = m.ops[i];
    const std::string& out = plan.slots[static_cast<size_t>(op.outputs[0])].var;
    // Every activation input, in order (add and mul may read two); constants and batch_norm's
    // stored statistics are arrays of the kernel.
    std::string in;
    for (int t : op.inputs) {
      if (t < 0 || m.tensor(t).is_constant() || m.tensor(t).role == TensorRole::kState) continue;
      in += (in.empty() ? "" : ", ") + plan.slots[static_cast<size_t>(t)].var;
    }
    if (op.type == OpType::kLstm) {
      ctx.src.linef("{}({}, {}, {}, {});  // state: {}, {}", fns[i],
                    plan.slots[static_cast<size_t>(op.inputs[0])].var, out,
                    state_ptr(op.inputs[13]), state_ptr(op.inputs[14]),
                    m.tensor(op.inputs[13]).name, m.tensor(op.inputs[14]).name);
    } else if (op.type == OpType::kSvdf) {
      ctx.src.linef("{}({}, {}, {});  // state: {}", fns[i],
                    plan.slots[static_cast<size_t>(op.inputs[0])].var, out,
                    state_ptr(op.inputs[4]), m.tensor(op.inputs[4]).name);
    } else if (fns[i].empty()) {
      ctx.src.linef("// {} ({}): nothing to do at inference, {} is {}", op.name,
                    op_type_name(op.type), out, in);
    } else if (plan.scratch[i] >= 0) {
      const PlanBuffer& b = plan.buffers[static_cast<size_t>(plan.scratch[i])];
      ctx.src.linef("{}({}, {}, {}_arena + {});  // scratch: bytes [{}, {})", fns[i], in, out,
                    name, b.offset / 4, b.offset, b.offset + b.bytes);
    } else {
      ctx.src.linef("{}({}, {});", fns[i], in, out);
    }
  }
  ctx.src.line("return 0;");
  ctx.src.close();

  ApiDesc api;
  api.name = name;
  api.provenance = provenance(original, target, o);
  api.int8 = int8;
  api.input_size = plan.input_size;
  api.output_size = plan.output_size;
  for (size_t k = 0; k < m.inputs.size(); ++k) {
    api.input_offset.push_back(plan.input_offset[k]);
    api.input_sizes.push_back(m.tensor(m.inputs[k]).sample_size());
  }
  for (size_t k = 0; k < m.outputs.size(); ++k) {
    api.output_offset.push_back(plan.output_offset[k]);
    api.output_sizes.push_back(m.tensor(m.outputs[k]).sample_size());
  }
  api.arena_bytes = r.arena_bytes;
  api.stateful = !state_tensors.empty();
  if (int8) {
    for (int t : m.inputs) {
      api.input_scales.push_back(m.tensor(t).quant.scale[0]);
      api.input_zero_points.push_back(static_cast<int32_t>(m.tensor(t).quant.zero_point[0]));
    }
    api.input_scale = m.input().quant.scale[0];
    api.input_zero_point = static_cast<int32_t>(m.input().quant.zero_point[0]);
    api.output_scale = m.output().quant.scale[0];
    api.output_zero_point = static_cast<int32_t>(m.output().quant.zero_point[0]);
    emit_int8_api(ctx, api);
    if (raw.folded) {
      emit_raw_api(ctx, raw, api.input_sizes, api.output_sizes);
      api.raw_declaration = raw_header_lines(raw, name);
    }
  }
  r.weights_bytes = ctx.weights_bytes;
  api.weights_bytes = r.weights_bytes;
  r.flash_bytes = r.weights_bytes + r.code_bytes_estimate;
  const int64_t flash_limit = o.flash_limit >= 0 ? o.flash_limit : target.flash_bytes;
  const int64_t ram_limit = o.ram_limit >= 0 ? o.ram_limit : target.ram_bytes;
  r.flash_limit = flash_limit;
  r.ram_limit = ram_limit;
  const bool flash_ok = flash_limit == 0 || r.flash_bytes <= flash_limit;
  const bool ram_ok = ram_limit == 0 || r.ram_bytes <= ram_limit;
  if (!flash_ok || !ram_ok) {
    const bool custom = o.flash_limit >= 0 || o.ram_limit >= 0;
    unsupported("model '{}' does not fit {} ({}): needs {} B flash ({} B weights + ~{} B code) "
                "of {} B and {} B RAM ({} B arena + {} B input + {} B output) of {} B; "
                "hint: prune or quantize it, pick a larger target{}",
                m.name, target.name, custom ? "limits from --flash/--ram" : target.example_part,
                r.flash_bytes, r.weights_bytes, r.code_bytes_estimate, flash_limit, r.ram_bytes,
                r.arena_bytes, r.input_bytes, r.output_bytes, ram_limit,
                custom ? "" : ", or give your part's sizes with --flash/--ram");
  }

  EmittedCode code;
  code.header = emit_header(m, target, api);
  CodeWriter s;
  s.raw(fmt::format("// {}.cpp: model '{}' for {}: weights, arena and one function per layer.\n",
                    name, m.name, target.name));
  s.raw(api.provenance);
  s.line("// Standalone: no heap, no exceptions, no static constructors, no C++ library.");
  s.linef("#include \"{}.h\"", name);
  s.line();
  if (ctx.needs_dsp) s.line("#include <arm_acle.h>");
  if (ctx.needs_math) s.line("#include <math.h>");
  s.line("#include <stddef.h>");
  s.line("#include <stdint.h>");
  s.line();
  s.raw(emit_labels(m, api));
  s.raw(int8_helpers(ctx.needs_requantize, ctx.needs_softmax, ctx.needs_dsp));
  s.raw(ctx.src.str());
  code.source = s.str();
  if (report != nullptr) *report = r;
  return code;
}

EmitReport emit_model(const Model& model, const EmitOptions& options) {
  if (options.out_dir.empty()) throw Error(ExitCode::kUsage, "emit: no output directory given (-o DIR)");
  check_emit_format(options.format);
  EmitReport r;
  const EmittedCode code = emit_code(model, options, &r);
  r.files = write_project(code, model, r, options);
  return r;
}

}  // namespace tinyc
