// tinyc predict M --data D | --input-bin FILE: model outputs per sample.
#include <cstring>

#include <fmt/format.h>

#include "cli/commands.h"
#include "tinyc/error.h"
#include "tinyc/fileio.h"
#include "tinyc/model_file.h"
#include "tinyc/train.h"

namespace tinyc::cli {
namespace {

// Raw cases back to back in the model's input dtype: float32 for float models, int8
// (already preprocessed and quantized, like TFLM's inputs) for int8 models.
std::vector<float> read_input_bin(const Model& m, const std::string& path, int64_t* rows,
                                  std::vector<int8_t>* q) {
  const std::string bytes = read_file(path);
  const bool int8 = m.is_quantized();
  const int64_t width = m.input().sample_size();
  const int64_t case_bytes = width * (int8 ? 1 : 4);
  if (bytes.empty() || static_cast<int64_t>(bytes.size()) % case_bytes != 0) {
    bad_input("{}: {} bytes is not a whole number of {} input cases of {} bytes", path,
              bytes.size(), int8 ? "int8" : "float32", case_bytes);
  }
  *rows = static_cast<int64_t>(bytes.size()) / case_bytes;
  if (int8) {
    q->resize(bytes.size());
    std::memcpy(q->data(), bytes.data(), bytes.size());
    return {};
  }
  std::vector<float> x(bytes.size() / 4);
  std::memcpy(x.data(), bytes.data(), bytes.size());
  for (size_t i = 0; i < x.size(); ++i) {
    if (!std::isfinite(x[i])) {
      bad_input("{}: value {} (case {}) is not finite", path, i, i / static_cast<size_t>(width));
    }
  }
  return x;
}

}  // namespace

void register_predict(CLI::App& app) {
  auto* cmd = app.add_subcommand("predict", "Run a model and print its outputs");
  struct Args {
    std::string model, data, split, label, input_bin, output_bin;
    int64_t limit = -1;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("model", a->model, "Model file (.tinyc)")->required();
  auto* data = cmd->add_option("--data", a->data, "CSV file or IDX directory");
  auto* bin = cmd->add_option("--input-bin", a->input_bin,
                              "Raw input cases back to back in the model's input dtype");
  data->excludes(bin);
  cmd->add_option("--output-bin", a->output_bin,
                  "Write raw outputs back to back in the model's output dtype (with --input-bin)")
      ->needs(bin);
  cmd->add_option("--split", a->split, "Only this split of --data (from the model's split definition)")
      ->check(CLI::IsMember({"train", "val", "test"}))->needs(data);
  cmd->add_option("--label", a->label, "CSV label column");
  cmd->add_option("--limit", a->limit, "At most N samples")->check(CLI::PositiveNumber);
  cmd->add_flag("--json", a->json, "Print one JSON object on stdout");
  cmd->callback([a] {
    if (a->data.empty() && a->input_bin.empty()) {
      throw CLI::RequiredError("--data or --input-bin");
    }
    const Model m = load_model(a->model);
    std::vector<float> x, y;
    std::vector<int8_t> xq;  // int8 models: quantized inputs
    int64_t rows = 0;
    if (!a->input_bin.empty()) {
      x = read_input_bin(m, a->input_bin, &rows, &xq);
    } else {
      CsvOptions csv;
      csv.label = a->label;
      const Dataset d = load_data(a->data, csv);
      if (d.features != m.input().sample_size()) check_data_fits(m, d);
      const auto idx = rows_for(m, d, a->split);
      gather_rows(d, idx, &x, &y);
      rows = static_cast<int64_t>(idx.size());
    }
    if (a->limit > 0 && rows > a->limit) rows = a->limit;
    const int64_t width = m.output().sample_size();
    std::vector<float> out;
    std::vector<int8_t> out_q;
    if (m.is_quantized()) {
      if (xq.empty()) xq = quantize_inputs(m, x.data(), rows);
      out_q = run_model_int8(m, xq.data(), rows);
      out = dequantize_outputs(m, out_q.data(), static_cast<int64_t>(out_q.size()));
    } else {
      out = run_model(m, x.data(), rows);
    }
    if (!a->output_bin.empty()) {
      write_file_atomic(a->output_bin,
                        m.is_quantized()
                            ? std::string(reinterpret_cast<const char*>(out_q.data()), out_q.size())
                            : std::string(reinterpret_cast<const char*>(out.data()),
                                          out.size() * sizeof(float)));
    }
    if (a->json) {
      nlohmann::json outputs = nlohmann::json::array();
      for (int64_t r = 0; r < rows; ++r) {
        outputs.push_back(std::vector<float>(out.begin() + r * width, out.begin() + (r + 1) * width));
      }
      nlohmann::json j;
      j["samples"] = rows;
      j["outputs"] = std::move(outputs);
      if (m.is_quantized()) {
        nlohmann::json outputs_int8 = nlohmann::json::array();
        for (int64_t r = 0; r < rows; ++r) {
          std::vector<int> row(out_q.begin() + r * width, out_q.begin() + (r + 1) * width);
          outputs_int8.push_back(row);
        }
        j["outputs_int8"] = std::move(outputs_int8);
      }
      if (m.task == Task::kClassification) {
        std::vector<int64_t> classes;
        for (int64_t r = 0; r < rows; ++r) {
          const float* p = out.data() + r * width;
          classes.push_back(std::max_element(p, p + width) - p);
        }
        j["classes"] = classes;
      }
      print_json(j);
      return;
    }
    if (!a->output_bin.empty()) return;
    for (int64_t r = 0; r < rows; ++r) {
      const float* p = out.data() + r * width;
      if (m.task == Task::kClassification) {
        const int64_t k = std::max_element(p, p + width) - p;
        const std::string name = static_cast<size_t>(k) < m.labels.size() ? " " + m.labels[static_cast<size_t>(k)] : "";
        std::printf("%lld: class %lld%s (p=%.4f)\n", static_cast<long long>(r),
                    static_cast<long long>(k), name.c_str(), p[k]);
      } else {
        std::string line;
        for (int64_t i = 0; i < width; ++i) line += fmt::format("{}{:.6g}", i ? " " : "", p[i]);
        std::printf("%lld: %s\n", static_cast<long long>(r), line.c_str());
      }
    }
  });
}

}  // namespace tinyc::cli
