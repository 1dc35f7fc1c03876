#include <csignal>
#include <cstdio>

#include "cli/commands.h"
#include "tinyc/error.h"
#include "tinyc/train.h"

namespace tinyc::cli {

void register_commands(CLI::App& app) {
  register_data(app);
  register_train(app);
  register_eval(app);
  register_predict(app);
  register_info(app);
  register_compress(app);
  register_targets(app);
  register_emit(app);
  register_import(app);
  register_export(app);
  register_report(app);
}

void print_json(const nlohmann::json& j) {
  const std::string s = j.dump(2);
  std::fwrite(s.data(), 1, s.size(), stdout);
  std::fputc('\n', stdout);
}

nlohmann::json metrics_json(Task task, const Metrics& m) {
  nlohmann::json j;
  j["loss"] = m.loss;
  j[task == Task::kClassification ? "accuracy" : "mse"] = m.metric;
  j["samples"] = m.samples;
  return j;
}

std::string metrics_text(Task task, const Metrics& m) {
  if (task == Task::kClassification) {
    return fmt::format("loss {:.4f}  accuracy {:.4f}  ({} samples)", m.loss, m.metric, m.samples);
  }
  return fmt::format("loss {:.6g}  mse {:.6g}  ({} samples)", m.loss, m.metric, m.samples);
}

std::vector<int64_t> rows_for(const Model& model, const Dataset& data, const std::string& split) {
  if (!split.empty()) {
    const SplitDefinition& d = model.split;
    if (!d.defined) bad_input("model '{}' stores no split definition; drop --split", model.name);
    if (d.data_fingerprint != data.fingerprint() || d.data_rows != data.rows) {
      bad_input("{}: this is not the data model '{}' was trained on ({} rows, fingerprint "
                "{:016x}); --split needs the same data", data.source, model.name, d.data_rows,
                d.data_fingerprint);
    }
    SplitSpec spec;
    spec.val = d.val;
    spec.test = d.test;
    spec.seed = d.seed;
    spec.stratify = d.stratify;
    SplitIndices s = make_split(data, spec);
    return split == "train" ? s.train : split == "val" ? s.val : s.test;
  }
  std::vector<int64_t> rows;
  bool any_test_tag = false;
  for (SplitTag t : data.split) any_test_tag = any_test_tag || t == SplitTag::kTest;
  const bool idx = data.source_line.empty() && any_test_tag;
  for (int64_t r = 0; r < data.rows; ++r) {
    if (!idx || data.split[static_cast<size_t>(r)] == SplitTag::kTest) rows.push_back(r);
  }
  return rows;
}

namespace {
extern "C" void on_sigint(int) {
  request_interrupt();
  std::signal(SIGINT, SIG_DFL);  // a second Ctrl-C ends the process at once
}
}  // namespace

void install_interrupt_handler() { std::signal(SIGINT, on_sigint); }

}  // namespace tinyc::cli
