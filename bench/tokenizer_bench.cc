// Text tokenizer throughput on one core: tokens/s and MB/s of text for English, Chinese and mixed
// text, with a cold word cache (first pass) and a warm one (repeat passes).
//
//   qwen3tts-bench-tokenizer <dir with tokenizer.json or vocab.json+merges.txt> [seconds per row]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/text/tokenizer.h"

namespace {

std::string Repeat(const std::string& s, size_t bytes) {
  std::string out;
  while (out.size() < bytes) out += s;
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s <tokenizer dir> [seconds per row]\n", argv[0]);
    return 2;
  }
  double seconds = argc > 2 ? std::atof(argv[2]) : 1.0;
  auto tokenizer = qwen3tts::TextTokenizer::LoadFromDir(argv[1]);
  if (!tokenizer.ok()) {
    std::fprintf(stderr, "%s\n", std::string(tokenizer.status().message()).c_str());
    return 1;
  }
  struct Row {
    const char* name;
    std::string text;
  } rows[] = {
      {"english", Repeat("The quick brown fox jumps over the lazy dog; it's 3:45pm, isn't it? ", 1 << 16)},
      {"chinese", Repeat("今天天气真不错，我们去公园散步吧。语音合成模型会说中文和英文。", 1 << 16)},
      {"mixed", Repeat("Mixed 中英文 text, 第二句 here — numbers 12345 and émojis 😀. ", 1 << 16)},
  };
  std::printf("%-8s %10s %12s %10s %12s\n", "text", "bytes", "tokens", "MB/s", "tokens/s");
  for (const Row& row : rows) {
    size_t tokens = 0, bytes = 0;
    auto start = std::chrono::steady_clock::now();
    double elapsed = 0;
    do {
      auto ids = (*tokenizer)->Encode(row.text);
      if (!ids.ok()) return 1;
      tokens += ids->size();
      bytes += row.text.size();
      elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    } while (elapsed < seconds);
    std::printf("%-8s %10zu %12zu %10.2f %12.0f\n", row.name, row.text.size(), tokens / (bytes / row.text.size()),
                bytes / elapsed / 1e6, tokens / elapsed);
  }
  return 0;
}
