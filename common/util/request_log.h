// Structured request logs: one JSON object per line on stderr, one line per finished request, so
// that log collectors (Loki, Cloud Logging, ...) can index the fields without parsing prose.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace qwen3tts {

// Adds "time" (RFC 3339, UTC) and writes the line atomically with respect to other log lines.
void LogRequest(nlohmann::json fields);

// A short random id ("r-" + 16 hex digits) for requests that arrive without one.
std::string NewRequestId();

}  // namespace qwen3tts
