#pragma once

#include <string>

namespace qwen3tts {

// `qwen3-tts serve`: the three stages in one process and one gRPC server. The gateway reaches the
// talker and vocoder services over an in-process channel (no sockets, no serialization to the
// network), so the public API is the same as the split deployment's.
int Serve(const std::string& model_dir, const std::string& listen, const std::string& dtype, int threads,
          const std::string& voice_dir, const std::string& http_listen);

}  // namespace qwen3tts
