// Comparing secrets (API keys) without leaking where they differ through timing.
#pragma once

#include <string>
#include <vector>

namespace qwen3tts {

// Equal-time comparison: the time taken depends only on the lengths, not on where the strings
// differ.
bool ConstantTimeEquals(const std::string& a, const std::string& b);

// True when `authorization` is "Bearer <key>" (scheme case-insensitive) with one of `keys`. Every
// key is compared (no early exit).
bool BearerMatchesAnyKey(const std::string& authorization, const std::vector<std::string>& keys);

}  // namespace qwen3tts
