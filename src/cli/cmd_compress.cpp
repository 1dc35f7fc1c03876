// tinyc compress M --data D -o OUT [--student SPEC [--distill-from T]] [--prune S [--structured]]
// [--quantize int8 [--qat-epochs N]]: makes a trained model smaller (distill, then prune with
// fine-tuning, then quantize) and reports before/after sizes and test metrics (DESIGN.md §3).
#include <fmt/format.h>

#include "cli/commands.h"
#include "tinyc/distill.h"
#include "tinyc/error.h"
#include "tinyc/model_file.h"
#include "tinyc/prune.h"
#include "tinyc/qat.h"
#include "tinyc/quantize.h"
#include "tinyc/train.h"
#include "tinyc/transform.h"

namespace tinyc::cli {
namespace {

struct Evaluated {
  ModelStats stats;
  Metrics metrics;
};

Evaluated measure(const Model& m, const std::vector<float>& x, const std::vector<float>& y,
                  int64_t rows) {
  return {model_stats(m), evaluate(m, x.data(), y.data(), rows)};
}

nlohmann::json stats_json(Task task, const Evaluated& e) {
  nlohmann::json j;
  j["params"] = e.stats.params;
  j["nonzero_params"] = e.stats.nonzero_params;
  j["weights_bytes"] = e.stats.weights_bytes;
  j["macs"] = e.stats.macs;
  j["metrics"] = metrics_json(task, e.metrics);
  return j;
}

// `count` rows spread evenly over `rows` (all of them when count <= 0 or count >= size).
std::vector<int64_t> spread(const std::vector<int64_t>& rows, int64_t count) {
  const auto size = static_cast<int64_t>(rows.size());
  if (count <= 0 || count >= size) return rows;
  std::vector<int64_t> picked;
  for (int64_t i = 0; i < count; ++i) picked.push_back(rows[static_cast<size_t>(i * size / count)]);
  return picked;
}

}  // namespace

void register_compress(CLI::App& app) {
  auto* cmd = app.add_subcommand("compress",
                                 "Compress a trained model: distillation into a smaller "
                                 "student, magnitude pruning with fine-tuning, then int8 "
                                 "quantization (post-training or quantization-aware)");
  struct Args {
    std::string model, data, out, label, quantize, method = "auto", scope = "layer", report;
    std::string student, teacher;
    float temperature = kDefaultTemperature, alpha = kDefaultAlpha;
    int distill_epochs = 0, qat_epochs = 0;
    bool teacher_flip = false;
    int64_t calibration = 1000;
    double prune = -1.0;
    int finetune_epochs = 10;
    float lr = -1.0f;
    uint64_t seed = 0;
    int threads = 0;
    bool json = false, explain = false, structured = false;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("model", a->model,
                  "Trained float model (.tinyc or .tflite); with --student, the default teacher")
      ->required();
  cmd->add_option("--data", a->data,
                  "The training data (CSV file or IDX directory): "
                  "calibration rows come from its train split, metrics from its test split")
      ->required();
  cmd->add_option("-o,--output", a->out, "Output model file (.tinyc)")->required();
  cmd->add_option("--prune", a->prune,
                  "Magnitude pruning of dense weights to this sparsity "
                  "(fraction of zeros, e.g. 0.8), gradual over the fine-tuning epochs")
      ->check(CLI::Range(0.0, 0.999));
  cmd->add_flag("--structured", a->structured,
                "With --prune S: remove whole dense units and conv2d filters (fraction S per "
                "layer, smallest L2 norm) and shrink the layers after them; fine-tunes with "
                "the spec's optimizer");
  cmd->add_option("--prune-scope", a->scope, "Sparsity per layer, or one global threshold")
      ->check(CLI::IsMember({"layer", "global"}))
      ->capture_default_str();
  cmd->add_option("--finetune-epochs", a->finetune_epochs,
                  "Fine-tuning epochs after pruning (0: one-shot pruning)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--lr", a->lr, "Fine-tuning learning rate (default: the stored spec's; fine-tuning uses the "
                  "spec's optimizer and schedule)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--seed", a->seed,
                  "Seed of fine-tuning shuffles and of the student's initialization")->capture_default_str();
  cmd->add_option("--threads", a->threads, "Fine-tuning threads (0: all)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--quantize", a->quantize, "Post-training quantization (TFLite int8 spec)")
      ->check(CLI::IsMember({"int8"}));
  cmd->add_option("--calibration", a->calibration,
                  "Calibration samples, spread evenly over the train split (0: all)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--calibration-method", a->method,
                  "Activation ranges: minmax, mse (least quantization error, may clip "
                  "outliers) or auto (the better of both on the calibration samples)")
      ->capture_default_str()
      ->check(CLI::IsMember({"minmax", "mse", "auto"}));
  cmd->add_flag("--explain", a->explain,
                "Quantization debugger: per layer, the float-vs-int8 "
                "error (SQNR, max abs) and the metric with only that layer quantized, on the "
                "calibration samples (always in the --json report)");
  cmd->add_option("--qat-epochs", a->qat_epochs,
                  "With --quantize int8: quantization-aware fine-tuning epochs (fake-quantized "
                  "weights and activations, straight-through gradients; the int8 model uses the "
                  "learned activation ranges)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--student", a->student,
                  "Distillation: train the model of this spec (JSON) on the labels and the "
                  "teacher's outputs, on the teacher's train split; it replaces M for the "
                  "later stages")
      ->check(CLI::ExistingFile);
  cmd->add_option("--distill-from", a->teacher,
                  "The teacher (.tinyc float or int8, or .tflite; default: M); needs --student")
      ->check(CLI::ExistingFile);
  cmd->add_option("--temperature", a->temperature, "Distillation temperature T (> 0)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--alpha", a->alpha,
                  "Distillation: weight of the label loss; 1 - alpha weighs T^2 x KL to the "
                  "teacher's softened outputs (MSE to its outputs for regression)")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd->add_option("--distill-epochs", a->distill_epochs,
                  "Student training epochs (default: the student spec's)")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--teacher-flip", a->teacher_flip,
                "Distillation: average the teacher's targets over each image and its mirror "
                "image (image inputs only)");
  cmd->add_option("--label", a->label, "CSV label column");
  cmd->add_flag("--json", a->json, "Print one JSON object on stdout");
  cmd->add_option("--report", a->report, "Also write the HTML report of the compressed model "
                  "(as `tinyc report`), with before/after accuracy and size");
  cmd->callback([a] {
    if (a->quantize.empty() && a->prune < 0.0 && a->student.empty()) {
      throw CLI::RequiredError(
          "--student SPEC, --prune S and/or --quantize int8 (the compression to apply)");
    }
    if (!a->teacher.empty() && a->student.empty()) {
      throw CLI::RequiredError("--student SPEC (the model --distill-from trains)");
    }
    if (a->qat_epochs > 0 && a->quantize.empty()) {
      throw CLI::RequiredError("--quantize int8 (--qat-epochs fine-tunes for it)");
    }
    const Model m = load_model(a->model);
    // An int8 model may only teach: nothing else is compressed twice.
    if (m.is_quantized() && (a->student.empty() || !a->teacher.empty())) {
      unsupported("{}: model '{}' is already int8; compress the float model it came from", a->model,
                  m.name);
    }
    CsvOptions csv;
    csv.label = a->label;
    const Dataset data = load_data(a->data, csv);
    check_data_fits(m, data);
    // Metrics on the test split (re-created from the model's split definition); calibration on
    // the train split. Without a stored split: every row for both.
    const bool has_split = m.split.defined;
    std::vector<int64_t> test_rows = rows_for(m, data, has_split ? "test" : "");
    std::string metrics_split = has_split ? "test" : "all";
    if (test_rows.empty()) {
      test_rows = rows_for(m, data, "");
      metrics_split = "all";
    }
    const std::vector<int64_t> train_rows = rows_for(m, data, has_split ? "train" : "");
    std::vector<float> tx, ty, cx, cy;
    gather_rows(data, test_rows, &tx, &ty);
    const auto test_n = static_cast<int64_t>(test_rows.size());
    const std::vector<int64_t> calib_rows = spread(train_rows, a->calibration);
    gather_rows(data, calib_rows, &cx, &cy);

    const Evaluated before = measure(m, tx, ty, test_n);
    Model current = m;
    Evaluated after = before;  // updated by each stage
    nlohmann::json stages = nlohmann::json::array();
    std::vector<std::string> lines;
    std::vector<std::pair<std::string, Evaluated>> table{{"before", before}};
    if (!a->student.empty()) {
      const Model teacher = a->teacher.empty() ? m : load_model(a->teacher);
      DistillOptions d;
      d.temperature = a->temperature;
      d.alpha = a->alpha;
      d.teacher_flip = a->teacher_flip;
      // The student trains on M's train split (its test rows stay unseen): same split seed
      // and fractions, so the same rows; --seed seeds its initialization and shuffling.
      d.train.seed = a->seed;
      if (has_split) {
        d.train.split_seed = static_cast<int64_t>(m.split.seed);
        d.train.val_split = m.split.val;
        d.train.test_split = m.split.test;
      }
      d.train.epochs = a->distill_epochs > 0 ? a->distill_epochs : -1;
      d.train.threads = a->threads;
      d.train.progress = ProgressMode::kQuiet;
      const ModelSpec spec = load_spec(a->student);
      current = distill(teacher, spec, data, d).model;
      after = measure(current, tx, ty, test_n);
      table.emplace_back("distill", after);
      nlohmann::json stage;
      stage["stage"] = "distill";
      stage["teacher"] = a->teacher.empty() ? a->model : a->teacher;
      stage["student"] = a->student;
      stage["temperature"] = a->temperature;
      stage["alpha"] = a->alpha;
      stage["teacher_flip"] = a->teacher_flip;
      stage["epochs"] = current.history.size();
      stage["params"] = after.stats.params;
      stage["metrics"] = metrics_json(m.task, after.metrics);
      stages.push_back(stage);
      lines.push_back(fmt::format("distill: student {} ({} params) from {}, T {}, alpha {}, {} "
                                  "epochs; {}", spec.name, after.stats.params,
                                  stage["teacher"].get<std::string>(), a->temperature, a->alpha,
                                  current.history.size(), metrics_text(m.task, after.metrics)));
    }
    // Preprocessed train rows for fine-tuning (pruning, QAT), with the current model's
    // preprocessing (the student's after distillation).
    std::vector<float> px, py;
    TrainData td;
    if (a->prune >= 0.0 || a->qat_epochs > 0) {
      gather_rows(data, train_rows, &px, &py);
      current.preprocess.apply(px.data(), static_cast<int64_t>(train_rows.size()), data.features);
      td.x = px.data();
      td.y = py.data();
      td.rows = static_cast<int64_t>(train_rows.size());
    }
    if (a->prune >= 0.0) {
      PruneOptions po;
      po.sparsity = a->prune;
      po.global = a->scope == "global";
      po.epochs = a->finetune_epochs;
      po.lr = a->lr;
      po.seed = a->seed;
      po.threads = a->threads;
      PruneReport pr;
      current = a->structured ? prune_structured(current, po, &td, &pr)
                              : prune_model(current, po, &td, &pr);
      after = measure(current, tx, ty, test_n);
      table.emplace_back("prune", after);
      const Evaluated& e = after;
      nlohmann::json stage;
      stage["stage"] = "prune";
      stage["sparsity"] = pr.sparsity;
      stage["scope"] = a->scope;
      stage["finetune_epochs"] = a->finetune_epochs;
      stage["schedule"] = pr.schedule;
      stage["nonzero_params"] = e.stats.nonzero_params;
      stage["metrics"] = metrics_json(m.task, e.metrics);
      stage["structured"] = a->structured;
      if (a->structured) {
        stage["removed_units"] = pr.removed_units;
        stage["params"] = pr.params_after;
      }
      stages.push_back(stage);
      lines.push_back(
          a->structured
              ? fmt::format("prune (structured): {} units/filters removed, params {} -> {} "
                            "({:.1f}% fewer), {} fine-tuning epochs; {}",
                            pr.removed_units, pr.params_before, pr.params_after,
                            100.0 * pr.sparsity, a->finetune_epochs,
                            metrics_text(m.task, e.metrics))
              : fmt::format("prune: {:.1f}% of dense weights zero ({}), {} fine-tuning "
                            "epochs; {}",
                            100.0 * pr.sparsity, a->scope, a->finetune_epochs,
                            metrics_text(m.task, e.metrics)));
    }
    if (!a->quantize.empty()) {
      QuantizeOptions qo;
      parse_calibration_method(a->method, &qo.method);
      QuantizeReport report;
      // batch_norm folds into the layer before it (quantize_model would fold it too); folded
      // here so that the debugger compares the same graphs.
      fold_batch_norm(current);
      const auto calib_n = static_cast<int64_t>(calib_rows.size());
      Metrics ptq_metrics;
      if (a->qat_epochs > 0) {
        // Post-training quantization of the same float model, for comparison.
        ptq_metrics = measure(quantize_model(current, cx.data(), cy.data(), calib_n, qo, nullptr),
                              tx, ty, test_n).metrics;
        QatOptions qat;
        qat.epochs = a->qat_epochs;
        qat.lr = a->lr;
        qat.seed = a->seed;
        qat.threads = a->threads;
        current = qat_finetune(current, td, cx.data(), calib_n, qat, &qo.ranges);
        qo.method = CalibrationMethod::kMinMax;  // every calibrated tensor has a QAT range
        const Evaluated q = measure(current, tx, ty, test_n);
        table.emplace_back("qat", q);
        stages.push_back({{"stage", "qat"},
                          {"epochs", a->qat_epochs},
                          {"metrics", metrics_json(m.task, q.metrics)}});
        lines.push_back(fmt::format("qat: {} fake-quantized fine-tuning epochs; float model {}",
                                    a->qat_epochs, metrics_text(m.task, q.metrics)));
      }
      const Model float_model = current;
      current = quantize_model(current, cx.data(), cy.data(), calib_n, qo, &report);
      after = measure(current, tx, ty, test_n);
      table.emplace_back("quantize", after);
      const Evaluated& e = after;
      nlohmann::json stage;
      stage["stage"] = "quantize";
      stage["dtype"] = "int8";
      stage["calibration_rows"] = report.calibration_rows;
      stage["calibration_method"] =
          a->qat_epochs > 0 ? "qat" : calibration_method_name(report.method_used);
      if (a->qat_epochs > 0) stage["ptq_metrics"] = metrics_json(m.task, ptq_metrics);
      stage["metrics"] = metrics_json(m.task, e.metrics);
      if (report.minmax_metrics.present) {
        stage["calibration_metrics"] = {{"float32", metrics_json(m.task, report.float_metrics)},
                                        {"minmax", metrics_json(m.task, report.minmax_metrics)},
                                        {"mse", metrics_json(m.task, report.mse_metrics)}};
      }
      lines.push_back(fmt::format(
          "quantize int8: {} calibration samples, {} ranges; {}{}", report.calibration_rows,
          stage["calibration_method"].get<std::string>(), metrics_text(m.task, e.metrics),
          a->qat_epochs > 0 ? " (post-training only: " + metrics_text(m.task, ptq_metrics) + ")"
                            : std::string()));
      if (a->explain || a->json) {
        const QuantExplanation ex = explain_quantization(float_model, current, cx.data(), cy.data(),
                                                         static_cast<int64_t>(calib_rows.size()));
        nlohmann::json layers = nlohmann::json::array();
        const char* key = m.task == Task::kClassification ? "accuracy" : "mse";
        lines.push_back(fmt::format("  {:<16} {:<10} {:>9} {:>12} {:>14}", "layer", "type",
                                    "SQNR dB", "max |error|", fmt::format("{} alone", key)));
        for (const LayerQuantError& l : ex.layers) {
          layers.push_back({{"name", l.name},
                            {"type", l.type},
                            {"sqnr_db", l.sqnr_db},
                            {"max_abs_error", l.max_abs_error},
                            {"metrics_only_this_quantized", metrics_json(m.task, l.solo)}});
          lines.push_back(fmt::format("  {:<16} {:<10} {:>9.1f} {:>12.4g} {:>14.4f}", l.name,
                                      l.type, l.sqnr_db, l.max_abs_error, l.solo.metric));
        }
        stage["layers"] = layers;
        if (!ex.culprit.empty()) {
          stage["culprit"] = ex.culprit;
          stage["suggestion"] = ex.suggestion;
          lines.push_back("  culprit: " + ex.suggestion);
        }
      }
      stages.push_back(stage);
    }
    CompressionRecord& rec = current.compression;  // what `tinyc report` shows later
    rec = CompressionRecord{};
    rec.present = true;
    if (a->prune >= 0.0) {
      rec.steps = fmt::format("prune {:g}{}", a->prune, a->structured ? " structured" : "");
    }
    if (!a->quantize.empty()) rec.steps += (rec.steps.empty() ? "" : ", ") + ("quantize " + a->quantize);
    rec.before_params = before.stats.params;
    rec.before_nonzero = before.stats.nonzero_params;
    rec.before_bytes = before.stats.weights_bytes;
    rec.after_params = after.stats.params;
    rec.after_nonzero = after.stats.nonzero_params;
    rec.after_bytes = after.stats.weights_bytes;
    rec.samples = test_n;
    rec.before_loss = before.metrics.loss;
    rec.before_metric = before.metrics.metric;
    rec.after_loss = after.metrics.loss;
    rec.after_metric = after.metrics.metric;
    save_model(current, a->out);
    if (!a->report.empty()) {
      write_cli_report(a->report, current, &data, "host",
                       fmt::format("tinyc compress {} --data {} -o {}", a->model, a->data, a->out));
    }

    if (a->json) {
      nlohmann::json j;
      j["task"] = task_name(m.task);
      j["metrics_split"] = metrics_split;
      j["before"] = stats_json(m.task, before);
      j["after"] = stats_json(m.task, after);
      j["stages"] = stages;
      j["output"] = a->out;
      print_json(j);
      return;
    }
    const char* metric = m.task == Task::kClassification ? "accuracy" : "mse";
    for (const std::string& line : lines) std::printf("%s\n", line.c_str());
    std::printf("%-8s %10s %10s %14s %10s %12s\n", "", "params", "nonzero", "weight bytes", metric,
                "loss");
    table.emplace_back("after", after);
    for (const auto& [name, e] : table) {
      std::printf("%-8s %10lld %10lld %14lld %10.4f %12.4f\n", name.c_str(),
                  static_cast<long long>(e.stats.params),
                  static_cast<long long>(e.stats.nonzero_params),
                  static_cast<long long>(e.stats.weights_bytes), e.metrics.metric, e.metrics.loss);
    }
    std::printf("metrics on %lld %s rows; wrote %s\n", static_cast<long long>(test_n),
                metrics_split.c_str(), a->out.c_str());
  });
}

}  // namespace tinyc::cli
