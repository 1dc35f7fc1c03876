// Training checkpoints (`tinyc train --checkpoint-every N`, `--resume FILE`): the trainer's whole
// state at the end of an epoch, so that a resumed run continues bit-identically.
//
// File: "TINYCKPT", u32 format version, the fields below in order (little endian; vectors as a
// u64 count then the values), then a CRC-32 of everything before it. Written atomically.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tinyc/model.h"

namespace tinyc {

struct TrainCheckpoint {
  uint64_t identity = 0;      // hash of data, initial weights, config, seed and threads
  int32_t epochs_done = 0;    // the next epoch to run is epochs_done + 1
  double train_seconds = 0.0;
  std::vector<float> params;  // the trainer's flat parameter vector (padding included)
  int64_t optimizer_step = 0;
  std::vector<float> optimizer_m, optimizer_v;
  std::vector<std::vector<float>> state;  // kState tensors (batch_norm statistics), model order
  // Early stopping.
  double best_val = 0.0;
  int32_t since_best = 0;
  int32_t best_epoch = 0;
  std::vector<float> best_params;
  std::vector<std::vector<float>> best_state;
  std::vector<EpochRecord> history;
};

std::string encode_checkpoint(const TrainCheckpoint& c);
// Error(kBadInput) naming `source` for anything malformed (magic, version, truncation, CRC).
TrainCheckpoint decode_checkpoint(const std::string& bytes, const std::string& source);

void save_checkpoint(const TrainCheckpoint& c, const std::string& path);  // atomic
TrainCheckpoint load_checkpoint(const std::string& path);

}  // namespace tinyc
