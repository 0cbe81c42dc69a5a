#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace qwen3tts {

// Reads a whole file; NOT_FOUND when it does not exist, other failures name the path and errno text.
absl::StatusOr<std::string> ReadFileToString(const std::string& path);

bool PathExists(const std::string& path);
bool IsDirectory(const std::string& path);

// Joins two path pieces with exactly one '/' between them.
std::string JoinPath(std::string_view a, std::string_view b);

}  // namespace qwen3tts
