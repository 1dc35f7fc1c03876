// The .tinyc model file: FlatBuffers (schemas/tinyc.fbs) followed by a CRC-32 trailer.
#pragma once

#include <string>

#include "tinyc/model.h"

namespace tinyc {

constexpr uint32_t kModelSchemaVersion = 1;

// Serializes the model; same model, same bytes.
std::string serialize_model(const Model& model);
// Checks size, CRC, file identifier, the FlatBuffers verifier and schema version, then
// decodes and validates. Throws Error(kBadInput) naming `source` for anything wrong.
Model deserialize_model(const std::string& bytes, const std::string& source);

void save_model(const Model& model, const std::string& path);  // atomic
// Loads a .tinyc file, or imports a .tflite file (tinyc/tflite.h).
Model load_model(const std::string& path);

}  // namespace tinyc
