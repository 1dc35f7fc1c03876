#pragma once

namespace tinyc {
constexpr const char* kVersion = "0.1.0";
}  // namespace tinyc
