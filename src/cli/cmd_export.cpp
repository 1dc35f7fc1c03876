// tinyc export M -o FILE.tflite [--json]: a tinyc model as a TensorFlow Lite flatbuffer.
#include <fmt/format.h>

#include "cli/commands.h"
#include "tinyc/error.h"
#include "tinyc/fileio.h"
#include "tinyc/model_file.h"
#include "tinyc/tflite.h"

namespace tinyc::cli {

void register_export(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "export", "Export a model to a .tflite file (float32 or int8) for TFLite / TFLite Micro");
  struct Args {
    std::string input, output;
    bool json = false;
    ExportOptions options;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("model", a->input, "Model (.tinyc or .tflite)")->required();
  cmd->add_option("-o,--out", a->output, "Output TensorFlow Lite file (.tflite)")->required();
  cmd->add_flag("--float-io", a->options.float_io,
                "int8 models: float32 input and output through QUANTIZE / DEQUANTIZE ops "
                "(default: int8 input and output)");
  cmd->add_flag("--json", a->json, "Print one JSON object on stdout");
  cmd->footer(
      "Batch norm is folded and dropout removed. A .tflite holds no preprocessing: it is folded\n"
      "into the first dense/conv layer (float) or the input scale (int8) where exact, otherwise\n"
      "left out with a note on stderr (then feed the .tflite preprocessed inputs).");
  cmd->callback([a] {
    const Model m = load_model(a->input);
    ExportReport report;
    const std::string bytes = export_tflite(m, a->options, &report);
    write_file_atomic(a->output, bytes);
    for (const std::string& note : report.notes) fmt::print(stderr, "{}\n", note);
    const char* quant = m.is_quantized() ? "int8" : "float32";
    if (a->json) {
      nlohmann::json j;
      j["model"] = a->output;
      j["bytes"] = bytes.size();
      j["quantization"] = quant;
      j["notes"] = report.notes;
      print_json(j);
      return;
    }
    fmt::print("exported {} ({}) -> {}: {} bytes\n", a->input, quant, a->output, bytes.size());
  });
}

}  // namespace tinyc::cli
