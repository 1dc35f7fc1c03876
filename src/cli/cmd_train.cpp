// tinyc train SPEC --data D -o M: build a model from a spec, train it, save it.
#include <fmt/format.h>

#include "cli/commands.h"
#include "tinyc/error.h"
#include "tinyc/model_file.h"
#include "tinyc/spec.h"
#include "tinyc/train.h"

namespace tinyc::cli {

void register_train(CLI::App& app) {
  auto* cmd = app.add_subcommand("train", "Train a model from a JSON spec");
  struct Args {
    std::string spec, data, test, out, label, report;
    TrainOptions opt;
    bool json = false;
    bool quiet = false;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("spec", a->spec, "Model spec (models/*.json)")->required();
  cmd->add_option("--data", a->data, "Training data: CSV file (.csv[.gz]) or IDX directory")->required();
  cmd->add_option("--test", a->test, "Separate test data (default: the test split of --data)");
  cmd->add_option("-o,--output", a->out, "Model file to write (.tinyc)")->required();
  cmd->add_option("--label", a->label, "CSV label column (default: label, target, or the last column)");
  cmd->add_option("--epochs", a->opt.epochs, "Override the spec's epochs")->check(CLI::PositiveNumber);
  cmd->add_option("--batch", a->opt.batch, "Override the spec's batch size")->check(CLI::PositiveNumber);
  cmd->add_option("--lr", a->opt.lr, "Override the spec's learning rate")->check(CLI::PositiveNumber);
  cmd->add_option("--optimizer", a->opt.optimizer, "Override the spec's optimizer")
      ->check(CLI::IsMember({"sgd", "momentum", "adam"}));
  cmd->add_option("--seed", a->opt.seed, "Seed for initialization, split and shuffling (default 0)");
  cmd->add_option("--threads", a->opt.threads, "Threads (default: all cores); results are "
                  "deterministic for a given seed and thread count")->check(CLI::PositiveNumber);
  cmd->add_option("--val-split", a->opt.val_split, "Validation fraction (overrides the spec)")
      ->check(CLI::Range(0.0, 0.9));
  cmd->add_option("--test-split", a->opt.test_split, "Test fraction (overrides the spec)")
      ->check(CLI::Range(0.0, 0.9));
  cmd->add_option("--checkpoint-every", a->opt.checkpoint_every, "Write a resumable checkpoint "
                  "every N epochs (to --checkpoint)")->check(CLI::PositiveNumber);
  cmd->add_option("--checkpoint", a->opt.checkpoint_path, "Checkpoint file (default: OUTPUT.ckpt)");
  cmd->add_option("--resume", a->opt.resume_path, "Continue an interrupted run from its "
                  "checkpoint; give the same spec, data and flags: the model is bit-identical to "
                  "an uninterrupted run's");
  cmd->add_flag("--json", a->json, "Print one JSON object with the results on stdout");
  cmd->add_flag("-q,--quiet", a->quiet, "No progress output");
  cmd->add_option("--report", a->report, "Also write the HTML report of the trained model "
                  "(as `tinyc report`)");
  cmd->callback([a] {
    const ModelSpec spec = load_spec(a->spec);
    CsvOptions csv;
    csv.label = a->label;
    const Dataset data = load_data(a->data, csv);
    Dataset test_data;
    if (!a->test.empty()) {
      test_data = load_data(a->test, csv);
      if (a->opt.test_split < 0) a->opt.test_split = 0.0;
    }
    if (a->quiet) a->opt.progress = ProgressMode::kQuiet;
    if (a->opt.checkpoint_path.empty()) a->opt.checkpoint_path = a->out + ".ckpt";
    install_interrupt_handler();
    TrainJob job = train_from_spec(spec, data, a->opt);
    const Model& m = job.model;
    TrainResult& r = job.result;
    if (!a->test.empty()) {
      check_data_fits(m, test_data);
      const auto rows = rows_for(m, test_data, "");
      std::vector<float> x, y;
      gather_rows(test_data, rows, &x, &y);
      r.test = evaluate(m, x.data(), y.data(), static_cast<int64_t>(rows.size()));
    }
    save_model(m, a->out);
    if (!a->report.empty()) {
      write_cli_report(a->report, m, a->test.empty() ? &data : &test_data, "host",
                       fmt::format("tinyc train {} --data {}", a->spec, a->data));
    }
    if (a->json) {
      nlohmann::json j;
      j["task"] = task_name(m.task);
      j["epochs_run"] = r.epochs_run;
      j["early_stopped"] = r.early_stopped;
      j["best_epoch"] = r.best_epoch;
      j["threads"] = r.threads_used;
      j["train_rows"] = r.train_rows;
      j["train_seconds"] = r.train_seconds;
      j["samples_per_second"] = r.samples_per_second;
      j["model"] = a->out;
      nlohmann::json metrics = nlohmann::json::object();
      if (r.train.present) metrics["train"] = metrics_json(m.task, r.train);
      if (r.val.present) metrics["val"] = metrics_json(m.task, r.val);
      if (r.test.present) metrics["test"] = metrics_json(m.task, r.test);
      j["metrics"] = metrics;
      print_json(j);
      return;
    }
    std::printf("trained %s: %d epochs in %.2f s (%.0f samples/s, %d thread%s)\n", m.name.c_str(),
                r.epochs_run, r.train_seconds, r.samples_per_second, r.threads_used,
                r.threads_used == 1 ? "" : "s");
    if (r.train.present) std::printf("train: %s\n", metrics_text(m.task, r.train).c_str());
    if (r.val.present) std::printf("val:   %s\n", metrics_text(m.task, r.val).c_str());
    if (r.test.present) std::printf("test:  %s\n", metrics_text(m.task, r.test).c_str());
    std::printf("saved %s\n", a->out.c_str());
  });
}

}  // namespace tinyc::cli
