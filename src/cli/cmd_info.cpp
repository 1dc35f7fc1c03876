// tinyc info M: the model's layers, sizes and training summary.
#include <algorithm>

#include <fmt/format.h>

#include "cli/commands.h"
#include "tinyc/layer.h"
#include "tinyc/model_file.h"

namespace tinyc::cli {
namespace {

// Per layer: dtype, weight bytes (int8 scales included), sparsity of its weights, and for int8
// models the output's quantization and the range of the weight scales.
void describe_storage(const Model& m, const Op& op, nlohmann::json& l) {
  int64_t bytes = 0, count = 0, zeros = 0;
  const Tensor* weights = nullptr;
  for (int t : op.inputs) {
    if (t < 0 || !m.tensor(t).is_constant()) continue;
    const Tensor& w = m.tensor(t);
    bytes += w.size() * dtype_bytes(w.dtype);
    if (w.dtype == DType::kInt8) bytes += 4 * static_cast<int64_t>(w.quant.scale.size());
    count += w.size();
    if (w.dtype == DType::kFloat32) {
      for (float v : w.f32) zeros += v == 0.0f;
    } else {
      for (int32_t v : w.ints) zeros += v == 0;
    }
    if (weights == nullptr) weights = &w;
  }
  const Tensor& out = m.tensor(op.outputs[0]);
  l["dtype"] = dtype_name(weights != nullptr ? weights->dtype : out.dtype);
  l["weights_bytes"] = bytes;
  l["sparsity"] = count ? static_cast<double>(zeros) / static_cast<double>(count) : 0.0;
  if (out.dtype == DType::kInt8 && out.quant.scale.size() == 1) {
    l["output_scale"] = out.quant.scale[0];
    l["output_zero_point"] = out.quant.zero_point[0];
  }
  if (weights != nullptr && !weights->quant.scale.empty()) {
    const std::vector<float>& scales = weights->quant.scale;
    const auto [lo, hi] = std::minmax_element(scales.begin(), scales.end());
    l["weight_scales"] = {{"count", weights->quant.scale.size()}, {"min", *lo}, {"max", *hi}};
  }
}

}  // namespace

void register_info(CLI::App& app) {
  auto* cmd = app.add_subcommand("info", "Describe a model: layers, parameters, MACs, bytes");
  struct Args {
    std::string model;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("model", a->model, "Model file (.tinyc)")->required();
  cmd->add_flag("--json", a->json, "Print one JSON object on stdout");
  cmd->callback([a] {
    const Model m = load_model(a->model);
    const ModelStats s = model_stats(m);
    nlohmann::json layers = nlohmann::json::array();
    for (const Op& op : m.ops) {
      nlohmann::json l;
      l["name"] = op.name;
      l["type"] = op_type_name(op.type);
      l["output_shape"] = m.tensor(op.outputs[0]).sample_shape();
      l["params"] = op_params(m, op);
      l["macs"] = layer_for(op.type).macs(op, op_input_shapes(m, op), op_output_shapes(m, op));
      if (op.has("activation")) l["activation"] = op.get_str("activation", "none");
      describe_storage(m, op, l);
      layers.push_back(l);
    }
    const char* quant = m.is_quantized() ? "int8" : "float32";
    if (a->json) {
      nlohmann::json j;
      j["name"] = m.name;
      j["task"] = task_name(m.task);
      j["input_shape"] = m.input().sample_shape();
      j["output_shape"] = m.output().sample_shape();
      j["params"] = s.params;
      j["nonzero_params"] = s.nonzero_params;
      j["weights_bytes"] = s.weights_bytes;
      j["macs"] = s.macs;
      j["quantization"] = quant;
      j["preprocess"] = norm_kind_name(m.preprocess.kind);
      j["labels"] = m.labels;
      j["epochs_trained"] = m.history.size();
      j["seed"] = m.seed;
      j["producer"] = m.producer;
      j["layers"] = layers;
      print_json(j);
      return;
    }
    std::printf("model %s (%s, %s), input %s, preprocess %s\n", m.name.c_str(), task_name(m.task),
                quant, shape_str(m.input().sample_shape()).c_str(), norm_kind_name(m.preprocess.kind));
    std::printf("%-16s %-11s %-14s %10s %10s %-7s %8s %8s\n", "layer", "type", "output",
                "params", "MACs", "dtype", "bytes", "sparsity");
    for (const auto& l : layers) {
      std::printf("%-16s %-11s %-14s %10lld %10lld %-7s %8lld %7.1f%%\n",
                  l["name"].get<std::string>().c_str(), l["type"].get<std::string>().c_str(),
                  shape_str(l["output_shape"].get<Shape>()).c_str(), l["params"].get<long long>(),
                  l["macs"].get<long long>(), l["dtype"].get<std::string>().c_str(),
                  l["weights_bytes"].get<long long>(), 100.0 * l["sparsity"].get<double>());
    }
    std::printf("total: %lld params (%lld nonzero), %lld weight bytes, %lld MACs per inference\n",
                static_cast<long long>(s.params), static_cast<long long>(s.nonzero_params),
                static_cast<long long>(s.weights_bytes), static_cast<long long>(s.macs));
    if (!m.history.empty()) {
      const EpochRecord& e = m.history.back();
      std::printf("trained %zu epochs; last train loss %.4f%s\n", m.history.size(), e.train_loss,
                  e.has_val ? fmt::format(", val loss {:.4f}", e.val_loss).c_str() : "");
    }
  });
}

}  // namespace tinyc::cli
