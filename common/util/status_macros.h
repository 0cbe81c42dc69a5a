// Early-return helpers for absl::Status / absl::StatusOr (Abseil ships none publicly in 20220623).
#pragma once

#include <exception>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

#define QWEN3TTS_CONCAT_INNER(a, b) a##b
#define QWEN3TTS_CONCAT(a, b) QWEN3TTS_CONCAT_INNER(a, b)

// RETURN_IF_ERROR(expr): evaluates an absl::Status expression and returns it when not OK.
#define RETURN_IF_ERROR(expr)                         \
  do {                                                \
    ::absl::Status qwen3tts_status_ = (expr);         \
    if (!qwen3tts_status_.ok()) return qwen3tts_status_; \
  } while (0)

// ASSIGN_OR_RETURN(lhs, expr): lhs = *expr when ok, otherwise returns expr's status.
#define ASSIGN_OR_RETURN(lhs, expr) \
  QWEN3TTS_ASSIGN_OR_RETURN_IMPL(QWEN3TTS_CONCAT(qwen3tts_statusor_, __LINE__), lhs, expr)
#define QWEN3TTS_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                   \
  if (!tmp.ok()) return std::move(tmp).status();       \
  lhs = std::move(tmp).value()

namespace qwen3tts {

// Runs fn (returning absl::Status or absl::StatusOr<T>) and turns an exception escaping it into
// INTERNAL "<what>: <message>": ATen reports failures (allocation, shape bugs, invalid
// distributions) as exceptions, and a request must never take a process down.
template <typename Fn>
auto CatchExceptions(const char* what, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat(what, ": ", e.what()));
  }
}

}  // namespace qwen3tts
