// Reuse of the talker's keys and values for the head of a prompt.
//
// Every prompt starts with rows that do not depend on its text: the instruction (VoiceDesign's
// voice description, CustomVoice's style instruction), the role tokens and the codec tags
// (language, speaker). A service sees the same few heads again and again, one per voice and
// language, and a prefill costs in proportion to its rows: the one-sentence CustomVoice prompt of
// ~23 rows spends 9 on its head, a designed voice's description dozens. The cache keeps, per
// distinct head (compared by the exact bytes of its embedding rows), the keys and values of every
// talker layer at those positions; a prompt whose head is cached copies them and runs only the
// rows after it.
//
// Exact: on the prefill's row path (nn::TransformerStack::StepsOnRows) each row's projections do
// not depend on the other rows and attention takes one position at a time, so the head's keys and
// values and everything computed after them are the same bits with or without the cache. The
// talker uses it only where the whole prompt takes that path.
//
// Bounded by bytes (keys and values plus the head rows kept for comparison): the least recently
// used heads are dropped first. Thread-safe.
#pragma once

#include <ATen/Tensor.h>

#include <atomic>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/nn/transformer.h"

namespace qwen3tts {

class PromptHeadCache {
 public:
  using Layers = std::vector<nn::KvCache>;  // one per talker layer, each holding the head's positions

  // max_bytes 0 disables the cache (Find always misses, Insert keeps nothing).
  explicit PromptHeadCache(int64_t max_bytes) : max_bytes_(max_bytes) {}
  // A new budget; entries beyond it are dropped at once.
  void SetMaxBytes(int64_t max_bytes);

  // The layers cached for a head with exactly these rows ([rows, hidden], contiguous), or null.
  std::shared_ptr<const Layers> Find(const at::Tensor& head);
  // Keeps `layers` for `head` (replacing an entry for the same rows), then drops least recently used
  // entries until the cache fits its budget; an entry larger than the whole budget is not kept.
  void Insert(const at::Tensor& head, Layers layers);

  int64_t max_bytes() const { return max_bytes_.load(); }
  int64_t bytes() const;
  int64_t entries() const;
  int64_t hits() const { return hits_.load(); }
  int64_t misses() const { return misses_.load(); }

 private:
  struct Entry {
    size_t hash = 0;
    std::string rows;  // the head's bytes
    std::shared_ptr<const Layers> layers;
    int64_t bytes = 0;
  };
  // The head's bytes, read in place (`contiguous` holds the tensor they belong to).
  static std::string_view RowBytes(const at::Tensor& head, at::Tensor* contiguous);
  // The entry for these bytes, moved to the front (most recently used); lru_.end() when absent.
  std::list<Entry>::iterator FindLocked(size_t hash, std::string_view rows);

  // Drops least recently used entries until the cache fits max_bytes_.
  void EvictLocked();

  std::atomic<int64_t> max_bytes_;
  mutable std::mutex mu_;
  std::list<Entry> lru_;  // most recently used first
  int64_t bytes_ = 0;
  std::atomic<int64_t> hits_{0}, misses_{0};
};

}  // namespace qwen3tts
