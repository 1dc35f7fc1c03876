// `tinyc report`: one self-contained HTML page about a model (inline SVG charts, no script, no
// network): training curves, confusion matrix or predicted-vs-true scatter, per-layer sizes,
// the arena timeline of the emitted code's memory plan, and what compression changed.
#pragma once

#include <string>

#include "tinyc/data.h"
#include "tinyc/model.h"

namespace tinyc {

struct ReportOptions {
  // The arena timeline shows the memory plan `tinyc emit --target` would make.
  std::string target = "host";
  // Optional data for the confusion matrix (classification) or scatter (regression): its test
  // split re-created from the model's split definition when the data is the training data,
  // the t10k rows of an IDX dir, else every row. Not owned.
  const Dataset* data = nullptr;
  std::string command_line;  // shown in the page footer (keep it free of timestamps)
};

// The page as a string: the same model, data and options give the same bytes.
std::string render_report(const Model& model, const ReportOptions& options);

// render_report, written atomically to `path`.
void write_report(const Model& model, const ReportOptions& options, const std::string& path);

}  // namespace tinyc
