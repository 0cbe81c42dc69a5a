// A listening TCP socket for the project's small HTTP endpoints (metrics, OpenAI-compatible API).
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace qwen3tts {

struct TcpListener {
  int fd = -1;
  int port = 0;  // the port actually bound (address port 0 picks a free one)
};

// Binds and listens on "HOST:PORT" (IPv4; HOST "0.0.0.0", "*" or empty = every interface).
// `what` names the setting in errors ("http_listen", "metrics_listen").
absl::StatusOr<TcpListener> ListenTcp(const std::string& address, const std::string& what);

// Sends everything (MSG_NOSIGNAL: a vanished peer is an error, not SIGPIPE).
bool SendAll(int fd, const std::string& data);

}  // namespace qwen3tts
