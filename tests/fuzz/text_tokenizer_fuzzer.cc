// libFuzzer target: TextTokenizer::Encode on arbitrary bytes (invalid UTF-8 included).
// Byte 0 picks parse_special_tokens; the rest is the text. Invariants:
//  - Encode either succeeds or fails with INVALID_ARGUMENT (never another code, never a crash);
//  - every id is inside the vocabulary and decodes;
//  - encoding is stable: Encode(Decode(Encode(x))) == Encode(x).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string_view>

#include "common/text/tokenizer.h"
#include "tests/fuzz/golden_dir.h"

namespace {

std::shared_ptr<const qwen3tts::TextTokenizer> g_tokenizer;

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "text_tokenizer_fuzzer: invariant violated: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  const std::string dir = qwen3tts_fuzz::GoldenModelDir("tiny-customvoice");
  auto tok = qwen3tts::TextTokenizer::LoadFromDir(dir);
  if (!tok.ok()) {
    std::fprintf(stderr, "cannot load the tokenizer from %s: %s (set QWEN3TTS_GOLDEN_DIR)\n", dir.c_str(),
                 std::string(tok.status().message()).c_str());
    std::exit(1);
  }
  g_tokenizer = *tok;
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool parse_special = (data[0] & 1) != 0;
  std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  auto ids = g_tokenizer->Encode(text, parse_special);
  if (!ids.ok()) {
    if (ids.status().code() != absl::StatusCode::kInvalidArgument) Fail("Encode failed with a code other than INVALID_ARGUMENT");
    return 0;
  }
  const int64_t vocab = g_tokenizer->vocab_size();
  for (int64_t id : *ids) {
    if (id < 0 || id >= vocab) Fail("id outside [0, vocab_size)");
  }
  auto decoded = g_tokenizer->Decode(*ids, /*skip_special_tokens=*/false);
  if (!decoded.ok()) Fail("Decode rejected ids produced by Encode");
  (void)g_tokenizer->Decode(*ids, /*skip_special_tokens=*/true);
  auto again = g_tokenizer->Encode(*decoded, parse_special);
  if (!again.ok()) Fail("Encode rejected the text produced by Decode");
  if (*again != *ids) Fail("Encode(Decode(Encode(x))) != Encode(x)");
  return 0;
}
