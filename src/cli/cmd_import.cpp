// tinyc import FILE.tflite -o M.tinyc [--json]: a .tflite model as a tinyc model file.
#include <fmt/format.h>

#include "cli/commands.h"
#include "tinyc/error.h"
#include "tinyc/model_file.h"
#include "tinyc/tflite.h"

namespace tinyc::cli {

void register_import(CLI::App& app) {
  auto* cmd = app.add_subcommand("import", "Import a .tflite model into a tinyc model file");
  struct Args {
    std::string input, output;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("file", a->input, "TensorFlow Lite model (.tflite)")->required();
  cmd->add_option("-o,--out", a->output, "Output model file (.tinyc)")->required();
  cmd->add_flag("--json", a->json, "Print one JSON object on stdout");
  cmd->callback([a] {
    const Model m = load_tflite(a->input);
    save_model(m, a->output);
    const ModelStats s = model_stats(m);
    const char* quant = m.is_quantized() ? "int8" : "float32";
    if (a->json) {
      nlohmann::json j;
      j["model"] = a->output;
      j["ops"] = m.ops.size();
      j["params"] = s.params;
      j["weights_bytes"] = s.weights_bytes;
      j["quantization"] = quant;
      print_json(j);
      return;
    }
    fmt::print("imported {}: {} ops, {} params, {} weight bytes, {} -> {}\n", a->input,
               m.ops.size(), s.params, s.weights_bytes, quant, a->output);
  });
}

}  // namespace tinyc::cli
