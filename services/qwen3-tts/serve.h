#pragma once

namespace qwen3tts {

// `qwen3-tts serve`: the three stages in one process and one gRPC server. The gateway reaches the
// talker and vocoder services over an in-process channel (no sockets, no serialization to the
// network), so the public API is the same as the split deployment's. Takes the same keys as the
// three stage binaries (flags, QWEN3TTS_* environment, --config YAML). argv[0] is "serve".
int ServeMain(int argc, char** argv);

}  // namespace qwen3tts
