// Compilation targets of `tinyc emit` (DESIGN.md §2): one table, one line per target in
// src/targets/targets.cpp. Tests loop over it, so adding a target with an existing ISA is one
// line there.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tinyc {

enum class TargetArch : uint8_t { kHost, kArm, kRiscv };
const char* target_arch_name(TargetArch arch);

struct Target {
  const char* name;          // "cortex-m4"
  TargetArch arch;
  const char* isa;           // "armv7e-m", "rv32imc", "native"
  const char* cflags;        // compiler flags selecting ISA and float ABI ("" for host)
  bool dsp;                  // SIMD multiply-accumulate (SMLAD and friends)
  bool fpu;                  // single-precision hardware floating point
  int64_t flash_bytes;       // a typical part's flash; 0 = no limit (host)
  int64_t ram_bytes;         // a typical part's RAM; 0 = no limit (host)
  const char* example_part;  // the part the sizes are taken from
  const char* qemu_system;   // "qemu-system-arm"; "" when no emulator runs it
  const char* qemu_machine;  // "mps2-an386"; "" when none
  const char* board_ld;      // linker script in cmake/firmware/ for the QEMU machine
  const char* note;          // caveats ("" for none)
};

const std::vector<Target>& all_targets();
// nullptr when unknown.
const Target* find_target(const std::string& name);
// Throws Error(kUnsupported) listing the known targets when `name` is unknown.
const Target& target_by_name(const std::string& name);

}  // namespace tinyc
