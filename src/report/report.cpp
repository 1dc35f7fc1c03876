// The HTML report (tinyc/report.h): sections in a fixed order, each an inline SVG chart plus a
// small table; a section whose input is missing says so instead of drawing an empty chart.
#include "tinyc/report.h"

#include <algorithm>

#include <fmt/format.h>

#include "report/svg.h"
#include "tinyc/emit.h"
#include "tinyc/error.h"
#include "tinyc/executor.h"
#include "tinyc/fileio.h"
#include "tinyc/layer.h"
#include "tinyc/target.h"
#include "tinyc/version.h"

namespace tinyc {
namespace {

using svg::escape;

constexpr const char* kStyle = R"(body{font-family:sans-serif;margin:24px;color:#222;max-width:1000px}
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
svg{display:block;margin:8px 0;font-size:11px}svg text{fill:#222}svg .title{font-size:13px;font-weight:bold}
svg .grid{stroke:#e4e4e4}svg .frame{fill:none;stroke:#888}svg .diagonal{stroke:#d62728;stroke-dasharray:4 3}
svg .point{fill:#1f77b4;fill-opacity:0.5}svg .small{font-size:10px}svg .inv{fill:#fff}
svg .buffer{stroke:#fff;fill-opacity:0.85}.note{color:#666}
)";

std::string fmt_num(double v) { return fmt::format("{:.4g}", v); }

std::string metric_name(const Model& m) {
  return m.task == Task::kClassification ? "accuracy" : "mse";
}

// Weight bytes of an op's constants as stored (int8 per-channel scales included).
int64_t op_weight_bytes(const Model& m, const Op& op) {
  int64_t bytes = 0;
  for (int t : op.inputs) {
    if (t < 0 || !m.tensor(t).is_constant()) continue;
    const Tensor& w = m.tensor(t);
    bytes += w.size() * dtype_bytes(w.dtype);
    if (w.dtype == DType::kInt8) bytes += 4 * static_cast<int64_t>(w.quant.scale.size());
  }
  return bytes;
}

std::string summary(const Model& m) {
  const ModelStats s = model_stats(m);
  std::string h = "<table>\n";
  auto row = [&](const std::string& k, const std::string& v) {
    h += fmt::format("<tr><td>{}</td><td>{}</td></tr>\n", escape(k), escape(v));
  };
  row("task", task_name(m.task));
  row("quantization", m.is_quantized() ? "int8" : "float32");
  row("input shape", shape_str(m.input().sample_shape()));
  row("output shape", shape_str(m.output().sample_shape()));
  row("layers", std::to_string(m.ops.size()));
  row("parameters", fmt::format("{} ({} nonzero)", s.params, s.nonzero_params));
  row("weight bytes", std::to_string(s.weights_bytes));
  row("MACs per inference", std::to_string(s.macs));
  row("epochs trained", std::to_string(m.history.size()));
  if (!m.producer.empty()) row("producer", m.producer);
  return h + "</table>\n";
}

std::string training_section(const Model& m) {
  std::string h = "<h2 id=\"training\">Training</h2>\n";
  if (m.history.empty()) {
    return h + "<p class=\"note\">No training history in this model (imported, or built "
               "without training).</p>\n";
  }
  svg::Series tl{"train loss", "#1f77b4", {}, {}}, vl{"val loss", "#ff7f0e", {}, {}};
  svg::Series tm{"train " + metric_name(m), "#1f77b4", {}, {}};
  svg::Series vm{"val " + metric_name(m), "#ff7f0e", {}, {}};
  for (const EpochRecord& e : m.history) {
    tl.x.push_back(e.epoch), tl.y.push_back(e.train_loss);
    tm.x.push_back(e.epoch), tm.y.push_back(e.train_metric);
    if (e.has_val) {
      vl.x.push_back(e.epoch), vl.y.push_back(e.val_loss);
      vm.x.push_back(e.epoch), vm.y.push_back(e.val_metric);
    }
  }
  h += svg::line_chart("Loss per epoch", "epoch", "loss", {tl, vl});
  h += svg::line_chart(metric_name(m) + " per epoch", "epoch", metric_name(m), {tm, vm});
  const EpochRecord& last = m.history.back();
  h += fmt::format("<p>Last epoch {}: train loss {}, train {} {}", last.epoch,
                   fmt_num(last.train_loss), metric_name(m), fmt_num(last.train_metric));
  if (last.has_val) {
    h += fmt::format(", val loss {}, val {} {}", fmt_num(last.val_loss), metric_name(m),
                     fmt_num(last.val_metric));
  }
  return h + ".</p>\n";
}

// The rows to evaluate on, and a phrase saying which they are.
std::vector<int64_t> eval_rows(const Model& m, const Dataset& d, std::string* which) {
  const SplitDefinition& s = m.split;
  if (s.defined && s.data_fingerprint == d.fingerprint() && s.data_rows == d.rows) {
    SplitSpec spec;
    spec.val = s.val;
    spec.test = s.test;
    spec.seed = s.seed;
    spec.stratify = s.stratify;
    std::vector<int64_t> rows = make_split(d, spec).test;
    if (!rows.empty()) {
      *which = "the test split re-created from the model's split definition";
      return rows;
    }
  }
  std::vector<int64_t> rows;
  for (int64_t r = 0; r < d.rows; ++r) {
    if (d.split[static_cast<size_t>(r)] == SplitTag::kTest) rows.push_back(r);
  }
  if (!rows.empty()) {
    *which = "the rows the data marks as test";
    return rows;
  }
  for (int64_t r = 0; r < d.rows; ++r) rows.push_back(r);
  *which = "every row (not the model's training data, or no test split stored)";
  return rows;
}

std::string evaluation_section(const Model& m, const Dataset* data) {
  const bool cls = m.task == Task::kClassification;
  std::string h = cls ? "<h2 id=\"evaluation\">Confusion matrix</h2>\n"
                      : "<h2 id=\"evaluation\">Predicted vs true</h2>\n";
  if (data == nullptr) {
    return h + "<p class=\"note\">No data given: pass <code>--data D</code> (the training data "
               "re-creates the test split stored in the model).</p>\n";
  }
  const int64_t features = m.input().sample_size();
  if (m.inputs.size() != 1) {
    unsupported("model '{}' has {} graph inputs; rows of {} feed one", m.name, m.inputs.size(),
                data->source);
  }
  if (data->features != features) {
    bad_input("{}: {} features per row, model '{}' takes {}", data->source, data->features,
              m.name, features);
  }
  std::string which;
  const std::vector<int64_t> rows = eval_rows(m, *data, &which);
  std::vector<float> x, y;
  gather_rows(*data, rows, &x, &y);
  const auto n = static_cast<int64_t>(rows.size());
  const int64_t width = m.output().sample_size();
  // Labels outside [0, classes) are bad input (exit 2), named by their row.
  check_targets(m.task, width, y.data(), n,
                [&](int64_t i) { return data->where(rows[static_cast<size_t>(i)]); });
  const std::vector<float> out = run_model(m, x.data(), n);
  const Metrics metrics = score_outputs(m.task, out, y.data(), n, width);
  h += fmt::format("<p>{} rows of {}: {}, loss {} ({}).</p>\n", n, escape(data->source),
                   escape(which), fmt_num(metrics.loss),
                   fmt::format("{} {}", metric_name(m), fmt_num(metrics.metric)));
  if (cls) {
    const auto classes = static_cast<size_t>(width);
    std::vector<std::vector<int64_t>> counts(classes, std::vector<int64_t>(classes, 0));
    for (int64_t r = 0; r < n; ++r) {
      const float* o = out.data() + r * width;
      const auto pred = static_cast<size_t>(std::max_element(o, o + width) - o);
      const auto truth = static_cast<size_t>(y[static_cast<size_t>(r)]);
      if (truth < classes) ++counts[truth][pred];
    }
    return h + svg::confusion_matrix(counts, m.labels);
  }
  // At most 1000 points, spread evenly over the rows.
  std::vector<double> truth, pred;
  const int64_t shown = std::min<int64_t>(n, 1000);
  for (int64_t i = 0; i < shown; ++i) {
    const int64_t r = i * n / shown;
    truth.push_back(y[static_cast<size_t>(r)]);
    pred.push_back(out[static_cast<size_t>(r * width)]);
  }
  return h + svg::scatter(fmt::format("Predicted vs true ({} of {} rows)", shown, n), truth, pred);
}

std::string layers_section(const Model& m) {
  std::string h = "<h2 id=\"layers\">Layers</h2>\n";
  std::vector<std::string> names;
  std::vector<double> params, macs, bytes;
  std::string table = "<table><tr><th>layer</th><th>type</th><th>output</th><th>params</th>"
                      "<th>MACs</th><th>weight bytes</th><th>activation bytes</th></tr>\n";
  for (const Op& op : m.ops) {
    const int64_t p = op_params(m, op);
    const int64_t k = layer_for(op.type).macs(op, op_input_shapes(m, op), op_output_shapes(m, op));
    const int64_t b = op_weight_bytes(m, op);
    const Tensor& out = m.tensor(op.outputs[0]);
    names.push_back(op.name);
    params.push_back(static_cast<double>(p));
    macs.push_back(static_cast<double>(k));
    bytes.push_back(static_cast<double>(b));
    table += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
                         "<td>{}</td></tr>\n", escape(op.name), op_type_name(op.type),
                         shape_str(out.sample_shape()), p, k, b,
                         out.sample_size() * dtype_bytes(out.dtype));
  }
  h += svg::bar_chart("Parameters per layer", names, params, "#1f77b4");
  h += svg::bar_chart("MACs per layer", names, macs, "#2ca02c");
  h += svg::bar_chart("Weight bytes per layer", names, bytes, "#9467bd");
  return h + table + "</table>\n";
}

std::string arena_section(const Model& m, const std::string& target) {
  std::string h = fmt::format("<h2 id=\"arena\">Arena ({})</h2>\n", escape(target));
  EmitOptions o;
  o.target = target;
  EmitReport r;
  try {
    emit_code(m, o, &r);
  } catch (const Error& e) {
    if (e.code() == ExitCode::kUsage) throw;
    return h + fmt::format("<p class=\"note\">No memory plan: {}</p>\n", escape(e.what()));
  }
  std::vector<svg::Block> blocks;
  int steps = 1;
  for (const EmitArenaBuffer& b : r.arena) {
    blocks.push_back({b.label, b.offset, b.bytes, b.first_step, b.last_step});
    steps = std::max(steps, b.last_step + 1);
  }
  steps = std::max(steps, static_cast<int>(r.layers.size()) + 1);
  std::vector<std::string> step_names{"preprocessing"};
  for (const EmitLayerReport& l : r.layers) step_names.push_back(l.name + " (" + l.type + ")");
  h += fmt::format("<p>Static arena {} B (lower bound {} B: the most bytes alive at one step); "
                   "input {} B and output {} B are the caller's buffers; weights {} B in flash."
                   "</p>\n", r.arena_bytes, r.arena_lower_bound, r.input_bytes, r.output_bytes,
                   r.weights_bytes);
  if (blocks.empty()) {
    return h + "<p class=\"note\">The arena is empty: every layer reads the input and writes "
               "the output buffer directly.</p>\n";
  }
  h += svg::arena_timeline(blocks, steps, r.arena_bytes, step_names);
  h += "<table><tr><th>buffer</th><th>offset</th><th>bytes</th><th>steps</th></tr>\n";
  for (const EmitArenaBuffer& b : r.arena) {
    h += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}-{}</td></tr>\n",
                     escape(b.label), b.offset, b.bytes, b.first_step, b.last_step);
  }
  h += "</table>\n<table><tr><th>step</th><th>layer</th></tr>\n";
  for (size_t k = 0; k < step_names.size(); ++k) {
    h += fmt::format("<tr><td>{}</td><td>{}</td></tr>\n", k, escape(step_names[k]));
  }
  return h + "</table>\n";
}

std::string compression_section(const Model& m) {
  const CompressionRecord& c = m.compression;
  if (!c.present) return "";
  std::string h = fmt::format("<h2 id=\"compression\">Compression: {}</h2>\n", escape(c.steps));
  h += svg::paired_bars(fmt::format("Before and after ({} on {} rows)", metric_name(m), c.samples),
                        {metric_name(m), "weight bytes", "nonzero params"},
                        {c.before_metric, static_cast<double>(c.before_bytes),
                         static_cast<double>(c.before_nonzero)},
                        {c.after_metric, static_cast<double>(c.after_bytes),
                         static_cast<double>(c.after_nonzero)});
  h += "<table><tr><th></th><th>params</th><th>nonzero</th><th>weight bytes</th>";
  h += fmt::format("<th>{}</th><th>loss</th></tr>\n", metric_name(m));
  h += fmt::format("<tr><td>before</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                   c.before_params, c.before_nonzero, c.before_bytes, fmt_num(c.before_metric),
                   fmt_num(c.before_loss));
  h += fmt::format("<tr><td>after</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                   c.after_params, c.after_nonzero, c.after_bytes, fmt_num(c.after_metric),
                   fmt_num(c.after_loss));
  return h + "</table>\n";
}

}  // namespace

std::string render_report(const Model& model, const ReportOptions& options) {
  target_by_name(options.target);  // an unknown target is an error, not a note in the page
  const std::string title = fmt::format("tinyc report: {}", model.name);
  std::string h = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  // No favicon request: the page must not touch the network or the file system.
  h += "<link rel=\"icon\" href=\"data:,\">\n";
  h += fmt::format("<title>{}</title>\n<style>\n{}</style>\n</head>\n<body>\n", escape(title), kStyle);
  h += fmt::format("<h1>{}</h1>\n", escape(title));
  h += summary(model);
  h += training_section(model);
  h += evaluation_section(model, options.data);
  h += layers_section(model);
  h += arena_section(model, options.target);
  h += compression_section(model);
  h += fmt::format("<p class=\"note\">Written by tinyc {}{}.</p>\n</body>\n</html>\n", kVersion,
                   options.command_line.empty() ? "" : ": " + escape(options.command_line));
  return h;
}

void write_report(const Model& model, const ReportOptions& options, const std::string& path) {
  write_file_atomic(path, render_report(model, options));
}

}  // namespace tinyc
