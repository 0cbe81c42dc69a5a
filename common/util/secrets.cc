#include "common/util/secrets.h"

#include "absl/strings/ascii.h"

namespace qwen3tts {

bool ConstantTimeEquals(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < b.size(); ++i) {
    diff |= static_cast<unsigned char>(b[i] ^ (a.empty() ? 0 : a[i % a.size()]));
  }
  return diff == 0;
}

bool BearerMatchesAnyKey(const std::string& authorization, const std::vector<std::string>& keys) {
  constexpr size_t kPrefix = 7;  // "Bearer "
  if (authorization.size() <= kPrefix || absl::AsciiStrToLower(authorization.substr(0, kPrefix)) != "bearer ") {
    return false;
  }
  const std::string token = authorization.substr(kPrefix);
  bool match = false;
  for (const std::string& key : keys) match |= ConstantTimeEquals(token, key);
  return match;
}

}  // namespace qwen3tts
