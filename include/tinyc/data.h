// Data sets: CSV (plain or gzip) and IDX directories, splits, normalization, generators.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tinyc/preprocess.h"

namespace tinyc {

// Which split a row belongs to when the data itself fixes it (CSV `split` column, IDX t10k).
enum class SplitTag : uint8_t { kTrain, kVal, kTest, kNone };

struct Dataset {
  std::string source;              // path as given, for messages
  std::vector<int> sample_shape;   // per-sample feature shape: {features} for CSV, {28, 28} for IDX
  int64_t rows = 0;
  int64_t features = 0;            // product of sample_shape
  std::vector<float> x;            // rows x features, row-major
  std::vector<float> y;            // one per row: class index (as float) or regression target
  std::vector<SplitTag> split;     // one per row; all kNone when the data fixes no split
  std::vector<std::string> feature_names;  // CSV header names (empty without a header)
  std::string label_name;          // CSV label column name ("" without a header)
  std::vector<int64_t> source_line;  // CSV: 1-based line of each row, for messages; IDX: empty

  // FNV-1a 64 over sample shape, x and y: identifies the data a model was trained on.
  uint64_t fingerprint() const;
  // "file.csv line 17" for CSV rows, "file row 17" otherwise (row is 0-based).
  std::string where(int64_t row) const;
};

struct CsvOptions {
  std::string label;  // label column; empty: `label`, else `target`, else last non-`split` column
};

// CSV, plain or gzip. Header row detected when the first row is not all numeric. Rejects
// empty files, ragged rows, non-numeric cells and NaN/Inf with file:line:column messages.
Dataset load_csv(const std::string& path, const CsvOptions& options = {});
// The same on text already in memory; `path` names it in messages.
Dataset parse_csv(const std::string& text, const std::string& path, const CsvOptions& options = {});
// MNIST-style directory: train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz],
// t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]. Pixels stay raw (0..255).
// train rows are tagged kNone (split into train/val by the spec), t10k rows kTest.
Dataset load_idx_dir(const std::string& dir);
// A directory loads as IDX, anything else as CSV.
Dataset load_data(const std::string& path, const CsvOptions& options = {});

// Writes a dataset as CSV (header x0..,label[,split]) atomically.
void write_csv(const Dataset& data, const std::string& path);

struct SplitSpec {
  double val = 0.0;
  double test = 0.2;
  uint64_t seed = 0;
  bool stratify = true;  // classification: keep class proportions in each split
};

struct SplitIndices {
  std::vector<int64_t> train, val, test;  // row indices, ascending
};

// Rules: rows tagged by the data keep their tag. If every row is tagged, the fractions are
// ignored. If some rows are tagged kTest (IDX), the untagged rows are divided into train/val by
// `val`. Otherwise untagged rows are divided by `val` and `test`. Seeded; stratified by label
// when `stratify`.
SplitIndices make_split(const Dataset& data, const SplitSpec& spec);

// Fits normalization on the given rows (the train split): per-feature mean/std for standard
// (std 0 -> scale 1), min/max for minmax (constant columns unscaled), a single factor for scale.
Preprocess fit_preprocess(const Dataset& data, const std::vector<int64_t>& rows, NormKind kind,
                          float factor = 1.0f);

// Copies the chosen rows (features and targets) into contiguous buffers.
void gather_rows(const Dataset& data, const std::vector<int64_t>& rows, std::vector<float>* x,
                 std::vector<float>* y);

struct GenerateOptions {
  int64_t samples = -1;  // -1: the generator's default (sine 1000, linear 6, kws 2000)
  double noise = -1.0;   // -1: the generator's default (sine 0.1, linear 0, kws 1.0)
  uint64_t seed = 0;
};
// "sine": x ~ U[0, 2pi], y = sin x + noise N(0,1). "linear": x = -1, 0, 1, ..., y = 2x - 1 +
// noise N(0,1). "kws": 49x10x1 keyword-spotting-like spectrograms of 4 classes (0 silence,
// 1 rising ridge, 2 falling ridge, 3 two bursts; label = row % 4) + noise N(0,1) on every value.
// Unknown names throw Error(kUsage).
Dataset generate_data(const std::string& name, const GenerateOptions& options);
// Names of the generators, for --help.
std::vector<std::string> generator_names();

}  // namespace tinyc
