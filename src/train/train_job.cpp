// `tinyc train` as a library function: data split, preprocessing, model, training, scores.
#include <thread>

#include "tinyc/error.h"
#include "tinyc/train.h"
#include "train/huge_pages.h"

namespace tinyc {

void check_data_fits(const Model& model, const Dataset& data) {
  // A row feeds graph input 0; the executors would read every input from it (fuzzer finding:
  // a two-input .tflite read past the rows of --data).
  if (model.inputs.size() != 1) {
    unsupported("model '{}' has {} graph inputs; rows of --data feed one: give raw cases with "
                "predict --input-bin", model.name, model.inputs.size());
  }
  const int64_t want = model.input().sample_size();
  if (data.features != want) {
    bad_input("{}: data has {} features per sample, model '{}' expects {} (input shape {})",
              data.source, data.features, model.name, want, shape_str(model.input().sample_shape()));
  }
  const int64_t width = model.output().sample_size();
  if (model.task == Task::kRegression && width != 1) {
    unsupported("model '{}': regression with {} outputs needs {} target columns; only one is "
                "supported", model.name, width, width);
  }
  check_targets(model.task, width, data.y.data(), data.rows,
                [&](int64_t r) { return data.where(r); });
}

namespace {

// Data that loads but cannot train anything: no rows left for training, or a classifier that
// would only ever see one class.
void check_trainable(const Dataset& data, const std::vector<int64_t>& train, const ModelSpec& spec) {
  if (train.empty()) {
    bad_input("{}: {} row(s) leave no training rows after the split (val {}, test {}); add rows "
              "or lower --val-split/--test-split", data.source, data.rows, spec.val, spec.test);
  }
  if (spec.task != Task::kClassification) return;
  const float first = data.y[static_cast<size_t>(train[0])];
  for (const int64_t r : train) {
    if (data.y[static_cast<size_t>(r)] != first) return;
  }
  bad_input("{}: every training row has class {}; a classifier needs at least two classes",
            data.source, first);
}

struct SplitData {
  std::vector<float> x, y;
  int64_t rows = 0;
};

SplitData take(const Dataset& data, const std::vector<int64_t>& rows, const Preprocess* pre) {
  SplitData s;
  const size_t floats = rows.size() * static_cast<size_t>(data.features);
  s.x.reserve(floats);  // allocated, not yet touched: the advice applies to its first writes
  advise_huge_pages(s.x.data(), floats * sizeof(float));
  gather_rows(data, rows, &s.x, &s.y);
  s.rows = static_cast<int64_t>(rows.size());
  if (pre != nullptr) pre->apply(s.x.data(), s.rows, data.features);
  return s;
}

}  // namespace

TrainJob train_from_spec(const ModelSpec& spec_in, const Dataset& data, const TrainOptions& o) {
  ModelSpec spec = spec_in;
  TrainConfig& cfg = spec.train;
  if (o.epochs > 0) cfg.epochs = o.epochs;
  if (o.batch > 0) cfg.batch = o.batch;
  if (o.lr > 0) cfg.lr = o.lr;
  if (!o.optimizer.empty()) cfg.optimizer = o.optimizer;
  cfg.checkpoint_every = o.checkpoint_every;
  cfg.checkpoint_path = o.checkpoint_path;
  cfg.resume_path = o.resume_path;
  if (o.val_split >= 0) spec.val = o.val_split;
  if (o.test_split >= 0) spec.test = o.test_split;
  if (spec.val + spec.test >= 1.0) {
    fail(ExitCode::kUsage, "validation ({}) and test ({}) fractions leave no training rows",
         spec.val, spec.test);
  }

  TrainJob job;
  job.model = build_model(spec, o.seed);
  Model& model = job.model;
  check_data_fits(model, data);

  SplitSpec split_spec;
  split_spec.val = spec.val;
  split_spec.test = spec.test;
  split_spec.seed = o.split_seed >= 0 ? static_cast<uint64_t>(o.split_seed) : o.seed;
  split_spec.stratify = spec.task == Task::kClassification;
  const SplitIndices split = make_split(data, split_spec);
  check_trainable(data, split.train, spec);
  model.split.defined = true;
  model.split.seed = split_spec.seed;
  model.split.val = spec.val;
  model.split.test = spec.test;
  model.split.stratify = split_spec.stratify;
  model.split.data_fingerprint = data.fingerprint();
  model.split.data_rows = data.rows;

  model.preprocess = fit_preprocess(data, split.train, spec.normalize, spec.factor);
  const SplitData train = take(data, split.train, &model.preprocess);
  const SplitData val = take(data, split.val, &model.preprocess);

  TrainData td;
  td.x = train.x.data();
  td.y = train.y.data();
  td.rows = train.rows;
  td.val_x = val.x.data();
  td.val_y = val.y.data();
  td.val_rows = val.rows;
  const int threads = o.threads > 0 ? o.threads
                                    : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  job.result = train_model(model, cfg, td, o.seed, threads, o.progress, o.hook);

  // Final scores on raw rows through the model's own preprocessing, as eval computes them.
  auto score = [&](const std::vector<int64_t>& rows) {
    const SplitData raw = take(data, rows, nullptr);
    return evaluate(model, raw.x.data(), raw.y.data(), raw.rows);
  };
  job.result.train = score(split.train);
  job.result.val = score(split.val);
  job.result.test = score(split.test);
  return job;
}

}  // namespace tinyc
