// tinyc emit M --target T -o DIR [--name NAME] [--json]: standalone C++ for a model.
#include <fmt/format.h>

#include "cli/commands.h"
#include "tinyc/emit.h"
#include "tinyc/model_file.h"

namespace tinyc::cli {

void register_emit(CLI::App& app) {
  auto* cmd = app.add_subcommand("emit", "Write standalone C++ (NAME.h, NAME.cpp) for a target");
  struct Args {
    std::string model, target, out_dir, name, format = "plain", report;
    bool json = false;
    int64_t flash = -1, ram = -1;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("model", a->model, "Model file (.tinyc)")->required();
  cmd->add_option("--target", a->target, "Target from `tinyc targets` (host, cortex-m4, ...)")
      ->required();
  cmd->add_option("-o,--out", a->out_dir, "Output directory (created if missing)")->required();
  cmd->add_option("--name", a->name,
                  "C identifier prefixing the API and file names (default: the model's name)");
  cmd->add_option("--flash", a->flash,
                  "Flash bytes of your part, checked instead of the target's (0: no limit)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--ram", a->ram,
                  "RAM bytes of your part (arena + input + output), checked instead of the "
                  "target's (0: no limit)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--format", a->format, "Project layout: plain (NAME.h, NAME.cpp), arduino "
                  "(library + example sketch), platformio (library.json), cmake (target NAME), "
                  "zephyr (module)")
      ->check(CLI::IsMember(emit_formats()));
  cmd->add_option("--report", a->report, "Also write the HTML report of the model, with the "
                  "arena timeline of this target");
  cmd->add_flag("--json", a->json, "Print one JSON object on stdout");
  cmd->callback([a] {
    const Model m = load_model(a->model);
    EmitOptions o;
    o.target = a->target;
    o.out_dir = a->out_dir;
    o.name = a->name;
    o.flash_limit = a->flash;
    o.ram_limit = a->ram;
    o.format = a->format;
    o.command_line = fmt::format("tinyc emit {} --target {} -o {}{}{}{}", a->model, a->target,
                                 a->out_dir, a->name.empty() ? "" : " --name " + a->name,
                                 a->flash >= 0 ? fmt::format(" --flash {}", a->flash) : "",
                                 a->ram >= 0 ? fmt::format(" --ram {}", a->ram) : "");
    if (a->format != "plain") o.command_line += " --format " + a->format;
    const EmitReport r = emit_model(m, o);
    if (!a->report.empty()) write_cli_report(a->report, m, nullptr, a->target, o.command_line);
    if (a->json) {
      nlohmann::json layers = nlohmann::json::array();
      for (const EmitLayerReport& l : r.layers) {
        layers.push_back({{"name", l.name}, {"type", l.type}, {"function", l.function},
                          {"macs", l.macs}, {"weights_bytes", l.weights_bytes},
                          {"output", l.output}, {"output_offset", l.output_offset},
                          {"output_bytes", l.output_bytes}});
        if (!l.weights_layout.empty()) {
          layers.back()["weights_layout"] = {{"chosen", l.weights_layout},
                                             {"dense_bytes", l.dense_weights_bytes},
                                             {"sparse_bytes", l.sparse_weights_bytes},
                                             {"why", l.layout_reason}};
        }
        if (l.accumulator_bound > 0) layers.back()["accumulator_bound"] = l.accumulator_bound;
      }
      nlohmann::json j;
      j["files"] = r.files;
      j["name"] = r.name;
      j["target"] = r.target;
      j["format"] = a->format;
      j["quantization"] = r.quantization;
      j["weights_bytes"] = r.weights_bytes;
      j["arena_bytes"] = r.arena_bytes;
      j["arena_lower_bound"] = r.arena_lower_bound;
      j["input_bytes"] = r.input_bytes;
      j["output_bytes"] = r.output_bytes;
      j["ram_bytes"] = r.ram_bytes;
      j["code_bytes_estimate"] = r.code_bytes_estimate;
      j["flash_bytes"] = r.flash_bytes;
      j["flash_limit"] = r.flash_limit;
      j["ram_limit"] = r.ram_limit;
      j["macs"] = r.macs;
      j["layers"] = layers;
      nlohmann::json arena = nlohmann::json::array();
      for (const EmitArenaBuffer& b : r.arena) {
        arena.push_back({{"label", b.label}, {"offset", b.offset}, {"bytes", b.bytes},
                         {"first_step", b.first_step}, {"last_step", b.last_step}});
      }
      j["arena"] = arena;
      j["notes"] = r.notes;
      print_json(j);
      return;
    }
    std::printf("%-16s %-10s %-22s %10s %10s  %s\n", "layer", "type", "function", "MACs",
                "weights B", "output");
    for (const EmitLayerReport& l : r.layers) {
      const std::string where = l.output == "arena"
          ? fmt::format("arena [{}, {})", l.output_offset, l.output_offset + l.output_bytes)
          : l.output;
      std::printf("%-16s %-10s %-22s %10lld %10lld  %s\n", l.name.c_str(), l.type.c_str(),
                  l.function.empty() ? "-" : l.function.c_str(), static_cast<long long>(l.macs),
                  static_cast<long long>(l.weights_bytes), where.c_str());
    }
    std::printf("target %s: flash %lld B (%lld B weights + ~%lld B code), RAM %lld B (arena %lld B, "
                "lower bound %lld B; input %lld B; output %lld B), %lld MACs\n",
                r.target.c_str(), static_cast<long long>(r.flash_bytes),
                static_cast<long long>(r.weights_bytes),
                static_cast<long long>(r.code_bytes_estimate), static_cast<long long>(r.ram_bytes),
                static_cast<long long>(r.arena_bytes), static_cast<long long>(r.arena_lower_bound),
                static_cast<long long>(r.input_bytes), static_cast<long long>(r.output_bytes),
                static_cast<long long>(r.macs));
    for (const EmitLayerReport& l : r.layers) {
      if (l.weights_layout.empty()) continue;
      std::printf("weights %s: %s layout (%s)\n", l.name.c_str(), l.weights_layout.c_str(),
                  l.layout_reason.c_str());
    }
    for (const std::string& n : r.notes) std::printf("note: %s\n", n.c_str());
    for (const std::string& f : r.files) std::printf("wrote %s\n", f.c_str());
  });
}

}  // namespace tinyc::cli
