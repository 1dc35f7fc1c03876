// The target table. Flash and RAM are those of a typical part of each class (named in the
// table): `emit` refuses models that do not fit them (exit 4). QEMU machines run the firmware
// tests; their own memories are larger (the board linker scripts say how large).
#include "tinyc/target.h"

#include <iterator>

#include <fmt/format.h>

#include "tinyc/error.h"

namespace tinyc {
namespace {

constexpr int64_t kKiB = 1024;
constexpr int64_t kMiB = 1024 * 1024;

// clang-format off
constexpr Target kTargets[] = {
  // name           arch               isa            cflags
  //   dsp    fpu    flash        ram         example part
  //   qemu system         qemu machine   board linker script  note
  {"host",          TargetArch::kHost, "native",      "",
     false, true,  0,           0,          "the build machine",
     "",                 "",            "",                  "portable C++; no size limits"},
  {"cortex-m0plus", TargetArch::kArm,  "armv6-m",     "-mcpu=cortex-m0plus -mthumb -mfloat-abi=soft",
     false, false, 256 * kKiB,  16 * kKiB,  "nRF51822 (BBC micro:bit)",
     "qemu-system-arm",  "microbit",    "microbit.ld",
     "QEMU's microbit is a Cortex-M0; the armv6-m code built for the M0+ runs on it unchanged"},
  {"cortex-m3",     TargetArch::kArm,  "armv7-m",     "-mcpu=cortex-m3 -mthumb -mfloat-abi=soft",
     false, false, 512 * kKiB,  64 * kKiB,  "LPC1768",
     "qemu-system-arm",  "mps2-an385",  "mps2.ld",           ""},
  {"cortex-m4",     TargetArch::kArm,  "armv7e-m",    "-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16",
     true,  true,  1 * kMiB,    192 * kKiB, "STM32F407",
     "qemu-system-arm",  "mps2-an386",  "mps2.ld",           ""},
  {"cortex-m7",     TargetArch::kArm,  "armv7e-m",    "-mcpu=cortex-m7 -mthumb -mfloat-abi=hard -mfpu=fpv5-d16",
     true,  true,  2 * kMiB,    1 * kMiB,   "STM32H743",
     "qemu-system-arm",  "mps2-an500",  "mps2.ld",           ""},
  {"cortex-m33",    TargetArch::kArm,  "armv8-m.main", "-mcpu=cortex-m33 -mthumb -mfloat-abi=hard -mfpu=fpv5-sp-d16",
     true,  true,  512 * kKiB,  256 * kKiB, "STM32L552",
     "qemu-system-arm",  "mps2-an505",  "mps2-an505.ld",     "runs in the Secure state in QEMU"},
  {"riscv32",       TargetArch::kRiscv, "rv32imc",    "-march=rv32imc -mabi=ilp32",
     false, false, 4 * kMiB,    400 * kKiB, "ESP32-C3",
     "qemu-system-riscv32", "virt",     "riscv-virt.ld",
     "QEMU's virt machine with -bios none; picolibc with semihosting (no board startup code)"},
};
// clang-format on

}  // namespace

const char* target_arch_name(TargetArch arch) {
  switch (arch) {
    case TargetArch::kHost: return "host";
    case TargetArch::kArm: return "arm";
    case TargetArch::kRiscv: return "riscv";
  }
  return "?";
}

const std::vector<Target>& all_targets() {
  static const std::vector<Target> targets(std::begin(kTargets), std::end(kTargets));
  return targets;
}

const Target* find_target(const std::string& name) {
  for (const Target& t : kTargets) {
    if (name == t.name) return &t;
  }
  return nullptr;
}

const Target& target_by_name(const std::string& name) {
  if (const Target* t = find_target(name)) return *t;
  std::string known;
  for (const Target& t : kTargets) known += (known.empty() ? "" : ", ") + std::string(t.name);
  unsupported("unknown target '{}' (known: {}; `tinyc targets` lists them)", name, known);
}

}  // namespace tinyc
