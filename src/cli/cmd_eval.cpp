// tinyc eval M --data D: loss and accuracy/MSE of a model on data.
#include "cli/commands.h"
#include "tinyc/model_file.h"
#include "tinyc/train.h"

namespace tinyc::cli {

void register_eval(CLI::App& app) {
  auto* cmd = app.add_subcommand("eval", "Evaluate a model on data");
  struct Args {
    std::string model, data, split, label;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("model", a->model, "Model file (.tinyc)")->required();
  cmd->add_option("--data", a->data, "CSV file or IDX directory")->required();
  cmd->add_option("--split", a->split, "Only this split, re-created from the model's stored "
                  "split definition (needs the training data)")
      ->check(CLI::IsMember({"train", "val", "test"}));
  cmd->add_option("--label", a->label, "CSV label column");
  cmd->add_flag("--json", a->json, "Print one JSON object on stdout");
  cmd->callback([a] {
    const Model m = load_model(a->model);
    CsvOptions csv;
    csv.label = a->label;
    const Dataset data = load_data(a->data, csv);
    check_data_fits(m, data);
    const auto rows = rows_for(m, data, a->split);
    std::vector<float> x, y;
    gather_rows(data, rows, &x, &y);
    const Metrics r = evaluate(m, x.data(), y.data(), static_cast<int64_t>(rows.size()));
    if (a->json) {
      nlohmann::json j;
      j["samples"] = r.samples;
      j["task"] = task_name(m.task);
      j["metrics"] = metrics_json(m.task, r);
      j["metrics"].erase("samples");
      print_json(j);
      return;
    }
    std::printf("%s\n", metrics_text(m.task, r).c_str());
  });
}

}  // namespace tinyc::cli
