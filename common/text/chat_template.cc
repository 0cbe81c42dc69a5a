#include "common/text/chat_template.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/util/status_macros.h"

namespace qwen3tts {
namespace {

absl::StatusOr<int64_t> RequireToken(const TextTokenizer& tokenizer, std::string_view token) {
  std::optional<int64_t> id = tokenizer.TokenToId(token);
  if (!id.has_value()) {
    return absl::FailedPreconditionError(
        absl::StrCat("the text tokenizer has no '", std::string(token), "' token"));
  }
  return *id;
}

// Appends the ids of `text` encoded as plain text (control tokens in it are not parsed).
absl::Status AppendPlain(const TextTokenizer& tokenizer, const std::string& text, std::vector<int64_t>* ids) {
  ASSIGN_OR_RETURN(std::vector<int64_t> piece, tokenizer.Encode(text, /*parse_special_tokens=*/false));
  ids->insert(ids->end(), piece.begin(), piece.end());
  return absl::OkStatus();
}

// <|im_start|>{role}\n{content}<|im_end|>\n
absl::Status AppendTurn(const TextTokenizer& tokenizer, std::string_view role, std::string_view content,
                        std::vector<int64_t>* ids) {
  ASSIGN_OR_RETURN(int64_t im_start, RequireToken(tokenizer, "<|im_start|>"));
  ASSIGN_OR_RETURN(int64_t im_end, RequireToken(tokenizer, "<|im_end|>"));
  ids->push_back(im_start);
  RETURN_IF_ERROR(AppendPlain(tokenizer, absl::StrCat(std::string(role), "\n", std::string(content)), ids));
  ids->push_back(im_end);
  return AppendPlain(tokenizer, "\n", ids);
}

}  // namespace

absl::StatusOr<std::vector<int64_t>> BuildAssistantTextIds(const TextTokenizer& tokenizer, std::string_view text) {
  std::vector<int64_t> ids;
  RETURN_IF_ERROR(AppendTurn(tokenizer, "assistant", text, &ids));
  ASSIGN_OR_RETURN(int64_t im_start, RequireToken(tokenizer, "<|im_start|>"));
  ids.push_back(im_start);
  RETURN_IF_ERROR(AppendPlain(tokenizer, "assistant\n", &ids));
  return ids;
}

absl::StatusOr<std::vector<int64_t>> BuildInstructIds(const TextTokenizer& tokenizer, std::string_view instruct) {
  std::vector<int64_t> ids;
  RETURN_IF_ERROR(AppendTurn(tokenizer, "user", instruct, &ids));
  return ids;
}

absl::StatusOr<std::vector<int64_t>> BuildRefTextIds(const TextTokenizer& tokenizer, std::string_view ref_text) {
  std::vector<int64_t> ids;
  RETURN_IF_ERROR(AppendTurn(tokenizer, "assistant", ref_text, &ids));
  return ids;
}

}  // namespace qwen3tts
