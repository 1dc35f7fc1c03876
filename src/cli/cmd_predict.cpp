// tinyc predict M --data D | --input-bin FILE: model outputs per sample.
#include <cstring>

#include <fmt/format.h>

#include "cli/commands.h"
#include "tinyc/error.h"
#include "tinyc/executor.h"
#include "tinyc/quant_math.h"
#include "tinyc/fileio.h"
#include "tinyc/model_file.h"
#include "tinyc/train.h"

namespace tinyc::cli {
namespace {

// Raw cases back to back in the model's own I/O layout (every graph input in its own dtype:
// float32 for float models, int8 already preprocessed and quantized like TFLM's inputs, or
// float32 / int16 where the graph quantizes its input itself).
std::string read_input_bin(const Model& m, const std::string& path, int64_t* rows) {
  std::string bytes = read_file(path);
  const int64_t case_bytes = io_case_bytes(m, true);
  if (bytes.empty() || static_cast<int64_t>(bytes.size()) % case_bytes != 0) {
    bad_input("{}: {} bytes is not a whole number of input cases of {} bytes", path,
              bytes.size(), case_bytes);
  }
  *rows = static_cast<int64_t>(bytes.size()) / case_bytes;
  int64_t offset = 0;
  for (int t : m.inputs) {
    const Tensor& tensor = m.tensor(t);
    const int64_t w = tensor.sample_size();
    if (tensor.dtype == DType::kFloat32) {
      for (int64_t r = 0; r < *rows; ++r) {
        for (int64_t i = 0; i < w; ++i) {
          float v;
          std::memcpy(&v, bytes.data() + r * case_bytes + offset + 4 * i, 4);
          if (!std::isfinite(v)) bad_input("{}: value {} of case {} is not finite", path, i, r);
        }
      }
    }
    offset += w * dtype_bytes(tensor.dtype);
  }
  return bytes;
}

// Raw output cases as real values, output tensors back to back (int8 dequantized).
std::vector<float> decode_outputs(const Model& m, const std::string& raw, int64_t rows) {
  std::vector<float> out;
  const int64_t case_bytes = io_case_bytes(m, false);
  for (int64_t r = 0; r < rows; ++r) {
    int64_t offset = r * case_bytes;
    for (int t : m.outputs) {
      const Tensor& tensor = m.tensor(t);
      for (int64_t i = 0; i < tensor.sample_size(); ++i) {
        const char* p = raw.data() + offset + i * dtype_bytes(tensor.dtype);
        float v = 0;
        if (tensor.dtype == DType::kFloat32) {
          std::memcpy(&v, p, 4);
        } else if (tensor.dtype == DType::kInt8) {
          v = dequantize_int8(static_cast<int8_t>(*p), tensor.quant.scale.at(0),
                              static_cast<int32_t>(tensor.quant.zero_point.at(0)));
        } else {
          int32_t q = 0;
          if (tensor.dtype == DType::kInt16) {
            int16_t h;
            std::memcpy(&h, p, 2);
            q = h;
          } else {
            std::memcpy(&q, p, 4);
          }
          const float scale = tensor.quant.scale.empty() ? 1.0f : tensor.quant.scale[0];
          const auto zp = tensor.quant.zero_point.empty() ? 0 : tensor.quant.zero_point[0];
          v = static_cast<float>(static_cast<double>(scale) * static_cast<double>(q - zp));
        }
        out.push_back(v);
      }
      offset += tensor.sample_size() * dtype_bytes(tensor.dtype);
    }
  }
  return out;
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
                              "Raw input cases back to back in the model's own input dtypes "
                              "(several inputs in graph order)");
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
    int64_t rows = 0;
    std::string raw_in, raw_out;  // --input-bin: the model's own I/O bytes
    if (!a->input_bin.empty()) {
      raw_in = read_input_bin(m, a->input_bin, &rows);
    } else {
      CsvOptions csv;
      csv.label = a->label;
      const Dataset d = load_data(a->data, csv);
      if (m.inputs.size() != 1 || d.features != m.input().sample_size()) check_data_fits(m, d);
      const auto idx = rows_for(m, d, a->split);
      gather_rows(d, idx, &x, &y);
      rows = static_cast<int64_t>(idx.size());
    }
    if (a->limit > 0 && rows > a->limit) rows = a->limit;
    int64_t width = 0;
    for (int t : m.outputs) width += m.tensor(t).sample_size();
    std::vector<float> out;
    if (!raw_in.empty() && m.is_quantized()) {
      const std::vector<int8_t> q =
          run_model_int8(m, reinterpret_cast<const int8_t*>(raw_in.data()), rows);
      raw_out.assign(reinterpret_cast<const char*>(q.data()), q.size());
      out = decode_outputs(m, raw_out, rows);
    } else if (!raw_in.empty()) {
      std::vector<float> xf(static_cast<size_t>(rows * io_case_bytes(m, true) / 4));
      std::memcpy(xf.data(), raw_in.data(), xf.size() * 4);
      out = run_model(m, xf.data(), rows);
      raw_out.assign(reinterpret_cast<const char*>(out.data()), out.size() * sizeof(float));
    } else if (m.is_quantized() && m.input().dtype == DType::kInt8) {
      const std::vector<int8_t> xq = quantize_inputs(m, x.data(), rows);
      const std::vector<int8_t> q = run_model_int8(m, xq.data(), rows);
      raw_out.assign(reinterpret_cast<const char*>(q.data()), q.size());
      out = decode_outputs(m, raw_out, rows);
    } else {
      out = run_model(m, x.data(), rows);
      raw_out.assign(reinterpret_cast<const char*>(out.data()), out.size() * sizeof(float));
    }
    if (!a->output_bin.empty()) write_file_atomic(a->output_bin, raw_out);
    // outputs_int8: the raw values of int8 outputs.
    bool int8_out = m.is_quantized();
    for (int t : m.outputs) int8_out = int8_out && m.tensor(t).dtype == DType::kInt8;
    std::vector<int8_t> out_q;
    if (int8_out) out_q.assign(raw_out.begin(), raw_out.end());
    if (a->json) {
      nlohmann::json outputs = nlohmann::json::array();
      for (int64_t r = 0; r < rows; ++r) {
        outputs.push_back(std::vector<float>(out.begin() + r * width, out.begin() + (r + 1) * width));
      }
      nlohmann::json j;
      j["samples"] = rows;
      j["outputs"] = std::move(outputs);
      if (int8_out) {
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
