#include "common/util/request_log.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <random>

namespace qwen3tts {

void LogRequest(nlohmann::json fields) {
  const auto now = std::chrono::system_clock::now();
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  const int64_t millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char stamp[40];
  std::snprintf(stamp, sizeof(stamp), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900, utc.tm_mon + 1,
                utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, static_cast<int>(millis));
  nlohmann::json line = {{"time", stamp}};
  line.update(fields);
  const std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  std::fwrite(text.data(), 1, text.size(), stderr);
  std::fflush(stderr);
}

std::string NewRequestId() {
  static std::mutex mu;
  static std::mt19937_64 rng(std::random_device{}());
  uint64_t v;
  {
    std::lock_guard<std::mutex> lock(mu);
    v = rng();
  }
  char buf[24];
  std::snprintf(buf, sizeof(buf), "r-%016llx", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace qwen3tts
