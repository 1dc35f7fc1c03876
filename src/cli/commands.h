// Subcommands of the tinyc CLI, one file each; helpers they share.
#pragma once

#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "tinyc/data.h"
#include "tinyc/executor.h"
#include "tinyc/model.h"

namespace tinyc::cli {

void register_commands(CLI::App& app);

void register_data(CLI::App& app);
void register_train(CLI::App& app);
void register_eval(CLI::App& app);
void register_predict(CLI::App& app);
void register_info(CLI::App& app);
void register_compress(CLI::App& app);
void register_targets(CLI::App& app);
void register_emit(CLI::App& app);
void register_import(CLI::App& app);
void register_export(CLI::App& app);
void register_report(CLI::App& app);

// Shared helpers (common.cpp).
// Prints exactly one JSON object on stdout.
void print_json(const nlohmann::json& j);
// {"loss": .., "accuracy"|"mse": ..}
nlohmann::json metrics_json(Task task, const Metrics& m);
std::string metrics_text(Task task, const Metrics& m);
// Rows an eval/predict works on: every CSV row, the t10k rows of an IDX dir, or with
// `split` (train|val|test) the split re-created from the model's stored definition.
std::vector<int64_t> rows_for(const Model& model, const Dataset& data, const std::string& split);
// `--report FILE` of train/compress/emit (cmd_report.cpp): the HTML report of `model`, with
// `data` (may be null) for the confusion matrix or scatter. Prints "wrote FILE" on stderr.
void write_cli_report(const std::string& path, const Model& model, const Dataset* data,
                      const std::string& target, const std::string& command_line);
// SIGINT during training: stop at the next batch, exit 130.
void install_interrupt_handler();

}  // namespace tinyc::cli
