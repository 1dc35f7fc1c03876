// tinyc report M [--data D] [--target T] -o report.html: one self-contained HTML page with the
// model's training curves, confusion matrix or scatter, layer sizes, arena timeline and
// compression results.
#include <fmt/format.h>

#include "cli/commands.h"
#include "tinyc/model_file.h"
#include "tinyc/report.h"
#include "tinyc/train.h"

namespace tinyc::cli {

void write_cli_report(const std::string& path, const Model& model, const Dataset* data,
                      const std::string& target, const std::string& command_line) {
  ReportOptions o;
  o.target = target.empty() ? "host" : target;
  o.data = data;
  o.command_line = command_line;
  write_report(model, o, path);
  std::fprintf(stderr, "wrote report %s\n", path.c_str());
}

void register_report(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "report", "Write an HTML report: training curves, confusion matrix or scatter, per-layer "
                "sizes, arena timeline, compression results");
  struct Args {
    std::string model, data, label, target = "host", out;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("model", a->model, "Model file (.tinyc or .tflite)")->required();
  cmd->add_option("--data", a->data, "Data for the confusion matrix or scatter (the training "
                  "data re-creates the stored test split)");
  cmd->add_option("--label", a->label, "CSV label column");
  cmd->add_option("--target", a->target, "Target whose memory plan the arena timeline shows "
                  "(default host)");
  cmd->add_option("-o,--output", a->out, "HTML file to write")->required();
  cmd->callback([a] {
    const Model m = load_model(a->model);
    Dataset data;
    if (!a->data.empty()) {
      CsvOptions csv;
      csv.label = a->label;
      data = load_data(a->data, csv);
      check_data_fits(m, data);
    }
    write_cli_report(a->out, m, a->data.empty() ? nullptr : &data, a->target,
                     fmt::format("tinyc report {}{} --target {}", a->model,
                                 a->data.empty() ? "" : " --data " + a->data, a->target));
  });
}

}  // namespace tinyc::cli
