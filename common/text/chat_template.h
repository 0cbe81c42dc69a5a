// The Qwen3-TTS chat framing, built as token ids.
//
// The reference tokenizes whole template strings. We insert the control tokens as ids and encode
// the text around them with special-token parsing off, so that user text can never inject
// <|im_start|> and friends — yet ordinary text gives exactly the reference's ids, because the
// text between two control tokens is still encoded as one string (BPE pre-tokenization can join
// characters across "assistant\n" and the user text, e.g. "\n\n").
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/text/tokenizer.h"

namespace qwen3tts {

// <|im_start|>assistant\n{text}<|im_end|>\n<|im_start|>assistant\n
absl::StatusOr<std::vector<int64_t>> BuildAssistantTextIds(const TextTokenizer& tokenizer, std::string_view text);
// <|im_start|>user\n{instruct}<|im_end|>\n
absl::StatusOr<std::vector<int64_t>> BuildInstructIds(const TextTokenizer& tokenizer, std::string_view instruct);
// <|im_start|>assistant\n{ref_text}<|im_end|>\n
absl::StatusOr<std::vector<int64_t>> BuildRefTextIds(const TextTokenizer& tokenizer, std::string_view ref_text);

}  // namespace qwen3tts
