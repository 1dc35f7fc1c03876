#include "compress/finetune.h"

#include <algorithm>
#include <thread>

namespace tinyc {

TrainConfig finetune_config(const Model& model, float lr, int epochs) {
  TrainConfig cfg;
  if (!model.spec_json.empty()) cfg = parse_spec(model.spec_json, model.name + " (stored spec)").train;
  if (model.task == Task::kClassification) cfg.loss = "cross_entropy";
  if (cfg.loss.empty()) cfg.loss = "mse";
  if (lr > 0.0f) cfg.lr = lr;
  cfg.epochs = epochs;
  cfg.patience = 0;
  return cfg;
}

void finetune(Model& model, const TrainConfig& config, const TrainData& data, uint64_t seed,
              int threads, TrainHook* hook) {
  const size_t before = model.history.size();
  train_model(model, config, data, seed, resolve_threads(threads), ProgressMode::kQuiet, hook);
  for (size_t i = before; i < model.history.size(); ++i) model.history[i].epoch = static_cast<int>(i + 1);
}

int resolve_threads(int threads) {
  return threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

}  // namespace tinyc
