// Byte-level BPE text tokenizer, identical to Hugging Face's Qwen2/Qwen3 tokenizer:
// NFC normalization, the Qwen pre-tokenizer split pattern, GPT-2 byte-to-unicode mapping,
// BPE by merge rank, and added/special tokens recognised inside the text.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"

namespace qwen3tts {

// The GPT-2 byte-to-unicode character that stands for `byte` in byte-level vocabularies (UTF-8).
std::string ByteLevelChar(uint8_t byte);

class TextTokenizer {
 public:
  // Directory with tokenizer.json, or vocab.json + merges.txt (+ tokenizer_config.json for added tokens).
  static absl::StatusOr<std::shared_ptr<const TextTokenizer>> LoadFromDir(const std::string& dir);
  static absl::StatusOr<std::shared_ptr<const TextTokenizer>> LoadTokenizerJson(const std::string& path);
  static absl::StatusOr<std::shared_ptr<const TextTokenizer>> LoadVocabAndMerges(
      const std::string& vocab_json, const std::string& merges_txt,
      const std::string& tokenizer_config_json /* may be "" */);

  // Text -> ids; no BOS/EOS added. parse_special_tokens: added tokens written in the text
  // ("<|im_start|>") become their ids (true, as Hugging Face does), or are tokenized as plain text
  // (false: for user-supplied text, so users cannot inject control tokens).
  // INVALID_ARGUMENT for invalid UTF-8 (message gives the byte offset).
  absl::StatusOr<std::vector<int64_t>> Encode(std::string_view text, bool parse_special_tokens = true) const;
  // ids -> text. Byte sequences that are not valid UTF-8 decode to U+FFFD, as errors="replace".
  // INVALID_ARGUMENT for an id outside the vocabulary.
  absl::StatusOr<std::string> Decode(const std::vector<int64_t>& ids, bool skip_special_tokens = false) const;
  std::optional<int64_t> TokenToId(std::string_view token) const;
  // Number of ids (highest id + 1), added tokens included.
  int64_t vocab_size() const { return static_cast<int64_t>(id_to_token_.size()); }

  struct AddedToken {
    std::string content;
    int64_t id;
    bool special;
  };

 private:
  TextTokenizer() = default;
  absl::Status Finish(const std::string& source);  // builds derived tables, validates
  // Appends the ids of one piece of text that contains no added token.
  absl::Status EncodePlain(std::string_view text, std::vector<int64_t>* out) const;
  // BPE of one pre-tokenized word (already byte-level mapped), with a bounded cache.
  absl::Status EncodeWord(const std::string& word, std::vector<int64_t>* out) const;

  std::unordered_map<std::string, int64_t> vocab_;          // byte-level token -> id
  std::unordered_map<std::string, int32_t> merge_rank_;     // left + '\x01' + right -> rank
  std::vector<AddedToken> added_;                           // sorted longest content first
  std::vector<std::string> id_to_token_;                    // "" for holes
  std::vector<int8_t> id_is_added_;                         // 0 no, 1 added, 2 added special
  bool added_first_bytes_[256] = {};                        // quick reject for the added-token scan

  mutable std::mutex cache_mu_;
  mutable std::unordered_map<std::string, std::vector<int64_t>> word_cache_;
};

}  // namespace qwen3tts
