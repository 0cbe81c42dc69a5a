#include "common/talker/prompt_head_cache.h"

#include <ATen/ATen.h>

#include <functional>
#include <string_view>
#include <utility>

namespace qwen3tts {

std::string_view PromptHeadCache::RowBytes(const at::Tensor& head, at::Tensor* contiguous) {
  *contiguous = head.contiguous();
  return std::string_view(static_cast<const char*>(contiguous->data_ptr()),
                          static_cast<size_t>(contiguous->numel() * contiguous->element_size()));
}

std::list<PromptHeadCache::Entry>::iterator PromptHeadCache::FindLocked(size_t hash, std::string_view rows) {
  for (auto it = lru_.begin(); it != lru_.end(); ++it) {
    if (it->hash == hash && it->rows == rows) {
      lru_.splice(lru_.begin(), lru_, it);
      return lru_.begin();
    }
  }
  return lru_.end();
}

std::shared_ptr<const PromptHeadCache::Layers> PromptHeadCache::Find(const at::Tensor& head) {
  if (max_bytes_ <= 0) return nullptr;
  at::Tensor contiguous;
  const std::string_view rows = RowBytes(head, &contiguous);  // compared in place: a lookup copies nothing
  const size_t hash = std::hash<std::string_view>()(rows);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = FindLocked(hash, rows);
  if (it == lru_.end()) {
    misses_.fetch_add(1);
    return nullptr;
  }
  hits_.fetch_add(1);
  return it->layers;
}

void PromptHeadCache::Insert(const at::Tensor& head, Layers layers) {
  if (max_bytes_ <= 0) return;
  Entry entry;
  at::Tensor contiguous;
  entry.rows = std::string(RowBytes(head, &contiguous));
  entry.hash = std::hash<std::string_view>()(entry.rows);
  entry.bytes = static_cast<int64_t>(entry.rows.size());
  for (const nn::KvCache& layer : layers) entry.bytes += layer.bytes();
  if (entry.bytes > max_bytes_.load()) return;
  entry.layers = std::make_shared<const Layers>(std::move(layers));
  std::lock_guard<std::mutex> lock(mu_);
  auto existing = FindLocked(entry.hash, entry.rows);
  if (existing != lru_.end()) {
    bytes_ -= existing->bytes;
    lru_.erase(existing);
  }
  bytes_ += entry.bytes;
  lru_.push_front(std::move(entry));
  EvictLocked();
}

void PromptHeadCache::EvictLocked() {
  while (bytes_ > max_bytes_.load()) {
    bytes_ -= lru_.back().bytes;
    lru_.pop_back();
  }
}

void PromptHeadCache::SetMaxBytes(int64_t max_bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  max_bytes_.store(max_bytes);
  EvictLocked();
}

int64_t PromptHeadCache::bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bytes_;
}

int64_t PromptHeadCache::entries() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int64_t>(lru_.size());
}

}  // namespace qwen3tts
