// The AMX tile configuration (palette 1) that _tile_loadconfig takes: per tile register, its rows
// and bytes per row. Shared by the tile kernels (bf16_tiles_amx.cc, int4_tiles_amx.cc); no
// intrinsics here, so it can be included anywhere.
#pragma once

#include <cstdint>

namespace qwen3tts::nn {

struct alignas(64) AmxTileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t bytes_per_row[16] = {};
  uint8_t rows[16] = {};

  void Set(int tile, int tile_rows, int row_bytes) {
    rows[tile] = static_cast<uint8_t>(tile_rows);
    bytes_per_row[tile] = static_cast<uint16_t>(row_bytes);
  }
};
static_assert(sizeof(AmxTileConfig) == 64, "the hardware reads 64 bytes");

}  // namespace qwen3tts::nn
