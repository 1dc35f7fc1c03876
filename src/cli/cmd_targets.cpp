// tinyc targets: the compilation targets of `emit` (src/targets/targets.cpp).
#include <fmt/format.h>

#include "cli/commands.h"
#include "tinyc/target.h"

namespace tinyc::cli {

void register_targets(CLI::App& app) {
  auto* cmd = app.add_subcommand("targets", "List the targets `emit` compiles for");
  auto json_flag = std::make_shared<bool>(false);
  cmd->add_flag("--json", *json_flag, "Print one JSON object on stdout");
  cmd->callback([json_flag] {
    if (*json_flag) {
      nlohmann::json list = nlohmann::json::array();
      for (const Target& t : all_targets()) {
        nlohmann::json j;
        j["name"] = t.name;
        j["arch"] = target_arch_name(t.arch);
        j["isa"] = t.isa;
        j["cflags"] = t.cflags;
        j["dsp"] = t.dsp;
        j["fpu"] = t.fpu;
        j["flash_bytes"] = t.flash_bytes;
        j["ram_bytes"] = t.ram_bytes;
        j["example_part"] = t.example_part;
        j["qemu_system"] = t.qemu_system;
        j["qemu_machine"] = t.qemu_machine;
        j["note"] = t.note;
        list.push_back(j);
      }
      print_json(nlohmann::json{{"targets", list}});
      return;
    }
    std::printf("%-14s %-13s %-4s %-4s %9s %9s  %-26s %s\n", "target", "isa", "dsp", "fpu",
                "flash", "ram", "part", "qemu machine");
    for (const Target& t : all_targets()) {
      auto size = [](int64_t bytes) {
        return bytes == 0 ? std::string("-") : fmt::format("{} KiB", bytes / 1024);
      };
      std::printf("%-14s %-13s %-4s %-4s %9s %9s  %-26s %s\n", t.name, t.isa, t.dsp ? "yes" : "no",
                  t.fpu ? "yes" : "no", size(t.flash_bytes).c_str(), size(t.ram_bytes).c_str(),
                  t.example_part, *t.qemu_machine ? t.qemu_machine : "-");
    }
  });
}

}  // namespace tinyc::cli
